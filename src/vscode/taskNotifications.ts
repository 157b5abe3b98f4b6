import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import { Emitter } from '../core/event';
import type { Scheduler } from '../core/scheduler';
import { ANNOUNCED, NEEDS_ATTENTION, notificationVerbs, REASON_WORDS, TaskVerb } from '../core/taskLife';
import type { Task, TaskStatus } from '../core/taskStore';

/** The switches, read at each change (`borg.notifications.taskEnded`, `borg.badge`). */
export interface TaskNotificationSettings {
  notifyTaskEnded: boolean;
  badge: boolean;
}

/** One notification as shown: for tests (`onDidNotify`) and the log. */
export interface TaskNotice {
  taskId: number;
  status: TaskStatus;
  kind: 'info' | 'warning' | 'error';
  message: string;
  /** The buttons, in order (their verbs: core/taskLife.ts `notificationVerbs`). */
  buttons: string[];
  verbs: TaskVerb[];
}

/** A button's words and the command it runs (with the task id; Set API Key and Show Output take none). */
const BUTTONS: Partial<Record<TaskVerb, { label: string; command: string; withId: boolean }>> = {
  diff: { label: 'Show Diff', command: 'borg.showDiff', withId: true },
  show: { label: 'Details', command: 'borg.showTask', withId: true },
  retry: { label: 'Retry', command: 'borg.retryTask', withId: true },
  setApiKey: { label: 'Set API Key', command: 'borg.setApiKey', withId: false },
  raiseBudget: { label: 'Raise Budget…', command: 'borg.raiseBudget', withId: true },
  showOutput: { label: 'Show Output', command: 'borg.showOutput', withId: false },
};

/**
 * Tells the user when a task ends by itself — done, failed or blocked (core/taskLife.ts
 * `ANNOUNCED`) — with the buttons the task table gives that status (Show Diff, Details, Retry, a
 * block's cure), and keeps a badge on the Tasks view (VS Code shows it on the view container)
 * with the number of tasks needing attention (blocked + failed + done and not merged).
 *
 * Only transitions seen live are announced: the statuses at construction are the baseline, so a
 * task that ended while the window was closed (or in another window, before this one read the
 * database) is counted by the badge but not announced. A user's Cancel and Merge end in statuses
 * that are never announced. The message holds the task's id, title and status words only —
 * never its last error (test output and agent text are the agent's; Details shows them,
 * escaped) — and `](` in a title is broken up so it cannot form a notification link.
 * `borg.notifications.taskEnded` and `borg.badge` switch each off.
 */
export class TaskNotifications extends Disposable {
  private readonly seen = new Map<number, TaskStatus>();
  private readonly notified = this.register(new Emitter<TaskNotice>());
  /** Fires for every notification shown (the host tests' seam: a notification's text cannot be read back from VS Code). */
  readonly onDidNotify = this.notified.event;

  /**
   * @param treeView the Tasks view, whose `badge` is set.
   * @param settings the switches now (read at every change, so a settings change applies at once).
   */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly treeView: Pick<vscode.TreeView<unknown>, 'badge'>,
    private readonly settings: () => TaskNotificationSettings,
  ) {
    super();
    for (const t of this.list()) this.seen.set(t.id, t.status);
    this.register(scheduler.onDidChange(() => this.onChange()));
    this.showBadge();
  }

  /** Re-reads the switches (after a settings change): the badge shows or hides at once. */
  refresh(): void {
    this.showBadge();
  }

  private onChange(): void {
    const tasks = this.list();
    const present = new Set<number>();
    for (const t of tasks) {
      present.add(t.id);
      const before = this.seen.get(t.id);
      this.seen.set(t.id, t.status);
      if (before !== undefined && before !== t.status && ANNOUNCED.includes(t.status) && this.settings().notifyTaskEnded) this.announce(t);
    }
    for (const id of [...this.seen.keys()]) if (!present.has(id)) this.seen.delete(id);
    this.showBadge(tasks);
  }

  private announce(t: Task): void {
    const verbs = notificationVerbs(t).filter((v) => BUTTONS[v]);
    const buttons = verbs.map((v) => BUTTONS[v]!.label);
    const title = `#${t.id} ${t.title.replace(/\]\(/g, '] (')}`;
    const message =
      t.status === 'done'
        ? `Borg: task ${title} is done: its branch ${t.branch ?? ''} is ready to review and merge.`.replace(/ {2}/g, ' ')
        : t.status === 'failed'
          ? `Borg: task ${title} failed after ${t.attempt} attempt${t.attempt === 1 ? '' : 's'}.`
          : `Borg: task ${title} is blocked by ${REASON_WORDS[t.blockedReason ?? 'other']}.`;
    const kind = t.status === 'done' ? 'info' : t.status === 'failed' ? 'error' : 'warning';
    const show = kind === 'info' ? vscode.window.showInformationMessage : kind === 'error' ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
    void show(message, ...buttons).then((pick) => {
      const verb = verbs[buttons.indexOf(pick ?? '')];
      const b = verb && BUTTONS[verb];
      if (b) void (b.withId ? vscode.commands.executeCommand(b.command, t.id) : vscode.commands.executeCommand(b.command));
    });
    this.notified.fire({ taskId: t.id, status: t.status, kind, message, buttons, verbs });
  }

  /** The badge: the count of tasks needing attention, with words ("2 tasks need attention: 1 blocked, 1 done to merge"); none at 0 or when switched off. */
  private showBadge(tasks = this.list()): void {
    const count = (s: TaskStatus) => tasks.filter((t) => t.status === s).length;
    const n = tasks.filter((t) => NEEDS_ATTENTION.includes(t.status)).length;
    if (!this.settings().badge || n === 0) {
      if (this.treeView.badge !== undefined) this.treeView.badge = undefined;
      return;
    }
    const parts = [
      [count('blocked'), 'blocked'],
      [count('failed'), 'failed'],
      [count('done'), 'done to merge'],
    ]
      .filter(([c]) => c)
      .map(([c, w]) => `${c} ${w}`);
    const tooltip = `${n} task${n === 1 ? ' needs' : 's need'} attention: ${parts.join(', ')}`;
    const now = this.treeView.badge;
    if (now?.value !== n || now.tooltip !== tooltip) this.treeView.badge = { value: n, tooltip };
  }

  private list(): Task[] {
    try {
      return this.scheduler.tasks.list();
    } catch {
      return []; // the store closed (shutdown)
    }
  }
}
