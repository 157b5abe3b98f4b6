import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import initSqlJs from 'sql.js';
import { BorgError } from '../../src/core/errors';
import { ContainerRow, SCHEMA_VERSION, Store } from '../../src/core/store';

type NewRow = Parameters<Store['upsertContainer']>[0];

function row(name: string, over: Partial<NewRow> = {}): NewRow {
  return { name, id: `id-${name}`, persona: 'dev', state: 'running', exitCode: null, oomKilled: false, ...over };
}

let dir: string;
let file: string;
const open: Store[] = [];

/** Opens a Store that is closed after the test. */
async function openStore(at = file): Promise<Store> {
  const s = await Store.open(at);
  open.push(s);
  return s;
}

/** Opens `file` afresh (as the next window would) and returns what it holds. */
async function onDisk(at = file): Promise<{ containers: ContainerRow[]; events: ReturnType<Store['listEvents']> }> {
  const s = await openStore(at);
  return { containers: s.listContainers(), events: s.listEvents() };
}

const leftovers = () => fs.readdirSync(dir).filter((f) => f.includes('.tmp-'));

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-store-'));
  file = path.join(dir, 'borg.db');
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('Store.open', () => {
  it('opens unbundled, loading the wasm from node_modules', () => {
    // a fresh Node process: the first load of sql.js, from out/ where no wasm lies beside the module
    const storeModule = require.resolve('../../src/core/store');
    assert.equal(fs.existsSync(path.join(path.dirname(storeModule), 'sql-wasm.wasm')), false, 'precondition: no wasm beside the module');
    const script = `require(${JSON.stringify(storeModule)}).Store.open(${JSON.stringify(file)}).then((s) => process.stdout.write(String(s.schemaVersion)))`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, String(SCHEMA_VERSION));
  });

  it('does not create the file until the first flush', async () => {
    const s = await openStore();
    assert.equal(fs.existsSync(file), false);
    await s.flush();
    assert.equal(fs.existsSync(file), true);
    assert.ok(fs.statSync(file).size > 0);
  });

  it('creates missing parent folders', async () => {
    const nested = path.join(dir, 'a', 'b', 'borg.db');
    const s = await openStore(nested);
    assert.ok(fs.statSync(path.dirname(nested)).isDirectory());
    await s.flush();
    assert.ok(fs.existsSync(nested));
  });

  it('migrates a new database to SCHEMA_VERSION', async () => {
    const s = await openStore();
    assert.ok(SCHEMA_VERSION >= 1);
    assert.equal(s.schemaVersion, SCHEMA_VERSION);
  });

  it('marks a freshly migrated database dirty, and flush clears it', async () => {
    const s = await openStore();
    assert.equal(s.isDirty, true);
    await s.flush();
    assert.equal(s.isDirty, false);
  });

  it('reopens a flushed database at SCHEMA_VERSION without changes to write', async () => {
    await (await openStore()).flush();
    const again = await openStore();
    assert.equal(again.schemaVersion, SCHEMA_VERSION);
    assert.equal(again.isDirty, false);
    assert.equal(again.recoveredFrom, undefined);
  });

  it('treats an empty file as a new database', async () => {
    fs.writeFileSync(file, '');
    const s = await openStore();
    assert.equal(s.schemaVersion, SCHEMA_VERSION);
    assert.equal(s.recoveredFrom, undefined);
  });

  it('moves a file that is not a database aside to <file>.corrupt-<ms> and starts afresh', async () => {
    const garbage = randomBytes(8192);
    fs.writeFileSync(file, garbage);
    const s = await openStore();
    assert.ok(s.recoveredFrom, 'recoveredFrom is set');
    assert.match(path.basename(s.recoveredFrom), /^borg\.db\.corrupt-\d+$/);
    assert.equal(path.dirname(s.recoveredFrom), dir);
    assert.deepEqual(fs.readFileSync(s.recoveredFrom), garbage, 'the damaged file is kept as it was');
    assert.equal(s.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(s.listContainers(), []);
  });

  it('works normally after recovering from a corrupt file', async () => {
    fs.writeFileSync(file, randomBytes(4096));
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0'));
    await s.flush();
    const again = await openStore();
    assert.equal(again.recoveredFrom, undefined);
    assert.equal(again.getContainer('borg-dev-0')?.id, 'id-borg-dev-0');
  });

  it('moves aside a database whose pages are damaged (quick_check reports errors)', async () => {
    const s = await openStore();
    for (let i = 0; i < 20; i++) s.upsertContainer(row(`borg-dev-${i}`));
    await s.close();
    const bytes = fs.readFileSync(file);
    const SQL = await initSqlJs();
    const probe = new SQL.Database(bytes);
    const pageSize = Number(probe.exec('PRAGMA page_size')[0].values[0][0]);
    const indexPage = Number(probe.exec("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_containers_1'")[0].values[0][0]);
    probe.close();
    bytes.fill(0x41, (indexPage - 1) * pageSize, indexPage * pageSize); // the containers table's primary-key index
    fs.writeFileSync(file, bytes);
    const damaged = await openStore();
    assert.ok(damaged.recoveredFrom, 'recoveredFrom is set');
    assert.doesNotThrow(() => damaged.getContainer('borg-dev-0'));
  });

  it('refuses a database with a newer schema version, leaving the file untouched', async () => {
    await (await openStore()).close();
    const SQL = await initSqlJs();
    const db = new SQL.Database(fs.readFileSync(file));
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    const newer = Buffer.from(db.export());
    db.close();
    fs.writeFileSync(file, newer);

    await assert.rejects(
      Store.open(file),
      (e: unknown) => e instanceof BorgError && e.message.includes(`schema version ${SCHEMA_VERSION + 1}`) && e.message.includes('newer') && e.message.includes('Update the extension'),
    );
    assert.deepEqual(fs.readFileSync(file), newer);
    assert.deepEqual(fs.readdirSync(dir), ['borg.db'], 'nothing moved aside');
  });
});

