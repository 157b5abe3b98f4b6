import { Disposable } from './disposable';
import type { Engine } from './engine';
import { DEFAULT_GATEWAY_SETTINGS, Gateway, GatewaySettings } from './gateway/gateway';
import type { Git } from './git';
import { Pipeline, PipelineSettings, RecoveryReport, ShutdownMode } from './pipeline';
import type { Prompts } from './prompts';
import type { LogSink } from './log';
import { Scheduler, TaskSettings, TEST_PERSONA } from './scheduler';
import type { StateDirs } from './stateDirs';
import type { Store } from './store';
import { TaskStore } from './taskStore';

/** Everything one runtime is built from; the extension (ctx.ts) and the CLI (cli/*.ts) fill it in. */
export interface RuntimeOptions {
  engine: Engine;
  /** The workspace's database, opened (read-only when another process holds its lock). */
  store: Store;
  stateDirs: StateDirs;
  workspaceId: string;
  settings: () => PipelineSettings;
  taskSettings: () => TaskSettings;
  git: Git;
  prompts: Prompts;
  /** Folder holding the task worktrees. */
  worktreeRoot: string;
  /**
   * The real Anthropic key, read per model request by the gateway (SecretStorage, or
   * ANTHROPIC_API_KEY for the CLI). It never reaches a container.
   */
  apiKey?: () => Promise<string | undefined>;
  /** The gateway's settings, read per request (default {@link DEFAULT_GATEWAY_SETTINGS}). */
  gatewaySettings?: () => GatewaySettings;
  /** The gateway's folder: one socket folder per agent (workspace.ts `gatewayRootOf`). */
  gatewayRoot: string;
  /**
   * `long` (the extension, `borg run`): recovery adopts the running agents and dispatch follows.
   * `oneShot` (`borg launch`, `reclaim`, `rm`, `hardline`): no recovery, no dispatch; launches do
   * not wait for, or count, agents they did not start.
   */
  kind: 'long' | 'oneShot';
  /** Why this runtime may not change anything (another process holds the database); undefined: it may. */
  readOnly?: string;
  /** Lines for the log (recovery, resumed phases, task progress from the Scheduler); default none. */
  log?: LogSink;
  seqStart?: number;
  safetyIntervalMs?: number;
}

/** What {@link Runtime.start} did. */
export interface StartReport extends RecoveryReport {
  /** Task ids whose running phase was taken back. */
  resumed: number[];
  /** Task ids whose test phase is run again (its test container was gone or killed). */
  retest: number[];
}

/**
 * The one composition root behind both faces: owns the Pipeline and the Scheduler over one
 * engine and one store, and the one startup and one shutdown sequence.
 *
 * - {@link start}: recover (adopt the running agents, collect exits, remove never-started
 *   containers, mark vanished ones lost) → take back the task phases whose agents kept running
 *   → rerun test phases left mid-way → open dispatch. Nothing is dispatched before it
 *   succeeded; after a failure (Docker down) the next call tries again.
 * - {@link shutdown}: stop dispatching → stop taking work, detach or stop every agent, join
 *   them → join the task runs → flush and close the store → dispose. Idempotent.
 *
 * Created by `BorgContext.create` (extension), `borg run` and the one-shot CLI commands;
 * disposed by its own {@link shutdown}.
 */
export class Runtime extends Disposable {
  /** The model gateway; undefined in a read-only runtime (the database's holder serves its agents). */
  readonly gateway: Gateway | undefined;
  readonly pipeline: Pipeline;
  readonly scheduler: Scheduler;
  readonly tasks: TaskStore;
  private starting: Promise<StartReport> | undefined;
  private shuttingDown: Promise<void> | undefined;

  constructor(private readonly o: RuntimeOptions) {
    super();
    this.tasks = new TaskStore(o.store);
    this.gateway = o.readOnly
      ? undefined
      : this.register(
          new Gateway({
            store: o.store,
            root: o.gatewayRoot,
            settings: o.gatewaySettings ?? (() => DEFAULT_GATEWAY_SETTINGS),
            apiKey: o.apiKey ?? (() => Promise.resolve(undefined)),
            log: o.log,
          }),
        );
    this.pipeline = this.register(
      new Pipeline({
        engine: o.engine,
        store: o.store,
        stateDirs: o.stateDirs,
        workspaceId: o.workspaceId,
        settings: o.settings,
        gateway: this.gateway,
        adoptBeforeLaunch: o.kind === 'long',
        readOnly: o.readOnly,
        seqStart: o.seqStart,
      }),
    );
    this.scheduler = this.register(
      new Scheduler({
        log: o.log,
        pipeline: this.pipeline,
        tasks: this.tasks,
        git: o.git,
        prompts: o.prompts,
        worktreeRoot: o.worktreeRoot,
        settings: o.taskSettings,
        gateway: this.gateway,
        safetyIntervalMs: o.safetyIntervalMs,
      }),
    );
  }

