import * as path from 'node:path';
import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import type { Engine } from '../core/engine';
import { describeEngine, makeEngine, membersOf } from '../core/engines';
import { Git } from '../core/git';
import type { Pipeline, ShutdownMode } from '../core/pipeline';
import { Prompts } from '../core/prompts';
import { Runtime } from '../core/runtime';
import type { Scheduler } from '../core/scheduler';
import { StateDirs } from '../core/stateDirs';
import { Store } from '../core/store';
import { notificationText, settingOfWarning } from '../core/settingRules';
import { DbLock, describeHolder, handoverRequested, holderAlive, lockHolder, requestHandover, WINDOW_COMMAND, windowLockDescription } from '../core/dbLock';
import { borgHomeOf, workspaceHome, workspaceId, workspaceKeyOf } from '../core/workspace';
import { openWorkspaceDatabase, OpenedDatabase } from '../core/workspaceDatabase';
import { AgentsView } from './agentsView';
import { DockerStatus } from './dockerStatus';
import { LiveRefresh } from './liveRefresh';
import { BorgConfig, onDidChangeConfig, readConfig } from './config';
import { ApiKeys } from './apiKeys';
import { StatusBar } from './statusBar';
import { TasksView } from './tasksView';
import { TaskNotifications } from './taskNotifications';

/** File name of the database in the workspace's storage folder (before the workspace homes: adopted from there once). */
export const DB_FILE = 'borg.sqlite';

/**
 * How long (ms) a new window waits for another window's lock on the same database before it opens
 * read-only: a reload starts the new extension host while the old one is still deactivating
 * (VS Code gives it about 5 s), and the old one releases the lock at the end of its shutdown.
 */
const RELOAD_WAIT_MS = 6_000;

/**
 * The extension's shell around one {@link Runtime} (core/runtime.ts, the composition root shared
 * with the CLI): config, views, status bar and log channel, disposed in reverse order.
 * `shutdown()` is what `deactivate()` returns: the runtime's one shutdown sequence.
 */
export class BorgContext extends Disposable {
  private shuttingDown: Promise<void> | undefined;
  config: BorgConfig;
  readonly pipeline: Pipeline;
  readonly scheduler: Scheduler;
  readonly store: Store;

  private constructor(
    readonly extension: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
    readonly engine: Engine,
    readonly runtime: Runtime,
    readonly secrets: ApiKeys,
    private readonly lock: DbLock | undefined,
  ) {
    super();
    this.pipeline = runtime.pipeline;
    this.scheduler = runtime.scheduler;
    this.store = runtime.store;
    const pipeline = this.pipeline;
    const scheduler = this.scheduler;
    this.config = readConfig();
    this.warnAboutSettings();
    this.register(log);
    this.agentsView = this.register(new AgentsView(pipeline, { gateway: runtime.gateway, groupBy: () => this.config.agentsGroupBy }));
    this.tasksView = this.register(new TasksView(scheduler, runtime.gateway, () => this.config.gateway.maxCostUsdPerTask));
    this.taskNotifications = this.register(new TaskNotifications(scheduler, this.tasksView.treeView, () => this.config));
    this.statusBar = this.register(new StatusBar(pipeline, scheduler, runtime.gateway, () => this.config.gateway.maxCostUsdPerDay));
    this.register(pipeline.onDidOutput(({ agent, line }) => log.trace(`[${agent}] ${line}`))); // raw agent lines: trace; task progress: info (Scheduler)
    this.dockerStatus = this.register(new DockerStatus(pipeline, engine, this.agentsView.treeView, log));
    this.live = this.register(
      new LiveRefresh({
        engine,
        pipeline,
        views: [this.agentsView.treeView, this.tasksView.treeView],
        refresh: () => this.refresh(),
        onContextChange: () => {
          if (this.reconnectEngine()) void this.refresh();
        },
        log: (line) => log.info(line),
      }),
    );
    this.register(vscode.workspace.onDidGrantWorkspaceTrust(() => void this.refresh())); // recovery and dispatch open now
    this.register(
      onDidChangeConfig(() => {
        const before = this.config;
        this.config = readConfig();
        this.warnAboutSettings();
        this.taskNotifications.refresh();
        if (this.config.dockerHost !== before.dockerHost) this.reconnectEngine();
        this.offerReload(before);
        if (this.config.agentsGroupBy !== before.agentsGroupBy) this.agentsView.regroup();
        void this.refresh();
        scheduler.dispatch();
      }),
    );
  }

