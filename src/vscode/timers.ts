/**
 * The clock and timers the views' repaint logic uses (debouncer.ts, keyedThrottle.ts,
 * agentRepaints.ts): the real ones by default; unit tests pass a manual clock that runs timers
 * when told, so they count repaints per event fed, never per time waited.
 */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's clock and timers. */
export const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
