import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The database lock of the headless CLI: `<db>.lock`, created with O_EXCL (`wx`) and holding
 * `<pid>\n<command>\n<ISO time>\n`. The database is an in-memory sql.js copy written back whole
 * (store.ts), so two processes writing one file lose each other's changes: every command that
 * writes the database holds this lock while it runs. A lock whose pid is not alive is stale and
 * taken over (the caller prints a note).
 */

/** Who holds a lock, as read from its file. */
export interface LockHolder {
  pid: number;
  /** The command that took it ("run", "tasks add", "launch", ...). */
  command: string;
  /** When it was taken (ISO), if the file says. */
  since?: string;
}

export type AcquireResult =
  | { lock: DbLock; tookOverFrom?: LockHolder }
  | { lock?: undefined; holder: LockHolder };

/** The lock file of a database. */
export function lockFileOf(db: string): string {
  return `${db}.lock`;
}

/** True when a process with this pid exists (EPERM: it exists, it is just not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock this process holds. {@link release} removes the file only while it is still ours. */
export class DbLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly file: string, private readonly content: string) {
    process.on('exit', this.onExit); // a crash still leaves no lock behind (and a kill -9 leaves a stale one)
  }

  /**
   * Tries once to take the lock of `db` for `command`. Returns the lock, or who holds it. A
   * stale lock (its pid is gone) is removed and taken over; `tookOverFrom` says from whom.
   * @throws Error for file system failures other than "exists" (e.g. the folder is read-only).
   */
  static tryAcquire(db: string, command: string): AcquireResult {
    const file = lockFileOf(db);
    fs.mkdirSync(path.dirname(file), { recursive: true }); // the database's folder may not exist yet (first run)
    const content = `${process.pid}\n${command}\n${new Date().toISOString()}\n`;
    let tookOverFrom: LockHolder | undefined;
    for (let round = 0; round < 20; round++) {
      try {
        const fd = fs.openSync(file, 'wx', 0o644);
        try {
          fs.writeSync(fd, content);
        } finally {
          fs.closeSync(fd);
        }
        return { lock: new DbLock(file, content), tookOverFrom };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const seen = readLock(file);
      if (seen === undefined) continue; // removed meanwhile: try again
      const holder = parseHolder(seen.text);
      if (!holder) {
        // Empty or torn: another process is between its open and its write, or died there.
        if (Date.now() - seen.mtimeMs < 2_000) {
          sleepSync(25);
          continue;
        }
      } else if (pidAlive(holder.pid)) {
        return { holder };
      }
      if (takeOver(file, seen.text)) tookOverFrom = holder ?? { pid: 0, command: '(unreadable lock file)' };
    }
    const last = readLock(file);
    return { holder: (last && parseHolder(last.text)) ?? { pid: 0, command: '(unreadable lock file)' } };
  }

  /**
   * Takes the lock, waiting up to `waitMs` while a short command (not `run`) holds it.
   * Returns who holds it when it could not.
   */
  static async acquire(db: string, command: string, waitMs: number): Promise<AcquireResult> {
    const end = Date.now() + waitMs;
    for (;;) {
      const r = DbLock.tryAcquire(db, command);
      if (r.lock || r.holder.command === 'run' || Date.now() >= end) return r;
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** Removes the lock file if it still holds our content. Idempotent; never throws. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    try {
      if (fs.readFileSync(this.file, 'utf8') === this.content) fs.unlinkSync(this.file);
    } catch {
      // gone already
    }
  }
}

/** The holder named by a lock file's text, or undefined when it is empty or unreadable. */
export function parseHolder(text: string): LockHolder | undefined {
  const [pidLine, command, since] = text.split('\n');
  const pid = Number(pidLine);
  if (!/^\d+$/.test(pidLine ?? '') || !Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, command: command || '?', since: since || undefined };
}

/** The current holder of `db`'s lock, or undefined when there is no lock file. */
export function lockHolder(db: string): LockHolder | undefined {
  const seen = readLock(lockFileOf(db));
  return seen ? parseHolder(seen.text) : undefined;
}

/** Words for a holder: "borg run (pid 123, since 2025-...)". */
export function describeHolder(h: LockHolder): string {
  return `borg ${h.command} (pid ${h.pid}${h.since ? `, since ${h.since}` : ''})`;
}

function readLock(file: string): { text: string; mtimeMs: number } | undefined {
  try {
    const mtimeMs = fs.statSync(file).mtimeMs;
    return { text: fs.readFileSync(file, 'utf8'), mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Removes a stale lock whose text is `staleText`. Two processes may find the same stale lock at
 * once: a second O_EXCL file, `<lock>.takeover`, lets one of them re-read and remove it, so
 * neither removes a fresh lock the other just made. A takeover file older than 10 s is itself
 * stale (its owner died in these few lines) and is removed.
 */
function takeOver(file: string, staleText: string): boolean {
  const guard = `${file}.takeover`;
  try {
    fs.closeSync(fs.openSync(guard, 'wx', 0o644));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    try {
      if (Date.now() - fs.statSync(guard).mtimeMs > 10_000) fs.unlinkSync(guard);
    } catch {
      // someone else cleared it
    }
    sleepSync(25);
    return false;
  }
  try {
    if (readLock(file)?.text !== staleText) return false; // taken over (or released) by someone else meanwhile
    fs.unlinkSync(file);
    return true;
  } catch {
    return false;
  } finally {
    try {
      fs.unlinkSync(guard);
    } catch {
      // already gone
    }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
