/**
 * Explicit lifetimes. Every object that owns a timer, a stream, a listener or a child object
 * extends {@link Disposable} and registers what it created with `register`, so disposing the
 * parent disposes the children in reverse order of creation. Shape-compatible with
 * `vscode.Disposable`, so the VS Code shell can register its own objects here too.
 */
export interface IDisposable {
  dispose(): void;
}

export class Disposable implements IDisposable {
  private readonly children: IDisposable[] = [];
  private disposedFlag = false;

  /** True once {@link dispose} ran. */
  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** Takes ownership of `child`: it is disposed with this object (at once if already disposed). */
  protected register<T extends IDisposable>(child: T): T {
    if (this.disposedFlag) {
      child.dispose();
    } else {
      this.children.push(child);
    }
    return child;
  }

  /** Disposes every registered child, newest first. Idempotent; a throwing child does not stop the rest. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    const errors: unknown[] = [];
    while (this.children.length > 0) {
      const child = this.children.pop()!;
      try {
        child.dispose();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several children failed to dispose');
  }
}

/** Wraps a cleanup function as a disposable that runs it once. */
export function toDisposable(fn: () => void): IDisposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      fn();
    },
  };
}
