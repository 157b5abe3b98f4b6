import { Disposable, toDisposable } from './disposable';
import type { Engine } from './engine';
import { Emitter } from './event';

/** Repaint delay after the first event of a burst (ms): a `docker run` is create + start + attach. */
export const EVENTS_DEBOUNCE_MS = 150;
/** First reconnect delay after the stream ended or failed (ms); doubles up to {@link RECONNECT_MAX_MS}. */
export const RECONNECT_FIRST_MS = 500;
export const RECONNECT_MAX_MS = 30_000;

export interface DockerWatchOptions {
  engine: Pick<Engine, 'events'>;
  /** Only this workspace's containers (`borg.workspace`); the views show no others. */
  workspace?: string;
  /**
   * A refresh: `full` on every (re)connect — Docker may have changed while no one watched —
   * and when the stream is lost (so the views show Docker down); not full for an event.
   * Its failures are the caller's to show (Pipeline.dockerError); they are swallowed here.
   */
  refresh: (full: boolean) => Promise<void>;
  debounceMs?: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
  log?: (line: string) => void;
}

/**
 * Live refresh from Docker's event stream, only while someone looks: while {@link setActive}
 * is on, one `GET /events` stream (filtered on `borg.managed=true`, engine.ts) stays open and each
 * burst of events triggers one refresh, {@link EVENTS_DEBOUNCE_MS} after its first event. When
 * the stream ends or cannot be opened it is reopened after a backoff (0.5 s doubling to 30 s,
 * reset by a successful open), and every open is followed by one full refresh, so the views
 * recover from a Docker restart without a reload. While inactive it makes no Docker call at all:
 * no stream, no timer (the VS Code Docker extension's refresh manager does the same with views
 * hidden).
 */
export class DockerWatch extends Disposable {
  private active = false;
  private abort: AbortController | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  /** What the last open attempt found, since the watch was last turned on (undefined: none yet). */
  private lastKnown: 'up' | 'down' | undefined;
  private readonly changed = this.register(new Emitter<boolean>());
  /** Fires with `true` when the stream opened, `false` when it was lost or could not be opened. */
  readonly onDidChangeConnection = this.changed.event;

  constructor(private readonly o: DockerWatchOptions) {
    super();
    this.delayMs = o.firstDelayMs ?? RECONNECT_FIRST_MS;
    this.register(toDisposable(() => this.close()));
  }

  /** True while the stream is open. */
  get connected(): boolean {
    return this.lastKnown === 'up' && this.abort !== undefined;
  }

  /** True while the watch is on. */
  get isActive(): boolean {
    return this.active;
  }

  /** The delay (ms) of the reopen attempt pending now, else of the next one. */
  get nextDelayMs(): number {
    return this.reopenTimer ? this.pendingDelayMs : this.delayMs;
  }

  private pendingDelayMs = 0;

  /** Turns the watch on (opens the stream at once) or off (closes it, cancels every timer). */
  setActive(on: boolean): void {
    if (this.isDisposed || on === this.active) return;
    this.active = on;
    if (on) {
      this.lastKnown = undefined;
      this.open();
    } else {
      this.close();
    }
  }

  /** The endpoint changed (setting, context, Retry): drop the stream and open a new one now, backoff reset. */
  reconnect(): void {
    this.close();
    this.delayMs = this.o.firstDelayMs ?? RECONNECT_FIRST_MS;
    this.lastKnown = undefined;
    if (this.active && !this.isDisposed) this.open();
  }

  private open(): void {
    const abort = new AbortController();
    this.abort = abort;
    void (async () => {
      let opened = false;
      try {
        const events = await this.o.engine.events(abort.signal, { workspace: this.o.workspace });
        if (abort.signal.aborted) return;
        opened = true;
        this.delayMs = this.o.firstDelayMs ?? RECONNECT_FIRST_MS;
        this.lastKnown = 'up';
        this.changed.fire(true);
        this.runRefresh(true);
        for await (const event of events) if (event) this.refreshSoon(); // which container changed does not matter: the list is read again
        if (!abort.signal.aborted) this.o.log?.('Docker events: the stream ended; reconnecting');
      } catch (e) {
        if (!abort.signal.aborted && (opened || this.lastKnown !== 'down')) this.o.log?.(`Docker events: ${(e as Error).message}`);
      }
      if (abort.signal.aborted || this.abort !== abort || this.isDisposed) return;
      this.abort = undefined;
      const wasUp = this.lastKnown !== 'down';
      this.lastKnown = 'down';
      if (wasUp) {
        this.changed.fire(false);
        this.runRefresh(true); // shows Docker down (or what changed while the stream broke)
      }
      this.scheduleReopen();
    })();
  }

  private scheduleReopen(): void {
    if (!this.active || this.isDisposed) return;
    const delay = this.delayMs;
    this.pendingDelayMs = delay;
    this.delayMs = Math.min(this.delayMs * 2, this.o.maxDelayMs ?? RECONNECT_MAX_MS);
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      if (this.active && !this.isDisposed) this.open();
    }, delay);
  }

  private refreshSoon(): void {
    this.debounceTimer ??= setTimeout(() => {
      this.debounceTimer = undefined;
      this.runRefresh(false);
    }, this.o.debounceMs ?? EVENTS_DEBOUNCE_MS);
  }

  private runRefresh(full: boolean): void {
    if (this.isDisposed) return;
    this.o.refresh(full).catch(() => undefined);
  }

  private close(): void {
    this.abort?.abort();
    this.abort = undefined;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.reopenTimer = undefined;
    this.debounceTimer = undefined;
  }
}
