import * as fs from 'node:fs';
import * as path from 'node:path';
import { BorgError } from './errors';
import type { Git } from './git';
import { checkSetting, SettingRule } from './hardening';

/**
 * How a task's worktree reaches its agent: `mount` (bind mounts, the default: the Docker host
 * sees this machine's files) or `git` (the agent clones the task branch from `borg.docker.gitRemote`
 * and pushes its work back; for Docker hosts that cannot see this machine's files).
 */
export type WorktreeTransport = 'mount' | 'git';

/** The rule of `borg.docker.worktrees`. */
export const WORKTREES_RULE: SettingRule = { kind: 'enum', setting: 'borg.docker.worktrees', values: ['mount', 'git'] };

/** A `borg.docker.gitRemote` Borg accepted: `path` is set for a bare repository on a path (a `file://` URL or an absolute path). */
export interface GitRemoteSpec {
  /** The URL as agents get it (`file://` for a path). */
  url: string;
  kind: 'path' | 'ssh' | 'https';
  /** Absolute path of the bare repository: the same on this machine and on the Docker host (a shared folder). */
  path?: string;
}

/** What an agent's input carries in `git` mode (agentInput.ts): clone `url` at `branch`, whose tip Borg pushed as `commit`. */
export interface AgentGitInput {
  url: string;
  branch: string;
  commit: string;
}

/** The remote's branch no longer descends from what Borg pushed (history rewritten), or the remote failed a check. */
export class GitRemoteRefusedError extends BorgError {}

/**
 * Reads `borg.docker.worktrees` and `borg.docker.gitRemote`: a bad transport is `mount` with a
 * warning, a bad remote is '' with a warning (a task in `git` mode without a remote is then
 * blocked with what to set). Never throws.
 */
export function readGitTransport(raw: { worktrees?: unknown; gitRemote?: unknown }): { worktrees: WorktreeTransport; gitRemote: string; warnings: string[] } {
  const warnings: string[] = [];
  const w = checkSetting<WorktreeTransport>(WORKTREES_RULE, raw.worktrees, 'mount');
  if (w.warning) warnings.push(w.warning);
  let gitRemote = '';
  if (typeof raw.gitRemote === 'string' && raw.gitRemote.trim()) {
    try {
      gitRemote = parseGitRemote(raw.gitRemote).url;
    } catch (e) {
      warnings.push(`${(e as Error).message} Using none.`);
    }
  } else if (raw.gitRemote !== undefined && raw.gitRemote !== null && raw.gitRemote !== '') {
    warnings.push(`borg.docker.gitRemote is ${JSON.stringify(raw.gitRemote)}; it must be a URL text. Using none.`);
  }
  return { worktrees: w.value, gitRemote, warnings };
}

/**
 * Parses a `borg.docker.gitRemote`: `ssh://[user@]host[:port]/path`, scp-like `user@host:path`,
 * `https://host/path`, `file:///abs/path` or `/abs/path` (normalized to `file://`). Everything
 * else is refused — `ext::`/`fd::` and any `<transport>::` form (they run commands), `git://`
 * and `http://` (no integrity or authentication), relative paths, a leading `-` (it would be
 * read as an option), control characters and whitespace.
 * @throws BorgError naming the setting and what it must be.
 */
export function parseGitRemote(raw: string): GitRemoteSpec {
  const url = raw.trim();
  const bad = (why: string) =>
    new BorgError(`borg.docker.gitRemote is ${JSON.stringify(raw)}: ${why}. It must be ssh://host/repo.git, user@host:repo.git, https://host/repo.git, file:///abs/repo.git or /abs/repo.git.`);
  if (!url || /[\s\u0000-\u001f\u007f]/.test(url)) return fail(bad('it is empty or holds whitespace or control characters'));
  if (url.startsWith('-')) return fail(bad('it starts with "-"'));
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url)) return fail(bad('a "<transport>::" URL runs a command'));
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'file' || (!scheme && url.startsWith('/'))) {
    let p = url;
    try {
      if (scheme) p = decodeURIComponent(url.slice('file://'.length));
    } catch {
      return fail(bad('its %-escapes are broken'));
    }
    if (!p.startsWith('/')) return fail(bad('a file URL needs an absolute path (file:///…)'));
    const abs = path.posix.normalize(p).replace(/\/+$/, '') || '/';
    if (abs === '/' || abs.includes(':')) return fail(bad('the path must name a bare repository folder (no ":" in it)'));
    return { url: `file://${abs}`, kind: 'path', path: abs };
  }
  if (scheme === 'ssh' || scheme === 'git+ssh' || scheme === 'ssh+git') return { url, kind: 'ssh' };
  if (scheme === 'https') return { url, kind: 'https' };
  if (scheme) return fail(bad(`the ${scheme}:// transport is not allowed`));
  if (/^[^/:]+:[^/]/.test(url) || /^[^/:]+:\//.test(url)) return { url, kind: 'ssh' }; // scp-like user@host:path
  return fail(bad('it is no URL'));
}

