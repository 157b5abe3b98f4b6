import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { BorgError } from './errors';

/** Author and committer of the commits Borg makes after each phase. */
const BORG_IDENTITY = ['-c', 'user.name=Borg Pipeline', '-c', 'user.email=borg@localhost'];

/**
 * The one wrapper around the git CLI. Arguments go to `execFile` as an array — never through a
 * shell — so task titles and descriptions with quotes, `$(...)` or newlines are passed as they
 * are. Each call has a timeout (ms).
 */
export class Git {
  constructor(private readonly timeoutMs = 60_000) {}

  /**
   * Runs `git <args>` in `cwd` and returns stdout.
   * @throws BorgError with git's stderr when git exits non-zero, is missing or times out.
   */
  run(cwd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('git', args, { cwd, timeout: opts.timeoutMs ?? this.timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }, (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const why = code === 'ENOENT' ? 'git is not installed or not on PATH' : (stderr || err.message).trim();
          reject(new BorgError(`git ${args[0]} failed in ${cwd}: ${why}`, { cause: err }));
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

  /** The branch checked out in `repo` (undefined when HEAD is detached). */
  async currentBranch(repo: string): Promise<string | undefined> {
    const out = (await this.run(repo, ['rev-parse', '--abbrev-ref', 'HEAD'])).trim();
    return out === 'HEAD' ? undefined : out;
  }

  /** Adds a worktree at `dir` on a new branch `branch` from `base` (a branch or commit). */
  async addWorktree(repo: string, dir: string, branch: string, base: string): Promise<void> {
    await this.run(repo, ['worktree', 'add', '-b', branch, dir, base]);
  }

  /** Removes the worktree at `dir` (even with changes) and prunes its admin entry. */
  async removeWorktree(repo: string, dir: string): Promise<void> {
    await this.run(repo, ['worktree', 'remove', '--force', dir]).catch(() => undefined);
    await this.run(repo, ['worktree', 'prune']);
  }

  async deleteBranch(repo: string, branch: string): Promise<void> {
    await this.run(repo, ['branch', '-D', branch]);
  }

  /** Stages everything in `worktree` and commits it with `message`; returns the new commit, or undefined when nothing changed. */
  async commitAll(worktree: string, message: string): Promise<string | undefined> {
    await this.run(worktree, ['add', '-A']);
    const staged = await this.run(worktree, ['diff', '--cached', '--name-only']);
    if (!staged.trim()) return undefined;
    await this.run(worktree, [...BORG_IDENTITY, 'commit', '-q', '-m', message]);
    return (await this.run(worktree, ['rev-parse', 'HEAD'])).trim();
  }

  /** Subjects of the commits on `branch` that are not on `base`, oldest first. */
  async log(repo: string, base: string, branch: string): Promise<string[]> {
    const out = await this.run(repo, ['log', '--reverse', '--format=%s', `${base}..${branch}`]);
    return out.split('\n').filter(Boolean);
  }

  /** Files changed between the merge base of `base` and `branch`, and `branch`. */
  async changedFiles(repo: string, base: string, branch: string): Promise<string[]> {
    const out = await this.run(repo, ['diff', '--name-only', `${base}...${branch}`]);
    return out.split('\n').filter(Boolean);
  }

  /** The merge base of two refs. */
  async mergeBase(repo: string, a: string, b: string): Promise<string> {
    return (await this.run(repo, ['merge-base', a, b])).trim();
  }

  /** The content of `file` at `ref`, or undefined when it does not exist there. */
  async show(repo: string, ref: string, file: string): Promise<string | undefined> {
    try {
      return await this.run(repo, ['show', `${ref}:${file}`]);
    } catch {
      return undefined;
    }
  }

  /**
   * Merges `branch` into `base`, which must be checked out in `repo`. On a conflict the merge is
   * aborted and nothing changes.
   * @throws BorgError naming the conflicting files, or saying which branch must be checked out.
   */
  async merge(repo: string, base: string, branch: string, message: string): Promise<void> {
    const current = await this.currentBranch(repo);
    if (current !== base) {
      throw new BorgError(`Merging needs ${base} checked out in ${repo}, but ${current ?? 'a detached HEAD'} is. Check out ${base} and merge again.`);
    }
    try {
      await this.run(repo, [...BORG_IDENTITY, 'merge', '--no-ff', '-m', message, branch]);
    } catch (e) {
      const conflicts = (await this.run(repo, ['diff', '--name-only', '--diff-filter=U']).catch(() => '')).split('\n').filter(Boolean);
      await this.run(repo, ['merge', '--abort']).catch(() => undefined);
      if (conflicts.length) {
        throw new BorgError(`${branch} does not merge cleanly into ${base}: conflicts in ${conflicts.join(', ')}. Nothing was changed; resolve by hand or retry the task on the new ${base}.`, { cause: e });
      }
      throw e;
    }
  }
}
