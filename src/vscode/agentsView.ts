import * as vscode from 'vscode';
import type { Agent } from '../core/agent';
import { Disposable } from '../core/disposable';
import type { Gateway } from '../core/gateway/gateway';
import type { RunUsage } from '../core/gateway/ledger';
import type { Pipeline } from '../core/pipeline';
import { hostWordOf } from '../core/hostCounts';
import { AgentMeter, agentItem, groupItem, queuedItem } from './agentItems';
import { AgentRepaints, ROW_REPAINT_MS } from './agentRepaints';
import { AgentsNode, ContainerNode, containerRows, GroupBy, timeOf } from './agentTree';
import { ContainerFilesNode, filesChildren, filesRoot, filesTreeItem, isFilesNode } from './containerFilesNodes';

export type { AgentsNode, ContainerNode, GroupNode, QueuedNode } from './agentTree';
export { ROW_REPAINT_MS };

/** A row of the view: the Agents tree's own (agentTree.ts) or a row of a container's Files (containerFilesNodes.ts). */
export type ViewNode = AgentsNode | ContainerFilesNode;

/** What the Agents view reads of the model gateway (gateway/gateway.ts). */
export type AgentsMeter = Pick<Gateway, 'onDidMeter' | 'usageOf' | 'replay' | 'upstreamLabel'>;

/** What an {@link AgentsView} can be told besides the Pipeline. */
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
 * phase), by state, or not at all (agentTree.ts). What repaints when — one row per output line
 * burst, the whole tree only when a state changed, times while visible — is decided by
 * {@link AgentRepaints}; this class renders nodes as tree items (agentItems.ts).
 */
export class AgentsView extends Disposable implements vscode.TreeDataProvider<ViewNode> {
  private readonly changed = this.register(new vscode.EventEmitter<ViewNode | ViewNode[] | void>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly treeView: vscode.TreeView<ViewNode>;
  private readonly repaints: AgentRepaints;
  /** Each agent's metered run totals, read once per meter event (not per repaint); keyed by name. */
  private readonly usage = new Map<string, { startedAt: number; usage: RunUsage }>();
  /** The upstream label when the model is a replay, read once per full repaint (it reads the settings). */
  private replayOf: string | undefined;
  private readonly gateway: AgentsMeter | undefined;

  constructor(
    private readonly pipeline: Pipeline,
    o: AgentsViewOptions = {},
  ) {
    super();
    this.gateway = o.gateway;
    this.treeView = this.register(vscode.window.createTreeView('borg.agents', { treeDataProvider: this, showCollapseAll: true, canSelectMany: true }));
    this.repaints = this.register(
      new AgentRepaints(
        pipeline,
        {
          visible: () => this.treeView.visible,
          full: () => this.onFull(),
          rows: (rows) => this.changed.fire(rows),
        },
        { groupBy: o.groupBy, hosts: () => pipeline.engine.hosts, extra: () => pipeline.dockerError?.message ?? '', debounceMs: o.debounceMs, rowMs: o.rowMs ?? ROW_REPAINT_MS },
      ),
    );
    if (this.gateway) {
      this.register(
        this.gateway.onDidMeter((e) => {
          this.usage.delete(e.run.agent);
          this.repaints.rowChanged(e.run.agent);
        }),
      );
    }
    this.register(this.treeView.onDidChangeVisibility(({ visible }) => this.repaints.visibilityChanged(visible)));
    this.repaints.update(true);
  }

  /** The Agents tree's own rows as of the last build: the roots, or a group's rows (a container's Files are {@link getChildren}'s). */
  childrenOf(element?: AgentsNode): AgentsNode[] {
    if (!element) return this.repaints.roots;
    return element.kind === 'group' ? element.children : [];
  }

  /** {@link childrenOf}, and under a container its Files child and the folders under it (read from Docker). */
  getChildren(element?: ViewNode): ViewNode[] | Promise<ViewNode[]> {
    if (!element) return this.repaints.roots;
    // A container's Files child and the folders under it: containerFilesNodes.ts.
    if (isFilesNode(element)) return filesChildren(this.pipeline.engine, element);
    if (element.kind === 'container') return [filesRoot(element.info)];
    return element.kind === 'group' ? element.children : [];
  }

  getTreeItem(node: ViewNode): vscode.TreeItem {
    if (isFilesNode(node)) return filesTreeItem(node);
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
        this.repaints.markPainted(node.name, timeOf(node.info, agent, now));
        const item = agentItem(node.info, agent, this.meterOf(agent), now, { word: hostWordOf(this.pipeline.engine.hosts), inDescription: node.hostShown });
        item.collapsibleState = vscode.TreeItemCollapsibleState.Collapsed; // its Files child
        return item;
      }
    }
  }

  /** The container row of `name` as the tree shows it now (tests, commands). */
  row(name: string): ContainerNode | undefined {
    return this.repaints.row(name);
  }

  /** Full repaints fired so far. */
  get fullRepaints(): number {
    return this.repaints.fullRepaints;
  }

  /** The message above the tree, if any (Docker down states are welcome views, see dockerStatus.ts). */
  get message(): string | undefined {
    return this.treeView.message;
  }

  /** Rebuilds the tree now (after a grouping change; otherwise the Pipeline's changes do). */
  regroup(): void {
    this.repaints.update(true);
  }

  private onFull(): void {
    for (const name of [...this.usage.keys()]) if (!this.pipeline.agents.has(name)) this.usage.delete(name);
    this.replayOf = this.gateway?.replay ? this.gateway.upstreamLabel : undefined;
    this.changed.fire();
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
}

function countQueued(nodes: readonly AgentsNode[]): number {
  let n = 0;
  for (const x of nodes) n += x.kind === 'queued' ? 1 : x.kind === 'group' ? countQueued(x.children) : 0;
  return n;
}