describe('Store containers', () => {
  it('returns a stored row with every field', async () => {
    const s = await openStore();
    const before = Date.now();
    s.upsertContainer(row('borg-dev-0', { state: 'oom-killed', exitCode: 137, oomKilled: true, createdAt: 1234 }));
    const got = s.getContainer('borg-dev-0');
    assert.ok(got);
    assert.deepEqual(
      { ...got, updatedAt: 0 },
      {
        name: 'borg-dev-0',
        id: 'id-borg-dev-0',
        persona: 'dev',
        state: 'oom-killed',
        exitCode: 137,
        oomKilled: true,
        workspace: null,
        createdAt: 1234,
        updatedAt: 0,
      },
    );
    assert.ok(got.updatedAt >= before && got.updatedAt <= Date.now());
  });

  it('stores a null id and exit code as null', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0', { id: null, exitCode: null }));
    const got = s.getContainer('borg-dev-0')!;
    assert.equal(got.id, null);
    assert.equal(got.exitCode, null);
    assert.equal(got.oomKilled, false);
  });

  it('sets createdAt to now when not given', async () => {
    const s = await openStore();
    const before = Date.now();
    s.upsertContainer(row('borg-dev-0'));
    const { createdAt } = s.getContainer('borg-dev-0')!;
    assert.ok(createdAt >= before && createdAt <= Date.now());
  });

  it('returns undefined for a name it does not hold', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0'));
    assert.equal(s.getContainer('borg-dev-1'), undefined);
  });

  it('lists rows by creation time, then name', async () => {
    const s = await openStore();
    s.upsertContainer(row('c', { createdAt: 200 }));
    s.upsertContainer(row('b', { createdAt: 100 }));
    s.upsertContainer(row('a', { createdAt: 200 }));
    assert.deepEqual(
      s.listContainers().map((r) => r.name),
      ['b', 'a', 'c'],
    );
  });

  it('keeps the row of a reclaimed name, with the new id and state', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0', { id: 'old', state: 'exited', exitCode: 0, createdAt: 1000 }));
    s.upsertContainer(row('borg-dev-0', { id: 'new', state: 'running', exitCode: null, createdAt: 5000 }));
    const rows = s.listContainers();
    assert.equal(rows.length, 1);
    assert.equal(rows[0].id, 'new');
    assert.equal(rows[0].state, 'running');
    assert.equal(rows[0].exitCode, null);
    assert.equal(rows[0].createdAt, 1000, 'the row is kept, not replaced');
  });

  it('updates the state of a row, keeping exit code and OOM flag when none are given', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0', { state: 'exited', exitCode: 3, oomKilled: false }));
    s.setContainerState('borg-dev-0', 'removed');
    const got = s.getContainer('borg-dev-0')!;
    assert.equal(got.state, 'removed');
    assert.equal(got.exitCode, 3);
  });

  it('updates state, exit code and OOM flag together', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0'));
    s.setContainerState('borg-dev-0', 'oom-killed', { exitCode: 137, oomKilled: true });
    const got = s.getContainer('borg-dev-0')!;
    assert.deepEqual([got.state, got.exitCode, got.oomKilled], ['oom-killed', 137, true]);
  });

  it('marks the database dirty on every change', async () => {
    const s = await openStore();
    await s.flush();
    s.upsertContainer(row('borg-dev-0'));
    assert.equal(s.isDirty, true);
  });
});

