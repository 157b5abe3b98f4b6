import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import type { Gateway } from '../core/gateway/gateway';
import type { Scheduler } from '../core/scheduler';
import type { Task } from '../core/taskStore';
import { Debouncer } from './debouncer';
import { groupItem, groupTasks, TaskGroup, taskItem, TaskSpend, taskTooltip } from './taskItems';

/** One row of the Tasks tree: a status group, or a task under it. */
export type TasksNode = TaskGroup | Task;

/**
 * The `borg.tasks` tree: non-empty status groups with their counts (Running, Queued, Blocked,
 * Failed, Done, Cancelled), tasks under them — read from the Scheduler's task store and its
 * active runs. Scheduler changes are debounced here, at the edge. With no task the tree is
 * empty and VS Code shows the view's welcome content.
 */
export class TasksView extends Disposable implements vscode.TreeDataProvider<TasksNode> {
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly treeView: vscode.TreeView<TasksNode>;
  private readonly repaint: Debouncer;
  /** What the tree showed last; a scheduler change that alters nothing visible repaints nothing. */
  private shown = '';

  /**
   * @param gateway the model gateway, whose metering a task's tooltip shows (none in a read-only window).
   * @param taskCapUsd `borg.maxCostUsdPerTask` now (USD; 0 = no cap).
   */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly gateway?: Pick<Gateway, 'spentByTask'>,
    private readonly taskCapUsd: () => number = () => 0,
    debounceMs = 150,
  ) {
    super();
    this.repaint = this.register(new Debouncer(debounceMs, () => this.repaintIfChanged()));
    this.treeView = this.register(vscode.window.createTreeView('borg.tasks', { treeDataProvider: this, showCollapseAll: true }));
    this.register(scheduler.onDidChange(() => this.refresh()));
    this.showPause();
    this.register(scheduler.onDidChange(() => this.showPause()));
  }

  /** The paused state (Stop All until Resume Tasks), as the view's message and the `borg.paused` context key. */
  private showPause(): void {
    const paused = this.scheduler.paused;
    if (paused === this.pausedShown) return;
    this.pausedShown = paused;
    this.treeView.message = paused ? 'Paused by Stop All: no task phase starts until you run Resume Tasks.' : undefined;
    void vscode.commands.executeCommand('setContext', 'borg.paused', paused);
  }

  private pausedShown: boolean | undefined;

  /**
   * Repaints the tree after the debounce, if what it shows changed (or `force`). Fewer repaints
   * also mean fewer clicks landing on a row VS Code is replacing: a replaced row's command
   * (`borg.showTask` with its id) is gone, and the click fails with "Actual command not found".
   */
  refresh(force = false): void {
    if (force) this.shown = '';
    this.repaint.trigger();
  }

  private repaintIfChanged(): void {
    const now = this.signature();
    if (now === this.shown) return;
    this.shown = now;
    this.changed.fire();
  }

  private signature(): string {
    const active = new Set(this.scheduler.activeIds);
    return JSON.stringify(this.scheduler.tasks.list().map((t) => [t.id, t.title, t.status, t.phase, t.attempt, t.maxAttempts, t.branch, t.lastError, t.blockedReason, t.retryAt, active.has(t.id)]));
  }

  getChildren(element?: TasksNode): TasksNode[] {
    if (!element) return groupTasks(this.scheduler.tasks.list(), new Set(this.scheduler.activeIds));
    return isGroup(element) ? element.tasks : [];
  }

  getTreeItem(node: TasksNode): vscode.TreeItem {
    return isGroup(node) ? groupItem(node) : taskItem(node, this.scheduler.activeIds.includes(node.id));
  }

  /** On hover: a task row's tooltip, with the task as stored now and what it has spent so far. */
  resolveTreeItem(item: vscode.TreeItem, node: TasksNode): vscode.TreeItem {
    if (isGroup(node)) return item;
    const t = this.scheduler.tasks.get(node.id) ?? node;
    item.tooltip = taskTooltip(t, this.scheduler.activeIds.includes(t.id), this.spendOf(t.id));
    return item;
  }

  private spendOf(id: number): TaskSpend | undefined {
    if (!this.gateway) return undefined;
    try {
      return { spentUsd: this.gateway.spentByTask(id), capUsd: this.taskCapUsd() };
    } catch {
      return undefined; // the store closed (shutdown)
    }
  }
}

export function isGroup(node: TasksNode): node is TaskGroup {
  return (node as TaskGroup).group !== undefined;
}
