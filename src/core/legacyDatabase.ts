import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Moving to workspace homes (workspace.ts) without losing a database kept in an old place: the
 * CLI's `~/.borg/borg.sqlite` (shared by every workspace) or the extension's
 * `<storageUri>/borg.sqlite`.
 */

/** The note left beside an adopted database, naming where it was copied. */
export function adoptedNoteOf(from: string): string {
  return `${from}.adopted`;
}

/**
 * Copies the database `from` to `to` when `to` does not exist yet, once: the old file stays
 * where it was, with a note `<from>.adopted` naming the copy, and a database with such a note
 * is never copied again (so an old shared database goes to one workspace, not to each; its tasks
 * would otherwise run twice). The copy appears whole or not at all (temp file, fsync, then a
 * hard link, which fails rather than replace a `to` made meanwhile).
 * Returns true when it copied; false when there was nothing to do (`to` exists, `from` does not
 * exist or is empty, or `from` was adopted before).
 * @throws Error from the file system when reading `from` or writing next to `to` fails.
 */
export function adoptLegacyDatabase(from: string, to: string): boolean {
  const src = path.resolve(from);
  const dst = path.resolve(to);
  if (src === dst || fs.existsSync(dst) || fs.existsSync(adoptedNoteOf(src))) return false;
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(src); // the old writer replaced it by rename (store.ts): one whole version
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (bytes.length === 0) return false;
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  const tmp = `${dst}.adopt-${process.pid}`;
  try {
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, dst);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false; // another process adopted it first
      throw e;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  fs.writeFileSync(
    adoptedNoteOf(src),
    `This Borg database was copied to\n${dst}\non ${new Date().toISOString()} (Borg now keeps one database per workspace).\n` + 'This file is no longer used; delete it once you no longer need it.\n',
  );
  return true;
}