function fail(e: BorgError): never {
  throw e;
}

/**
 * Config of Borg's own side of every exchange with the remote (`git push` / `git fetch` on this
 * machine, in the user's repository): only the ssh, https and file transports (git-config(1)
 * `protocol.allow`: `ext::` and the rest never), every object received checked
 * (`transfer.fsckObjects`), no submodules, no prompts (git.ts `gitEnv`).
 */
export const CLIENT_CONFIG = [
  'protocol.allow=never',
  'protocol.ssh.allow=always',
  'protocol.https.allow=always',
  'protocol.file.allow=always',
  'transfer.fsckObjects=true',
  'fetch.fsckObjects=true',
  'fetch.recurseSubmodules=false',
  'submodule.recurse=false',
  'fetch.writeCommitGraph=false',
  'push.recurseSubmodules=no',
  'push.gpgSign=false',
].flatMap((kv) => ['-c', kv]);

/**
 * The remote side of an exchange with a path remote. For a `file://` URL git runs
 * `git-upload-pack` / `git-receive-pack` on THIS machine in the remote repository — which
 * agents can write — and clears `-c` options and GIT_CONFIG_* for it (connect.c,
 * `local_repo_env`; measured on git 2.39: a `-c core.hooksPath=/dev/null push` still runs the
 * remote's hooks). So Borg names the remote-side command itself (`--upload-pack`,
 * `--receive-pack`; a constant, run by git with `sh -c`, the path appended quoted by git), with
 * the config that overrides the repository's own: no hooks (pre-receive, update,
 * reference-transaction, post-receive, post-update, push-to-checkout, proc-receive), no
 * `core.alternateRefsCommand` (run on push when the repository has alternates), no
 * `core.fsmonitor`, no auto gc after a push, no `receive.denyCurrentBranch=updateInstead`
 * (which checks files out into a worktree the config names), bare, no transport for a lazy
 * fetch (`protocol.allow=never`, GIT_NO_LAZY_FETCH) and `safe.directory=*` (the repository is
 * owned by whoever set it up for the agents' uid; it is named explicitly here, never
 * discovered).
 */
const REMOTE_SIDE_CONFIG = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.alternateRefsCommand=true',
  'core.bare=true',
  'receive.autogc=false',
  'receive.denyCurrentBranch=refuse',
  'receive.updateServerInfo=false',
  'receive.advertisePushOptions=false',
  'protocol.allow=never',
  'safe.directory=*',
  // What Borg writes there (as the host user, root or not) stays writable for the agents' uid:
  // Borg never hands the shared remote over with a chown walk (an agent of another task could
  // swap a folder for a link mid-walk and have a root Borg chown any file).
  'core.sharedRepository=0666',
]
  .map((kv) => `-c ${kv}`)
  .join(' ');

/** How long one push or fetch of a task branch may take (ms): a first push of a large repository over ssh or https takes longer than git's usual 60 s. */
const TRANSFER_TIMEOUT_MS = 10 * 60_000;

/** `--upload-pack` / `--receive-pack` values for a path remote (see {@link REMOTE_SIDE_CONFIG}). */
export const REMOTE_UPLOAD_PACK = `GIT_NO_LAZY_FETCH=1 git ${REMOTE_SIDE_CONFIG} upload-pack`;
export const REMOTE_RECEIVE_PACK = `GIT_NO_LAZY_FETCH=1 git ${REMOTE_SIDE_CONFIG} receive-pack`;

