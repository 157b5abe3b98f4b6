import type { IDisposable } from '../core/disposable';
import { REAL_TIMERS, Timers } from './timers';

/**
 * Collects keys from a burst of `trigger(key)` calls and hands them to `fn` once, `intervalMs`
 * after the first (so at most one call per interval, each key once): how the views repaint only
 * the rows the gateway metered (`Gateway.onDidMeter` fires per model response, several a second
 * while an agent streams). Disposing drops the pending keys.
 */
export class KeyedThrottle<K> implements IDisposable {
  private readonly pending = new Set<K>();
  private timer: unknown;

  constructor(
    private readonly intervalMs: number,
    private readonly fn: (keys: K[]) => void,
    private readonly timers: Timers = REAL_TIMERS,
  ) {}

  trigger(key: K): void {
    this.pending.add(key);
    this.timer ??= this.timers.setTimeout(() => {
      this.timer = undefined;
      const keys = [...this.pending];
      this.pending.clear();
      this.fn(keys);
    }, this.intervalMs);
  }

  dispose(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }
}
