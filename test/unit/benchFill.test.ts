/**
 * The P5 benchmark's database filler (bench/shutdown.ts): it makes the rows it says, through the
 * store's own API, with text of realistic sizes, and the result survives a flush and reopen.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fill } from '../../bench/shutdown';
import { Store } from '../../src/core/store';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const count = (s: Store, table: string) => Number(s.query(`SELECT count(*) AS n FROM ${table}`)[0].n);

describe('bench P5 fill', () => {
  it('makes the rows asked for, with realistic text, and they survive a flush and reopen', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-fill-'));
    dirs.push(dir);
    const file = path.join(dir, 'borg.sqlite');
    const s = await Store.open(file);
    fill(s, { tasks: 30, events: 120, runs: 40, usage: 25 });
    const sizes = s.query('SELECT avg(length(title)) AS title, avg(length(description)) AS description, count(last_error) AS errors FROM tasks')[0];
    assert.ok(Number(sizes.title) > 100 && Number(sizes.title) <= 200, `titles of ${String(sizes.title)} characters`);
    assert.ok(Number(sizes.description) > 300, `descriptions of ${String(sizes.description)} characters`);
    assert.equal(Number(sizes.errors), 10, 'every third task has a last error');
    await s.close();
    const again = await Store.open(file);
    try {
      assert.deepEqual(
        ['tasks', 'events', 'task_runs', 'model_usage'].map((t) => count(again, t)),
        [30, 120, 40, 25],
      );
      assert.ok(again.listEvents().every((e) => e.detail !== null && typeof JSON.parse(e.detail) === 'object'));
    } finally {
      await again.close();
    }
  });
});
