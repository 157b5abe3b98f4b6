import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { KeyedThrottle } from '../../src/vscode/keyedThrottle';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('KeyedThrottle', () => {
  it('hands a burst of keys over once, after the interval, each key once', async () => {
    const calls: string[][] = [];
    const t = new KeyedThrottle<string>(30, (keys) => calls.push(keys));
    for (let i = 0; i < 20; i++) t.trigger(i % 2 ? 'a' : 'b');
    assert.deepEqual(calls, [], 'nothing before the interval');
    await sleep(80);
    assert.deepEqual(calls, [['b', 'a']]);
    t.trigger('c');
    await sleep(80);
    assert.deepEqual(calls, [['b', 'a'], ['c']], 'a later trigger is handed over again');
  });

  it('calls at most once per interval while triggers keep coming', async () => {
    let calls = 0;
    const t = new KeyedThrottle<number>(40, () => calls++);
    const end = Date.now() + 130;
    while (Date.now() < end) {
      t.trigger(1);
      await sleep(5);
    }
    t.dispose();
    assert.ok(calls >= 1 && calls <= 4, `${calls} calls in 130 ms at 40 ms: at most one per interval`);
  });

  it('drops pending keys on dispose', async () => {
    let calls = 0;
    const t = new KeyedThrottle<number>(10, () => calls++);
    t.trigger(1);
    t.dispose();
    await sleep(40);
    assert.equal(calls, 0);
  });
});
