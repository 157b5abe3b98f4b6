import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { Git } from '../core/git';
import type { Task } from '../core/taskStore';
import { WorktreeDocuments, worktreeFileUri } from './worktreeDocuments';

/** URI scheme of the read-only documents that show a file at a git revision. */
export const GIT_SCHEME = 'borg-git';

/** Most files put in one changes editor. */
const MAX_FILES = 200;

/**
 * Serves `borg-git:/<file>?repo=…&ref=…` documents: `git show <ref>:<file>` in the repository,
 * through core/git.ts. A file missing at that revision reads as empty. Documents from a content
 * provider are read-only in VS Code.
 */
export class GitDocuments implements vscode.TextDocumentContentProvider {
  constructor(private readonly git: Git) {}

  static uri(repo: string, ref: string, file: string): vscode.Uri {
    return vscode.Uri.from({ scheme: GIT_SCHEME, path: `/${file}`, query: new URLSearchParams({ repo, ref }).toString() });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const q = new URLSearchParams(uri.query);
    return (await this.git.show(q.get('repo') ?? '', q.get('ref') ?? '', uri.path.replace(/^\//, ''))) ?? '';
  }
}

/**
 * One changed file: its name, the merge-base version and the branch version (undefined: added /
 * deleted), and `resource`, the file the changes editor names it by — like `right`, never a
 * `file://` URI of anything but a regular file reached through real folders.
 */
export interface FileChange {
  file: string;
  left: vscode.Uri | undefined;
  right: vscode.Uri | undefined;
  resource: vscode.Uri;
}

/**
 * What the task's branch changed since it left its base (`base...branch`): each file at the
 * merge base on the left, and on the right the file in the task's worktree (where the agents
 * work; the host commits after each phase) or, with the worktree gone, at the branch. A worktree
 * file opens as `file://` (editable) only when it is a regular file; a link the agent wrote, or
 * anything else, is a read-only `borg-worktree:` document that names it and is never followed.
 */
export async function branchChanges(git: Git, task: Task & { branch: string; baseBranch: string }): Promise<{ mergeBase: string; changes: FileChange[] }> {
  const mergeBase = await git.mergeBase(task.repo, task.baseBranch, task.branch);
  const files = (await git.changedFiles(task.repo, task.baseBranch, task.branch)).slice(0, MAX_FILES);
  const worktree = task.worktree && fs.existsSync(task.worktree) ? task.worktree : undefined;
  const changes = await Promise.all(
    files.map(async (file): Promise<FileChange> => {
      const before = (await git.show(task.repo, mergeBase, file)) !== undefined;
      const right = worktree ? worktreeFileUri(worktree, file) : (await git.show(task.repo, task.branch, file)) !== undefined ? GitDocuments.uri(task.repo, task.branch, file) : undefined;
      return {
        file,
        left: before ? GitDocuments.uri(task.repo, mergeBase, file) : undefined,
        right,
        resource: (worktree ? right : worktreeFileUri(task.repo, file)) ?? WorktreeDocuments.uri(worktree ?? task.repo, file),
      };
    }),
  );
  return { mergeBase, changes };
}