  readonly dockerStatus: DockerStatus;
  readonly live: LiveRefresh;

  /**
   * Resolves the Docker endpoint again (borg.dockerHost → DOCKER_HOST → the current context →
   * the default socket) and, when it changed, logs the choice and reopens the event stream.
   * A bad address is not an error popup: the views show "check the setting" (dockerStatus.ts).
   * Returns true when the endpoint (or its validity) changed.
   */
  private reconnectEngine(): boolean {
    // Only the daemons borg.dockerHost chooses follow it; a borg.docker.hosts entry resolves its own address again.
    let changed = false;
    for (const { engine } of membersOf(this.engine)) {
      const before = `${engine.endpoint}|${engine.invalidAddress?.message ?? ''}`;
      const bad = engine.tryConnect(engine.hostEntry ? undefined : this.config.dockerHost || undefined);
      const after = `${engine.endpoint}|${bad?.message ?? ''}`;
      if (after === before) continue;
      changed = true;
      if (bad) this.log.warn(bad.message);
      else this.log.info(engine.choice);
    }
    if (changed) this.live?.reconnect();
    return changed;
  }

  /**
   * `borg.engine` and `borg.docker.hosts` choose the engine, which running agents are followed
   * through: it is not swapped under them. A change offers Reload Window (agents detach and are
   * adopted by the new engine's recovery when they run where it looks).
   */
  private offerReload(before: BorgConfig): void {
    const what: string[] = [];
    if (this.config.engine !== before.engine) what.push(`borg.engine ${this.config.engine}`);
    if (JSON.stringify(this.config.dockerHosts) !== JSON.stringify(before.dockerHosts)) what.push('the new borg.docker.hosts');
    if (what.length === 0) return;
    void vscode.window.showInformationMessage(`Reload Window to use ${what.join(' and ')}: agents keep running on the engine they started on until then.`, RELOAD).then((pick) => {
      if (pick === RELOAD) void vscode.commands.executeCommand('workbench.action.reloadWindow');
    });
  }

  private warned = new Set<string>();

  /** One warning per bad setting value (it is replaced by its default), shown once until it changes. */
  private warnAboutSettings(): void {
    const now = new Set(this.config.warnings);
    for (const w of now) {
      if (this.warned.has(w)) continue;
      this.log.warn(w);
      const setting = settingOfWarning(w);
      void vscode.window.showWarningMessage(notificationText(w), ...(setting ? ['Open Settings'] : [])).then((pick) => {
        // `@id:` shows that one setting in the Settings editor, not a search for its name.
        if (pick && setting) void vscode.commands.executeCommand('workbench.action.openSettings', `@id:${setting}`);
      });
    }
    this.warned = now;
  }

  readonly agentsView: AgentsView;
  readonly tasksView: TasksView;
  /** Task-ended notifications and the Tasks view's badge (taskNotifications.ts). */
  readonly taskNotifications: TaskNotifications;
  readonly statusBar: StatusBar;

