import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Git } from '../core/git';
import type { Task } from '../core/taskStore';

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

/** One changed file: its name, the merge-base version and the branch version (undefined: added / deleted). */
export interface FileChange {
  file: string;
  left: vscode.Uri | undefined;
  right: vscode.Uri | undefined;
}

/**
 * What the task's branch changed since it left its base (`base...branch`): each file at the
 * merge base on the left, and on the right the file in the task's worktree (where the agents
 * work; the host commits after each phase) or, with the worktree gone, at the branch.
 */
export async function branchChanges(git: Git, task: Task & { branch: string; baseBranch: string }): Promise<{ mergeBase: string; changes: FileChange[] }> {
  const mergeBase = await git.mergeBase(task.repo, task.baseBranch, task.branch);
  const files = (await git.changedFiles(task.repo, task.baseBranch, task.branch)).slice(0, MAX_FILES);
  const worktree = task.worktree && fs.existsSync(task.worktree) ? task.worktree : undefined;
  const changes = await Promise.all(
    files.map(async (file): Promise<FileChange> => {
      const before = (await git.show(task.repo, mergeBase, file)) !== undefined;
      const after = worktree ? fs.existsSync(path.join(worktree, file)) : (await git.show(task.repo, task.branch, file)) !== undefined;
      return {
        file,
        left: before ? GitDocuments.uri(task.repo, mergeBase, file) : undefined,
        right: !after ? undefined : worktree ? vscode.Uri.file(path.join(worktree, file)) : GitDocuments.uri(task.repo, task.branch, file),
      };
    }),
  );
  return { mergeBase, changes };
}