describe('Store events', () => {
  it('stores the detail as JSON', async () => {
    const s = await openStore();
    const detail = { id: 'abc', skipped: [{ name: 'borg-dev-0', reason: 'live' }], n: 3 };
    s.addEvent('launched', 'borg-dev-1', detail);
    const [e] = s.listEvents();
    assert.equal(e.kind, 'launched');
    assert.equal(e.container, 'borg-dev-1');
    assert.equal(typeof e.detail, 'string');
    assert.deepEqual(JSON.parse(e.detail!), detail);
  });

  it('stores no detail as null, and a null container', async () => {
    const s = await openStore();
    s.addEvent('docker-unreachable', null);
    const [e] = s.listEvents();
    assert.equal(e.detail, null);
    assert.equal(e.container, null);
  });

  it('lists events oldest first, with increasing ids and times', async () => {
    const s = await openStore();
    const before = Date.now();
    for (const kind of ['one', 'two', 'three']) s.addEvent(kind, 'borg-dev-0');
    const events = s.listEvents();
    assert.deepEqual(
      events.map((e) => e.kind),
      ['one', 'two', 'three'],
    );
    assert.ok(events[0].id < events[1].id && events[1].id < events[2].id);
    assert.ok(events.every((e) => e.at >= before && e.at <= Date.now()));
  });

  it("lists one container's events when asked", async () => {
    const s = await openStore();
    s.addEvent('a', 'borg-dev-0');
    s.addEvent('b', 'borg-dev-1');
    s.addEvent('c', 'borg-dev-0');
    s.addEvent('d', null);
    assert.deepEqual(
      s.listEvents('borg-dev-0').map((e) => e.kind),
      ['a', 'c'],
    );
    assert.equal(s.listEvents().length, 4);
  });
});

