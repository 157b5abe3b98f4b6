import type { IDisposable } from '../core/disposable';

/**
 * Runs `fn` once, `delayMs` after the first of a burst of `trigger()` calls: how views repaint on
 * Pipeline and Scheduler changes without repainting for every output line. Disposing cancels a
 * pending run.
 */
export class Debouncer implements IDisposable {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly delayMs: number,
    private readonly fn: () => void,
  ) {}

  trigger(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.fn();
    }, this.delayMs);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
