import * as vscode from 'vscode';
import type { Agent } from '../core/agent';
import { Disposable, toDisposable } from '../core/disposable';
import type { Gateway } from '../core/gateway/gateway';
import type { RunUsage } from '../core/gateway/ledger';
import type { Pipeline } from '../core/pipeline';
import { AgentMeter, agentItem, groupItem, queuedItem, timeChangesIn, timeOf } from './agentItems';
import { AgentsNode, buildAgentTree, ContainerNode, containerRows, GroupBy, treeSignature } from './agentTree';
import { Debouncer } from './debouncer';
import { KeyedThrottle } from './keyedThrottle';

export type { AgentsNode, ContainerNode, GroupNode, QueuedNode } from './agentTree';

/** Context key set while Docker cannot be reached; the view's welcome content uses it. */
export const DOCKER_UNREACHABLE_KEY = 'borg.dockerUnreachable';

/** What the Agents view reads of the model gateway (gateway/gateway.ts). */
export type AgentsMeter = Pick<Gateway, 'onDidMeter' | 'usageOf' | 'replay' | 'upstreamLabel'>;

/** How often (ms) at most one agent's row is repainted for its output lines or its metering: ≤ 2 a second. */
export const ROW_REPAINT_MS = 500;

/** What an {@link AgentsView} can be told besides the Pipeline (tests shorten or take over the timers). */
export interface AgentsViewOptions {
  gateway?: AgentsMeter;
  /** `borg.agents.groupBy`, read at every full repaint. Default: by task. */
  groupBy?: () => GroupBy;
  debounceMs?: number;
  rowMs?: number;
}

/**
 * The `borg.agents` tree, all read from the Pipeline's state (never from Docker directly):
 * launches waiting for a slot and this workspace's labelled containers, grouped by task (then
 * phase), by state, or not at all (agentTree.ts).
 *
 * Repaints are as small as they can be, so a tooltip stays open while agents run:
 * - a full repaint (`onDidChangeTreeData` with no element) only when the rows or a row's state
 *   changed ({@link treeSignature}); Pipeline changes are debounced here, at the edge;
 * - an output line or a gateway meter event repaints that agent's row only — the same object
 *   the tree got — at most every {@link ROW_REPAINT_MS} per burst;
 * - relative times ("up 3 min", "2 min ago") repaint the rows whose words changed, on a timer
 *   set for the next unit boundary, only while the view is visible.
 * While the view is hidden nothing repaints; it repaints in full when shown again.
 */
export class AgentsView extends Disposable implements vscode.TreeDataProvider<AgentsNode> {
  private readonly changed = this.register(new vscode.EventEmitter<AgentsNode | AgentsNode[] | void>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly treeView: vscode.TreeView<AgentsNode>;
  /** The tree as of the last full repaint; the rows VS Code got come from it. */
  private roots: AgentsNode[] = [];
  /** The container rows of {@link roots}, by name: a per-row repaint fires these same objects. */
  private shown = new Map<string, ContainerNode>();
  private signature: string | undefined;
  /** Each row's time words as last painted, by name (the timer repaints a row when they change). */
  private readonly painted = new Map<string, string>();
  private clock: NodeJS.Timeout | undefined;
  /** Set when something changed while the view was hidden: repaint in full when it shows. */
  private stale = false;
  /** Full repaints fired so far (tests count them against output lines). */
  fullRepaints = 0;
  /** Each agent's metered run totals, read once per meter event (not per repaint); keyed by name. */
  private readonly usage = new Map<string, { startedAt: number; usage: RunUsage }>();
  /** The upstream label when the model is a replay, read once per full repaint (it reads the settings). */
  private replayOf: string | undefined;
  private readonly gateway: AgentsMeter | undefined;
  private readonly groupBy: () => GroupBy;

  constructor(
    private readonly pipeline: Pipeline,
    o: AgentsViewOptions = {},
  ) {
    super();
    this.gateway = o.gateway;
    this.groupBy = o.groupBy ?? (() => 'task');
    this.treeView = this.register(vscode.window.createTreeView('borg.agents', { treeDataProvider: this, showCollapseAll: true, canSelectMany: true }));
    const repaint = this.register(new Debouncer(o.debounceMs ?? 150, () => this.update()));
    this.register(pipeline.onDidChange(() => repaint.trigger()));
    const rows = this.register(new KeyedThrottle<string>(o.rowMs ?? ROW_REPAINT_MS, (names) => this.repaintRows(names)));
    this.register(pipeline.onDidOutput((e) => this.whenVisible(() => rows.trigger(e.agent))));
    if (this.gateway) {
      this.register(
        this.gateway.onDidMeter((e) => {
          this.usage.delete(e.run.agent);
          this.whenVisible(() => rows.trigger(e.run.agent));
        }),
      );
    }
    this.register(
      this.treeView.onDidChangeVisibility(({ visible }) => {
        if (visible && this.stale) this.update(true);
        else this.tick();
      }),
    );
    this.register(toDisposable(() => clearTimeout(this.clock)));
    this.update(true);
  }

  getChildren(element?: AgentsNode): AgentsNode[] {
    if (!element) return this.roots;
    return element.kind === 'group' ? element.children : [];
  }

  getTreeItem(node: AgentsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'queued':
        return queuedItem(node.launch, node.ahead);
      case 'group': {
        const rows = containerRows(node.children).map((r) => r.info);
        return groupItem(node, rows, countQueued(node.children));
      }
      case 'container': {
        const agent = this.pipeline.agents.get(node.name);
        const now = Date.now();
        this.painted.set(node.name, timeOf(node.info, agent, now));
        return agentItem(node.info, agent, this.meterOf(agent), now);
      }
    }
  }

