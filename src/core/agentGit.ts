import * as fs from 'node:fs';
import * as path from 'node:path';
import { BorgError } from './errors';
import { findWorktreeAdminDir, Git, GitTarget } from './git';
import { readWorktreeText } from './worktreeFiles';

/** Where the task's worktree is mounted in the agent's (and the test container's) container. */
export const WORKTREE_MOUNT = '/workspace/repo';
/** The agent's own git dir (its sandbox) inside the container. */
export const SANDBOX_GIT_MOUNT = '/workspace/.borg/git';
/** The main repository's object store, read-only, inside the container (the sandbox's alternate). */
export const OBJECTS_MOUNT = '/workspace/.borg/objects';

/** Suffix of the sandbox folder beside a task's worktree (`task-7` → `task-7.agent-git`). */
const SANDBOX_SUFFIX = '.agent-git';

/** The agent altered git metadata Borg relies on, or planted a repository in its worktree. */
export class GitMetadataAlteredError extends BorgError {}

/** A task's checkout, as the Scheduler knows it (all absolute paths from Borg's own records). */
export interface TaskCheckout {
  repo: string;
  worktree: string;
  branch: string;
  baseBranch: string;
}

/** What the host trusts about a checkout, read from the main repository's side before any agent ran. */
export interface TrustedCheckout {
  /** The worktree's admin dir and the worktree: what the host's git uses, never the worktree's `.git`. */
  target: GitTarget;
  /** The main repository's common git dir. */
  common: string;
  /** The sandbox config Borg writes (and expects to find unchanged). */
  config: string;
}

/** What {@link AgentGit.prepare} gives a launch: binds, the folders the container writes, and what the host trusts. */
export interface PreparedCheckout {
  binds: string[];
  writable: string[];
  trusted: TrustedCheckout;
}

/**
 * The git an agent sees, kept apart from the git the host trusts.
 *
 * On the host a task's worktree is an ordinary `git worktree` (`.git` file → the main
 * repository's `worktrees/<name>/` admin dir). None of that metadata is mounted into a
 * container: an agent that could write it could make the host's next git command run a program
 * (`core.fsmonitor`, hooks, a repointed `commondir`; see git-config(1) and githooks(5)). Instead
 * each launch gets a fresh **sandbox** git dir beside the worktree:
 *
 * | container path             | host source                              | mode |
 * |----------------------------|------------------------------------------|------|
 * | /workspace/repo            | the worktree                             | rw   |
 * | /workspace/repo/.git       | `<sandbox>/gitfile` (`gitdir: /workspace/.borg/git`) | ro |
 * | /workspace/.borg/git       | `<sandbox>/git`: HEAD, refs, index, a config Borg writes | rw |
 * | /workspace/.borg/objects   | the main repository's `objects/` (alternate) | ro |
 *
 * So `git status`, `diff`, `log` and even `commit` work inside the container, the main
 * repository's `config` (credential helpers, tokens in remote URLs) is never visible, and the
 * host never runs git on anything an agent wrote: it commits through `--git-dir=<admin dir>
 * --work-tree=<worktree>` (git.ts). The sandbox is rebuilt before every launch; after the
 * phase {@link check} reports tampering, which fails the task instead of committing.
 */
export class AgentGit {
  constructor(private readonly git: Git) {}

  /** The sandbox folder of a worktree. */
  static sandboxDir(worktree: string): string {
    return worktree.replace(/[\\/]+$/, '') + SANDBOX_SUFFIX;
  }

