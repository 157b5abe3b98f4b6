import * as posix from 'node:path/posix';
import * as vscode from 'vscode';
import { WORKTREE_MOUNT } from '../core/agentGit';
import { ContainerFiles, EntryKind } from '../core/containerFiles';
import type { ContainerInfo, Engine } from '../core/engine';
import { LABEL_TASK } from '../core/labels';
import { visibleControls } from '../core/streamText';
import { CONTAINER_SCHEME, ContainerFileSystem, containerUri } from './containerFs';
import type { BorgContext } from './ctx';
import { WorktreeDocuments } from './worktreeDocuments';

/**
 * The "Files" child of each container row in the Agents view, and the folder tree under it:
 * lazily listed through core/containerFiles.ts (Docker's archive endpoints, so exited and
 * crashed containers work), from a few top folders (the worktree mount, the working directory,
 * `/tmp`: see {@link filesChildren}). Files open read-only as `borg-container:` documents (containerFs.ts). The Agents view
 * only delegates to {@link filesChildren} and {@link filesTreeItem}.
 */
export interface ContainerFilesNode {
  readonly filesOf: string;
  /** The container's `borg.task` label (Compare with Worktree needs it). */
  readonly task?: string;
  /** `root`: the "Files" row; `note`: a line saying why a listing is partial or failed. */
  readonly kind: 'root' | EntryKind | 'note';
  /** Absolute container path ('' for the root and notes). */
  readonly path: string;
  readonly linkTarget?: string;
  readonly size?: number;
  readonly note?: string;
  /** A top folder under Files (shown by its whole path). */
  readonly place?: boolean;
}

export function isFilesNode(n: unknown): n is ContainerFilesNode {
  return !!n && typeof (n as ContainerFilesNode).filesOf === 'string';
}

/** The "Files" row of container `c`. */
export function filesRoot(c: ContainerInfo): ContainerFilesNode {
  return { filesOf: c.name, task: c.labels[LABEL_TASK], kind: 'root', path: '' };
}

/**
 * The children of `node`: of the root, the places worth a look — the task's worktree mount
 * ({@link WORKTREE_MOUNT}) for a task agent, the container's working directory (`/` when it has
 * none), `/tmp`; of a folder, its entries (folders first); a partial listing or a failure ends
 * with a note row.
 */
export async function filesChildren(engine: Engine, node: ContainerFilesNode): Promise<ContainerFilesNode[]> {
  if (node.kind !== 'root' && node.kind !== 'directory') return [];
  const key = `${node.filesOf}\0${node.path}`;
  const cache = listings(engine);
  const hit = cache.get(key);
  if (hit && Date.now() - hit.at < LISTING_TTL_MS) return hit.rows;
  const rows = listChildren(engine, node);
  cache.set(key, { at: Date.now(), rows });
  for (const [k, v] of cache) if (Date.now() - v.at >= LISTING_TTL_MS) cache.delete(k);
  return rows;
}

/**
 * How long (ms) a folder's listing is reused: a running agent's row repaints (up to twice a
 * second, with its output), VS Code then asks again for the children of its expanded folders,
 * and each listing is an archive transfer of the whole folder — a chatty agent must not turn
 * that into a transfer every few seconds. Collapse and expand the folder after this to see it anew.
 */
export const LISTING_TTL_MS = 30_000;

const cached = new WeakMap<Engine, Map<string, { at: number; rows: Promise<ContainerFilesNode[]> }>>();

function listings(engine: Engine): Map<string, { at: number; rows: Promise<ContainerFilesNode[]> }> {
  let m = cached.get(engine);
  if (!m) cached.set(engine, (m = new Map()));
  return m;
}

async function listChildren(engine: Engine, node: ContainerFilesNode): Promise<ContainerFilesNode[]> {
  const files = new ContainerFiles(engine, { onlyManaged: true });
  const base = { filesOf: node.filesOf, task: node.task };
  try {
    if (node.kind === 'root') {
      const workdir = (await files.container(node.filesOf)).workingDir || '/';
      const places = [...new Set([...(node.task ? [WORKTREE_MOUNT] : []), workdir, '/tmp'])];
      return places.map((p) => ({ ...base, kind: 'directory', path: p, place: true }));
    }
    const dir = node.path;
    const l = await files.list(node.filesOf, dir);
    const rows: ContainerFilesNode[] = l.entries
      .map((e) => ({ ...base, kind: e.kind, path: posix.join(dir, e.name), linkTarget: e.linkTarget, size: e.size }))
      .sort((a, b) => Number(b.kind === 'directory') - Number(a.kind === 'directory'));
    if (l.partial) rows.push({ ...base, kind: 'note', path: '', note: `listing cut: ${l.partial}` });
    if (l.entries.length === 0) rows.push({ ...base, kind: 'note', path: '', note: '(empty)' });
    return rows;
  } catch (e) {
    return [{ ...base, kind: 'note', path: '', note: e instanceof Error ? e.message : String(e) }];
  }
}

