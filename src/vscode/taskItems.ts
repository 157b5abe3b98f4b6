import * as vscode from 'vscode';
import { blockedLine, spendOfCap } from '../core/costText';
import { progressWords, taskVerbs } from '../core/taskLife';
import type { Task, TaskStatus } from '../core/taskStore';

/** The command a task row runs when clicked: shows the selected task's detail panel. */
export const SHOW_SELECTED_TASK = 'borg.showSelectedTask';

/** The Tasks view's root rows: what a person asks of a task first — is it running, waiting, stuck or finished? */
export type TaskGroupName = 'running' | 'queued' | 'blocked' | 'failed' | 'done' | 'merged' | 'cancelled';

/** One root row of the Tasks view and the tasks under it. */
export interface TaskGroup {
  group: TaskGroupName;
  tasks: Task[];
}

/** Root rows in the order shown; empty groups are hidden. */
export const GROUP_ORDER: TaskGroupName[] = ['running', 'queued', 'blocked', 'failed', 'done', 'merged', 'cancelled'];

const GROUP_LABELS: Record<TaskGroupName, string> = {
  running: 'Running',
  queued: 'Queued',
  blocked: 'Blocked',
  failed: 'Failed',
  done: 'Done',
  merged: 'Merged',
  cancelled: 'Cancelled',
};

const blue = new vscode.ThemeColor('charts.blue');
const green = new vscode.ThemeColor('testing.iconPassed');
const red = new vscode.ThemeColor('testing.iconFailed');
const yellow = new vscode.ThemeColor('testing.iconQueued');

/** What the tree shows for one task status: the single table from status to icon. */
const LOOK: Record<TaskStatus, vscode.ThemeIcon> = {
  backlog: new vscode.ThemeIcon('watch', yellow),
  spec: new vscode.ThemeIcon('note', blue),
  qa: new vscode.ThemeIcon('beaker', blue),
  impl: new vscode.ThemeIcon('tools', blue),
  test: new vscode.ThemeIcon('checklist', blue),
  retry: new vscode.ThemeIcon('debug-restart', yellow),
  blocked: new vscode.ThemeIcon('warning', yellow),
  done: new vscode.ThemeIcon('pass', green),
  merged: new vscode.ThemeIcon('git-merge', new vscode.ThemeColor('charts.purple')),
  failed: new vscode.ThemeIcon('error', red),
  cancelled: new vscode.ThemeIcon('circle-slash'),
};

/** A task in a phase but not running (between phases, or waiting for a slot) looks queued. */
const WAITING = LOOK.backlog;

/** Which root row a task sits under; `active` = the scheduler runs one of its phases now. */
export function groupOf(t: Task, active: boolean): TaskGroupName {
  if (active) return 'running';
  switch (t.status) {
    case 'blocked':
    case 'failed':
    case 'done':
    case 'merged':
    case 'cancelled':
      return t.status;
    default:
      return 'queued';
  }
}

/**
 * Sorts tasks into non-empty groups: running, queued and blocked oldest first (the next to run
 * on top), finished ones newest first.
 */
export function groupTasks(tasks: Task[], activeIds: ReadonlySet<number>): TaskGroup[] {
  const byGroup = new Map<TaskGroupName, Task[]>();
  for (const t of tasks) {
    const g = groupOf(t, activeIds.has(t.id));
    byGroup.set(g, [...(byGroup.get(g) ?? []), t]);
  }
  const finished = new Set<TaskGroupName>(['failed', 'done', 'merged', 'cancelled']);
  return GROUP_ORDER.filter((g) => byGroup.has(g)).map((group) => ({
    group,
    tasks: byGroup.get(group)!.sort((a, b) => (finished.has(group) ? b.updatedAt - a.updatedAt || b.id - a.id : a.id - b.id)),
  }));
}

/** A root row: "Running 2". */
export function groupItem(g: TaskGroup): vscode.TreeItem {
  const collapsed = g.group === 'cancelled' || g.group === 'merged' ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.Expanded;
  const item = new vscode.TreeItem(GROUP_LABELS[g.group], collapsed);
  item.id = `borg.tasks.${g.group}`;
  item.description = String(g.tasks.length);
  item.contextValue = `borg.taskGroup.${g.group}`;
  return item;
}

/**
 * A row's words after the title: `phase · attempt n/m` (core/taskLife.ts `progressWords`;
 * `done`, `merged into main` once finished), a blocked one first says why (`blocked · budget · …`).
 */
