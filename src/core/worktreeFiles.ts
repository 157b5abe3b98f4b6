import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What a path inside a task's worktree is, seen without following any symbolic link.
 *
 * The agents are untrusted and write the worktree (it is mounted into their containers). A link
 * they write may point anywhere on the host — `notes.md → /home/me/.ssh/id_ed25519`, or a folder
 * `docs → /home/me` — and means nothing to the agent (inside its container the target does not
 * exist) but everything to the host: a host that opens, reads or saves through it shows or
 * overwrites the user's own files. So the host never follows a link in a worktree; it shows it as
 * a link. `path` is absolute (`worktree` joined with the file); `link` is the worktree-relative,
 * `/`-separated component that is the link (the file itself, or a parent folder of it).
 *
 * - `file`: a regular file, and every component between the worktree and it is a real folder;
 * - `symlink`: the file or a parent folder of it inside the worktree is a link; `target` is that
 *   link's text (`readlink`, not resolved, never read);
 * - `missing`: no such entry (or a parent component is a regular file);
 * - `outside`: the name is absolute or has a `..` component, so it is no name inside the worktree;
 * - `other`: a folder, fifo, socket or device.
 */
export type WorktreeEntry = { kind: 'file'; path: string } | { kind: 'symlink'; path: string; link: string; target: string } | { kind: 'missing' } | { kind: 'outside' } | { kind: 'other' };

/** What `readWorktreeText` reads of one file at most: 4 MiB. */
export const MAX_WORKTREE_TEXT = 4 * 1024 * 1024;

/**
 * What `file` (relative to `worktree`, as git names it: `/`-separated) is, by `lstat` on each of
 * its components in turn, from the worktree down: the first link found wins. The worktree folder
 * itself is the host's and is trusted. A `..` component is refused even where it would lead back
 * in: git never names a file so. The answer is as of the call — the agent may change the entry
 * right after; `readWorktreeText` checks again around its read.
 *
 * @throws the `lstat`/`readlink` error for anything but a missing entry (e.g. EACCES).
 */
export function inspectWorktreePath(worktree: string, file: string): WorktreeEntry {
  if (path.isAbsolute(file)) return { kind: 'outside' };
  if (file.includes('\0')) return { kind: 'missing' };
  const parts = file.split(path.sep === '\\' ? /[\\/]/ : '/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { kind: 'outside' };
  if (parts.length === 0) return { kind: 'other' }; // the worktree folder itself
  let at = worktree;
  for (let i = 0; i < parts.length; i++) {
    at = path.join(at, parts[i]);
    const st = lstat(at);
    if (!st) return { kind: 'missing' };
    if (st.isSymbolicLink()) return { kind: 'symlink', path: path.join(worktree, ...parts), link: parts.slice(0, i + 1).join('/'), target: fs.readlinkSync(at) };
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) return { kind: 'missing' };
    if (last) return st.isFile() ? { kind: 'file', path: at } : { kind: 'other' };
  }
  return { kind: 'other' }; // not reached: the loop returns at the last part
}

/**
 * The text of `file` in `worktree` if `inspectWorktreePath` calls it a regular `file`, else
 * undefined — a link is never followed, so its target's content is never returned. The file is
 * opened with O_NOFOLLOW (and O_NONBLOCK, so a fifo swapped in cannot hang the host), and after
 * the open the descriptor must be a regular file and the very file found at the path: same
 * device and inode as a fresh `inspectWorktreePath`, and on Linux `/proc/self/fd` must name the
 * expected path (so a parent folder swapped for a link between the check and the open is caught).
 * Content past `maxBytes` (bytes, default 4 MiB) is cut off and a note says so. Read as UTF-8.
 *
 * @throws the `open`/`read` error for anything but a path that is no longer a regular file.
 */
export function readWorktreeText(worktree: string, file: string, maxBytes = MAX_WORKTREE_TEXT): string | undefined {
  const entry = inspectWorktreePath(worktree, file);
  if (entry.kind !== 'file') return undefined;
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(entry.path, O_RDONLY | (O_NOFOLLOW ?? 0) | (O_NONBLOCK ?? 0));
  } catch (e) {
    if (['ELOOP', 'ENOENT', 'ENOTDIR', 'EMLINK'].includes((e as NodeJS.ErrnoException).code ?? '')) return undefined; // changed since the check
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !isSameFile(worktree, file, entry.path, fd, st)) return undefined;
    const buf = Buffer.alloc(Math.min(st.size, Math.max(0, maxBytes)));
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const text = buf.subarray(0, got).toString('utf8');
    return st.size > maxBytes ? `${text}\n\n[Borg: cut off — the file is ${st.size} bytes; the first ${maxBytes} are shown]\n` : text;
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether the open descriptor `fd` (stats `st`) is the regular file the worktree has at `file` now. */
function isSameFile(worktree: string, file: string, expected: string, fd: number, st: fs.Stats): boolean {
  const again = inspectWorktreePath(worktree, file);
  const now = again.kind === 'file' ? lstat(again.path) : undefined;
  if (!now || now.dev !== st.dev || now.ino !== st.ino) return false;
  let opened: string;
  try {
    opened = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return true; // no /proc (macOS, Windows): the two checks above are all there is
  }
  return opened === path.join(fs.realpathSync(worktree), path.relative(worktree, expected));
}

/** `lstat`, or undefined when the path does not exist (a parent component missing or a file). */
function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if (['ENOENT', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw e;
  }
}
