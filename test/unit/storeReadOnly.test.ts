/**
 * The read-only Store (a viewer while another process holds the database lock): it reads what
 * the holder flushed, refuses every change naming the holder, and never writes, renames or
 * creates a file — flush, close and autoFlush included; reload() picks up the holder's writes.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RefusedError } from '../../src/core/errors';
import { Store } from '../../src/core/store';
import { TaskStore } from '../../src/core/taskStore';

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-ro-'));
  file = path.join(dir, 'borg.sqlite');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A database on disk written by a "holder" with one container row and one task; left open for more writes. */
async function holderWith(): Promise<Store> {
  const w = await Store.open(file);
  w.upsertContainer({ name: 'borg-dev-1', id: 'abc', persona: 'dev', state: 'running', exitCode: null, oomKilled: false });
  new TaskStore(w).add({ title: 'first', description: '', repo: dir, maxAttempts: 3 });
  await w.flush();
  return w;
}

/** The folder's entries with their bytes and mtimes, to prove nothing was touched. */
function snapshot(): Array<[string, string, number]> {
  return fs
    .readdirSync(dir)
    .sort()
    .map((n) => {
      const p = path.join(dir, n);
      return [n, fs.readFileSync(p).toString('base64'), fs.statSync(p).mtimeMs];
    });
}

describe('Store read-only', () => {
  it('reads what the holder wrote', async () => {
    const holder = await holderWith();
    const ro = await Store.open(file, { readOnly: true, heldBy: 'VS Code window "proj" (pid 1)' });
    assert.equal(ro.readOnly, true);
    assert.equal(ro.getContainer('borg-dev-1')?.id, 'abc');
    assert.deepEqual(
      new TaskStore(ro).list().map((t) => t.title),
      ['first'],
    );
    await ro.close();
    await holder.close();
  });

  it('refuses every change with a RefusedError naming the holder and the file', async () => {
    const holder = await holderWith();
    const ro = await Store.open(file, { readOnly: true, heldBy: 'borg run (pid 42)' });
    const want = (e: unknown) => e instanceof RefusedError && e.message.startsWith(`read-only: borg run (pid 42) holds the database ${file}`);
    assert.throws(() => ro.upsertContainer({ name: 'x', id: null, persona: 'dev', state: 'created', exitCode: null, oomKilled: false }), want);
    assert.throws(() => ro.setContainerState('borg-dev-1', 'exited'), want);
    assert.throws(() => ro.addEvent('launch', 'x'), want);
    assert.throws(() => new TaskStore(ro).add({ title: 't', description: '', repo: dir, maxAttempts: 1 }), want);
    assert.throws(() => ro.execute('DELETE FROM tasks', []), want);
    assert.equal(ro.isDirty, false);
    await ro.close();
    await holder.close();
  });

  it('never touches the file: flush, autoFlush and close write nothing (bytes and mtimes unchanged)', async () => {
    const holder = await holderWith();
    await holder.close();
    const before = snapshot();
    const ro = await Store.open(file, { readOnly: true });
    ro.autoFlush(1);
    assert.throws(() => ro.addEvent('x', null), RefusedError);
    await ro.flush();
    await ro.close();
    await ro.close();
    assert.deepEqual(snapshot(), before);
  });

  it('creates nothing when the file does not exist (an empty database in memory)', async () => {
    const missing = path.join(dir, 'sub', 'borg.sqlite');
    const ro = await Store.open(missing, { readOnly: true });
    assert.deepEqual(ro.listContainers(), []);
    await ro.close();
    assert.equal(fs.existsSync(path.join(dir, 'sub')), false, 'not even the folder');
  });

  it('a damaged file is refused, not moved aside (moving is a write)', async () => {
    fs.writeFileSync(file, 'not a database at all, just text that is long enough to look like a header..........');
    const before = snapshot();
    await assert.rejects(Store.open(file, { readOnly: true }), /is not readable/);
    assert.deepEqual(snapshot(), before);
  });

  it('reload() shows what the holder flushed since', async () => {
    const holder = await holderWith();
    const ro = await Store.open(file, { readOnly: true });
    new TaskStore(holder).add({ title: 'second', description: '', repo: dir, maxAttempts: 3 });
    await holder.flush();
    assert.equal(new TaskStore(ro).list().length, 1, 'an in-memory copy until reloaded');
    await ro.reload();
    assert.deepEqual(
      new TaskStore(ro).list().map((t) => t.title),
      ['first', 'second'],
    );
    await ro.close();
    await holder.close();
  });

  it('reload() is refused on a writable store (it would drop unwritten changes)', async () => {
    const w = await Store.open(file);
    await assert.rejects(w.reload(), RefusedError);
    await w.close();
  });
});
