/**
 * The database lock's idea of a live holder (dbLock.ts): pid AND boot id AND start time, read
 * from the real /proc of this process and of real children; a reused pid — after a reboot, or
 * by another process — is taken over; old lock files fall back to the pid; holders are named.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DbLock,
  describeHolder,
  handoverFileOf,
  handoverRequested,
  holderAlive,
  LINUX_PROC,
  LockHolder,
  lockFileOf,
  lockHolder,
  lockText,
  parseHolder,
  parseStatStartTime,
  ProcReader,
  requestHandover,
  WINDOW_COMMAND,
  windowLockDescription,
} from '../../src/core/dbLock';
import { RefusedError } from '../../src/core/errors';
import { Store } from '../../src/core/store';
import { borgHomeOf, workspaceHome, workspaceId, workspaceKeyOf } from '../../src/core/workspace';

const DB_LOCK_JS = path.join(__dirname, '..', '..', 'src', 'core', 'dbLock.js');
const onLinux = process.platform === 'linux';

let dir: string;
let db: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-lock-'));
  db = path.join(dir, 'borg.sqlite');
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A pid that no process has any more: a child that ran and was reaped. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '']);
  await new Promise((res) => c.on('exit', res));
  return c.pid!;
}

const me = (): LockHolder => ({
  pid: process.pid,
  command: 'run',
  startTime: LINUX_PROC.startTime(process.pid),
  bootId: LINUX_PROC.bootId(),
  host: os.hostname(),
});

describe('reading /proc', { skip: !onLinux && 'Linux only' }, () => {
  it('field 22 of /proc/<pid>/stat is counted after the last ")" (the command name may hold spaces and parentheses)', () => {
    const stat = '4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345 67 18446744073709551615';
    assert.equal(parseStatStartTime(stat), '987654');
    assert.equal(parseStatStartTime('garbage'), undefined);
    assert.equal(parseStatStartTime('1 (x) S 1 2'), undefined, 'too short');
  });

  it('reads the start time of a real process whose name holds spaces and parentheses', async () => {
    const exe = path.join(dir, 'a) b (c');
    fs.copyFileSync('/bin/sleep', exe);
    fs.chmodSync(exe, 0o755);
    const c = spawn(exe, ['600'], { stdio: 'ignore' });
    children.push(c);
    await new Promise((res) => c.on('spawn', res));
    assert.match(fs.readFileSync(`/proc/${c.pid}/stat`, 'utf8'), /\(a\) b \(c\)/, 'the kernel shows the odd name');
    const start = LINUX_PROC.startTime(c.pid!);
    assert.match(start ?? '', /^\d+$/);
    assert.ok(BigInt(start!) >= BigInt(LINUX_PROC.startTime(process.pid)!), 'the child started after this process');
    assert.equal(LINUX_PROC.startTime(c.pid!), start, 'stable');
  });

  it('a finished process has no start time and is not alive; the boot id is a UUID', async () => {
    const pid = await deadPid();
    assert.equal(LINUX_PROC.pidAlive(pid), false);
    assert.equal(LINUX_PROC.startTime(pid), undefined);
    assert.match(LINUX_PROC.bootId() ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe('holderAlive', () => {
  const proc: ProcReader = { pidAlive: (pid) => pid === 100, startTime: (pid) => (pid === 100 ? '5000' : undefined), bootId: () => 'boot-now', hostname: () => 'here' };
  const h = (over: Partial<LockHolder>): LockHolder => ({ pid: 100, command: 'run', startTime: '5000', bootId: 'boot-now', host: 'here', ...over });

  it('alive only with the same boot id, a live pid and the same start time', () => {
    assert.equal(holderAlive(h({}), proc), true);
    assert.equal(holderAlive(h({ bootId: 'boot-before' }), proc), false, 'rebooted since');
    assert.equal(holderAlive(h({ startTime: '4000' }), proc), false, 'the pid was reused by another process');
    assert.equal(holderAlive(h({ pid: 101, startTime: undefined }), proc), false, 'no such pid');
  });

  it('an old lock file (pid only) is judged by the pid', () => {
    assert.equal(holderAlive({ pid: 100, command: 'run' }, proc), true);
    assert.equal(holderAlive({ pid: 101, command: 'run' }, proc), false);
  });

  it('a field this machine cannot read is not held against the holder', () => {
    const blind: ProcReader = { ...proc, startTime: () => undefined, bootId: () => undefined };
    assert.equal(holderAlive(h({ startTime: '1', bootId: 'other' }), blind), true);
  });

  it('a holder on another host cannot be checked from here and counts as alive', () => {
    assert.equal(holderAlive(h({ host: 'elsewhere', pid: 101, bootId: 'other' }), proc), true);
  });
});

describe('DbLock', () => {
  it('writes pid, command, time, start time, boot id, host and the holder words', () => {
    const r = DbLock.tryAcquire(db, WINDOW_COMMAND, { description: windowLockDescription('proj') });
    assert.ok(r.lock);
    const h = lockHolder(db)!;
    assert.equal(h.pid, process.pid);
    assert.equal(h.command, WINDOW_COMMAND);
    assert.equal(h.host, os.hostname());
    if (onLinux) {
      assert.equal(h.startTime, LINUX_PROC.startTime(process.pid));
      assert.equal(h.bootId, LINUX_PROC.bootId());
    }
    assert.match(describeHolder(h), new RegExp(`^VS Code window "proj" \\(pid ${process.pid}, since \\d{4}-`));
    r.lock.release();
    assert.equal(fs.existsSync(lockFileOf(db)), false);
  });

  it('the first three lines stay what older versions read', () => {
    const text = lockText({ ...me(), since: '2025-01-01T00:00:00.000Z', description: 'two\nlines' });
    assert.deepEqual(text.split('\n').slice(0, 3), [String(process.pid), 'run', '2025-01-01T00:00:00.000Z']);
    assert.equal(parseHolder(text)?.description, 'two lines', 'kept to one line');
  });

  it('a live holder (same boot, pid and start time) is not taken over', () => {
    fs.writeFileSync(lockFileOf(db), lockText({ ...me(), since: 'x' }));
    const r = DbLock.tryAcquire(db, 'tasks add');
    assert.equal(r.lock, undefined);
    assert.equal(r.lock ? undefined : r.holder.pid, process.pid);
  });

  it('takes over a lock whose boot id differs (its pid is alive again after a reboot)', { skip: !onLinux && 'Linux only' }, () => {
    const stale = lockText({ ...me(), bootId: '00000000-0000-0000-0000-000000000000' });
    fs.writeFileSync(lockFileOf(db), stale);
    const r = DbLock.tryAcquire(db, 'run');
    assert.ok(r.lock, 'taken over');
    assert.equal(r.tookOverFrom?.pid, process.pid);
    assert.equal(r.tookOverFrom?.bootId, '00000000-0000-0000-0000-000000000000');
    r.lock.release();
  });

  it('takes over a lock whose pid now belongs to a process that started at another time', { skip: !onLinux && 'Linux only' }, () => {
    fs.writeFileSync(lockFileOf(db), lockText({ ...me(), startTime: String(BigInt(LINUX_PROC.startTime(process.pid)!) + 1n) }));
    const r = DbLock.tryAcquire(db, 'run');
    assert.ok(r.lock, 'taken over');
    r.lock.release();
  });

  it('an old-format lock falls back to the pid: a live pid holds, a finished one is taken over', async () => {
    fs.writeFileSync(lockFileOf(db), `${process.pid}\nrun\n2020-01-01T00:00:00.000Z\n`);
    assert.equal(DbLock.tryAcquire(db, 'x').lock, undefined);
    const pid = await deadPid();
    fs.writeFileSync(lockFileOf(db), `${pid}\nrun\n2020-01-01T00:00:00.000Z\n`);
    const r = DbLock.tryAcquire(db, 'x');
    assert.ok(r.lock);
    assert.equal(r.tookOverFrom?.pid, pid);
    r.lock.release();
  });

  it('acquire does not wait for a window (it holds the lock for its whole life)', async () => {
    fs.writeFileSync(lockFileOf(db), lockText({ ...me(), command: WINDOW_COMMAND }));
    const r = await DbLock.acquire(db, 'tasks add', 600_000); // would hang for 10 minutes if it waited
    assert.equal(r.lock, undefined);
  });
});

describe('two windows with no folder open', () => {
  it('share one well-defined home; the second finds the first named as holder and opens the database read-only', async () => {
    const home = workspaceHome(borgHomeOf(dir), workspaceId(workspaceKeyOf(undefined)));
    assert.deepEqual(workspaceHome(borgHomeOf(dir), workspaceId(workspaceKeyOf(undefined, undefined))), home);
    // The first window: another process holding the lock, as a window does.
    const first = spawn(
      process.execPath,
      [
        '-e',
        `
      const { DbLock, WINDOW_COMMAND, windowLockDescription } = require(${JSON.stringify(DB_LOCK_JS)});
      const r = DbLock.tryAcquire(${JSON.stringify(home.db)}, WINDOW_COMMAND, { description: windowLockDescription(undefined) });
      console.log(r.lock ? 'held' : 'refused');
      process.stdin.resume();
      process.stdin.on('end', () => { r.lock && r.lock.release(); process.exit(0); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    children.push(first);
    const said = await new Promise<string>((res) => first.stdout!.once('data', (d) => res(String(d).trim())));
    assert.equal(said, 'held');
    const w = await Store.open(home.db);
    await w.close(); // the first window's database on disk
    const second = DbLock.tryAcquire(home.db, WINDOW_COMMAND, { description: windowLockDescription(undefined) });
    assert.equal(second.lock, undefined, 'the second window does not write');
    const heldBy = describeHolder(second.lock ? me() : second.holder);
    assert.match(heldBy, new RegExp(`^VS Code window with no folder open \\(pid ${first.pid}, since `));
    const ro = await Store.open(home.db, { readOnly: true, heldBy });
    assert.throws(
      () => ro.addEvent('x', null),
      (e: unknown) => e instanceof RefusedError && e.message.startsWith(`read-only: ${heldBy} holds the database ${home.db}`),
    );
    await ro.close();
    first.stdin!.end();
    await new Promise((res) => first.on('exit', res));
    assert.equal(fs.existsSync(lockFileOf(home.db)), false, 'released when the first window ends');
  });
});

describe('hand-over of a database between windows', () => {
  it('a request is seen once by the holder, and only after it was made', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-handover-'));
    try {
      const db = path.join(dir, 'borg.sqlite');
      assert.equal(handoverRequested(db), false, 'no request yet');
      requestHandover(db, 'VS Code window "w"');
      assert.match(fs.readFileSync(handoverFileOf(db), 'utf8'), /VS Code window "w"/);
      assert.equal(handoverRequested(db), true);
      assert.equal(handoverRequested(db), false, 'consumed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
