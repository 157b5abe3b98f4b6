import type { IDisposable } from '../core/disposable';
import { REAL_TIMERS, Timers } from './timers';

/**
 * Runs `fn` once, `delayMs` after the first of a burst of `trigger()` calls: how views repaint on
 * Pipeline and Scheduler changes without repainting for every output line. Disposing cancels a
 * pending run.
 */
export class Debouncer implements IDisposable {
  private timer: unknown;

  constructor(
    private readonly delayMs: number,
    private readonly fn: () => void,
    private readonly timers: Timers = REAL_TIMERS,
  ) {}

  trigger(): void {
    this.timer ??= this.timers.setTimeout(() => {
      this.timer = undefined;
      this.fn();
    }, this.delayMs);
  }

  dispose(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
