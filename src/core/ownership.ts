import * as fs from 'node:fs';
import * as path from 'node:path';

/** A numeric uid:gid. */
export interface Owner {
  uid: number;
  gid: number;
}

/** The uid:gid agents run as when the host user is root and the image names no numeric non-root USER. */
export const FALLBACK_AGENT_OWNER: Owner = { uid: 1000, gid: 1000 };

/**
 * The uid:gid a container runs as — never 0:
 * - the host user's, so files an agent writes in its worktree and state dir stay the user's
 *   (measured: a 0700 state dir is only usable by its owner's uid inside the container);
 * - when the host user is root: the image's USER if it is a numeric non-root `uid[:gid]`,
 *   else {@link FALLBACK_AGENT_OWNER} (the Claude image's `agent` user is 1000:1000). The
 *   folders the container writes are then chowned to it (see {@link chownTree}).
 * @param imageUser the image's `Config.User` ('' or undefined when it sets none).
 */
export function containerOwner(imageUser: string | undefined, host: Owner | undefined = hostOwner()): Owner {
  if (host && host.uid !== 0) return host;
  const m = /^(\d+)(?::(\d+))?$/.exec((imageUser ?? '').trim());
  if (m && Number(m[1]) !== 0) return { uid: Number(m[1]), gid: m[2] !== undefined && Number(m[2]) !== 0 ? Number(m[2]) : Number(m[1]) };
  return FALLBACK_AGENT_OWNER;
}

/** The host process's uid:gid (undefined where the platform has none, e.g. Windows). */
export function hostOwner(): Owner | undefined {
  return typeof process.getuid === 'function' && typeof process.getgid === 'function' ? { uid: process.getuid(), gid: process.getgid() } : undefined;
}

/** `uid:gid`, as Docker's `User` takes it. */
export function ownerSpec(o: Owner): string {
  return `${o.uid}:${o.gid}`;
}

/** True when a container running as `o` writes files as someone other than the host user (so folders must be handed over). */
export function needsChown(o: Owner, host: Owner | undefined = hostOwner()): boolean {
  return !!host && (host.uid !== o.uid || host.gid !== o.gid);
}

/**
 * Hands `dir` and everything below it to `owner` when that differs from the host user, with
 * `lchown` on every entry: a symbolic link is re-owned itself and never followed, so a link an
 * agent planted cannot make the host chown a file outside. Entries already owned by `owner`
 * are skipped (a worktree is walked on every launch).
 */
export function chownTree(dir: string, owner: Owner): void {
  if (!needsChown(owner)) return;
  const stack = [dir];
  while (stack.length) {
    const p = stack.pop()!;
    const st = fs.lstatSync(p);
    if (st.uid !== owner.uid || st.gid !== owner.gid) fs.lchownSync(p, owner.uid, owner.gid);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) stack.push(path.join(p, e));
  }
}
