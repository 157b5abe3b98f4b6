import * as vscode from 'vscode';
import { inspectWorktreePath, readWorktreeText, WorktreeEntry } from '../core/worktreeFiles';

/** URI scheme of the read-only documents that stand for a worktree entry Borg does not open as a file. */
export const WORKTREE_SCHEME = 'borg-worktree';

/**
 * Serves `borg-worktree:/<file>?worktree=…` documents: what a task's worktree has at `file` when
 * it is not a plain regular file — for a symbolic link the agent wrote, `symbolic link → <target>`
 * (the link's text; the target is never read), for anything else one line saying what it is. A
 * regular file found there by the time the document opens (the agent may have changed it) is
 * read through core/worktreeFiles.ts, never through a link. Documents from a content provider are
 * read-only in VS Code, so nothing is ever saved through them.
 */
export class WorktreeDocuments implements vscode.TextDocumentContentProvider {
  static uri(worktree: string, file: string): vscode.Uri {
    return vscode.Uri.from({ scheme: WORKTREE_SCHEME, path: `/${file}`, query: new URLSearchParams({ worktree }).toString() });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const worktree = new URLSearchParams(uri.query).get('worktree') ?? '';
    const file = uri.path.replace(/^\//, '');
    try {
      const entry = inspectWorktreePath(worktree, file);
      if (entry.kind === 'file') return readWorktreeText(worktree, file) ?? `(${file} changed while it was read; open it again)\n`;
      return describeEntry(entry, file);
    } catch (e) {
      return `(${file} cannot be read: ${(e as Error).message})\n`;
    }
  }
}

/** The text a `borg-worktree:` document shows for an entry that is no regular file. */
export function describeEntry(entry: Exclude<WorktreeEntry, { kind: 'file' }>, file: string): string {
  switch (entry.kind) {
    case 'symlink':
      return entry.link === file ? `symbolic link → ${entry.target}\n` : `symbolic link → ${entry.target}\n(the folder ${entry.link} is the link; ${file} is inside it)\n`;
    case 'missing':
      return `(${file} is not in the worktree)\n`;
    case 'outside':
      return `(${file} is no path inside the worktree; it is not shown)\n`;
    case 'other':
      return `(${file} is not a regular file — a folder, pipe, socket or device; it is not shown)\n`;
  }
}

/**
 * The URI a diff shows for `file` in `worktree` (a task's worktree, or the repository once it is
 * gone): `file://` — editable — only for a regular file reached through real folders only; a
 * read-only `borg-worktree:` document for a link or anything else; undefined when there is no
 * such entry (the file was deleted).
 */
export function worktreeFileUri(worktree: string, file: string): vscode.Uri | undefined {
  let entry: WorktreeEntry;
  try {
    entry = inspectWorktreePath(worktree, file);
  } catch {
    return WorktreeDocuments.uri(worktree, file); // unreadable (EACCES…): the document says why
  }
  if (entry.kind === 'missing') return undefined;
  return entry.kind === 'file' ? vscode.Uri.file(entry.path) : WorktreeDocuments.uri(worktree, file);
}
