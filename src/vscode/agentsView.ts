import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import type { ContainerInfo } from '../core/engine';
import type { Pipeline } from '../core/pipeline';
import { agentItem } from './agentItems';

/** Context key set while Docker cannot be reached; the view's welcome content uses it. */
export const DOCKER_UNREACHABLE_KEY = 'borg.dockerUnreachable';

/**
 * The `borg.agents` tree: one item per labelled container of this workspace, read from the
 * Pipeline's state (never from Docker directly). Pipeline changes are debounced here, at the
 * edge, so a chatty agent does not repaint the tree for every output line.
 */
export class AgentsView extends Disposable implements vscode.TreeDataProvider<ContainerInfo> {
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly treeView: vscode.TreeView<ContainerInfo>;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pipeline: Pipeline, debounceMs = 150) {
    super();
    this.treeView = this.register(vscode.window.createTreeView('borg.agents', { treeDataProvider: this, showCollapseAll: false }));
    this.register(
      pipeline.onDidChange(() => {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.update();
        }, debounceMs);
      }),
    );
    this.register({ dispose: () => this.timer && clearTimeout(this.timer) });
    this.update();
  }

  getChildren(element?: ContainerInfo): ContainerInfo[] {
    if (element) return [];
    return [...this.pipeline.containers].sort((a, b) => b.createdAt - a.createdAt);
  }

  getTreeItem(c: ContainerInfo): vscode.TreeItem {
    return agentItem(c, this.pipeline.agents.get(c.name));
  }

  /** The message above the tree: the Docker error, or the queue. */
  get message(): string | undefined {
    return this.treeView.message;
  }

  private update(): void {
    const err = this.pipeline.dockerError;
    void vscode.commands.executeCommand('setContext', DOCKER_UNREACHABLE_KEY, !!err);
    const queued = this.pipeline.queuedCount;
    this.treeView.message = err ? err.message : queued > 0 ? `${queued} launch${queued === 1 ? '' : 'es'} waiting for a free slot` : undefined;
    this.changed.fire();
  }
}
