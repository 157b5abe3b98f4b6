import { DbLock, describeHolder, LockHolder, LockOptions } from './dbLock';
import { adoptLegacyDatabase } from './legacyDatabase';
import { Store } from './store';

/** What {@link openWorkspaceDatabase} opened. */
export interface OpenedDatabase {
  store: Store;
  /** The lock this process holds when it is the writer; release it after `store.close()`. */
  lock?: DbLock;
  /** Read-only: who holds the database (name them with `describeHolder`). */
  holder?: LockHolder;
  /** A stale lock (its holder is gone) this process took over. */
  tookOverFrom?: LockHolder;
  /** The old database copied into place before opening (legacyDatabase.ts). */
  adoptedFrom?: string;
}

/**
 * Opens a workspace's database the one-writer way, for a face that runs for a long time (a VS
 * Code window; `borg run`): first copies the first existing old database of `legacy` into `db`
 * when `db` does not exist (adoptLegacyDatabase), then takes `db`'s lock (dbLock.ts) as
 * `command` / `description`. Holding it, opens the store for writing; otherwise opens it
 * read-only ({@link Store.open} `readOnly`), its refusals naming the holder.
 * @param o.db the database file (workspace.ts `WorkspaceHome.db`).
 * @param o.legacy old places of this workspace's database, most specific first (e.g. the
 *   extension's `<storageUri>/borg.sqlite`).
 * @throws BorgError when the database cannot be opened (the lock is released then).
 */
export async function openWorkspaceDatabase(o: { db: string; command: string; legacy?: string[] } & LockOptions): Promise<OpenedDatabase> {
  let adoptedFrom: string | undefined;
  for (const from of o.legacy ?? []) {
    if (adoptLegacyDatabase(from, o.db)) {
      adoptedFrom = from;
      break;
    }
  }
  const r = DbLock.tryAcquire(o.db, o.command, o);
  if (!r.lock) {
    const store = await Store.open(o.db, { readOnly: true, heldBy: describeHolder(r.holder, o.proc) });
    return { store, holder: r.holder, adoptedFrom };
  }
  try {
    return { store: await Store.open(o.db), lock: r.lock, tookOverFrom: r.tookOverFrom, adoptedFrom };
  } catch (e) {
    r.lock.release();
    throw e;
  }
}
