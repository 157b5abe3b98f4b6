import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { Disposable, IDisposable, toDisposable } from '../../src/core/disposable';

/** Exposes the protected `register` for the tests. */
class Owner extends Disposable {
  own<T extends IDisposable>(child: T): T {
    return this.register(child);
  }
}

function recorder(log: string[], name: string): IDisposable {
  return { dispose: () => void log.push(name) };
}

describe('Disposable', () => {
  it('is not disposed until dispose() runs', () => {
    const owner = new Owner();
    assert.equal(owner.isDisposed, false);
    owner.dispose();
    assert.equal(owner.isDisposed, true);
  });

  it('disposes its children newest first', () => {
    const log: string[] = [];
    const owner = new Owner();
    owner.own(recorder(log, 'first'));
    owner.own(recorder(log, 'second'));
    owner.own(recorder(log, 'third'));
    owner.dispose();
    assert.deepEqual(log, ['third', 'second', 'first']);
  });

  it('disposes each child once however often it is disposed', () => {
    const log: string[] = [];
    const owner = new Owner();
    owner.own(recorder(log, 'child'));
    owner.dispose();
    owner.dispose();
    assert.deepEqual(log, ['child']);
  });

  it('returns the child it registers', () => {
    const owner = new Owner();
    const child = recorder([], 'child');
    assert.equal(owner.own(child), child);
  });

  it('disposes a child registered after dispose at once', () => {
    const log: string[] = [];
    const owner = new Owner();
    owner.dispose();
    owner.own(recorder(log, 'late'));
    assert.deepEqual(log, ['late']);
    owner.dispose();
    assert.deepEqual(log, ['late']);
  });

  it('disposes a nested owner and its children', () => {
    const log: string[] = [];
    const parent = new Owner();
    const child = parent.own(new Owner());
    child.own(recorder(log, 'grandchild'));
    parent.dispose();
    assert.equal(child.isDisposed, true);
    assert.deepEqual(log, ['grandchild']);
  });

  it('disposes the other children when one throws, then rethrows that error', () => {
    const log: string[] = [];
    const boom = new Error('boom');
    const owner = new Owner();
    owner.own(recorder(log, 'first'));
    owner.own({
      dispose: () => {
        throw boom;
      },
    });
    owner.own(recorder(log, 'third'));
    assert.throws(
      () => owner.dispose(),
      (e) => e === boom,
    );
    assert.deepEqual(log, ['third', 'first']);
    assert.equal(owner.isDisposed, true);
  });

  it('throws an AggregateError with every error when several children throw', () => {
    const a = new Error('a');
    const b = new Error('b');
    const owner = new Owner();
    owner.own({
      dispose: () => {
        throw a;
      },
    });
    owner.own({
      dispose: () => {
        throw b;
      },
    });
    assert.throws(
      () => owner.dispose(),
      (e: unknown) => e instanceof AggregateError && e.errors.length === 2 && e.errors[0] === b && e.errors[1] === a,
    );
  });
});

describe('toDisposable', () => {
  it('runs the cleanup on dispose, once', () => {
    let runs = 0;
    const d = toDisposable(() => runs++);
    assert.equal(runs, 0);
    d.dispose();
    d.dispose();
    assert.equal(runs, 1);
  });
});
