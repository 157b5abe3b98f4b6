import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs, { Database, SqlJsStatic } from 'sql.js';
import { BorgError, RefusedError } from './errors';

/** One row of the `containers` table. Times are ms since the epoch. */
export interface ContainerRow {
  name: string;
  id: string | null;
  persona: string;
  /** Borg's view: created, running, exited, oom-killed, timed-out, detached, lost, removed, failed. */
  state: string;
  exitCode: number | null;
  oomKilled: boolean;
  /** The `borg.workspace` label value, or null for rows written before schema v2. */
  workspace: string | null;
  createdAt: number;
  updatedAt: number;
}

/** One row of the `events` table. */
export interface EventRow {
  id: number;
  at: number;
  container: string | null;
  kind: string;
  detail: string | null;
}

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Append only:
 * never edit a step that has shipped.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE containers (
     name TEXT PRIMARY KEY,
     id TEXT,
     persona TEXT NOT NULL,
     state TEXT NOT NULL,
     exit_code INTEGER,
     oom_killed INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     container TEXT,
     kind TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX events_container ON events(container);`,
  // v2: which workspace a container belongs to, so recovery only judges its own rows (a CLI
  // database can be shared by several workspaces). NULL: a row from v1, taken as this workspace's.
  `ALTER TABLE containers ADD COLUMN workspace TEXT;`,
  // v3: tasks and their phase runs (see taskStore.ts).
  `CREATE TABLE tasks (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     title TEXT NOT NULL,
     description TEXT NOT NULL DEFAULT '',
     repo TEXT NOT NULL,
     base_branch TEXT,
     branch TEXT,
     worktree TEXT,
     status TEXT NOT NULL,
     phase TEXT NOT NULL,
     attempt INTEGER NOT NULL DEFAULT 0,
     max_attempts INTEGER NOT NULL DEFAULT 5,
     last_error TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     dispatched_at INTEGER
   );
   CREATE INDEX tasks_status ON tasks(status);
   CREATE TABLE task_runs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     task_id INTEGER NOT NULL,
     phase TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     agent TEXT,
     outcome TEXT NOT NULL,
     exit_code INTEGER,
     duration_ms INTEGER,
     session_id TEXT,
     cost_usd REAL,
     input_tokens INTEGER,
     output_tokens INTEGER,
     output TEXT,
     stream_file TEXT,
     error TEXT,
     commit_sha TEXT,
     started_at INTEGER NOT NULL,
     finished_at INTEGER
   );
   CREATE INDEX task_runs_task ON task_runs(task_id);`,
  // v4: the model gateway (gateway/ledger.ts): one row per model request an agent made through
  // it (tokens, cost in USD, refusals), the runs that hold a gateway token (only its SHA-256),
  // and why a task is blocked (auth, quota, budget, other) with the upstream's retry time.
  `CREATE TABLE model_usage (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     agent TEXT NOT NULL,
     run_started_at INTEGER NOT NULL,
     task_id INTEGER,
     phase TEXT,
     model TEXT,
     status INTEGER NOT NULL,
     input_tokens INTEGER NOT NULL DEFAULT 0,
     output_tokens INTEGER NOT NULL DEFAULT 0,
     cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
     cache_read_tokens INTEGER NOT NULL DEFAULT 0,
     cost_usd REAL NOT NULL DEFAULT 0,
     refusal TEXT,
     retry_at INTEGER,
     message TEXT
   );
   CREATE INDEX model_usage_task ON model_usage(task_id);
   CREATE INDEX model_usage_at ON model_usage(at);
   CREATE INDEX model_usage_agent ON model_usage(agent, run_started_at);
   CREATE TABLE gateway_runs (
     agent TEXT PRIMARY KEY,
     token_sha256 TEXT NOT NULL,
     persona TEXT NOT NULL,
     task_id INTEGER,
     phase TEXT,
     started_at INTEGER NOT NULL
   );
   ALTER TABLE tasks ADD COLUMN blocked_reason TEXT;
   ALTER TABLE tasks ADD COLUMN retry_at INTEGER;`,
  // v5: which Docker host (borg.docker.hosts) or Swarm node ran each task run; null with one daemon.
  `ALTER TABLE task_runs ADD COLUMN host TEXT;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

let sqlJs: Promise<SqlJsStatic> | undefined;

/**
 * Loads sql.js once per process. The wasm file is `sql-wasm.wasm` next to the bundle (dist/),
 * falling back to the copy in node_modules when running unbundled (tests, CLI from out/).
 */
function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs({
    locateFile: (file: string) => {
      const beside = path.join(__dirname, file);
      if (fs.existsSync(beside)) return beside;
      return path.join(path.dirname(require.resolve('sql.js')), file);
    },
  });
  return sqlJs;
}

