import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import type { ContainerInfo } from '../core/engine';
import type { Pipeline, QueuedLaunch } from '../core/pipeline';
import { agentItem, queuedItem } from './agentItems';
import { Debouncer } from './debouncer';

/** Context key set while Docker cannot be reached; the view's welcome content uses it. */
export const DOCKER_UNREACHABLE_KEY = 'borg.dockerUnreachable';

/** One row of the Agents tree: a labelled container, or a launch waiting for a slot. */
export type AgentsNode = ContainerInfo | QueuedLaunch;

/**
 * The `borg.agents` tree: launches waiting for a slot first, then one item per labelled
 * container of this workspace, newest first — all read from the Pipeline's state (never from
 * Docker directly). Pipeline changes are debounced here, at the edge, so a chatty agent does not
 * repaint the tree for every output line.
 */
export class AgentsView extends Disposable implements vscode.TreeDataProvider<AgentsNode> {
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly treeView: vscode.TreeView<AgentsNode>;

  constructor(
    private readonly pipeline: Pipeline,
    debounceMs = 150,
  ) {
    super();
    this.treeView = this.register(vscode.window.createTreeView('borg.agents', { treeDataProvider: this, showCollapseAll: false }));
    const repaint = this.register(new Debouncer(debounceMs, () => this.update()));
    this.register(pipeline.onDidChange(() => repaint.trigger()));
    this.update();
  }

  getChildren(element?: AgentsNode): AgentsNode[] {
    if (element) return [];
    const containers = [...this.pipeline.containers].sort((a, b) => b.createdAt - a.createdAt);
    return [...this.pipeline.queued, ...containers];
  }

  getTreeItem(node: AgentsNode): vscode.TreeItem {
    if (isQueued(node)) return queuedItem(node, this.pipeline.queued.indexOf(node));
    return agentItem(node, this.pipeline.agents.get(node.name));
  }

  /** The message above the tree: the Docker error, if any. */
  get message(): string | undefined {
    return this.treeView.message;
  }

  private update(): void {
    const err = this.pipeline.dockerError;
    void vscode.commands.executeCommand('setContext', DOCKER_UNREACHABLE_KEY, !!err);
    this.treeView.message = err?.message;
    this.changed.fire();
  }
}

export function isQueued(node: AgentsNode): node is QueuedLaunch {
  return (node as ContainerInfo).id === undefined;
}
