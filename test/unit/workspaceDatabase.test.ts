/** openWorkspaceDatabase: the first window writes, a second one (same database) reads only, naming the first; old databases are adopted. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lockFileOf, WINDOW_COMMAND, windowLockDescription } from '../../src/core/dbLock';
import { RefusedError } from '../../src/core/errors';
import { Store } from '../../src/core/store';
import { TaskStore } from '../../src/core/taskStore';
import { openWorkspaceDatabase } from '../../src/core/workspaceDatabase';

let dir: string;
let db: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-wsdb-'));
  db = path.join(dir, 'workspaces', '0123456789abcdef', 'borg.sqlite');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const window = (name: string) => ({ db, command: WINDOW_COMMAND, description: windowLockDescription(name) });

describe('openWorkspaceDatabase', () => {
  it('the first opener writes and holds the lock; the second reads only, naming the first', async () => {
    const first = await openWorkspaceDatabase(window('proj'));
    assert.ok(first.lock);
    assert.equal(first.store.readOnly, false);
    new TaskStore(first.store).add({ title: 'one', description: '', repo: dir, maxAttempts: 1 });
    await first.store.flush();
    const second = await openWorkspaceDatabase(window('proj'));
    assert.equal(second.lock, undefined);
    assert.equal(second.holder?.pid, process.pid);
    assert.equal(second.store.readOnly, true);
    assert.deepEqual(
      new TaskStore(second.store).list().map((t) => t.title),
      ['one'],
    );
    assert.throws(
      () => second.store.addEvent('x', null),
      (e: unknown) => e instanceof RefusedError && /^read-only: VS Code window "proj" \(pid \d+/.test(e.message),
    );
    await second.store.close();
    await first.store.close();
    first.lock.release();
    assert.equal(fs.existsSync(lockFileOf(db)), false);
    const third = await openWorkspaceDatabase(window('proj'));
    assert.ok(third.lock, 'free again once the first is gone');
    await third.store.close();
    third.lock.release();
  });

  it('adopts the first old database that exists, before opening', async () => {
    const old = path.join(dir, 'storage', 'borg.sqlite');
    const s = await Store.open(old);
    new TaskStore(s).add({ title: 'old', description: '', repo: dir, maxAttempts: 1 });
    await s.close();
    const o = await openWorkspaceDatabase({ ...window('proj'), legacy: [path.join(dir, 'none.sqlite'), old] });
    assert.equal(o.adoptedFrom, old);
    assert.deepEqual(
      new TaskStore(o.store).list().map((t) => t.title),
      ['old'],
    );
    await o.store.close();
    o.lock?.release();
  });
});