/** The keys a path remote's `config` may hold (what `git init --bare` writes, and a few harmless ones). */
const PATH_REMOTE_KEYS = new Set([
  'core.repositoryformatversion',
  'core.filemode',
  'core.bare',
  'core.logallrefupdates',
  'core.ignorecase',
  'core.precomposeunicode',
  'core.symlinks',
  'core.sharedrepository',
  'extensions.objectformat',
]);

/** The quarantine ref a task's fetched branch lands in (never a branch, never checked out). */
export function incomingRef(taskId: number): string {
  return `refs/borg/incoming/task-${taskId}`;
}

/** True for a branch name Borg makes (`borg/task-<id>`, `-2`, …): the only refs Borg force-pushes. */
export function isBorgBranch(branch: string): boolean {
  return /^borg\/task-[1-9][0-9]*(-[1-9][0-9]*)?$/.test(branch);
}

/**
 * The exchange of a task branch with `borg.docker.gitRemote`, on Borg's side: before a phase
 * {@link push} sends the branch, after it {@link fetch} takes the agent's branch back into a
 * quarantine ref and accepts it only when it descends from what was pushed. All git calls go
 * through the one wrapper (git.ts: hardened config, no inherited GIT_*), on the user's
 * repository (never on anything an agent wrote), with {@link CLIENT_CONFIG}; a path remote is
 * first checked by {@link checkPathRemote} and reached with the pinned remote-side commands.
 */
export class GitRemote {
  constructor(
    private readonly git: Git,
    readonly spec: GitRemoteSpec,
  ) {}

  /**
   * What a container needs to reach the remote: a path remote is bound at its own path
   * (`<path>:<path>`, read-write: the agent pushes into it); other remotes need nothing mounted.
   * It is never in `writable` (never chowned by Borg, see REMOTE_SIDE_CONFIG): whoever sets the
   * remote up makes it writable for the agents' uid once (README, "Scaling out").
   */
  get mounts(): { binds: string[]; writable: string[] } {
    return this.spec.path ? { binds: [`${this.spec.path}:${this.spec.path}`], writable: [] } : { binds: [], writable: [] };
  }

  /**
   * `git push <url> +<commit>:refs/heads/<branch>`: forced, and only for Borg's own branch
   * namespace (`borg/task-<id>`): the remote's copy is Borg's to set (an agent may have left it
   * anywhere). Tags, other branches and submodules are never pushed.
   * @throws BorgError when `branch` is not Borg's, the path remote fails its check, or git fails.
   */
  async push(repo: string, branch: string, commit: string): Promise<void> {
    if (!isBorgBranch(branch)) throw new BorgError(`Borg pushes only its own task branches (borg/task-<id>), not ${branch}.`);
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) throw new BorgError(`${commit} is no commit id.`);
    if (this.spec.path) await checkPathRemote(this.git, repo, this.spec.path);
    const side = this.spec.path ? [`--receive-pack=${REMOTE_RECEIVE_PACK}`] : [];
    await this.git.run(repo, [...CLIENT_CONFIG, 'push', '--quiet', '--no-verify', '--no-follow-tags', ...side, '--', this.spec.url, `+${commit}:refs/heads/${branch}`], {
      timeoutMs: TRANSFER_TIMEOUT_MS,
    });
  }

  /**
   * After a phase: fetches exactly `refs/heads/<branch>` from the remote into
   * {@link incomingRef} (`--no-tags`, no submodules, every object checked, nothing else: an
   * explicit refspec) and returns the commit it names — only when it is `pushed` or descends
   * from it (`git merge-base --is-ancestor`). The quarantine ref is deleted when it is refused.
   * @throws GitRemoteRefusedError when the branch is missing or its history was rewritten, or the
   * path remote fails its check; BorgError when git fails.
   */
  async fetch(repo: string, taskId: number, branch: string, pushed: string): Promise<string> {
    if (!isBorgBranch(branch)) throw new BorgError(`Borg fetches only its own task branches (borg/task-<id>), not ${branch}.`);
    if (this.spec.path) await checkPathRemote(this.git, repo, this.spec.path);
    const ref = incomingRef(taskId);
    const side = this.spec.path ? [`--upload-pack=${REMOTE_UPLOAD_PACK}`] : [];
    try {
      await this.git.run(
        repo,
        [...CLIENT_CONFIG, 'fetch', '--quiet', '--no-tags', '--no-recurse-submodules', '--no-write-fetch-head', '--no-auto-gc', ...side, '--', this.spec.url, `+refs/heads/${branch}:${ref}`],
        { timeoutMs: TRANSFER_TIMEOUT_MS },
      );
    } catch (e) {
      if (/couldn't find remote ref/i.test((e as Error).message))
        throw new GitRemoteRefusedError(`The remote ${this.spec.url} has no branch ${branch} any more: the agent's work cannot be taken back.`, { cause: e });
      throw e;
    }
    const got = await this.git.revParse(repo, ref);
    // `--is-ancestor` exits 1 for "no"; any other failure (a timeout, a missing object) is git's error, not a verdict.
    const descends = await this.git
      .run(repo, ['merge-base', '--is-ancestor', pushed, got])
      .then(() => true)
      .catch((e: unknown) => {
        if (((e as Error).cause as { code?: unknown } | undefined)?.code === 1) return false;
        throw e;
      });
    if (!descends) {
      await this.git.run(repo, ['update-ref', '-d', ref]).catch(() => undefined);
      throw new GitRemoteRefusedError(
        `The remote's ${branch} (${got.slice(0, 12)}) does not descend from ${pushed.slice(0, 12)}, the commit Borg pushed before the phase: its history was rewritten. Nothing was taken; the task's worktree is unchanged.`,
      );
    }
    return got;
  }
}