/**
 * The Borg database: a sql.js (SQLite in wasm) database held in memory and written to `file`
 * atomically by {@link flush}: a temp file in the same folder, fsync, rename over the old file,
 * fsync of the folder. A crash at any point leaves the old file or the new one, never a torn one
 * (rename(2) is atomic within a file system).
 *
 * A file that is not a readable SQLite database is moved aside to `<file>.corrupt-<ms>` (kept,
 * nothing is deleted) and a fresh database is started; `recoveredFrom` names the moved file.
 *
 * Opened **read-only** (`{ readOnly: true }`, for a viewer while another process holds the
 * database's lock, dbLock.ts) it reads the file and never writes, renames or creates anything:
 * every change throws a {@link RefusedError} naming the holder; `flush`, `close` and
 * `autoFlush` write nothing; {@link reload} reads the holder's newest version.
 */
export class Store {
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private closed = false;
  private refusingWrites = false;
  private autoFlushMs: number | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private onAutoFlushError: (e: unknown) => void = () => undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private db: Database,
    readonly file: string,
    readonly recoveredFrom: string | undefined,
    private readonly readOnlyBy: string | undefined,
  ) {}

  /**
   * Opens (or creates) the database at `file`, creating its folder, and migrates it.
   *
   * With `readOnly`, reads `file` only: a missing file is an empty database, an older schema is
   * migrated in memory, nothing is ever written; `heldBy` names who holds the database (e.g.
   * `describeHolder(holder)` from dbLock.ts) for the refusals.
   * @throws BorgError when the folder cannot be created or the file cannot be read (read-only:
   *   also when it is not a readable database, since moving it aside would be a write).
   */
  static async open(file: string, opts: StoreOptions = {}): Promise<Store> {
    if (opts.readOnly) return Store.openReadOnly(file, opts.heldBy ?? 'another process');
    const SQL = await loadSqlJs();
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (e) {
      throw new BorgError(`Cannot create the folder for the Borg database ${file}: ${(e as Error).message}`, { cause: e });
    }
    const bytes = readBytes(file);
    let db: Database | undefined;
    let recoveredFrom: string | undefined;
    if (bytes && bytes.length > 0) {
      try {
        db = new SQL.Database(bytes);
        // quick_check reports damage as rows, not as an exception: anything but "ok" is corrupt.
        const verdict = db.exec('PRAGMA quick_check')[0]?.values[0]?.[0];
        if (verdict !== 'ok') throw new Error(String(verdict));
      } catch {
        db?.close();
        db = undefined;
        recoveredFrom = `${file}.corrupt-${Date.now()}`;
        fs.renameSync(file, recoveredFrom);
      }
    }
    db ??= new SQL.Database();
    const store = new Store(db, file, recoveredFrom, undefined);
    store.migrate();
    return store;
  }

  private static async openReadOnly(file: string, heldBy: string): Promise<Store> {
    const store = new Store(await readDatabase(file), file, undefined, heldBy);
    store.migrate();
    store.dirty = false; // an in-memory migration is never written
    return store;
  }

  /** True when opened read-only (see the class comment). */
  get readOnly(): boolean {
    return this.readOnlyBy !== undefined;
  }

  /**
   * Read-only stores: replaces the data with the file's current content (what its holder last
   * flushed). On failure the previous data stays.
   * @throws RefusedError on a writable store (it would drop unwritten changes); BorgError when
   *   the file cannot be read or is no readable database.
   */
  async reload(): Promise<void> {
    this.assertOpen();
    if (!this.readOnly) throw new RefusedError(`reload() is for read-only viewers; this store writes ${this.file} itself.`);
    const next = await readDatabase(this.file);
    const old = this.db;
    this.db = next;
    try {
      this.migrate();
    } catch (e) {
      this.db = old;
      throw e;
    }
    this.dirty = false;
    old.close();
  }

  /** The schema version of the open database. */
  get schemaVersion(): number {
    this.assertOpen();
    return Number(this.db.exec('PRAGMA user_version')[0].values[0][0]);
  }

  private migrate(): void {
    const from = this.schemaVersion;
    if (from > SCHEMA_VERSION) {
      this.db.close();
      throw new BorgError(`The Borg database ${this.file} has schema version ${from}, newer than this extension's ${SCHEMA_VERSION}. Update the extension.`);
    }
    for (let v = from; v < SCHEMA_VERSION; v++) {
      this.db.exec('BEGIN');
      try {
        this.db.exec(MIGRATIONS[v]);
        this.db.exec(`PRAGMA user_version = ${v + 1}`);
        this.db.exec('COMMIT');
      } catch (e) {
        this.db.exec('ROLLBACK');
        throw new BorgError(`Migrating the Borg database to version ${v + 1} failed: ${(e as Error).message}`, { cause: e });
      }
    }
    if (from !== SCHEMA_VERSION) this.dirty = true;
  }

  /** Inserts or updates the row for `row.name` (a reclaimed name keeps its row, with the new id). */
  upsertContainer(row: Omit<ContainerRow, 'createdAt' | 'updatedAt' | 'workspace'> & { createdAt?: number; workspace?: string | null }): void {
    const now = Date.now();
    this.run(
      `INSERT INTO containers (name, id, persona, state, exit_code, oom_killed, workspace, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET id = excluded.id, persona = excluded.persona, state = excluded.state,
         exit_code = excluded.exit_code, oom_killed = excluded.oom_killed, workspace = excluded.workspace,
         updated_at = excluded.updated_at`,
      [row.name, row.id, row.persona, row.state, row.exitCode, row.oomKilled ? 1 : 0, row.workspace ?? null, row.createdAt ?? now, now],
    );
  }

  /** Updates the state (and exit code / OOM flag when given) of an existing row. */
  setContainerState(name: string, state: string, exit?: { exitCode: number | null; oomKilled: boolean }): void {
    if (exit) {
      this.run('UPDATE containers SET state = ?, exit_code = ?, oom_killed = ?, updated_at = ? WHERE name = ?', [state, exit.exitCode, exit.oomKilled ? 1 : 0, Date.now(), name]);
    } else {
      this.run('UPDATE containers SET state = ?, updated_at = ? WHERE name = ?', [state, Date.now(), name]);
    }
  }

  getContainer(name: string): ContainerRow | undefined {
    return this.containers('WHERE name = ?', [name])[0];
  }

  listContainers(): ContainerRow[] {
    return this.containers('ORDER BY created_at, name', []);
  }

  /** Appends an event; `detail` is stored as JSON. */
  addEvent(kind: string, container: string | null, detail?: unknown): void {
    this.run('INSERT INTO events (at, container, kind, detail) VALUES (?, ?, ?, ?)', [Date.now(), container, kind, detail === undefined ? null : JSON.stringify(detail)]);
  }

  /** Events, oldest first, optionally of one container. */
  listEvents(container?: string): EventRow[] {
    this.assertOpen();
    const stmt = this.db.prepare(`SELECT id, at, container, kind, detail FROM events ${container ? 'WHERE container = ?' : ''} ORDER BY id`);
    try {
      if (container) stmt.bind([container]);
      const rows: EventRow[] = [];
      while (stmt.step()) {
        const r = stmt.getAsObject();
        rows.push({ id: Number(r.id), at: Number(r.at), container: (r.container as string) ?? null, kind: String(r.kind), detail: (r.detail as string) ?? null });
      }
      return rows;
    } finally {
      stmt.free();
    }
  }

  /**
   * Runs a statement for a table module (taskStore.ts) and marks the database dirty. Returns
   * the last inserted row id.
   */
  execute(sql: string, params: Array<string | number | null>): number {
    this.run(sql, params);
    return Number(this.db.exec('SELECT last_insert_rowid()')[0].values[0][0]);
  }

  /** Runs a query for a table module and returns its rows as objects. */
  query(sql: string, params: Array<string | number | null> = []): Array<Record<string, unknown>> {
    this.assertOpen();
    const stmt = this.db.prepare(sql);
    try {
      stmt.bind(params);
      const rows: Array<Record<string, unknown>> = [];
      while (stmt.step()) rows.push(stmt.getAsObject() as Record<string, unknown>);
      return rows;
    } finally {
      stmt.free();
    }
  }

  /** True when there are changes not yet written to disk. */
  get isDirty(): boolean {
    return this.dirty;
  }

  /**
   * Writes the database to disk atomically (see the class comment). Calls are serialised; a
   * call while a write runs waits for it and then writes the newest state. Writes nothing when
   * nothing changed since the last write and the file is there.
   * @throws BorgError when the file cannot be written (the previous file stays intact).
   */
  flush(): Promise<void> {
    if (this.readOnly) return Promise.resolve();
    const next = this.writing.then(() => this.writeNow());
    this.writing = next.catch(() => undefined);
    return next;
  }

  /**
   * Writes the database `delayMs` after a change (changes within the delay share one write), so
   * a crash of the process loses at most that much. Failed writes are reported to `onError`.
   * Dispose the result (or close the store) to stop.
   */
  autoFlush(delayMs: number, onError: (e: unknown) => void = (e) => console.error('[borg]', e)): { dispose(): void } {
    if (this.readOnly) return { dispose: () => undefined }; // nothing to write, ever
    this.autoFlushMs = delayMs;
    this.onAutoFlushError = onError;
    return { dispose: () => this.stopAutoFlush() };
  }

  private stopAutoFlush(): void {
    this.autoFlushMs = undefined;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  /** Refuses further changes, flushes and closes. Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopAutoFlush();
    this.closing = (async () => {
      this.refusingWrites = true;
      try {
        await this.flush();
      } finally {
        this.closed = true;
        this.db.close();
      }
    })();
    return this.closing;
  }

  private async writeNow(): Promise<void> {
    if (this.closed || this.readOnly) return;
    // Nothing changed since the last write (or the open): the file holds this state already. Skips
    // the export and the atomic write, e.g. close() right after shutdown's flush (10k tasks and
    // 100k events, ~36 MB, cost ~110 ms a write: bench/shutdown.ts).
    if (!this.dirty && fs.existsSync(this.file)) return;
    const data = this.db.export();
    // sql.js: export() ends any open transaction and resets prepared statements; we hold none across awaits.
    this.dirty = false;
    const tmp = `${this.file}.tmp-${process.pid}`;
    try {
      const fh = await fs.promises.open(tmp, 'w', 0o600);
      try {
        // One write call, not fh.writeFile's 512 KiB chunks (a round trip to the thread pool each).
        for (let at = 0; at < data.length;) at += (await fh.write(data, at, data.length - at, at)).bytesWritten;
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, this.file);
      await syncDir(path.dirname(this.file));
    } catch (e) {
      this.dirty = true;
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
      throw new BorgError(`Writing the Borg database ${this.file} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new BorgError('The Borg database is closed.');
  }

  private run(sql: string, params: Array<string | number | null>): void {
    if (this.readOnlyBy !== undefined) {
      throw new RefusedError(`read-only: ${this.readOnlyBy} holds the database ${this.file}. Make the change there, or close it and open this one again.`);
    }
    if (this.closed || this.refusingWrites) throw new BorgError('The Borg database is closed.');
    this.db.run(sql, params);
    this.dirty = true;
    if (this.autoFlushMs !== undefined && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.flush().catch(this.onAutoFlushError);
      }, this.autoFlushMs);
      this.flushTimer.unref?.();
    }
  }

  private containers(where: string, params: Array<string | number>): ContainerRow[] {
    this.assertOpen();
    const stmt = this.db.prepare(`SELECT name, id, persona, state, exit_code, oom_killed, workspace, created_at, updated_at FROM containers ${where}`);
    try {
      stmt.bind(params);
      const rows: ContainerRow[] = [];
      while (stmt.step()) {
        const r = stmt.getAsObject();
        rows.push({
          name: String(r.name),
          id: (r.id as string) ?? null,
          persona: String(r.persona),
          state: String(r.state),
          exitCode: r.exit_code === null ? null : Number(r.exit_code),
          oomKilled: r.oom_killed === 1,
          workspace: (r.workspace as string | null) ?? null,
          createdAt: Number(r.created_at),
          updatedAt: Number(r.updated_at),
        });
      }
      return rows;
    } finally {
      stmt.free();
    }
  }
}

/** Options of {@link Store.open}. */
export interface StoreOptions {
  /** Open for reading only (see the class comment of {@link Store}). */
  readOnly?: boolean;
  /** Read-only: who holds the database, named in refusals ("read-only: <heldBy> holds the database <file>"). */
  heldBy?: string;
}

/**
 * Reads `file` into a database without writing anything (a missing or empty file: an empty
 * database). @throws BorgError when it cannot be read or is no readable SQLite database.
 */
async function readDatabase(file: string): Promise<Database> {
  const SQL = await loadSqlJs();
  const bytes = readBytes(file);
  if (!bytes || bytes.length === 0) return new SQL.Database();
  let db: Database | undefined;
  try {
    db = new SQL.Database(bytes);
    const verdict = db.exec('PRAGMA quick_check')[0]?.values[0]?.[0];
    if (verdict !== 'ok') throw new Error(String(verdict));
    return db;
  } catch (e) {
    db?.close();
    throw new BorgError(`The Borg database ${file} is not readable (${(e as Error).message}); the process holding it will replace it when it writes next.`, { cause: e });
  }
}

/** fsync a folder so a rename in it is durable (no-op where folders cannot be opened, e.g. Windows). */
async function syncDir(dir: string): Promise<void> {
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, 'r');
    await fh.sync();
  } catch {
    // not supported on this platform: the rename is still atomic
  } finally {
    await fh?.close();
  }
}

/** The database file's bytes, or undefined when there is none yet. @throws BorgError when it exists but cannot be read. */
function readBytes(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BorgError(`Cannot read the Borg database ${file}: ${(e as Error).message}`, { cause: e });
  }
}
