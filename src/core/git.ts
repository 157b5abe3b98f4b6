import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BorgError } from './errors';

/** Author and committer of the commits Borg makes after each phase. */
const BORG_IDENTITY = ['-c', 'user.name=Borg Pipeline', '-c', 'user.email=borg@localhost'];

/**
 * Config every host git call runs with. Git executes commands named by a repository's config
 * (`core.fsmonitor`, hooks; see git-config(1)) and passes `-c` options down to the git processes
 * it starts itself (GIT_CONFIG_PARAMETERS, e.g. the `status` it runs inside an embedded
 * repository), so these override whatever config an agent planted anywhere:
 * no fsmonitor, no hooks, no look into submodules or embedded repositories, no signing program.
 */
const HARDENING = [
  '-c',
  'core.fsmonitor=false',
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.untrackedCache=false',
  '-c',
  'diff.ignoreSubmodules=all',
  '-c',
  'submodule.recurse=false',
  '-c',
  'status.submoduleSummary=false',
  '-c',
  'commit.gpgSign=false',
  '-c',
  'tag.gpgSign=false',
  '-c',
  'core.pager=cat',
];

/**
 * Where one git call points: `gitDir` (given explicitly, so git does no discovery from the
 * working directory) and, for commands that need files, `workTree`.
 */
export interface GitTarget {
  gitDir: string;
  workTree?: string;
}

/**
 * The one wrapper around the git CLI. Arguments go to `execFile` as an array — never through a
 * shell — so task titles and descriptions with quotes, `$(...)` or newlines are passed as they
 * are. Each call has a timeout (ms).
 *
 * Every call is hardened (see {@link HARDENING}, `GIT_CONFIG_NOSYSTEM`, no inherited `GIT_*`
 * variables) and, for a task's worktree, addresses the repository by an explicit `--git-dir` on
 * metadata no container can write (see agentGit.ts): an agent controls the files of its worktree,
 * never which git metadata or config the host reads.
 */
export class Git {
  constructor(private readonly timeoutMs = 60_000) {}

  /**
   * Runs `git <args>` in `cwd` (the user's own repository, found by git's usual discovery) and
   * returns stdout. Never call this on a task's worktree: use {@link runOn}.
   * @throws BorgError with git's stderr when git exits non-zero, is missing or times out.
   */
  run(cwd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    return this.exec(cwd, HARDENING, args, opts.timeoutMs);
  }

  /**
   * Runs `git --git-dir=<gitDir> [--work-tree=<workTree>] <args>`: no discovery, so a `.git`
   * file or directory an agent wrote in the work tree is never read.
   * @throws BorgError with git's stderr when git fails.
   */
  runOn(target: GitTarget, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    const where = [`--git-dir=${target.gitDir}`, ...(target.workTree ? [`--work-tree=${target.workTree}`] : [])];
    return this.exec(target.workTree ?? target.gitDir, [...HARDENING, ...where], args, opts.timeoutMs);
  }

