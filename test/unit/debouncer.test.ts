import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { Debouncer } from '../../src/vscode/debouncer';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Debouncer', () => {
  it('runs once for a burst of triggers, after the delay', async () => {
    let runs = 0;
    const d = new Debouncer(20, () => runs++);
    for (let i = 0; i < 10; i++) d.trigger();
    assert.equal(runs, 0, 'not before the delay');
    await sleep(60);
    assert.equal(runs, 1);
    d.trigger();
    await sleep(60);
    assert.equal(runs, 2, 'a later trigger runs again');
  });

  it('runs nothing after dispose', async () => {
    let runs = 0;
    const d = new Debouncer(10, () => runs++);
    d.trigger();
    d.dispose();
    await sleep(40);
    assert.equal(runs, 0);
  });
});
