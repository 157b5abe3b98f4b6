import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Agent } from '../core/agent';
import { blockedLine, formatCount, formatUsd, spendOfCap } from '../core/costText';
import { Debouncer } from './debouncer';
import { Disposable } from '../core/disposable';
import type { Gateway } from '../core/gateway/gateway';
import type { Scheduler } from '../core/scheduler';
import { isSkippedTest, progressWords, taskVerbs } from '../core/taskLife';
import type { Task, TaskRun } from '../core/taskStore';
import { KeyedThrottle } from './keyedThrottle';

/** What the panel's buttons may ask for, and the command each runs (with the task id, or the agent's name). */
const MESSAGE_COMMANDS: Record<string, string> = {
  showLogs: 'borg.showLogs',
  showDiff: 'borg.showDiff',
  openWorktree: 'borg.openWorktree',
  retry: 'borg.retryTask',
  cancel: 'borg.cancelTask',
  merge: 'borg.mergeTask',
  delete: 'borg.deleteTask',
  setApiKey: 'borg.setApiKey',
  raiseBudget: 'borg.raiseBudget',
  showOutput: 'borg.showOutput',
};

/** What the panels read of the model gateway (gateway/gateway.ts). */
export type DetailMeter = Pick<Gateway, 'onDidMeter' | 'usageOf' | 'spentByTask' | 'replay' | 'upstreamLabel'>;

/** Where the panels get the gateway's metering from; all optional (a read-only window has no gateway). */
export interface TaskDetailsMetering {
  gateway?: DetailMeter;
  /** The tracked agent of a name (Pipeline `agents`): a running run's live usage comes from its gateway run. */
  agent?: (name: string) => Agent | undefined;
  /** `borg.maxCostUsdPerTask` now (USD; 0 = no cap). */
  taskCapUsd?: () => number;
}

/** How often (ms) at most a panel repaints while its task's agent streams model responses. */
const METER_REPAINT_MS = 500;

/**
 * The task detail panels: one webview panel per task, reused when shown again, updated live
 * from the Scheduler's changes (debounced) and the gateway's metering of the task's runs (at
 * most every {@link METER_REPAINT_MS}), and closed when its task is deleted. The HTML is built
 * here with every piece of task text escaped; the page's script only forwards button clicks as
 * messages and swaps in updated HTML.
 */
export class TaskDetails extends Disposable {
  private readonly panels = new Map<number, vscode.WebviewPanel>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly extensionUri: vscode.Uri,
    private readonly metering: TaskDetailsMetering = {},
    debounceMs = 150,
  ) {
    super();
    const repaint = this.register(
      new Debouncer(debounceMs, () => {
        for (const id of [...this.panels.keys()]) this.update(id);
      }),
    );
    this.register(scheduler.onDidChange(() => repaint.trigger()));
    const gateway = metering.gateway;
    if (gateway) {
      // A hidden panel is repainted when it is shown again (onDidChangeViewState).
      const metered = this.register(new KeyedThrottle<number>(METER_REPAINT_MS, (ids) => ids.filter((id) => this.panels.get(id)?.visible).forEach((id) => this.update(id))));
      this.register(gateway.onDidMeter((e) => e.run.taskId !== undefined && this.panels.has(e.run.taskId) && metered.trigger(e.run.taskId)));
    }
    this.register({ dispose: () => [...this.panels.values()].forEach((p) => p.dispose()) });
  }

  /** The open panel of a task, if any. */
  panel(id: number): vscode.WebviewPanel | undefined {
    return this.panels.get(id);
  }

  /** Shows the task's panel, creating it the first time. */
  show(task: Task): vscode.WebviewPanel {
    const open = this.panels.get(task.id);
    if (open) {
      open.reveal();
      this.update(task.id);
      return open;
    }
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel('borg.task', panelTitle(task), vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [media],
    });
    panel.iconPath = vscode.Uri.joinPath(media, 'borg.svg');
    this.panels.set(task.id, panel);
    panel.onDidDispose(() => this.panels.delete(task.id));
    panel.onDidChangeViewState((e) => e.webviewPanel.visible && this.update(task.id));
    panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(task.id, m));
    panel.webview.html = this.page(panel.webview, task);
    return panel;
  }

  /** Re-renders a panel: a message while it is visible (keeps the scroll position), the whole page otherwise. */
  private update(id: number): void {
    const panel = this.panels.get(id);
    if (!panel) return;
    const task = this.scheduler.tasks.get(id);
    if (!task) {
      panel.dispose(); // the task was deleted
      return;
    }
    panel.title = panelTitle(task);
    if (panel.visible) void panel.webview.postMessage({ type: 'update', html: taskBody(task, this.runsOf(id), this.isActive(id), this.spendOf(id)) });
    else panel.webview.html = this.page(panel.webview, task);
  }

  /**
   * The task's runs; a run still going gets the tokens and cost its gateway run metered so far
   * (the run's own columns are filled when it ends).
   */
  private runsOf(id: number): TaskRun[] {
    const runs = this.scheduler.tasks.runs(id);
    const { gateway, agent } = this.metering;
    if (!gateway || !agent) return runs;
    return runs.map((r) => {
      const run = r.outcome === 'running' && r.agent ? agent(r.agent)?.gatewayRun : undefined;
      if (!run) return r;
      try {
        const u = gateway.usageOf(run);
        return { ...r, costUsd: u.costUsd, inputTokens: u.inputTokens, outputTokens: u.outputTokens };
      } catch {
        return r; // the store closed (shutdown)
      }
    });
  }

  /** The task's spend so far (all runs, from the gateway's ledger) against its cap; undefined without a gateway. */
  private spendOf(id: number): PanelSpend | undefined {
    const g = this.metering.gateway;
    if (!g) return undefined;
    try {
      return { spentUsd: g.spentByTask(id), capUsd: this.metering.taskCapUsd?.() ?? 0, replayOf: g.replay ? g.upstreamLabel : undefined };
    } catch {
      return undefined;
    }
  }

  private page(webview: vscode.Webview, task: Task): string {
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    return taskPage(task, this.runsOf(task.id), this.isActive(task.id), this.spendOf(task.id), {
      cspSource: webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'taskDetail.css')).toString(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'taskDetail.js')).toString(),
    });
  }

  private isActive(id: number): boolean {
    return this.scheduler.activeIds.includes(id);
  }

  /** Runs the command a button asks for; anything else the page sends is ignored. */
  private onMessage(id: number, m: unknown): void {
    const { command, agent } = (m ?? {}) as { command?: unknown; agent?: unknown };
    const target = typeof command === 'string' && Object.hasOwn(MESSAGE_COMMANDS, command) ? MESSAGE_COMMANDS[command] : undefined;
    if (!target) return;
    if (command === 'showLogs') {
      if (typeof agent === 'string' && agent) void vscode.commands.executeCommand(target, agent);
    } else if (command === 'setApiKey' || command === 'showOutput') {
      void vscode.commands.executeCommand(target);
    } else {
      void vscode.commands.executeCommand(target, id);
    }
  }
}

