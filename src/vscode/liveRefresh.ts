import type * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import { watchDockerContext } from '../core/dockerContext';
import { DockerWatch } from '../core/dockerEvents';
import type { Engine } from '../core/engine';
import type { Pipeline } from '../core/pipeline';

export interface LiveRefreshOptions {
  engine: Pick<Engine, 'events'>;
  pipeline: Pipeline;
  /** The Borg views: the watch runs while one of them is visible. */
  views: ReadonlyArray<vscode.TreeView<never> | vscode.TreeView<unknown>>;
  /** The full refresh (recover once, re-read, image check): on every (re)connect. */
  refresh: () => Promise<void>;
  /** The Docker context files changed: re-resolve the endpoint (then {@link LiveRefresh.reconnect}). */
  onContextChange: () => void;
  log: (line: string) => void;
}

/**
 * When the views follow Docker: a {@link DockerWatch} (core/dockerEvents.ts) on while a Borg view
 * is visible (`TreeView.visible`, `onDidChangeVisibility`) or an agent holds a slot
 * (`Pipeline.runningCount`), off otherwise — so a window with the views hidden and nothing running
 * makes no Docker call. Also watches the Docker context files (dockerContext.ts) for
 * `docker context use`.
 */
export class LiveRefresh extends Disposable {
  readonly watch: DockerWatch;

  constructor(private readonly o: LiveRefreshOptions) {
    super();
    this.watch = this.register(new DockerWatch({ engine: o.engine, workspace: o.pipeline.workspaceId, refresh: (full) => (full ? o.refresh() : o.pipeline.refresh()), log: o.log }));
    for (const v of o.views) this.register(v.onDidChangeVisibility(() => this.update()));
    this.register(o.pipeline.onDidChange(() => this.update()));
    this.register(watchDockerContext(() => o.onContextChange()));
    this.update();
  }

  /** True while the views follow Docker's events. */
  get active(): boolean {
    return this.watch.isActive;
  }

  /** The endpoint changed (setting, context, Retry after a failure): a new stream now, if active. */
  reconnect(): void {
    this.watch.reconnect();
  }

  private update(): void {
    this.watch.setActive(this.o.views.some((v) => v.visible) || this.o.pipeline.runningCount > 0);
  }
}
