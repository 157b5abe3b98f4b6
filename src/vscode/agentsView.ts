import * as vscode from 'vscode';
import type { Agent } from '../core/agent';
import { Disposable } from '../core/disposable';
import type { ContainerInfo } from '../core/engine';
import type { Gateway } from '../core/gateway/gateway';
import type { RunUsage } from '../core/gateway/ledger';
import type { Pipeline, QueuedLaunch } from '../core/pipeline';
import { AgentMeter, agentItem, queuedItem } from './agentItems';
import { ContainerFilesNode, filesChildren, filesRoot, filesTreeItem, isFilesNode } from './containerFilesNodes';
import { Debouncer } from './debouncer';
import { KeyedThrottle } from './keyedThrottle';

/** Context key set while Docker cannot be reached; the view's welcome content uses it. */
export const DOCKER_UNREACHABLE_KEY = 'borg.dockerUnreachable';

/** One row of the Agents tree: a labelled container, a launch waiting for a slot, or a row of a container's Files (containerFilesNodes.ts). */
export type AgentsNode = ContainerInfo | QueuedLaunch | ContainerFilesNode;

/** What the Agents view reads of the model gateway (gateway/gateway.ts). */
export type AgentsMeter = Pick<Gateway, 'onDidMeter' | 'usageOf' | 'replay' | 'upstreamLabel'>;

/** How often (ms) at most a metered agent's row is repainted while it streams. */
export const METER_REPAINT_MS = 500;

/**
 * The `borg.agents` tree: launches waiting for a slot first, then one item per labelled
 * container of this workspace, newest first — all read from the Pipeline's state (never from
 * Docker directly). Pipeline changes are debounced here, at the edge, so a chatty agent does not
 * repaint the tree for every output line. The gateway's metering (`onDidMeter`, one event per
 * model response) repaints only the metered agent's row, at most every {@link METER_REPAINT_MS}.
 */
export class AgentsView extends Disposable implements vscode.TreeDataProvider<AgentsNode> {
  private readonly changed = this.register(new vscode.EventEmitter<AgentsNode | AgentsNode[] | void>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly treeView: vscode.TreeView<AgentsNode>;
  /** The container rows the tree got last, by name: a per-row refresh must fire the same objects. */
  private shown = new Map<string, ContainerInfo>();
  /** Each agent's metered run totals, read once per meter event (not per repaint); keyed by name. */
  private readonly usage = new Map<string, { startedAt: number; usage: RunUsage }>();
  /** The upstream label when the model is a replay, read once per full repaint (it reads the settings). */
  private replayOf: string | undefined;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly gateway?: AgentsMeter,
    debounceMs = 150,
    meterMs = METER_REPAINT_MS,
  ) {
    super();
    this.treeView = this.register(vscode.window.createTreeView('borg.agents', { treeDataProvider: this, showCollapseAll: false }));
    const repaint = this.register(new Debouncer(debounceMs, () => this.update()));
    this.register(pipeline.onDidChange(() => repaint.trigger()));
    if (gateway) {
      const rows = this.register(new KeyedThrottle<string>(meterMs, (names) => this.repaintRows(names)));
      this.register(
        gateway.onDidMeter((e) => {
          this.usage.delete(e.run.agent);
          rows.trigger(e.run.agent);
        }),
      );
    }
    this.update();
  }

  getChildren(): AgentsNode[];
  getChildren(element: AgentsNode | undefined): AgentsNode[] | Promise<AgentsNode[]>;
  getChildren(element?: AgentsNode): AgentsNode[] | Promise<AgentsNode[]> {
    // A container's Files child and the folders under it: containerFilesNodes.ts.
    if (element && isFilesNode(element)) return filesChildren(this.pipeline.engine, element);
    if (element) return isQueued(element) ? [] : [filesRoot(element)];
    const containers = [...this.pipeline.containers].sort((a, b) => b.createdAt - a.createdAt);
    this.shown = new Map(containers.map((c) => [c.name, c]));
    this.replayOf = this.gateway?.replay ? this.gateway.upstreamLabel : undefined;
    return [...this.pipeline.queued, ...containers];
  }

  getTreeItem(node: AgentsNode): vscode.TreeItem {
    if (isFilesNode(node)) return filesTreeItem(node);
    if (isQueued(node)) return queuedItem(node, this.pipeline.queued.indexOf(node));
    const agent = this.pipeline.agents.get(node.name);
    const item = agentItem(node, agent, this.meterOf(agent));
    item.collapsibleState = vscode.TreeItemCollapsibleState.Collapsed; // its Files child
    return item;
  }

  /** The message above the tree: the Docker error, if any. */
  get message(): string | undefined {
    return this.treeView.message;
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

  /** Repaints the rows of `names` that the tree shows (a row not shown yet comes with the next full repaint). */
  private repaintRows(names: string[]): void {
    const rows = names.map((n) => this.shown.get(n)).filter((c): c is ContainerInfo => !!c);
    if (rows.length) this.changed.fire(rows);
  }

  private update(): void {
    const err = this.pipeline.dockerError;
    void vscode.commands.executeCommand('setContext', DOCKER_UNREACHABLE_KEY, !!err);
    this.treeView.message = err?.message;
    for (const name of [...this.usage.keys()]) if (!this.pipeline.agents.has(name)) this.usage.delete(name);
    this.changed.fire();
  }
}

export function isQueued(node: AgentsNode): node is QueuedLaunch {
  return (node as ContainerInfo).id === undefined && !isFilesNode(node);
}
