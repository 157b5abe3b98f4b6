import { IDisposable } from './disposable';

/** A subscription function in the style of `vscode.Event<T>`: call it with a listener, dispose the result to unsubscribe. */
export type Event<T> = (listener: (e: T) => void) => IDisposable;

/**
 * A typed event source for `src/core`, which cannot use `vscode.EventEmitter`. Listeners run
 * synchronously in subscription order; one that throws does not stop the others.
 */
export class Emitter<T> implements IDisposable {
  private listeners = new Set<(e: T) => void>();

  readonly event: Event<T> = (listener) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  fire(e: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(e);
      } catch (err) {
        console.error('[borg] event listener failed', err);
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
