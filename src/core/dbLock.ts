import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The lock of one database file: `<db>.lock`, created with O_EXCL (`wx`). The database is an
 * in-memory sql.js copy written back whole (store.ts), so two processes writing one file lose
 * each other's changes: every process that writes a database — a CLI command, a VS Code window —
 * holds its lock while it runs; the others open it read-only or refuse.
 *
 * The file holds `<pid>\n<command>\n<ISO time>\n` (the format older versions read) and then
 * `key=value` lines: `start=` the holder's start time (clock ticks since boot, Linux), `boot=` the
 * kernel's boot id, `host=` the host name, `holder=` words for the holder ("VS Code window
 * \"proj\""). A lock is stale — taken over, the caller prints a note — when its holder is not
 * alive by {@link holderAlive}: a pid reused after a reboot or by another process is no holder.
 */

/** Who holds a lock, as read from its file. */
export interface LockHolder {
  pid: number;
  /** The command that took it ("run", "tasks add", "launch", {@link WINDOW_COMMAND}, ...). */
  command: string;
  /** When it was taken (ISO), if the file says. */
  since?: string;
  /** The holder's start time in clock ticks since boot (Linux), if the file says. */
  startTime?: string;
  /** The boot id of the kernel it ran under (Linux), if the file says. */
  bootId?: string;
  /** The host name it ran on, if the file says. */
  host?: string;
  /** Words naming the holder for messages; absent: "borg <command>". */
  description?: string;
}

export type AcquireResult = { lock: DbLock; tookOverFrom?: LockHolder } | { lock?: undefined; holder: LockHolder };

/** The `command` of a VS Code window's lock: held for the window's life, like `borg run`. */
export const WINDOW_COMMAND = 'window';

/** Words for a window's lock: `VS Code window "proj"`, or `VS Code window with no folder open`. */
export function windowLockDescription(workspaceName: string | undefined): string {
  return workspaceName ? `VS Code window "${workspaceName}"` : 'VS Code window with no folder open';
}

/** True for holders that keep the lock for their whole life (`borg run`, a window): waiting for them is pointless. */
export function isLongLived(h: LockHolder): boolean {
  return h.command === 'run' || h.command === WINDOW_COMMAND;
}

/** What a lock needs to know about processes; {@link LINUX_PROC} reads the real ones, tests inject others. */
export interface ProcReader {
  /** True when a process with this pid exists. */
  pidAlive(pid: number): boolean;
  /** The process's start time (clock ticks since boot, as text), or undefined when it cannot be read (gone, not Linux). */
  startTime(pid: number): string | undefined;
  /** The kernel's boot id, or undefined when it cannot be read (not Linux). */
  bootId(): string | undefined;
  /** This machine's host name. */
  hostname(): string;
}

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

/**
 * Field 22 (`starttime`, clock ticks since boot) of a `/proc/<pid>/stat` text (proc(5)). Field 2
 * is the command name in parentheses and may itself hold spaces and parentheses, so the fields
 * are counted after the last `)`. Undefined when the text has no such field.
 */
export function parseStatStartTime(stat: string): string | undefined {
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/); // fields[0] is field 3 (state)
  const v = fields[22 - 3];
  return v !== undefined && /^\d+$/.test(v) ? v : undefined;
}