export function panelTitle(task: Task): string {
  return `#${task.id} ${task.title}`;
}

/**
 * The whole page. CSP: nothing by default; styles only from the extension's media folder; the
 * one script only with this page's nonce — so markup that slipped into task text could not run.
 * (The CSP holds no task text: `cspSource` comes from VS Code.)
 */
export function taskPage(task: Task, runs: TaskRun[], active: boolean, spend: PanelSpend | undefined, o: { cspSource: string; nonce: string; styleUri: string; scriptUri: string }): string {
  const csp = `default-src 'none'; style-src ${o.cspSource}; img-src ${o.cspSource}; font-src ${o.cspSource}; script-src 'nonce-${o.nonce}';`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${esc(o.styleUri)}">
<title>${esc(panelTitle(task))}</title>
</head>
<body>
<main id="root">${taskBody(task, runs, active, spend)}</main>
<script nonce="${esc(o.nonce)}" src="${esc(o.scriptUri)}"></script>
</body>
</html>`;
}

/** What the gateway metered for the task, for the page's header. */
export interface PanelSpend {
  /** USD, all the task's runs (gateway/ledger.ts `spentByTask`). */
  spentUsd: number;
  /** `borg.maxCostUsdPerTask` (USD; 0 = no cap). */
  capUsd: number;
  /** The upstream label when the model is a recording (`replay of demo.jsonl`). */
  replayOf?: string;
}

/**
 * The page's content (also sent on its own for live updates). A blocked task's status says why
 * (`blocked: quota, retry after 14:05:00`); `spend` adds the task's spend against its cap. The
 * last error is hidden while a new run of the task is going (it was the previous run's; that
 * run's row keeps it as its title).
 */
export function taskBody(task: Task, runs: TaskRun[], active: boolean, spend?: PanelSpend, now = Date.now()): string {
  const status = task.status === 'blocked' ? blockedLine(task.blockedReason, task.retryAt, now) : `${task.status}${active ? ' · running' : ''}`;
  const facts: Array<[string, string]> = [
    ['Status', `<span class="status status-${esc(task.status)}">${esc(status)}</span>`],
    ['Phase', esc(progressWords(task))],
    [
      'Branch',
      task.branch ? `<code>${esc(task.branch)}</code>${task.baseBranch ? ` from <code>${esc(task.baseBranch)}</code>` : ''}` : '<span class="muted">created when the first phase starts</span>',
    ],
    ['Worktree', task.worktree ? `<code>${esc(task.worktree)}</code>` : '<span class="muted">none yet</span>'],
    ['Repository', `<code>${esc(task.repo)}</code>`],
    ['Created', esc(when(task.createdAt))],
  ];
  if (spend) {
    const over = spend.capUsd > 0 && spend.spentUsd >= spend.capUsd;
    const cap = spend.capUsd > 0 ? ' <span class="muted">(borg.maxCostUsdPerTask)</span>' : '';
    facts.push(['Spend', `<span class="spend${over ? ' over' : ''}">${esc(spendOfCap(spend.spentUsd, spend.capUsd))}</span>${cap}`]);
    if (spend.replayOf) facts.push(['Model', `${esc(spend.replayOf)} <span class="muted">(not a model)</span>`]);
  }
  return `<header>
<h1><span class="id">#${task.id}</span> ${esc(task.title)}</h1>
<nav class="actions">${actions(task).join('')}</nav>
</header>
<dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
<h2>Description</h2>
${task.description ? `<pre class="text prose">${esc(task.description)}</pre>` : '<p class="muted">No description.</p>'}
${task.lastError && !active ? `<h2>Last error</h2>\n<pre class="text error">${esc(task.lastError)}</pre>` : ''}
<h2>Runs</h2>
${runs.length ? runTable(runs, active) : '<p class="muted">No phase has run yet.</p>'}`;
}

/** The buttons of the verbs that fit the task (core/taskLife.ts `taskVerbs`: a blocked task's follow its reason), in this order. */
function actions(t: Task): string[] {
  const b = (command: string, label: string, kind = 'secondary') => `<button class="${kind}" data-command="${command}">${label}</button>`;
  const fits = new Set(taskVerbs(t));
  const out: string[] = [];
  if (fits.has('merge')) out.push(b('merge', 'Merge', 'primary'));
  if (fits.has('setApiKey')) out.push(b('setApiKey', 'Set API Key', 'primary'));
  if (fits.has('raiseBudget')) out.push(b('raiseBudget', 'Raise Budget…', 'primary'));
  if (fits.has('retry')) out.push(b('retry', 'Retry', fits.has('setApiKey') || fits.has('raiseBudget') ? 'secondary' : 'primary'));
  if (fits.has('showOutput')) out.push(b('showOutput', 'Show Output'));
  if (fits.has('diff')) out.push(b('showDiff', 'Show Diff'));
  if (fits.has('openWorktree')) out.push(b('openWorktree', 'Open Worktree'));
  if (fits.has('cancel')) out.push(b('cancel', 'Cancel'));
  if (fits.has('delete')) out.push(b('delete', 'Delete…'));
  return out;
}

/** The timeline: one row per phase run, oldest first. */
function runTable(runs: TaskRun[], active: boolean): string {
  const last = runs[runs.length - 1];
  const rows = runs.map((r) => {
    // A run left "running" by a phase that never finished (e.g. the launch failed) is not running.
    const running = r.outcome === 'running' && active && r === last;
    const skipped = isSkippedTest(r);
    const outcome = r.outcome === 'running' && !running ? 'unfinished' : skipped ? 'skipped' : r.outcome;
    const agent = r.agent
      ? `<button class="link" data-command="showLogs" data-agent="${esc(r.agent)}" title="Show the agent's logs">${esc(r.agent)}</button>`
      : `<span class="muted">${skipped ? 'tests skipped (no borg.testCommand)' : running ? 'starting…' : 'no agent'}</span>`;
    const title = r.error ?? r.output ?? '';
    return `<tr>
<td>${esc(r.phase)}</td><td class="num">${r.attempt + 1}</td><td>${agent}</td>
<td><span class="outcome outcome-${esc(outcome)}"${title ? ` title="${esc(title.slice(0, 2000))}"` : ''}>${esc(outcome)}</span></td>
<td class="num">${r.exitCode ?? '—'}</td><td class="num">${skipped ? '—' : duration(r)}</td><td class="num">${r.costUsd === null ? '—' : esc(formatUsd(r.costUsd))}</td>
<td class="num">${tokens(r)}</td><td>${esc(when(r.startedAt))}</td>
</tr>`;
  });
  return `<table class="runs">
<thead><tr><th>Phase</th><th class="num">Attempt</th><th>Agent</th><th>Outcome</th><th class="num">Exit</th><th class="num">Duration</th><th class="num">Cost</th><th class="num">Tokens in/out</th><th>Started</th></tr></thead>
<tbody>${rows.join('')}</tbody>
</table>`;
}

function duration(r: TaskRun): string {
  const ms = r.durationMs ?? (r.finishedAt ? r.finishedAt - r.startedAt : undefined);
  if (ms === undefined) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
}

function tokens(r: TaskRun): string {
  if (r.inputTokens === null && r.outputTokens === null) return '—';
  return `${formatCount(r.inputTokens ?? 0)} / ${formatCount(r.outputTokens ?? 0)}`;
}

/** Local time as `YYYY-MM-DD HH:MM:SS`. */
function when(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** HTML-escapes text for element content and quoted attribute values. */
export function esc(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