  /**
   * Opens the workspace's home — `<borg.home | $BORG_HOME | ~/.borg>/workspaces/<id>/` with the
   * database, the state dirs and the worktrees, the same folders the `borg` CLI uses for this
   * folder — taking the database's lock (dbLock.ts). When another window or `borg run` holds
   * it, this window opens it read-only and says who holds it. Then builds the runtime.
   * `beforeCommands` runs once the database is open, just before the context registers its
   * views and commands (extension.ts ends the start's stand-in commands there).
   * @throws BorgError when the database cannot be opened.
   */
  static async create(extension: vscode.ExtensionContext, beforeCommands: () => void = () => undefined): Promise<BorgContext> {
    const log = vscode.window.createOutputChannel('Borg Pipeline', { log: true });
    const config = readConfig();
    const storage = extension.storageUri ?? extension.globalStorageUri;
    const key = workspaceKeyOf(vscode.workspace.workspaceFolders?.[0]?.uri.toString(), vscode.workspace.workspaceFile?.toString());
    const wsId = workspaceId(key);
    const home = workspaceHome(borgHomeOf(config.home || undefined), wsId);
    const opened = await openForWindow(home.db, vscode.workspace.name, [path.join(storage.fsPath, DB_FILE)]);
    const store = opened.store;
    const readOnly = opened.holder
      ? `This window is read-only: ${describeHolder(opened.holder)} holds the Borg database ${home.db}. Take Over (another window), or stop that borg run and reload this one.`
      : undefined;
    if (readOnly) {
      log.warn(readOnly);
      void vscode.window.showWarningMessage(readOnly, TAKE_OVER).then((pick) => {
        if (pick) void takeOver(home.db, log);
      });
    } else {
      store.autoFlush(500, (e) => log.error(`writing the database: ${(e as Error).message}`)); // a crashed host loses at most 0.5 s
    }
    if (opened.tookOverFrom) log.info(`took over the stale lock of pid ${opened.tookOverFrom.pid} (${opened.tookOverFrom.command}), which is no longer running`);
    if (opened.adoptedFrom) log.info(`copied the database ${opened.adoptedFrom} into this workspace's home ${home.db}`);
    if (store.recoveredFrom) {
      const msg = `The Borg database could not be read; it was moved to ${store.recoveredFrom} and a new one started.`;
      log.warn(msg);
      void vscode.window.showWarningMessage(msg);
    }
    // Lenient: a bad address (or a refused choice of hosts) shows as a down state ("check the setting") instead of another daemon.
    const engine = makeEngine({
      engine: config.engine,
      hosts: config.dockerHosts,
      dockerHost: config.dockerHost,
      placement: () => readConfig().swarmPlacement,
      lenient: true,
    });
    const secrets = new ApiKeys(extension.secrets);
    const runtime = new Runtime({
      kind: 'long',
      engine,
      store,
      readOnly,
      apiKey: () => secrets.anthropicKey(),
      gatewaySettings: () => readConfig().gateway,
      gatewayRoot: home.gateway,
      stateDirs: new StateDirs(home.stateDir),
      workspaceId: wsId,
      settings: () => readConfig(),
      taskSettings: () => readConfig(),
      git: new Git(),
      prompts: new Prompts(path.join(extension.extensionPath, 'media', 'prompts')),
      worktreeRoot: home.worktrees,
      log: (line, level = 'info') => log[level](line),
    });
    log.info(`Borg Pipeline: workspace ${wsId} (${key}), database ${store.file}${readOnly ? ' (read-only)' : ''}, ${describeEngine(engine)}`);
    if (runtime.gateway)
      log.info(`model gateway: ${runtime.gateway.upstreamLabel}${runtime.gateway.replay ? ' — a replay of recorded answers, not a model' : ''}; network ${config.hardening.network}`);
    beforeCommands();
    const ctx = new BorgContext(extension, log, engine, runtime, secrets, opened.lock);
    if (opened.lock) ctx.watchHandover(home.db);
    ctx.register(
      vscode.commands.registerCommand('borg.takeOver', () =>
        opened.lock ? void vscode.window.showInformationMessage(`This window already holds the Borg database ${home.db}.`) : takeOver(home.db, log),
      ),
    );
    void vscode.commands.executeCommand('setContext', 'borg.readOnly', readOnly !== undefined);
    return ctx;
  }

  /**
   * The writer's side of a hand-over (dbLock.ts): another window on this folder asked for the
   * database, so this one shuts its runtime down (agents detached), releases the lock and says so.
   */
  private watchHandover(db: string): void {
    const timer = setInterval(() => {
      if (!handoverRequested(db)) return;
      clearInterval(timer);
      this.log.warn('another window on this folder took over Borg: shutting down here (agents keep running)');
      void vscode.window.showWarningMessage('Another VS Code window took over Borg for this folder; agents keep running there. Reload this window to take Borg back.');
      void this.shutdown('detach'); // the agents go on under the window that takes over
    }, 1_000);
    timer.unref?.();
    this.register({ dispose: () => clearInterval(timer) });
  }

