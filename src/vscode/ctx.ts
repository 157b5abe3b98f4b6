import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import { DockerEngine } from '../core/engine';
import { Git } from '../core/git';
import { Pipeline } from '../core/pipeline';
import { Prompts } from '../core/prompts';
import { Scheduler } from '../core/scheduler';
import { TaskStore } from '../core/taskStore';
import { StateDirs } from '../core/stateDirs';
import { Store } from '../core/store';
import { workspaceId } from '../core/workspace';
import { AgentsView } from './agentsView';
import { BorgConfig, onDidChangeConfig, readConfig } from './config';
import { ApiKeys } from './apiKeys';
import { StatusBar } from './statusBar';
import { TasksView } from './tasksView';

/** File name of the database in the workspace's storage folder. */
export const DB_FILE = 'borg.sqlite';

/**
 * Owns everything one activation creates — config, engine, store, Pipeline, views, status bar,
 * log channel — and disposes it in reverse order. `shutdown()` is what `deactivate()` returns.
 */
export class BorgContext extends Disposable {
  private shuttingDown: Promise<void> | undefined;
  config: BorgConfig;

  private constructor(
    readonly extension: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
    readonly engine: DockerEngine,
    readonly store: Store,
    readonly pipeline: Pipeline,
    readonly scheduler: Scheduler,
    readonly secrets: ApiKeys,
  ) {
    super();
    this.config = readConfig();
    this.warnAboutSettings();
    this.register(log);
    this.register(pipeline);
    this.register(scheduler);
    this.agentsView = this.register(new AgentsView(pipeline));
    this.tasksView = this.register(new TasksView(scheduler));
    this.statusBar = this.register(new StatusBar(pipeline, scheduler));
    this.register(pipeline.onDidOutput(({ agent, line }) => log.info(`[${agent}] ${line}`)));
    this.register(
      onDidChangeConfig(() => {
        const before = this.config;
        this.config = readConfig();
        this.warnAboutSettings();
        if (this.config.dockerHost !== before.dockerHost) {
          try {
            engine.connect(this.config.dockerHost || undefined);
          } catch (e) {
            void vscode.window.showErrorMessage((e as Error).message);
          }
        }
        void this.refresh();
        scheduler.dispatch();
      }),
    );
  }

  private warned = new Set<string>();

  /** One warning per bad setting value (it is replaced by its default), shown once until it changes. */
  private warnAboutSettings(): void {
    const now = new Set(this.config.warnings);
    for (const w of now) {
      if (this.warned.has(w)) continue;
      this.log.warn(w);
      void vscode.window.showWarningMessage(w, 'Open Settings').then((pick) => {
        if (pick) void vscode.commands.executeCommand('workbench.action.openSettings', w.split(' ')[0]);
      });
    }
    this.warned = now;
  }

  readonly agentsView: AgentsView;
  readonly tasksView: TasksView;
  readonly statusBar: StatusBar;

  /**
   * Opens the store in the workspace's storage folder (global storage with no folder open, so
   * two windows never share one in-memory copy) and builds the Pipeline.
   * @throws BorgError when the database cannot be opened.
   */
  static async create(extension: vscode.ExtensionContext): Promise<BorgContext> {
    const log = vscode.window.createOutputChannel('Borg Pipeline', { log: true });
    const config = readConfig();
    const storage = extension.storageUri ?? extension.globalStorageUri;
    const store = await Store.open(path.join(storage.fsPath, DB_FILE));
    store.autoFlush(500, (e) => log.error(`writing the database: ${(e as Error).message}`)); // a crashed host loses at most 0.5 s
    if (store.recoveredFrom) {
      const msg = `The Borg database could not be read; it was moved to ${store.recoveredFrom} and a new one started.`;
      log.warn(msg);
      void vscode.window.showWarningMessage(msg);
    }
    let engine: DockerEngine;
    try {
      engine = new DockerEngine(config.dockerHost || undefined);
    } catch (e) {
      void vscode.window.showErrorMessage((e as Error).message);
      engine = new DockerEngine();
    }
    const wsKey = vscode.workspace.workspaceFile?.toString() ?? vscode.workspace.workspaceFolders?.[0]?.uri.toString() ?? 'global';
    const secrets = new ApiKeys(extension.secrets);
    const pipeline = new Pipeline({
      engine,
      store,
      secrets: () => secrets.forAgents(),
      adoptBeforeLaunch: true,
      stateDirs: new StateDirs(path.join(extension.globalStorageUri.fsPath, 'agents')),
      workspaceId: workspaceId(wsKey),
      settings: () => readConfig(),
    });
    const scheduler = new Scheduler({
      pipeline,
      tasks: new TaskStore(store),
      git: new Git(),
      prompts: new Prompts(path.join(extension.extensionPath, 'media', 'prompts')),
      worktreeRoot: path.join(storage.fsPath, 'worktrees'),
      settings: () => readConfig(),
    });
    log.info(`Borg Pipeline: workspace ${pipeline.workspaceId}, database ${store.file}, Docker at ${engine.endpoint}`);
    return new BorgContext(extension, log, engine, store, pipeline, scheduler, secrets);
  }

  /**
   * Re-reads the containers, after recovering them once (adopting running agents, collecting
   * exits, marking vanished ones lost). A Docker failure shows in the view (welcome) and the
   * status bar, not as a popup; recovery is retried on the next refresh.
   */
  async refresh(): Promise<void> {
    try {
      const report = await this.pipeline.recover();
      if (!this.recoveryLogged) {
        this.recoveryLogged = true;
        this.log.info(`recovery: adopted [${report.adopted.join(', ')}], collected [${report.collected.join(', ')}], lost [${report.lost.join(', ')}]`);
        const resumed = this.scheduler.adoptRuns(); // phases whose agents kept running end normally, not twice
        if (resumed.length) this.log.info(`recovery: resumed the running phases of tasks ${resumed.join(', ')}`);
        this.scheduler.dispatch(); // tasks wait until running agents are adopted
      }
      await this.pipeline.refresh();
    } catch (e) {
      this.log.warn(`refresh: ${(e as Error).message}`);
      await this.pipeline.refresh().catch(() => undefined); // sets dockerError for the view
    }
  }

  private recoveryLogged = false;

  /**
   * The shutdown sequence (deactivate): stop scheduling, join every agent (detached or stopped
   * per `borg.onShutdown`), flush the database atomically, close it, dispose. Idempotent.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.scheduler.stop();
      await this.pipeline.shutdown(this.config.onShutdown);
      await this.scheduler.join();
      await this.store.close().catch((e) => this.log.error(`closing the database: ${(e as Error).message}`));
      this.dispose();
    })();
    return this.shuttingDown;
  }
}
