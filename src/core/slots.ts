import { BorgError } from './errors';

/** A host's share of the slots, as {@link Slots} reads it (see Engine.hosts). */
export interface SlotHost {
  name: string;
  /** Agents at once on this host, ≥ 1. */
  slots: number;
  /** False: nothing new is placed on it. */
  up: boolean;
}

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (e: Error) => void;
  /** The host it waits for (per-host mode); undefined while it is not placed yet. */
  host: () => string | undefined;
}

/**
 * The agent slots: at most `max` holders at once, the rest wait in FIFO order. `acquire`
 * resolves with a release function (idempotent). Lowering `max` lets running holders finish;
 * new ones wait until the count drops below the new limit.
 *
 * Per-host mode (`hosts` given: an engine over several Docker hosts): each host has its own
 * count and limit (`slots`), `max` is their sum, and a waiter is admitted when the host it was
 * placed on ({@link place}) has room — a waiter not placed yet waits, and does not hold up
 * placed ones behind it.
 */
export class Slots {
  private held = 0;
  private readonly heldOn = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  /** @param hosts read on every admission and placement (a live view; hosts go up and down). */
  constructor(
    private max: number,
    private readonly hosts?: () => readonly SlotHost[],
  ) {
    this.max = Math.max(1, max);
  }

  get running(): number {
    return this.held;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** The most holders at once: `max`, or in per-host mode the hosts' slots added up. */
  get limit(): number {
    return this.hosts ? this.hosts().reduce((n, h) => n + Math.max(1, h.slots), 0) : this.max;
  }

  /** Holders on `host` now (per-host mode). */
  runningOn(host: string): number {
    return this.heldOn.get(host) ?? 0;
  }

  /** Changes the limit (≥ 1) and admits waiters if there is room now. In per-host mode the hosts' slots rule instead. */
  setLimit(max: number): void {
    this.max = Math.max(1, max);
    this.admit();
  }

  /**
   * Per-host mode: the host that is up with the lowest share in use, counting holders and the
   * waiters already placed there, ties to the first listed; a host that is down only when all
   * are. Undefined in single mode. Callers pass it to {@link acquire}'s `host` and then call
   * {@link admitPlaced} (placing changes who may be admitted).
   */
  place(): string | undefined {
    if (!this.hosts) return undefined;
    const hosts = this.hosts();
    const up = hosts.filter((h) => h.up);
    const pool = up.length > 0 ? up : hosts;
    let best: SlotHost | undefined;
    let bestShare = Infinity;
    for (const h of pool) {
      const placed = this.waiting.filter((w) => w.host() === h.name).length;
      const share = (this.runningOn(h.name) + placed) / Math.max(1, h.slots);
      if (share < bestShare) {
        best = h;
        bestShare = share;
      }
    }
    return best?.name;
  }

  /** Admits waiters whose host became known (after a {@link place}). */
  admitPlaced(): void {
    this.admit();
  }

  /**
   * Waits for a free slot (on `host()` in per-host mode: a waiter whose host is still undefined
   * waits until it is placed). `signal` abandons the wait at once (the place in the queue is
   * given up), rejecting with `abortError()`.
   * @throws the error given to {@link rejectWaiting} while queued, or `abortError()`.
   */
  acquire(signal?: AbortSignal, abortError: () => Error = () => new BorgError('Abandoned while waiting for a slot.'), host: () => string | undefined = () => undefined): Promise<() => void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const waiter: Waiter = {
        resolve: (release: () => void) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
        host,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(abortError());
        this.admit(); // a placed waiter behind it may fit now
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.admit();
    });
  }

  /**
   * Takes a slot at once even past the limit: for agents adopted at recovery, which are already
   * running (on `host` in per-host mode). New launches wait until the count is below the limit again.
   */
  take(host?: string): () => void {
    this.count(host, +1);
    return this.releaser(host);
  }

  /** Rejects every queued acquire with `error` (used when the Pipeline stops). */
  rejectWaiting(error: BorgError): void {
    for (const w of this.waiting.splice(0)) w.reject(error);
  }

  private admit(): void {
    if (!this.hosts) {
      while (this.held < this.max && this.waiting.length > 0) {
        const w = this.waiting.shift()!;
        this.count(undefined, +1);
        w.resolve(this.releaser(undefined));
      }
      return;
    }
    const limits = new Map(this.hosts().map((h) => [h.name, Math.max(1, h.slots)]));
    for (let i = 0; i < this.waiting.length;) {
      const w = this.waiting[i];
      const h = w.host();
      if (h !== undefined && this.runningOn(h) < (limits.get(h) ?? 0)) {
        this.waiting.splice(i, 1);
        this.count(h, +1);
        w.resolve(this.releaser(h));
      } else i++;
    }
  }

  private count(host: string | undefined, by: number): void {
    this.held += by;
    if (host !== undefined) this.heldOn.set(host, this.runningOn(host) + by);
  }

  /** A release function for one held slot; calling it again does nothing. */
  private releaser(host: string | undefined): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.count(host, -1);
      this.admit();
    };
  }
}