export function rowWords(t: Task): string {
  const blocked = t.status === 'blocked' ? `blocked · ${t.blockedReason ?? 'other'} · ` : '';
  return `${blocked}${progressWords(t)}`;
}

/**
 * What a screen reader says for a task row: the id, the title and the status in words —
 * "Task 7, Add a flag, blocked (budget), impl, attempt 2 of 3" — never the `·` separators.
 */
export function taskAccessibleLabel(t: Task, active: boolean): string {
  if (t.status === 'done' || t.status === 'merged') return `Task ${t.id}, ${t.title}, ${progressWords(t)}`;
  const inPhase = t.status === t.phase;
  const status = t.status === 'blocked' ? `blocked (${t.blockedReason ?? 'other'})` : active ? 'running' : inPhase ? 'queued' : t.status;
  return `Task ${t.id}, ${t.title}, ${status}, ${t.phase}, attempt ${Math.min(t.attempt + 1, t.maxAttempts)} of ${t.maxAttempts}`;
}

/**
 * A task row's `contextValue`: `borg.task;` then every verb that fits (core/taskLife.ts
 * `taskVerbs`), each followed by `;` — e.g. `borg.task;show;diff;openWorktree;retry;delete;`.
 * The item menus in package.json match one verb each with `viewItem =~ /;retry;/`.
 */
export function taskContextValue(t: Task): string {
  return `borg.task;${taskVerbs(t)
    .map((v) => `${v};`)
    .join('')}`;
}

/**
 * A task row: `#id title`, {@link rowWords}, the status icon, an accessible label with the status
 * ({@link taskAccessibleLabel}); selecting it opens the detail panel. The tooltip is left
 * to {@link taskTooltip}, which the view builds on hover (`resolveTreeItem`), so the spend it
 * shows is current without repainting the tree on every metered response.
 */
export function taskItem(t: Task, active: boolean): vscode.TreeItem {
  const item = new vscode.TreeItem(`#${t.id} ${t.title}`, vscode.TreeItemCollapsibleState.None);
  item.id = `borg.task.${t.id}`;
  const inPhase = t.status === 'spec' || t.status === 'qa' || t.status === 'impl' || t.status === 'test';
  item.iconPath = inPhase && !active ? WAITING : LOOK[t.status];
  item.description = rowWords(t);
  item.accessibilityInformation = { label: taskAccessibleLabel(t, active) };
  item.contextValue = taskContextValue(t);
  // No arguments: VS Code replaces a command with arguments at every repaint, and a click on a
  // row being repainted then fails ("Actual command not found"). The command reads the selection.
  item.command = { command: SHOW_SELECTED_TASK, title: 'Show Task' };
  return item;
}

/** What the model gateway metered for a task, for its tooltip: spend (USD, all runs) and the cap (`borg.maxCostUsdPerTask`, 0 = none). */
export interface TaskSpend {
  spentUsd: number;
  capUsd: number;
}

/**
 * Title, status (a blocked task's reason and retry time), branch, spend and the last error (not
 * while a new run of the task is going). Task
 * text goes in with appendText, which escapes Markdown and `$(icon)` syntax.
 */
export function taskTooltip(t: Task, active: boolean, spend?: TaskSpend, now = Date.now()): vscode.MarkdownString {
  const tip = new vscode.MarkdownString(undefined, true);
  tip.appendMarkdown('**');
  tip.appendText(`#${t.id} ${t.title}`);
  tip.appendMarkdown('**\n\n');
  tip.appendText(t.status === 'done' || t.status === 'merged' ? progressWords(t) : `${t.status}${active ? ' (running)' : ''} · ${progressWords(t)}`);
  if (t.status === 'blocked') tip.appendText(`\n${blockedLine(t.blockedReason, t.retryAt, now)}`);
  if (t.branch) tip.appendText(`\nBranch: ${t.branch}${t.baseBranch ? ` (from ${t.baseBranch})` : ''}`);
  if (spend) tip.appendText(`\nModel spend: ${spendOfCap(spend.spentUsd, spend.capUsd)}${spend.capUsd > 0 ? ' (borg.maxCostUsdPerTask)' : ''}`);
  // A running phase is a new run: the error was the previous run's (its row in the panel keeps it).
  if (t.lastError && !active) {
    tip.appendMarkdown('\n\n---\n\n**Last error**\n\n');
    tip.appendText(t.lastError.length > 600 ? `${t.lastError.slice(0, 600)}…` : t.lastError);
  }
  return tip;
}