  /**
   * Checks the host's metadata of the checkout, then (re)builds its sandbox from the trusted
   * side: HEAD on the task branch, the branch and base refs, a copy of the worktree's index and
   * the object store as an alternate. `known`: what an earlier phase of this checkout trusted
   * ({@link trust}); it is checked again on disk (no git call) instead of asking git anew. The
   * git calls run side by side (each is a process: on a 2-core machine they are most of a
   * phase-to-phase dispatch).
   * @throws GitMetadataAlteredError when the host-side metadata was altered; BorgError when git fails.
   */
  async prepare(t: TaskCheckout, known?: TrustedCheckout): Promise<PreparedCheckout> {
    const branches = [...new Set([t.branch, t.baseBranch])].filter((b) => /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(b) && !b.endsWith('.lock'));
    // The refs are read from the main repository (never from anything an agent wrote), alongside the trust check.
    const shas = Promise.all(branches.map((b) => this.git.revParse(t.repo, `refs/heads/${b}`).catch(() => '')));
    shas.catch(() => undefined);
    const trusted = (known && stillTrusted(t, known)) || (await this.trust(t));
    const sandbox = AgentGit.sandboxDir(t.worktree);
    const gitDir = path.join(sandbox, 'git');
    fs.rmSync(sandbox, { recursive: true, force: true });
    for (const d of ['objects/info', 'objects/pack', 'refs/heads', 'refs/tags']) fs.mkdirSync(path.join(gitDir, d), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(gitDir, 'config'), trusted.config);
    fs.writeFileSync(path.join(gitDir, 'HEAD'), `ref: refs/heads/${t.branch}\n`);
    const refs: Array<[string, string]> = [];
    for (const [i, sha] of (await shas).entries()) if (sha) refs.push([`refs/heads/${branches[i]}`, sha]);
    refs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    fs.writeFileSync(path.join(gitDir, 'packed-refs'), `# pack-refs with: peeled sorted \n${refs.map(([r, sha]) => `${sha} ${r}\n`).join('')}`);
    fs.writeFileSync(path.join(gitDir, 'objects', 'info', 'alternates'), `${OBJECTS_MOUNT}\n`);
    const index = path.join(trusted.target.gitDir, 'index');
    if (fs.existsSync(index)) fs.copyFileSync(index, path.join(gitDir, 'index'));
    fs.writeFileSync(path.join(sandbox, 'gitfile'), SANDBOX_GITFILE);
    return {
      binds: [
        `${t.worktree}:${WORKTREE_MOUNT}`,
        `${path.join(sandbox, 'gitfile')}:${WORKTREE_MOUNT}/.git:ro`,
        `${gitDir}:${SANDBOX_GIT_MOUNT}`,
        `${path.join(trusted.common, 'objects')}:${OBJECTS_MOUNT}:ro`,
      ],
      writable: [t.worktree, gitDir],
      trusted,
    };
  }

  /**
   * After a phase, before the host touches the worktree: returns what the agent altered — the
   * host-side `.git` file or admin dir, the sandbox's `config`, `hooks/`, `commondir` or
   * `gitfile`, or a `.git` anywhere below the worktree's top (an embedded repository, whose own
   * config a later git command or editor would obey: it is quarantined, see {@link quarantine})
   * — or undefined when nothing was. Nothing found here is ever run or followed. `trusted`: what
   * {@link prepare} read before the launch (no git call then); without it (an adopted agent) it
   * is read now.
   */
  async check(t: TaskCheckout, trusted?: TrustedCheckout): Promise<string | undefined> {
    let known: TrustedCheckout;
    try {
      if (trusted) verifyHostSide(t, trusted.target.gitDir, trusted.common);
      known = trusted ?? (await this.trust(t));
    } catch (e) {
      if (e instanceof GitMetadataAlteredError) return e.message;
      throw e;
    }
    const sandbox = AgentGit.sandboxDir(t.worktree);
    const gitDir = path.join(sandbox, 'git');
    if (readWorktreeText(sandbox, 'gitfile') !== SANDBOX_GITFILE) return `${path.join(sandbox, 'gitfile')} (the container's .git file) changed`;
    if (readWorktreeText(sandbox, 'git/config') !== known.config) return `the config of its git dir (${SANDBOX_GIT_MOUNT}/config) changed`;
    for (const f of ['commondir', 'config.worktree', 'gitdir']) {
      if (lexists(path.join(gitDir, f))) return `it wrote ${SANDBOX_GIT_MOUNT}/${f}`;
    }
    const hooks = path.join(gitDir, 'hooks');
    if (lexists(hooks) && (!fs.lstatSync(hooks).isDirectory() || fs.readdirSync(hooks).length > 0)) return `it planted hooks in ${SANDBOX_GIT_MOUNT}/hooks`;
    const nested = findNestedGit(t.worktree);
    if (nested.length) {
      const moved = quarantine(t.worktree, nested);
      return `a git repository at ${nested.join(', ')} inside the worktree; renamed to ${moved.join(', ')} so no git command obeys it`;
    }
    return undefined;
  }

  /** Deletes the sandbox of a worktree (links inside are removed, not followed). */
  static remove(worktree: string): void {
    fs.rmSync(AgentGit.sandboxDir(worktree), { recursive: true, force: true });
  }