/**
 * Checks a path remote before Borg's git runs its remote side there (see
 * {@link REMOTE_RECEIVE_PACK}, which holds even when this check is raced): a bare repository
 * with no symbolic link anywhere in it (an agent's link would make the host read or write
 * another folder), no `commondir`, no alternates (`objects/info/alternates`,
 * `http-alternates`: they pull in another object store), no hook but git's `*.sample` files,
 * and a `config` with only the keys `git init --bare` writes (read with `--no-includes`, never
 * obeyed). `repo` is where git is run from (the user's repository).
 * @throws GitRemoteRefusedError naming what was found.
 */
export async function checkPathRemote(git: Git, repo: string, dir: string): Promise<void> {
  const refuse = (what: string) =>
    new GitRemoteRefusedError(
      `The git remote ${dir} is not a plain bare repository (${what}); Borg does not run git there. Check what changed it (an agent can write it), or make a new one with git init --bare.`,
    );
  let top: fs.Stats;
  try {
    top = fs.lstatSync(dir);
  } catch {
    throw refuse('it does not exist');
  }
  if (!top.isDirectory()) throw refuse('it is no folder');
  const link = findLink(dir);
  if (link) throw refuse(`${link} is a symbolic link`);
  // `.git` (a folder, or a file saying `gitdir: <elsewhere>`): git's remote side would enter that
  // repository instead (enter_repo tries `<dir>/.git` first), one whose config nobody checked.
  for (const f of ['.git', 'commondir', 'gitdir', 'objects/info/alternates', 'objects/info/http-alternates']) {
    if (fs.lstatSync(path.join(dir, f), { throwIfNoEntry: false })) throw refuse(`it has ${f}`);
  }
  const config = path.join(dir, 'config');
  if (!fs.existsSync(config) || !fs.lstatSync(config).isFile()) throw refuse('it has no config file');
  let hooks: string[] = [];
  try {
    hooks = fs.readdirSync(path.join(dir, 'hooks'));
  } catch {
    // no hooks folder
  }
  const hook = hooks.find((h) => !h.endsWith('.sample'));
  if (hook) throw refuse(`it has the hook hooks/${hook}`);
  const keys = (await git.run(repo, ['config', '--file', config, '--no-includes', '--null', '--name-only', '--list'])).split('\0').filter(Boolean);
  const other = keys.find((k) => !PATH_REMOTE_KEYS.has(k.toLowerCase()));
  if (other) throw refuse(`its config sets ${other.slice(0, 100)}`);
  const bare = (await git.run(repo, ['config', '--file', config, '--no-includes', '--bool', '--get', 'core.bare']).catch(() => '')).trim();
  if (bare !== 'true') throw refuse('its config does not say core.bare = true');
}

/** The first symbolic link below `dir` (relative), walking with lstat: nothing is followed. */
function findLink(dir: string): string | undefined {
  const stack = [''];
  while (stack.length) {
    const rel = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (e.isSymbolicLink()) return child;
      if (e.isDirectory()) stack.push(child);
    }
  }
  return undefined;
}