  /** Runs `git <options> <args>`; errors name the command (the first word of `args` that is no option). */
  private exec(cwd: string, options: string[], args: string[], timeoutMs = this.timeoutMs): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('git', [...options, ...args], { cwd, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: gitEnv() }, (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const why = code === 'ENOENT' ? 'git is not installed or not on PATH' : (stderr || err.message).trim();
          const verb = args.find((a, i) => !a.startsWith('-') && args[i - 1] !== '-c') ?? '';
          reject(new BorgError(`git ${verb} failed in ${cwd}: ${why}`, { cause: err }));
        } else {
          resolve(stdout);
        }
      });
    });
  }

  /** The top folder of the repository holding `dir`. @throws BorgError when `dir` is not in a git repository. */
  async toplevel(dir: string): Promise<string> {
    try {
      return (await this.run(dir, ['rev-parse', '--show-toplevel'])).trim();
    } catch (e) {
      throw new BorgError(`${dir} is not inside a git repository. Run "git init" there (and commit once) to give it tasks.`, { cause: e });
    }
  }

  /** Absolute path of the repository's common git dir (the main `.git`, shared by its worktrees). */
  async commonDir(repo: string): Promise<string> {
    const out = (await this.run(repo, ['rev-parse', '--git-common-dir'])).trim();
    return path.resolve(repo, out);
  }

  /** `sha1` or `sha256`: the repository's object format (git ≥ 2.29 knows `--show-object-format`). */
  async objectFormat(repo: string): Promise<string> {
    return (await this.run(repo, ['rev-parse', '--show-object-format']).catch(() => 'sha1')).trim() || 'sha1';
  }

  /** The branch checked out in `repo` (undefined when HEAD is detached). */
  async currentBranch(repo: string): Promise<string | undefined> {
    const out = (await this.run(repo, ['rev-parse', '--abbrev-ref', 'HEAD'])).trim();
    return out === 'HEAD' ? undefined : out;
  }

  /** The commit `ref` names in `repo`. @throws BorgError when it names none. */
  async revParse(repo: string, ref: string): Promise<string> {
    return (await this.run(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim();
  }

  /** Adds a worktree at `dir` on a new branch `branch` from `base` (a branch or commit). */
  async addWorktree(repo: string, dir: string, branch: string, base: string): Promise<void> {
    await this.run(repo, ['worktree', 'add', '-b', branch, dir, base]);
  }

  /** Adds a worktree at `dir` on the existing `branch` (its old worktree was deleted), pruning stale entries first. */
  async readdWorktree(repo: string, dir: string, branch: string): Promise<void> {
    await this.run(repo, ['worktree', 'prune']);
    await this.run(repo, ['worktree', 'add', dir, branch]);
  }

  /**
   * The admin dir (`<common>/worktrees/<name>`) of the worktree at `worktree` (see
   * {@link findWorktreeAdminDir}). @throws BorgError when the repository has no such worktree.
   */
  async worktreeAdminDir(repo: string, worktree: string): Promise<string> {
    return findWorktreeAdminDir(await this.commonDir(repo), worktree);
  }

  /** Removes the worktree at `dir` (even with changes) and prunes its admin entry. */
  async removeWorktree(repo: string, dir: string): Promise<void> {
    await this.run(repo, ['worktree', 'remove', '--force', dir]).catch(() => undefined);
    await this.run(repo, ['worktree', 'prune']);
  }

  /**
   * True when `refs/heads/<branch>` exists in `repo` — or a branch below it (`<branch>/x`), which
   * git's ref storage (files named after refs) also makes impossible to create beside it.
   * @throws BorgError when git fails (e.g. `repo` is no repository).
   */
  async branchExists(repo: string, branch: string): Promise<boolean> {
    const ref = `refs/heads/${branch}`;
    const out = await this.run(repo, ['for-each-ref', '--format=%(refname)', ref]);
    return out.split('\n').some((r) => r === ref || r.startsWith(`${ref}/`));
  }

  /**
   * The worktrees git knows for `repo` (`git worktree list --porcelain`, the main one first),
   * including "prunable" ones whose folder is gone: `path` absolute as git recorded it, `branch`
   * the short name checked out there (none when detached or bare).
   */
  async listWorktrees(repo: string): Promise<Array<{ path: string; branch?: string }>> {
    const out = await this.run(repo, ['worktree', 'list', '--porcelain']);
    const list: Array<{ path: string; branch?: string }> = [];
    for (const line of out.split('\n')) {
      if (line.startsWith('worktree ')) list.push({ path: line.slice('worktree '.length) });
      else if (line.startsWith('branch refs/heads/') && list.length) list[list.length - 1].branch = line.slice('branch refs/heads/'.length);
    }
    return list;
  }

  async deleteBranch(repo: string, branch: string): Promise<void> {
    await this.run(repo, ['branch', '-D', branch]);
  }

  /**
   * Stages everything in the task's worktree and commits it with `message`, through `target`
   * (its admin dir and the worktree, see {@link worktreeAdminDir}); hooks never run
   * (`--no-verify`, `core.hooksPath=/dev/null`). Returns the new commit, or undefined when
   * nothing changed.
   * @throws BorgError with git's message when staging or committing fails — never swallowed.
   */
  async commitAll(target: GitTarget, message: string): Promise<string | undefined> {
    await this.runOn(target, ['add', '-A']);
    const staged = await this.runOn(target, ['diff', '--cached', '--no-ext-diff', '--name-only']);
    if (!staged.trim()) return undefined;
    await this.runOn(target, [...BORG_IDENTITY, 'commit', '--no-verify', '-q', '-m', message]);
    return (await this.runOn(target, ['rev-parse', 'HEAD'])).trim();
  }

  /** Subjects of the commits on `branch` that are not on `base`, oldest first. */
  async log(repo: string, base: string, branch: string): Promise<string[]> {
    const out = await this.run(repo, ['log', '--no-show-signature', '--reverse', '--format=%s', `${base}..${branch}`]);
    return out.split('\n').filter(Boolean);
  }

  /** Files changed between the merge base of `base` and `branch`, and `branch`. */
  async changedFiles(repo: string, base: string, branch: string): Promise<string[]> {
    const out = await this.run(repo, ['diff', '--no-ext-diff', '--no-textconv', '--name-only', `${base}...${branch}`]);
    return out.split('\n').filter(Boolean);
  }

  /** The merge base of two refs. */
  async mergeBase(repo: string, a: string, b: string): Promise<string> {
    return (await this.run(repo, ['merge-base', a, b])).trim();
  }

  /** The content of `file` at `ref` (a symbolic link's blob is its target's path, not followed), or undefined when it does not exist there. */
  async show(repo: string, ref: string, file: string): Promise<string | undefined> {
    try {
      return await this.run(repo, ['show', '--no-textconv', `${ref}:${file}`]);
    } catch {
      return undefined;
    }
  }

  /**
   * Merges `branch` into `base`, which must be checked out in `repo`. On a conflict the merge is
   * aborted and nothing changes. No hooks run (`--no-verify`).
   * @throws BorgError naming the conflicting files, or saying which branch must be checked out.
   */
  async merge(repo: string, base: string, branch: string, message: string): Promise<void> {
    const current = await this.currentBranch(repo);
    if (current !== base) {
      throw new BorgError(`Merging needs ${base} checked out in ${repo}, but ${current ?? 'a detached HEAD'} is. Check out ${base} and merge again.`);
    }
    try {
      await this.run(repo, [...BORG_IDENTITY, 'merge', '--no-verify', '--no-ff', '-m', message, branch]);
    } catch (e) {
      const conflicts = (await this.run(repo, ['diff', '--no-ext-diff', '--name-only', '--diff-filter=U']).catch(() => '')).split('\n').filter(Boolean);
      await this.run(repo, ['merge', '--abort']).catch(() => undefined);
      if (conflicts.length) {
        throw new BorgError(`${branch} does not merge cleanly into ${base}: conflicts in ${conflicts.join(', ')}. Nothing was changed; resolve by hand or retry the task on the new ${base}.`, {
          cause: e,
        });
      }
      throw e;
    }
  }
}

/**
 * The environment of every git call: the host's, minus every `GIT_*` variable (an inherited
 * GIT_DIR, GIT_CONFIG_PARAMETERS or GIT_EXTERNAL_DIFF would redirect or extend what git does),
 * without the system config (`GIT_CONFIG_NOSYSTEM`), and never prompting.
 */
export function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return { ...env, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' };
}

/**
 * The admin dir (`<common>/worktrees/<name>`) of the worktree at `worktree`, found from the main
 * repository's side: the entry whose `gitdir` file names `<worktree>/.git`. Nothing in the
 * worktree itself is read, so an agent cannot point the host at another git dir.
 * @throws BorgError when the repository has no such worktree.
 */
export function findWorktreeAdminDir(common: string, worktree: string): string {
  const root = path.join(common, 'worktrees');
  const want = path.resolve(worktree, '.git');
  let names: string[] = [];
  try {
    names = fs.readdirSync(root);
  } catch {
    // no worktrees at all
  }
  for (const name of names) {
    const admin = path.join(root, name);
    const gitdir = readSmall(path.join(admin, 'gitdir'));
    if (gitdir !== undefined && path.resolve(admin, gitdir.trim()) === want) return admin;
  }
  throw new BorgError(`${path.dirname(common)} has no worktree at ${worktree} (git worktree list does not know it). Delete the task's worktree folder and retry the task.`);
}

function readSmall(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
