import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { Emitter } from '../../src/core/event';

describe('Emitter', () => {
  it('delivers each fired value to every listener, in subscription order', () => {
    const emitter = new Emitter<number>();
    const log: string[] = [];
    emitter.event((n) => log.push(`a${n}`));
    emitter.event((n) => log.push(`b${n}`));
    emitter.fire(1);
    emitter.fire(2);
    assert.deepEqual(log, ['a1', 'b1', 'a2', 'b2']);
  });

  it('stops calling a listener whose subscription was disposed, and only that one', () => {
    const emitter = new Emitter<string>();
    const a: string[] = [];
    const b: string[] = [];
    const subA = emitter.event((e) => a.push(e));
    emitter.event((e) => b.push(e));
    emitter.fire('before');
    subA.dispose();
    emitter.fire('after');
    assert.deepEqual(a, ['before']);
    assert.deepEqual(b, ['before', 'after']);
  });

  it('keeps calling the other listeners when one throws', (t) => {
    const logged = t.mock.method(console, 'error', () => undefined);
    const emitter = new Emitter<void>();
    let calls = 0;
    emitter.event(() => {
      throw new Error('listener failed');
    });
    emitter.event(() => calls++);
    assert.doesNotThrow(() => emitter.fire());
    assert.equal(calls, 1);
    assert.equal(logged.mock.callCount(), 1);
  });

  it('drops every listener when disposed', () => {
    const emitter = new Emitter<void>();
    let calls = 0;
    emitter.event(() => calls++);
    emitter.event(() => calls++);
    emitter.dispose();
    emitter.fire();
    assert.equal(calls, 0);
  });
});