  get store(): Store {
    return this.o.store;
  }

  /**
   * The startup sequence (see the class comment). Concurrent calls share one run; once it
   * succeeded, later calls return its report. A read-only or one-shot runtime only refreshes.
   * @throws DockerUnreachableError when Docker cannot be reached (call again later: the
   *   extension does on every refresh).
   */
  start(): Promise<StartReport> {
    this.starting ??= this.startNow().catch((e: unknown) => {
      this.starting = undefined; // Docker down: the next call tries again
      throw e;
    });
    return this.starting;
  }

  private async startNow(): Promise<StartReport> {
    const empty: StartReport = { adopted: [], collected: [], lost: [], removed: [], killed: [], resumed: [], retest: [] };
    if (this.o.readOnly || this.o.kind === 'oneShot') {
      await this.pipeline.refresh();
      return empty;
    }
    const report = await this.pipeline.recover();
    const resumed = this.scheduler.adoptRuns();
    const retest = await this.retestOrphans(resumed);
    const out: StartReport = { ...report, resumed, retest };
    if (out.adopted.length + out.collected.length + out.lost.length + out.removed.length > 0) {
      this.o.log?.(`recovery: adopted [${out.adopted.join(', ')}], collected [${out.collected.join(', ')}], lost [${out.lost.join(', ')}], removed never-started [${out.removed.join(', ')}]`);
    }
    if (out.killed.length) this.o.log?.(`recovery: killed [${out.killed.join(', ')}]: given up as lost while their Docker was gone (their phases ran again), running again now`);
    if (resumed.length) this.o.log?.(`recovery: took back the running phases of tasks ${resumed.join(', ')}`);
    if (retest.length) this.o.log?.(`recovery: tasks ${retest.join(', ')} stopped during their test phase: running it again`);
    this.scheduler.start();
    return out;
  }

  /**
   * Test containers still running at recovery are judged by no one (a test phase is not taken
   * back): they are killed, and a task left in `test` reruns its test phase, so the rerun does
   * not race an old test container in the same worktree.
   */
  private async retestOrphans(resumed: number[]): Promise<number[]> {
    const orphans = [...this.pipeline.agents.values()].filter((a) => a.persona === TEST_PERSONA && a.state === 'running');
    await Promise.allSettled(orphans.map((a) => a.stop(0)));
    const retest: number[] = [];
    for (const t of this.tasks.list()) {
      if (t.status !== 'test' || resumed.includes(t.id)) continue;
      this.tasks.update(t.id, { status: 'retry', phase: 'test' });
      retest.push(t.id);
    }
    return retest;
  }

  /** Stop All: pauses dispatch (until {@link resume}), then stops every running agent and joins them. Their phases are interrupted, not failed. */
  async stopAll(): Promise<void> {
    this.scheduler.pause();
    await this.pipeline.stopAll();
  }

  /** Ends the pause Stop All began and dispatches. */
  resume(): void {
    this.scheduler.resume();
  }

  /**
   * The shutdown sequence (see the class comment): what `deactivate()` returns and what the
   * CLI runs on exit or a signal. `detach` leaves agents running (recovery adopts them next
   * time), `stop` stops them with a grace capped to fit VS Code's ~5 s. Never rejects; a failed
   * flush is logged and the previous database file stays intact.
   */
  shutdown(mode: ShutdownMode): Promise<void> {
    this.shuttingDown ??= (async () => {
      this.scheduler.stop();
      await this.pipeline.shutdown(mode);
      await this.scheduler.join();
      // Detached agents' runs stay recorded: the next gateway of this workspace serves them.
      await this.gateway?.close();
      await this.o.store.close().catch((e: unknown) => this.o.log?.(`closing the database failed: ${(e as Error).message}`));
      this.dispose();
    })();
    return this.shuttingDown;
  }
}