  /**
   * What the host trusts about the checkout: the worktree's admin dir, found from the main
   * repository's side, after checking that the worktree's `.git` file still names it and that
   * its `commondir` still leads back to the main repository; and the sandbox config to expect.
   * @throws GitMetadataAlteredError; BorgError when git fails.
   */
  async trust(t: TaskCheckout): Promise<TrustedCheckout> {
    const format = this.git.objectFormat(t.repo);
    format.catch(() => undefined);
    const common = await this.git.commonDir(t.repo);
    let admin: string;
    try {
      admin = findWorktreeAdminDir(common, t.worktree);
    } catch (e) {
      throw new GitMetadataAlteredError(`the main repository no longer lists the worktree ${t.worktree} (${(e as Error).message})`);
    }
    verifyHostSide(t, admin, common);
    return { target: { gitDir: admin, workTree: t.worktree }, common, config: sandboxConfig(await format) };
  }
}

/**
 * Checks, with no git call, that the worktree's `.git` file still names `admin`, that `admin` is
 * no link and that its `commondir` still leads to `common`.
 * @throws GitMetadataAlteredError
 */
/**
 * `known` when the checkout still matches it on disk (same worktree, its `.git` file still naming
 * that admin dir, the admin dir's `commondir` unchanged), else undefined: then git is asked anew
 * ({@link AgentGit.trust}), which also catches tampering — a worktree made again meanwhile has a
 * new admin dir, which is not tampering.
 */
function stillTrusted(t: TaskCheckout, known: TrustedCheckout): TrustedCheckout | undefined {
  if (known.target.workTree !== t.worktree) return undefined;
  try {
    verifyHostSide(t, known.target.gitDir, known.common);
    return known;
  } catch {
    return undefined;
  }
}

function verifyHostSide(t: TaskCheckout, admin: string, common: string): void {
  const dotGit = path.join(t.worktree, '.git');
  const gitFile = readWorktreeText(t.worktree, '.git');
  if (gitFile === undefined) throw new GitMetadataAlteredError(`${dotGit} is no longer a plain file`);
  const named = /^gitdir:\s*(.+?)\s*$/.exec(gitFile.trim())?.[1];
  if (!named || path.resolve(t.worktree, named) !== admin) throw new GitMetadataAlteredError(`${dotGit} was repointed (it says "${gitFile.trim().slice(0, 200)}")`);
  if (fs.lstatSync(admin).isSymbolicLink()) throw new GitMetadataAlteredError(`${admin} was replaced by a link`);
  const commondir = readWorktreeText(admin, 'commondir');
  if (commondir === undefined || path.resolve(admin, commondir.trim()) !== path.resolve(common)) {
    throw new GitMetadataAlteredError(`${path.join(admin, 'commondir')} was rewritten (it says "${(commondir ?? '').trim().slice(0, 200)}")`);
  }
}

/** The container's `.git` file: the sandbox git dir by its container path. */
const SANDBOX_GITFILE = `gitdir: ${SANDBOX_GIT_MOUNT}\n`;

/** The whole config of a sandbox git dir: a plain repository, no remotes, no credentials, no commands. */
function sandboxConfig(objectFormat: string): string {
  const sha256 = objectFormat === 'sha256';
  return [
    '[core]',
    `\trepositoryformatversion = ${sha256 ? 1 : 0}`,
    '\tfilemode = true',
    '\tbare = false',
    '\tlogallrefupdates = true',
    ...(sha256 ? ['[extensions]', '\tobjectformat = sha256'] : []),
    '[user]',
    '\tname = Borg agent',
    '\temail = agent@borg.invalid',
    '',
  ].join('\n');
}

function lexists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every entry named `.git` (any case) below the top of `worktree`, relative to it. Walks with
 * lstat semantics: symbolic links are looked at, never followed.
 */
export function findNestedGit(worktree: string): string[] {
  const found: string[] = [];
  const stack: string[] = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(worktree, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.name.toLowerCase() === '.git' && child !== '.git')
        found.push(child); // `.GIT` at the top counts too
      else if (e.isDirectory() && child !== '.git') stack.push(child);
    }
  }
  return found.sort();
}

/**
 * Renames each embedded `.git` to `.git.borg-quarantined` (rename never follows a link), so no
 * git command — the user's own `git status` in the worktree, an editor's git integration —
 * obeys the config an agent planted there (git runs `status` inside embedded repositories).
 * Returns the new names.
 */
function quarantine(worktree: string, nested: string[]): string[] {
  return nested.map((rel) => {
    let to = `${rel}.borg-quarantined`;
    for (let i = 2; lexists(path.join(worktree, to)); i++) to = `${rel}.borg-quarantined-${i}`;
    fs.renameSync(path.join(worktree, rel), path.join(worktree, to));
    return to;
  });
}