/** The tree row of `node`. Names are the agent's: shown as plain text, control characters made visible. */
export function filesTreeItem(node: ContainerFilesNode): vscode.TreeItem {
  const collapsed = vscode.TreeItemCollapsibleState.Collapsed;
  if (node.kind === 'root') {
    const item = new vscode.TreeItem('Files', collapsed);
    item.id = `borg-files:${node.filesOf}`;
    item.iconPath = new vscode.ThemeIcon('files');
    item.tooltip = `The files of ${node.filesOf}, read-only — read through Docker's archive API, so they show for an exited or crashed agent too.`;
    item.contextValue = 'borg.containerFiles';
    item.accessibilityInformation = { label: `Files of ${node.filesOf}` };
    return item;
  }
  if (node.kind === 'note') {
    const item = new vscode.TreeItem(visibleControls(node.note ?? ''), vscode.TreeItemCollapsibleState.None);
    item.iconPath = new vscode.ThemeIcon('info');
    item.tooltip = item.label as string;
    item.accessibilityInformation = { label: item.label as string };
    return item;
  }
  const name = visibleControls(node.place ? node.path : posix.basename(node.path));
  const uri = containerUri(node.filesOf, node.path);
  const item = new vscode.TreeItem(name, node.kind === 'directory' ? collapsed : vscode.TreeItemCollapsibleState.None);
  // No id: the same path can show twice (a place such as /tmp, and /tmp under /); VS Code's own handle (parent + label) is unique.
  item.resourceUri = uri;
  item.tooltip = visibleControls(node.path);
  switch (node.kind) {
    case 'directory':
      item.iconPath = vscode.ThemeIcon.Folder;
      item.contextValue = 'borg.containerDir';
      break;
    case 'symlink':
      item.iconPath = new vscode.ThemeIcon('file-symlink-file');
      item.description = `→ ${visibleControls(node.linkTarget ?? '?')}`;
      item.tooltip = `${visibleControls(node.path)} → ${visibleControls(node.linkTarget ?? '?')} (a link: shown as a link, never followed)`;
      item.contextValue = 'borg.containerLink';
      item.command = { command: 'vscode.open', title: 'Open', arguments: [uri] };
      break;
    case 'file':
      item.iconPath = vscode.ThemeIcon.File;
      item.description = sizeText(node.size ?? 0);
      item.contextValue = node.task ? 'borg.containerFile;task' : 'borg.containerFile';
      item.command = { command: 'vscode.open', title: 'Open', arguments: [uri] };
      break;
    default:
      item.iconPath = new vscode.ThemeIcon('circle-slash');
      item.description = 'device, FIFO or socket';
  }
  const what =
    node.kind === 'directory' ? 'folder' : node.kind === 'symlink' ? `link to ${visibleControls(node.linkTarget ?? '?')}` : node.kind === 'file' ? `file, ${item.description}` : 'special file';
  item.accessibilityInformation = { label: `${name}, ${what}` };
  return item;
}

/**
 * Borg: Compare with Worktree — a diff of a container file against the same path in the task's
 * worktree: the path relative to the worktree's mount point in the container
 * ({@link WORKTREE_MOUNT}, agentGit.ts), looked up in the worktree of the task named by the
 * container's `borg.task` label. The worktree side is always a read-only `borg-worktree:`
 * document (worktreeDocuments.ts: a link or a missing file says so), so nothing outside the
 * worktree is opened, even while the agent still runs and changes it.
 */
export async function compareWithWorktree(ctx: BorgContext, node: ContainerFilesNode): Promise<void> {
  if (node.kind !== 'file' && node.kind !== 'symlink') return void vscode.window.showInformationMessage('Compare with Worktree compares a file: pick a file under Files.');
  const id = Number(node.task);
  const task = node.task && Number.isInteger(id) ? ctx.runtime.tasks.get(id) : undefined;
  if (!task) return void vscode.window.showInformationMessage(`${node.filesOf} served no task Borg still knows, so there is no worktree to compare with.`);
  if (!task.worktree) return void vscode.window.showInformationMessage(`Task ${id} has no worktree yet.`);
  const rel = posix.relative(WORKTREE_MOUNT, node.path);
  if (rel === '' || rel === '..' || rel.startsWith('../') || posix.isAbsolute(rel)) {
    return void vscode.window.showInformationMessage(
      `${visibleControls(node.path)} is outside ${WORKTREE_MOUNT}, where the task's worktree is mounted in the agent's container; there is no worktree file to compare it with.`,
    );
  }
  // Always the read-only borg-worktree: document, which checks for links when it reads: the agent
  // may still run and swap a folder for a link between a check here and VS Code opening a file:// URI.
  const right = WorktreeDocuments.uri(task.worktree, rel);
  const title = `${visibleControls(rel)} (${node.filesOf}) ↔ task ${id} worktree`;
  await vscode.commands.executeCommand('vscode.diff', containerUri(node.filesOf, node.path), right, title);
}

function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Registers the `borg-container:` provider and Compare with Worktree (for commands.ts). */
export function registerContainerFiles(ctx: BorgContext): vscode.Disposable[] {
  const fs = new ContainerFileSystem(new ContainerFiles(ctx.engine, { onlyManaged: true }), (m) => ctx.log.warn(m));
  return [
    fs,
    vscode.workspace.registerFileSystemProvider(CONTAINER_SCHEME, fs, { isReadonly: true, isCaseSensitive: true }),
    vscode.commands.registerCommand('borg.compareWithWorktree', (node?: unknown) => {
      if (!isFilesNode(node)) return void vscode.window.showInformationMessage('Compare with Worktree works on a file under an agent\u2019s Files in the Agents view.');
      return compareWithWorktree(ctx, node);
    }),
  ];
}