describe('Store.flush', () => {
  it('writes the data so that the next open reads it', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0', { state: 'exited', exitCode: 1 }));
    s.addEvent('exited', 'borg-dev-0', { exitCode: 1 });
    await s.flush();
    const disk = await onDisk();
    assert.deepEqual(disk.containers, s.listContainers());
    assert.deepEqual(disk.events, s.listEvents());
  });

  it('leaves changes made after the last flush off the disk', async () => {
    const s = await openStore();
    s.upsertContainer(row('kept'));
    await s.flush();
    s.upsertContainer(row('unflushed'));
    assert.deepEqual(
      (await onDisk()).containers.map((r) => r.name),
      ['kept'],
    );
  });

  it('leaves no temp file behind', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0'));
    await s.flush();
    await s.flush();
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(fs.readdirSync(dir), ['borg.db']);
  });

  it('replaces the file by rename rather than writing it in place', async () => {
    const s = await openStore();
    await s.flush();
    const before = fs.statSync(file).ino;
    s.upsertContainer(row('borg-dev-0'));
    await s.flush();
    assert.notEqual(fs.statSync(file).ino, before);
  });

  it('keeps the previous file intact and stays dirty when the write fails', async () => {
    const s = await openStore();
    s.upsertContainer(row('before'));
    await s.flush();
    const previous = fs.readFileSync(file);
    fs.mkdirSync(`${file}.tmp-${process.pid}`); // the temp file cannot be created
    s.upsertContainer(row('after'));
    await assert.rejects(s.flush(), (e: unknown) => e instanceof BorgError && e.message.includes(file));
    assert.equal(s.isDirty, true);
    assert.deepEqual(fs.readFileSync(file), previous);
    fs.rmdirSync(`${file}.tmp-${process.pid}`);
    await s.flush(); // a failed write does not block later ones
    assert.deepEqual((await onDisk()).containers.map((r) => r.name).sort(), ['after', 'before']);
  });

  it('writes nothing when nothing changed since the last write (close after a flush, a flush after opening)', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0'));
    await s.flush();
    const written = fs.statSync(file).ino;
    await s.flush();
    assert.equal(fs.statSync(file).ino, written, 'a flush without changes replaced the file');
    await s.close();
    assert.equal(fs.statSync(file).ino, written, 'close after a flush replaced the file');
    const again = await openStore();
    await again.flush();
    assert.equal(fs.statSync(file).ino, written, 'a flush right after opening replaced the file');
    again.addEvent('changed', null);
    await again.flush();
    assert.notEqual(fs.statSync(file).ino, written, 'a change was not written');
  });

  it('writes the file again when it vanished, even without changes', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0'));
    await s.flush();
    fs.rmSync(file);
    await s.flush();
    assert.deepEqual(
      (await onDisk()).containers.map((r) => r.name),
      ['borg-dev-0'],
    );
  });

  it('resolves every one of several concurrent flushes, and the file holds the last state', async () => {
    const s = await openStore();
    s.upsertContainer(row('borg-dev-0', { state: 'created', createdAt: 1 }));
    const flushes = [s.flush()];
    s.setContainerState('borg-dev-0', 'running');
    flushes.push(s.flush());
    s.addEvent('started', 'borg-dev-0');
    flushes.push(s.flush());
    s.setContainerState('borg-dev-0', 'exited', { exitCode: 0, oomKilled: false });
    s.upsertContainer(row('borg-dev-1', { createdAt: 2 }));
    flushes.push(s.flush());
    await Promise.all(flushes);
    assert.equal(s.isDirty, false);
    assert.deepEqual(leftovers(), []);
    const disk = await onDisk();
    assert.deepEqual(
      disk.containers.map((r) => [r.name, r.state]),
      [
        ['borg-dev-0', 'exited'],
        ['borg-dev-1', 'running'],
      ],
    );
    assert.deepEqual(
      disk.events.map((e) => e.kind),
      ['started'],
    );
  });
});

describe('Store.close', () => {
  it('writes pending changes', async () => {
    const s = await Store.open(file);
    s.upsertContainer(row('borg-dev-0'));
    await s.close();
    assert.equal((await onDisk()).containers.length, 1);
  });

  it('can be called again, one after the other or at the same time', async () => {
    const s = await Store.open(file);
    await s.close();
    await s.close();
    const t = await Store.open(file);
    await Promise.all([t.close(), t.close()]);
  });

  it('refuses writes after close with a BorgError', async () => {
    const s = await Store.open(file);
    await s.close();
    assert.throws(() => s.upsertContainer(row('late')), BorgError);
    assert.throws(() => s.setContainerState('late', 'exited'), BorgError);
    assert.throws(() => s.addEvent('late', null), BorgError);
  });

  it('refuses reads after close with a BorgError', async () => {
    const s = await Store.open(file);
    await s.close();
    assert.throws(() => s.getContainer('x'), BorgError);
    assert.throws(() => s.listContainers(), BorgError);
    assert.throws(() => s.listEvents(), BorgError);
  });

  it('does not silently lose a write made while close() is flushing', async () => {
    const s = await Store.open(file);
    const closing = s.close();
    await new Promise((r) => setImmediate(r)); // the close's write has taken its snapshot by now
    let accepted = true;
    try {
      s.upsertContainer(row('late'));
    } catch (e) {
      assert.ok(e instanceof BorgError);
      accepted = false;
    }
    await closing;
    if (accepted)
      assert.deepEqual(
        (await onDisk()).containers.map((r) => r.name),
        ['late'],
        'an accepted write must reach the disk',
      );
  });
});