  /** The container row of `name` as the tree shows it now (tests, commands). */
  row(name: string): ContainerNode | undefined {
    return this.shown.get(name);
  }

  /** Every container row the tree shows, in tree order. */
  get rows(): ContainerNode[] {
    return containerRows(this.roots);
  }

  /** The message above the tree: the Docker error, if any. */
  get message(): string | undefined {
    return this.treeView.message;
  }

  /** Rebuilds the tree now (after a grouping change; otherwise the Pipeline's changes do). */
  regroup(): void {
    this.update(true);
  }

  /** What the gateway metered for `agent`'s current run (cached until its next meter event). */
  private meterOf(agent: Agent | undefined): AgentMeter {
    const g = this.gateway;
    if (!g) return {};
    const replayOf = this.replayOf;
    const run = agent?.gatewayRun;
    if (!agent || !run) return { replayOf };
    let cached = this.usage.get(agent.name);
    if (!cached || cached.startedAt !== run.startedAt) {
      try {
        cached = { startedAt: run.startedAt, usage: g.usageOf(run) };
      } catch {
        return { replayOf }; // the store closed (shutdown)
      }
      this.usage.set(agent.name, cached);
    }
    return { usage: cached.usage, replayOf };
  }

  /** Runs `fn` when the view is visible; otherwise remembers to repaint in full when it shows. */
  private whenVisible(fn: () => void): void {
    if (this.treeView.visible) fn();
    else this.stale = true;
  }

  /** Repaints the rows of `names` that the tree shows (a row not shown yet comes with the next full repaint). */
  private repaintRows(names: string[]): void {
    const rows = names.map((n) => this.shown.get(n)).filter((c): c is ContainerNode => !!c);
    if (rows.length) this.changed.fire(rows);
  }

  /** Builds the tree from the Pipeline's state and repaints it in full if its signature changed (or when `force`). */
  private update(force = false): void {
    const err = this.pipeline.dockerError;
    void vscode.commands.executeCommand('setContext', DOCKER_UNREACHABLE_KEY, !!err);
    this.treeView.message = err?.message;
    for (const name of [...this.usage.keys()]) if (!this.pipeline.agents.has(name)) this.usage.delete(name);
    const groupBy = this.groupBy();
    const roots = buildAgentTree(this.pipeline.containers, this.pipeline.queued, groupBy);
    const signature = treeSignature(roots, `${groupBy}|${err?.message ?? ''}`);
    if (!force && signature === this.signature) return this.tick();
    this.signature = signature;
    this.roots = roots;
    this.shown = new Map(containerRows(roots).map((r) => [r.name, r]));
    for (const name of [...this.painted.keys()]) if (!this.shown.has(name)) this.painted.delete(name);
    this.replayOf = this.gateway?.replay ? this.gateway.upstreamLabel : undefined;
    this.fullRepaints++;
    this.stale = false;
    this.changed.fire();
    this.tick();
  }

  /**
   * Repaints the rows whose time words changed since they were painted, then sets the timer for
   * the next change of any row's words; no timer while the view is hidden or shows no rows.
   */
  private tick(): void {
    clearTimeout(this.clock);
    this.clock = undefined;
    if (!this.treeView.visible || this.shown.size === 0) return;
    const now = Date.now();
    const due: ContainerNode[] = [];
    let next = Infinity;
    for (const [name, row] of this.shown) {
      const agent = this.pipeline.agents.get(name);
      const painted = this.painted.get(name);
      if (painted !== undefined && painted !== timeOf(row.info, agent, now)) due.push(row);
      next = Math.min(next, timeChangesIn(row.info, agent, now));
    }
    if (due.length) this.changed.fire(due);
    if (Number.isFinite(next)) this.clock = setTimeout(() => this.tick(), next + 50);
  }
}

function countQueued(nodes: readonly AgentsNode[]): number {
  let n = 0;
  for (const x of nodes) n += x.kind === 'queued' ? 1 : x.kind === 'group' ? countQueued(x.children) : 0;
  return n;
}