/** Reads the real `/proc` (Linux); elsewhere start time and boot id are undefined and only the pid counts. */
export const LINUX_PROC: ProcReader = {
  pidAlive,
  startTime(pid) {
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      return parseStatStartTime(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return undefined;
    }
  },
  bootId() {
    try {
      return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  },
  hostname: () => os.hostname(),
};

/**
 * Whether the holder named by a lock file still runs:
 * - on another host (`host=` differs): it cannot be checked from here, so it counts as alive
 *   (a shared home folder must not let two machines write one database);
 * - else dead when the boot id differs (the machine rebooted: every pid is new), when no process
 *   has its pid, or when the process with its pid started at another time (the pid was reused);
 * - a lock file without these fields (older versions) is judged by the pid alone, and so is a
 *   field this machine cannot read.
 */
export function holderAlive(h: LockHolder, proc: ProcReader = LINUX_PROC): boolean {
  if (h.host && h.host !== proc.hostname()) return true;
  const boot = h.bootId ? proc.bootId() : undefined;
  if (boot && boot !== h.bootId) return false;
  if (!proc.pidAlive(h.pid)) return false;
  const start = h.startTime ? proc.startTime(h.pid) : undefined;
  return !(start && start !== h.startTime);
}

/** Options of {@link DbLock.tryAcquire}. */
export interface LockOptions {
  /** Words naming this holder in other processes' messages (see {@link windowLockDescription}); one line. */
  description?: string;
  /** The process reader (tests); default {@link LINUX_PROC}. */
  proc?: ProcReader;
}

/** A lock this process holds. {@link release} removes the file only while it is still ours. */
export class DbLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(
    readonly file: string,
    private readonly content: string,
  ) {
    process.on('exit', this.onExit); // a crash still leaves no lock behind (and a kill -9 leaves a stale one)
  }

  /**
   * Tries once to take the lock of `db` for `command`. Returns the lock, or who holds it. A
   * stale lock (its holder is not alive, {@link holderAlive}) is removed and taken over;
   * `tookOverFrom` says from whom.
   * @throws Error for file system failures other than "exists" (e.g. the folder is read-only).
   */
  static tryAcquire(db: string, command: string, opts: LockOptions = {}): AcquireResult {
    const proc = opts.proc ?? LINUX_PROC;
    const file = lockFileOf(db);
    fs.mkdirSync(path.dirname(file), { recursive: true }); // the database's folder may not exist yet (first run)
    const content = lockText({
      pid: process.pid,
      command,
      since: new Date().toISOString(),
      startTime: proc.startTime(process.pid),
      bootId: proc.bootId(),
      host: proc.hostname(),
      description: opts.description,
    });
    for (let round = 0; round < 20; round++) {
      try {
        const fd = fs.openSync(file, 'wx', 0o644);
        try {
          fs.writeSync(fd, content);
        } finally {
          fs.closeSync(fd);
        }
        return { lock: new DbLock(file, content) };
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
      } else if (holderAlive(holder, proc)) {
        return { holder };
      }
      if (takeOver(file, seen.text, content)) return { lock: new DbLock(file, content), tookOverFrom: holder ?? { pid: 0, command: '(unreadable lock file)' } };
    }
    const last = readLock(file);
    return { holder: (last && parseHolder(last.text)) ?? { pid: 0, command: '(unreadable lock file)' } };
  }

  /**
   * Takes the lock, waiting up to `waitMs` (ms) while a short command holds it (not a long-lived
   * holder, {@link isLongLived}). Returns who holds it when it could not.
   */
  static async acquire(db: string, command: string, waitMs: number, opts: LockOptions = {}): Promise<AcquireResult> {
    const end = Date.now() + waitMs;
    for (;;) {
      const r = DbLock.tryAcquire(db, command, opts);
      if (r.lock || isLongLived(r.holder) || Date.now() >= end) return r;
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

/** The text of a lock file for `h` (see the file comment); values are kept to one line. */
export function lockText(h: LockHolder): string {
  const one = (v: string) => v.replace(/[\r\n]+/g, ' ');
  const extra: Array<[string, string | undefined]> = [
    ['start', h.startTime],
    ['boot', h.bootId],
    ['host', h.host],
    ['holder', h.description],
  ];
  return [String(h.pid), one(h.command), h.since ?? '', ...extra.filter(([, v]) => v).map(([k, v]) => `${k}=${one(v!)}`)].join('\n') + '\n';
}

/** The holder named by a lock file's text (either format), or undefined when it is empty or unreadable. */
export function parseHolder(text: string): LockHolder | undefined {
  const [pidLine, command, since, ...rest] = text.split('\n');
  const pid = Number(pidLine);
  if (!/^\d+$/.test(pidLine ?? '') || !Number.isInteger(pid) || pid <= 0) return undefined;
  const h: LockHolder = { pid, command: command || '?', since: since || undefined };
  for (const line of rest) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const [k, v] = [line.slice(0, eq), line.slice(eq + 1)];
    if (!v) continue;
    if (k === 'start' && /^\d+$/.test(v)) h.startTime = v;
    else if (k === 'boot') h.bootId = v;
    else if (k === 'host') h.host = v;
    else if (k === 'holder') h.description = v;
  }
  return h;
}

/** The current holder of `db`'s lock, or undefined when there is no lock file. */
export function lockHolder(db: string): LockHolder | undefined {
  const seen = readLock(lockFileOf(db));
  return seen ? parseHolder(seen.text) : undefined;
}

/**
 * Words for a holder, for "… holds the database" messages: `borg run (pid 123, since 2025-…)`,
 * `VS Code window "proj" (pid 77, since …)`, `… (pid 5 on host ci-2, since …)` when it runs
 * on another host than this one.
 */
export function describeHolder(h: LockHolder, proc: ProcReader = LINUX_PROC): string {
  const where = h.host && h.host !== proc.hostname() ? ` on host ${h.host}` : '';
  return `${h.description ?? `borg ${h.command}`} (pid ${h.pid}${where}${h.since ? `, since ${h.since}` : ''})`;
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
 * Replaces a stale lock whose text is `staleText` with `content` (this process's lock); true when
 * it did. Two processes may find the same stale lock at once: a second O_EXCL file,
 * `<lock>.takeover`, lets one of them re-read and replace it, so neither replaces a fresh lock
 * the other just made; the replacement is one rename, so no third process finds the lock file
 * missing and creates its own meanwhile. A takeover file older than 10 s is itself stale (its
 * owner died in these few lines) and is removed.
 */
function takeOver(file: string, staleText: string, content: string): boolean {
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
    // Replace it with our own lock in one rename: never a moment without a lock file, in which a
    // process that did not take it over could create one (and the taker would lose to it).
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content, { mode: 0o644 });
    fs.renameSync(tmp, file);
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

/**
 * The hand-over file of a database: a window that opened it read-only writes it to ask the
 * holding window (another VS Code window, or a code-server window whose tab was closed but whose
 * extension host lingers) to let go. The holder watches for it ({@link handoverRequested}), runs
 * its shutdown and releases the lock; the asking window then reloads as the writer.
 */
export function handoverFileOf(db: string): string {
  return `${lockFileOf(db)}.handover`;
}

/** Asks the holder of `db`'s lock to hand it over (see {@link handoverFileOf}). */
export function requestHandover(db: string, by: string): void {
  fs.writeFileSync(handoverFileOf(db), `${process.pid}\n${by}\n${new Date().toISOString()}\n`, { mode: 0o644 });
}

/** True (and the request is consumed) when someone asked the holder of `db`'s lock to hand it over. */
export function handoverRequested(db: string): boolean {
  try {
    fs.unlinkSync(handoverFileOf(db));
    return true;
  } catch {
    return false;
  }
}
