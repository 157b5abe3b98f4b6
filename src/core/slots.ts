import { BorgError } from './errors';

/**
 * The agent slots: at most `max` holders at once, the rest wait in FIFO order. `acquire`
 * resolves with a release function (idempotent). Lowering `max` lets running holders finish;
 * new ones wait until the count drops below the new limit.
 */
export class Slots {
  private held = 0;
  private readonly waiting: Array<{ resolve: (release: () => void) => void; reject: (e: Error) => void }> = [];

  constructor(private max: number) {
    this.max = Math.max(1, max);
  }

  get running(): number {
    return this.held;
  }

  get queued(): number {
    return this.waiting.length;
  }

  get limit(): number {
    return this.max;
  }

  /** Changes the limit (≥ 1) and admits waiters if there is room now. */
  setLimit(max: number): void {
    this.max = Math.max(1, max);
    this.admit();
  }

  /**
   * Waits for a free slot. `signal` abandons the wait at once (the place in the queue is given
   * up), rejecting with `abortError()`.
   * @throws the error given to {@link rejectWaiting} while queued, or `abortError()`.
   */
  acquire(signal?: AbortSignal, abortError: () => Error = () => new BorgError('Abandoned while waiting for a slot.')): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const waiter = {
        resolve: (release: () => void) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.admit();
    });
  }

  /**
   * Takes a slot at once even past the limit: for agents adopted at recovery, which are already
   * running. New launches wait until the count is below the limit again.
   */
  take(): () => void {
    this.held++;
    return this.releaser();
  }

  /** Rejects every queued acquire with `error` (used when the Pipeline stops). */
  rejectWaiting(error: BorgError): void {
    for (const w of this.waiting.splice(0)) w.reject(error);
  }

  private admit(): void {
    while (this.held < this.max && this.waiting.length > 0) {
      const w = this.waiting.shift()!;
      this.held++;
      w.resolve(this.releaser());
    }
  }

  /** A release function for one held slot; calling it again does nothing. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held--;
      this.admit();
    };
  }
}
