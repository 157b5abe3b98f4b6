import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BorgError } from './errors';
import type { Git } from './git';

/** A task was added to a repository with no commit: its branch would have nothing to start from. */
export class NoCommitError extends BorgError {
  constructor(readonly repo: string) {
    super(
      `Commit at least once first: a task branches from HEAD, and ${repo} has no commit yet. ` + 'Commit your files (the Source Control view, or git add -A && git commit), then add the task again.',
    );
  }
}

/**
 * Refuses a repository whose HEAD names no commit (a fresh `git init`): `git worktree add -b
 * <branch> <dir> HEAD` fails there with "invalid reference: HEAD", so a task could only block on
 * its first dispatch. Checked when a task is added (Scheduler.add, `borg tasks add`).
 * @param repo the repository's top folder (git.toplevel).
 * @throws NoCommitError when HEAD resolves to no commit.
 */
export async function requireCommit(git: Git, repo: string): Promise<void> {
  const sha = await git.revParse(repo, 'HEAD').catch(() => '');
  if (!sha) throw new NoCommitError(repo);
}

/** How many suffixes (`-2` … ) {@link chooseCheckout} tries before it gives up. */
const MAX_TRIES = 1000;

/**
 * Where a new task works: a branch and a worktree folder that nothing has yet, neither in the
 * repository nor in another database's worktrees. Task ids restart at 1 in every database (a new
 * workspace, a reset one), so `borg/task-1` may already exist, be checked out elsewhere
 * ("'borg/task-1' is already checked out"), or a folder `task-1` may be left by another
 * repository; each makes `git worktree add` fail.
 *
 * Picks `borg/task-<id>` with `<worktreeRoot>/<repo folder>/task-<id>` when both are free, else
 * the first free `borg/task-<id>-2` with `…/task-<id>-2`, then `-3`, … (same suffix for both).
 * A branch is taken when `refs/heads/<branch>` or a ref below it exists; a folder when anything
 * exists at its path (or its `.agent-git` sandbox beside it, agentGit.ts) or `git worktree list`
 * names it (a worktree whose folder was deleted is still registered until pruned).
 * `<repo folder>` is {@link repoFolderName}, so two repositories never share a folder.
 * @param repo the repository's top folder (git.toplevel).
 * @param worktreeRoot the workspace's worktrees folder (workspace.ts `WorkspaceHome.worktrees`).
 * @param taskId the task's id (a positive integer).
 * @returns the branch's short name and the worktree's absolute path; nothing is created.
 * @throws BorgError when git fails, or when no free name is found in {@link MAX_TRIES} tries.
 */
export async function chooseCheckout(git: Git, repo: string, worktreeRoot: string, taskId: number): Promise<{ branch: string; worktree: string }> {
  if (!Number.isInteger(taskId) || taskId <= 0) throw new BorgError(`Task id ${taskId} is not a positive whole number.`);
  const folder = path.join(path.resolve(worktreeRoot), repoFolderName(repo));
  const registered = new Set<string>();
  for (const w of await git.listWorktrees(repo)) {
    registered.add(path.resolve(w.path));
    registered.add(realOrSelf(w.path));
  }
  const folderTaken = (dir: string) => exists(dir) || exists(`${dir}.agent-git`) || registered.has(dir) || registered.has(path.join(realOrSelf(path.dirname(dir)), path.basename(dir)));
  for (let n = 1; n <= MAX_TRIES; n++) {
    const name = n === 1 ? `task-${taskId}` : `task-${taskId}-${n}`;
    const worktree = path.join(folder, name);
    const branch = `borg/${name}`;
    if (!folderTaken(worktree) && !(await git.branchExists(repo, branch))) return { branch, worktree };
  }
  throw new BorgError(
    `No free branch borg/task-${taskId}[-n] and worktree folder for task ${taskId} in ${repo} after ${MAX_TRIES} tries (is there a branch named "borg"?). ` +
      'Delete old borg/task-* branches (git branch -D) and worktrees (git worktree prune) and retry the task.',
  );
}

/**
 * The folder of a repository's worktrees under the worktree root: `<basename>-<8 hex>`, the hex
 * the start of the SHA-256 of the repository's real path, so two repositories with the same
 * folder name never share one.
 */
export function repoFolderName(repo: string): string {
  const real = realOrSelf(repo);
  const base = path.basename(real).replace(/[^A-Za-z0-9._-]/g, '_') || 'repo';
  return `${base}-${createHash('sha256').update(real).digest('hex').slice(0, 8)}`;
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return path.resolve(p);
  }
}

/** True when anything is at `p`, a dangling link included. */
function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