  /**
   * Re-reads the containers, after recovering them once (adopting running agents, collecting
   * exits, marking vanished ones lost), and checks the agent image. A Docker failure shows in
   * the view (welcome) and the status bar, not as a popup; recovery is retried on the next
   * refresh. After a failure the endpoint is resolved again first (Retry). In an untrusted
   * workspace nothing is recovered or dispatched (onDidGrantWorkspaceTrust refreshes again).
   */
  async refresh(): Promise<void> {
    if (this.pipeline.dockerError) this.reconnectEngine(); // Retry: the context or the socket may have changed
    try {
      // Restricted Mode: the views read Docker, but nothing recovers or dispatches until trust is granted.
      if (vscode.workspace.isTrusted) await this.runtime.start(); // once: recover, take back running phases, then dispatch
      await this.pipeline.refresh();
      void this.dockerStatus.checkImage(this.config.image);
    } catch (e) {
      this.log.warn(`refresh: ${(e as Error).message}`);
      await this.pipeline.refresh().catch(() => undefined); // sets dockerError for the view
    }
  }

  /**
   * The shutdown sequence (deactivate): stop scheduling, join every agent (detached or stopped
   * per `borg.onShutdown`, or as `mode` says), flush the database atomically, close it, release
   * its lock, dispose. Idempotent.
   */
  shutdown(mode: ShutdownMode = this.config.onShutdown): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.live.dispose(); // no event-driven refresh while the runtime shuts down
      await this.runtime.shutdown(mode);
      this.lock?.release(); // after the last write: a window reloading waits for this
      this.dispose();
    })();
    return this.shuttingDown;
  }
}

/** The button of the engine-changed message. */
const RELOAD = 'Reload Window';

/** The button of the read-only warning. */
const TAKE_OVER = 'Take Over';

/**
 * Borg: Take Over — a read-only window asks the window holding the database to let go (it
 * detaches its agents, flushes and releases the lock), then reloads as the writer. A `borg run`
 * holder is not asked: stop it instead.
 */
async function takeOver(db: string, log: vscode.LogOutputChannel): Promise<void> {
  const found = lockHolder(db);
  const holder = found && holderAlive(found) ? found : undefined; // a dead holder's lock is taken over on reload
  if (holder && holder.command !== WINDOW_COMMAND) {
    void vscode.window.showWarningMessage(`${describeHolder(holder)} holds the Borg database: stop it (Ctrl+C or kill ${holder.pid}), then reload this window.`);
    return;
  }
  if (holder) requestHandover(db, windowLockDescription(vscode.workspace.name));
  const released = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Borg: asking the other window to hand over…' }, async () => {
    for (let i = 0; i < 75; i++) {
      const now = lockHolder(db);
      if (!now || !holderAlive(now)) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  });
  if (!released) {
    void vscode.window.showWarningMessage('The other window did not hand Borg over within 15 s. Close it, then reload this window.');
    return;
  }
  log.info('the other window handed the database over: reloading to take it');
  await vscode.commands.executeCommand('workbench.action.reloadWindow');
}

/**
 * Opens the database as this window's, waiting up to {@link RELOAD_WAIT_MS} while another
 * window holds it (the same folder reloading), else read-only with the holder named.
 */
async function openForWindow(db: string, workspaceName: string | undefined, legacy: string[]): Promise<OpenedDatabase> {
  // Only the lock file is read while waiting; the database is opened once.
  const end = Date.now() + RELOAD_WAIT_MS;
  for (let h = lockHolder(db); h && h.command === WINDOW_COMMAND && holderAlive(h) && Date.now() < end; h = lockHolder(db)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  return openWorkspaceDatabase({ db, command: WINDOW_COMMAND, description: windowLockDescription(workspaceName), legacy });
}
