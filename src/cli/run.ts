import { checkSetting, TEST_NETWORK_RULE, TestNetworkMode } from '../core/hardening';
import * as fs from 'node:fs';
import { DockerEngine } from '../core/engine';
import { DEFAULT_TASK_SETTINGS, Scheduler, TaskSettings } from '../core/scheduler';
import { Store } from '../core/store';
import { isSkippedTest } from '../core/taskLife';
import { Task, TaskRun, TaskStatus, TaskStore } from '../core/taskStore';
import { CliIo, CliPaths, firstLine, formatDuration, gatewaySettings, intOption, makeRuntime, Opts, pipelineSettings, resolvePaths, takeOrRefuse, UsageError } from './common';
import type { GatewaySettings } from '../core/gateway/gateway';
import { GENERAL_RULES } from '../core/settingRules';
import { DbLock } from './lock';
import { parseGitRemote, WORKTREES_RULE, WorktreeTransport } from '../core/gitRemote';
import { inboxDirOf, serveInbox } from './tasks';

/** Statuses a task no longer leaves by itself. */
const SETTLED: TaskStatus[] = ['done', 'failed', 'blocked', 'cancelled'];

/** How long a signal's shutdown may take before the database is written and the process exits anyway. */
const SHUTDOWN_BUDGET_MS = 1_500;

/**
 * `borg run`: the Pipeline and the Scheduler in the foreground, as the extension runs them.
 * Holds the database lock for its whole life (a second run refuses). Recovers first (adopts the
 * agents still running), puts blocked tasks back in the queue, then dispatches. Writes the
 * database on every task change, so `borg tasks ls` elsewhere sees the progress, and takes
 * tasks `borg tasks add` hands it through the inbox.
 *
 * Ends on SIGINT/SIGTERM with the extension's deactivate sequence — scheduler.stop →
 * pipeline.shutdown('detach') → scheduler.join → store.close — within 2 s (exit 130/143), or,
 * with `--until-idle`, once no task is ready or running: exit 0 when every task it worked on is
 * done (or was cancelled), 1 when one ended failed or blocked.
 */
export async function runCmd(args: string[], opt: Opts, io: CliIo): Promise<number> {
  if (args.length) throw new UsageError('run takes no arguments');
  const maxAgents = intOption(opt, 'max-agents', GENERAL_RULES.maxParallelAgents.min, GENERAL_RULES.maxParallelAgents.max);
  const maxAttempts = intOption(opt, 'max-attempts', GENERAL_RULES.maxAttempts.min, GENERAL_RULES.maxAttempts.max);
  const testCommand = typeof opt['test-command'] === 'string' ? (opt['test-command'] as string) : DEFAULT_TASK_SETTINGS.testCommand;
  const testImage = typeof opt['test-image'] === 'string' ? (opt['test-image'] as string) : DEFAULT_TASK_SETTINGS.testImage;
  const network = checkSetting<TestNetworkMode>({ ...TEST_NETWORK_RULE, setting: '--test-network' }, opt['test-network'], DEFAULT_TASK_SETTINGS.testNetwork);
  if (network.problem) throw new UsageError(network.problem);
  const transport = gitTransportOptions(opt);
  const untilIdle = opt['until-idle'] === true;
  const gateway = gatewaySettings(opt);
  const paths = resolvePaths(opt, io);
  const lock = takeOrRefuse(DbLock.tryAcquire(paths.db, 'run'), paths.db, 'run', io);
  try {
    return await runLocked(paths, opt, io, { maxAgents, maxAttempts, testCommand, testImage, testNetwork: network.value, ...transport, untilIdle, lock, gateway });
  } finally {
    lock.release();
  }
}

interface RunOptions {
  maxAgents?: number;
  maxAttempts?: number;
  testCommand: string;
  testImage: string;
  testNetwork: TestNetworkMode;
  worktrees: WorktreeTransport;
  gitRemote: string;
  untilIdle: boolean;
  lock: DbLock;
  gateway: GatewaySettings;
}

async function runLocked(paths: CliPaths, opt: Opts, io: CliIo, o: RunOptions): Promise<number> {
  const store = await Store.open(paths.db);
  if (store.recoveredFrom) io.err(`[borg] the database could not be read; moved to ${store.recoveredFrom} and a new one started`);
  const engine = new DockerEngine(); // DOCKER_HOST, else the current Docker context, else the default socket
  io.err(`[borg] ${engine.choice}`);
  const settings = pipelineSettings(opt, o.maxAgents ? { maxParallelAgents: o.maxAgents } : {});
  const taskSettings: TaskSettings = {
    ...DEFAULT_TASK_SETTINGS,
    testCommand: o.testCommand,
    testImage: o.testImage,
    testNetwork: o.testNetwork,
    worktrees: o.worktrees,
    gitRemote: o.gitRemote,
    ...(o.maxAttempts ? { maxAttempts: o.maxAttempts } : {}),
  };
  // The same runtime as the extension's: recover → take back running phases → dispatch; one shutdown sequence.
  const runtime = makeRuntime(engine, store, paths, {
    kind: 'long',
    settings: () => settings,
    taskSettings: () => taskSettings,
    gatewaySettings: () => o.gateway,
    log: (line, level) => {
      if (level !== 'trace' && level !== 'debug') io.err(`[borg] ${line}`);
    },
  });
  const { pipeline, scheduler, tasks } = runtime;
  const closeAll = () => runtime.shutdown('detach');

  // The end: idle (with --until-idle) or a signal (handled from here on, also during recovery).
  let finish!: (why: { signal?: NodeJS.Signals }) => void;
  const finished = new Promise<{ signal?: NodeJS.Signals }>((res) => (finish = res));
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) {
      io.err(`[borg] ${sig} again: exiting now (the database keeps what was last written)`);
      o.lock.release();
      process.exit(exitCodeOf(sig));
    }
    signalled = sig;
    finish({ signal: sig });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const unhookSignals = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };

  try {
    await engine.ping();
  } catch (e) {
    unhookSignals();
    await closeAll();
    throw e;
  }
  reconcileTasks(tasks, o.maxAttempts, io);

  // Tasks in `test` are set to rerun by the runtime's start; they are watched too.
  const watched = new Set<number>([...tasks.dispatchable(), ...tasks.list().filter((t) => t.status === 'test')].map((t) => t.id));
  const progress: Progress = io.isTTY ? new LiveProgress(tasks, scheduler, watched, io) : new LineProgress(tasks, watched, io);
  io.err(
    `[borg] run: database ${paths.db}, image ${settings.image}, up to ${settings.maxParallelAgents} agents, network ${settings.hardening.network}, ` +
      `model ${runtime.gateway?.upstreamLabel ?? 'none'}${runtime.gateway?.replay ? ' (a replay, not a model)' : ''}, ` +
      `budget $${o.gateway.maxCostUsdPerTask || '∞'} per task and $${o.gateway.maxCostUsdPerDay || '∞'} per day, ` +
      `test command ${taskSettings.testCommand ? JSON.stringify(taskSettings.testCommand) : '(none: test phase skipped)'}, worktrees in ${paths.worktrees}. ` +
      `${o.untilIdle ? 'Runs until no task is left to run; ' : ''}Ctrl+C stops (running agents are detached).`,
  );

  // Keep the file current: every change is written (coalesced), so a crash loses little and readers see progress.
  let flushTimer: NodeJS.Timeout | undefined;
  const scheduleFlush = () => {
    flushTimer ??= setTimeout(() => {
      flushTimer = undefined;
      store.flush().catch((e) => io.err(`[borg] writing the database failed: ${(e as Error).message}`));
    }, 100);
  };
  const checkIdle = () => {
    if (o.untilIdle && !signalled && scheduler.activeIds.length === 0 && tasks.dispatchable().length === 0) finish({});
  };
  const subs = [
    scheduler.onDidChange(() => {
      scheduleFlush();
      progress.changed();
      setImmediate(checkIdle);
    }),
    pipeline.onDidChange(() => progress.changed()),
  ];

  // Tasks from `borg tasks add` while this run holds the database.
  const inbox = watchInbox(paths.db, async (r) => {
    const task = await scheduler.add({ title: r.title, description: r.description, repo: r.repo });
    if (r.maxAttempts && r.maxAttempts !== task.maxAttempts) setMaxAttempts(tasks, [task.id], r.maxAttempts);
    watched.add(task.id);
    progress.changed();
    await store.flush();
    return tasks.get(task.id)!;
  });

  let code: number;
  try {
    // Recover (adopt running agents and the phases they run), then dispatch.
    try {
      await runtime.start();
    } catch (e) {
      progress.finish();
      await closeAll();
      throw e;
    }
    for (const id of scheduler.activeIds) watched.add(id);
    progress.changed();
    if (!signalled) checkIdle();
    const why = await finished;
    inbox.dispose();
    for (const s of subs) s.dispose();
    if (flushTimer) clearTimeout(flushTimer);
    if (why.signal) {
      progress.finish();
      io.err(`[borg] ${why.signal}: stopping the scheduler, detaching running agents, writing the database`);
      const done = closeAll().then(() => true);
      const inTime = await Promise.race([done, new Promise<false>((res) => setTimeout(() => res(false), SHUTDOWN_BUDGET_MS).unref())]);
      if (!inTime) {
        io.err('[borg] the shutdown is taking too long (a test command still running?): writing the database and exiting');
        await Promise.race([store.close().catch(() => undefined), new Promise((res) => setTimeout(res, 400).unref())]);
        o.lock.release();
        process.exit(exitCodeOf(why.signal));
      }
      code = exitCodeOf(why.signal);
    } else {
      progress.finish();
      const final = new Map(tasks.list().map((t) => [t.id, t]));
      await closeAll();
      code = summarize(final, watched, io);
    }
  } finally {
    unhookSignals();
    inbox.dispose();
    for (const s of subs) s.dispose();
    progress.finish();
  }
  return code;
}

function exitCodeOf(sig: NodeJS.Signals): number {
  return sig === 'SIGINT' ? 130 : sig === 'SIGTERM' ? 143 : 1;
}

/** The idle summary of the tasks this run worked on; 0 when each is done or cancelled, 1 when one is failed or blocked. */
function summarize(final: Map<number, Task>, watched: Set<number>, io: CliIo): number {
  const by = (s: TaskStatus) => [...watched].filter((id) => final.get(id)?.status === s);
  const done = by('done');
  const bad = [...by('failed'), ...by('blocked')];
  if (watched.size === 0) {
    io.out('borg run: nothing to run (no task is waiting)');
    return 0;
  }
  const list = (ids: number[]) => (ids.length ? ` (${ids.map((i) => `#${i}`).join(', ')})` : '');
  io.out(`borg run: idle — ${done.length} done, ${by('failed').length} failed${list(by('failed'))}, ${by('blocked').length} blocked${list(by('blocked'))}, ${by('cancelled').length} cancelled`);
  return bad.length ? 1 : 0;
}

/**
 * After a crash or a kill -9 of an earlier run: a task in `test` is no dispatch status (the host
 * ran its test command when the process died) — resume it at the test phase; blocked tasks go
 * back in the queue (a new run is the user's "try again": key set, image built); `--max-attempts`
 * applies to every unfinished task.
 */
function reconcileTasks(tasks: TaskStore, maxAttempts: number | undefined, io: CliIo): void {
  const all = tasks.list();
  const blocked = all.filter((t) => t.status === 'blocked');
  // A new run may bring a key, or a raised --max-cost-usd-*: each blocked task tries again (the gateway refuses it again if still over).
  for (const t of blocked) tasks.update(t.id, { status: 'retry', blockedReason: null, retryAt: null });
  if (blocked.length) io.err(`[borg] ${blocked.map((t) => `task ${t.id}`).join(', ')} ${blocked.length === 1 ? 'was' : 'were'} blocked: trying again`);
  if (maxAttempts)
    setMaxAttempts(
      tasks,
      all.filter((t) => !SETTLED.includes(t.status) || t.status === 'blocked').map((t) => t.id),
      maxAttempts,
    );
}

/** `--max-attempts` applies to every unfinished task. */
function setMaxAttempts(tasks: TaskStore, ids: number[], n: number): void {
  for (const id of ids) tasks.update(id, { maxAttempts: n });
}

/** Polls the inbox (and watches it, for a prompt answer). */
function watchInbox(db: string, handle: Parameters<typeof serveInbox>[1]): { dispose(): void } {
  const dir = inboxDirOf(db);
  let busy = false;
  let again = false;
  let disposed = false;
  const poll = async () => {
    if (disposed) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      do {
        again = false;
        await serveInbox(db, handle);
      } while (again && !disposed);
    } finally {
      busy = false;
    }
  };
  let watcher: fs.FSWatcher | undefined;
  try {
    fs.mkdirSync(dir, { recursive: true });
    watcher = fs.watch(dir, () => void poll());
    watcher.on('error', () => undefined);
  } catch {
    // polling only
  }
  const timer = setInterval(() => void poll(), 500);
  void poll();
  return {
    dispose() {
      if (disposed) return;
      disposed = true;
      clearInterval(timer);
      watcher?.close();
      try {
        fs.rmdirSync(dir); // only when empty: a request that just arrived stays for the next run
      } catch {
        // not empty, or gone
      }
    },
  };
}

/** The progress display. */
interface Progress {
  changed(): void;
  finish(): void;
}

/** What a line says about the runs that finished since the last line of a task. */
function describeRuns(runs: TaskRun[]): string {
  return runs
    .map((r) => {
      if (isSkippedTest(r)) return 'tests skipped (no test command)';
      const who = r.agent ?? 'no agent';
      const exit = r.exitCode === null ? '' : `, exit ${r.exitCode}`;
      return `${r.phase} ${r.outcome} (${who}${exit}, ${formatDuration(r.durationMs)})`;
    })
    .join('; ');
}

function clock(): string {
  return new Date().toTimeString().slice(0, 8);
}

/** One line of a task's status: "12:00:01 task 3 retry (impl) 1/5 \"title\" — impl failed (...): error". */
function statusLine(t: Task, finishedRuns: TaskRun[]): string {
  const phase = ['retry', 'blocked', 'failed', 'cancelled'].includes(t.status) ? ` (${t.phase})` : '';
  const parts = [`${clock()} task ${t.id} ${t.status}${phase}`, `attempt ${t.attempt}/${t.maxAttempts}`, JSON.stringify(t.title)];
  let line = parts.join('  ');
  const runs = describeRuns(finishedRuns);
  if (runs) line += ` — ${runs}`;
  if (['retry', 'failed', 'blocked'].includes(t.status) && t.lastError) line += `: ${firstLine(t.lastError)}`;
  return line;
}

/** Tracks, per task, the status last shown and the runs already described. */
class Tracker {
  private readonly shown = new Map<number, { key: string; lastRun: number }>();

  constructor(private readonly tasks: TaskStore) {
    for (const t of tasks.list()) {
      this.shown.set(t.id, { key: keyOf(t), lastRun: Math.max(0, ...tasks.runs(t.id).map((r) => r.id)) });
    }
  }

  /** Tasks whose status changed since the last call, with the runs that finished meanwhile. */
  changes(): Array<{ task: Task; runs: TaskRun[] }> {
    const out: Array<{ task: Task; runs: TaskRun[] }> = [];
    let all: Task[];
    try {
      all = this.tasks.list();
    } catch {
      return out; // the store is closed
    }
    for (const t of all) {
      const seen = this.shown.get(t.id);
      const key = keyOf(t);
      if (seen?.key === key) continue;
      const runs = this.tasks.runs(t.id).filter((r) => r.id > (seen?.lastRun ?? 0) && r.outcome !== 'running');
      this.shown.set(t.id, { key, lastRun: Math.max(seen?.lastRun ?? 0, ...runs.map((r) => r.id)) });
      out.push({ task: t, runs });
    }
    return out;
  }
}

function keyOf(t: Task): string {
  return `${t.status}/${t.phase}/${t.attempt}/${t.maxAttempts}`;
}

/** Not a terminal: one line per task status change. */
class LineProgress implements Progress {
  private readonly tracker: Tracker;

  constructor(
    tasks: TaskStore,
    watched: Set<number>,
    private readonly io: CliIo,
  ) {
    this.tracker = new Tracker(tasks);
    for (const id of watched) {
      const t = tasks.get(id);
      if (t) io.out(statusLine(t, []));
    }
  }

  changed(): void {
    for (const c of this.tracker.changes()) this.io.out(statusLine(c.task, c.runs));
  }

  finish(): void {
    this.changed();
  }
}

/**
 * A terminal: a table of the tasks this run works on, redrawn in place (at most every 100 ms,
 * and each second for the clocks); a task that settles (done, failed, blocked, cancelled) also
 * gets a permanent line above the table.
 */
class LiveProgress implements Progress {
  private readonly tracker: Tracker;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private finished = false;
  private readonly write: (s: string) => void;

  constructor(
    private readonly tasks: TaskStore,
    private readonly scheduler: Scheduler,
    private readonly watched: Set<number>,
    private readonly io: CliIo,
  ) {
    this.tracker = new Tracker(tasks);
    this.write = io.write ?? ((s) => io.out(s.replace(/\n$/, '')));
    this.ticker = setInterval(() => this.render(), 1_000);
    this.ticker.unref();
    this.render(); // the table is on screen from the start; every later render redraws it in place
  }

  changed(): void {
    if (this.finished) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.render();
    }, 100);
  }

  finish(): void {
    if (this.finished) return;
    this.render();
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    clearInterval(this.ticker);
  }

  private render(): void {
    if (this.finished) return;
    const notes = this.tracker
      .changes()
      .filter((c) => SETTLED.includes(c.task.status) && this.watched.has(c.task.id))
      .map((c) => statusLine(c.task, c.runs));
    let rows: string[];
    try {
      rows = this.table();
    } catch {
      return; // the store is closed
    }
    // A pseudo-terminal without a size reports 0 columns and rows.
    const width = this.io.columns && this.io.columns > 20 ? this.io.columns - 1 : 119;
    const fit = (l: string) => (l.length > width ? `${l.slice(0, width - 1)}…` : l);
    let s = this.drawn ? `\r\x1b[${this.drawn}A\x1b[J` : '';
    for (const n of notes) s += `${n}\n`; // kept in the scrollback, above the table
    const maxRows = this.io.rows && this.io.rows > 5 ? this.io.rows - 2 : 22;
    const shown = rows.slice(0, maxRows);
    if (rows.length > maxRows) shown[maxRows - 1] = `… and ${rows.length - maxRows + 1} more`;
    for (const r of shown) s += `${fit(r)}\n`;
    this.drawn = shown.length;
    this.write(s);
  }

  private table(): string[] {
    const active = new Set(this.scheduler.activeIds);
    const list = this.tasks.list().filter((t) => this.watched.has(t.id) || active.has(t.id));
    const now = Date.now();
    const count = (s: TaskStatus) => list.filter((t) => t.status === s).length;
    const rows = list.map((t) => {
      const running = active.has(t.id);
      const run = running
        ? this.tasks
            .runs(t.id)
            .filter((r) => r.outcome === 'running')
            .pop()
        : undefined;
      const agent = running ? (run?.agent ?? 'starting…') : '';
      const time = running && t.dispatchedAt ? formatDuration(now - t.dispatchedAt) : '';
      const status = ['retry', 'blocked', 'failed'].includes(t.status) ? `${t.status}(${t.phase})` : t.status;
      return [`${running ? '▶' : ' '} ${t.id}`, status, `${t.attempt}/${t.maxAttempts}`, agent, time, t.title];
    });
    const header = ['  ID', 'STATUS', 'ATTEMPT', 'AGENT', 'TIME', 'TITLE'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
    const queued = list.filter((t) => !active.has(t.id) && !SETTLED.includes(t.status)).length;
    const footer = `borg run · ${active.size} running · ${queued} queued · ${count('done')} done · ${count('failed')} failed · ${count('blocked')} blocked — Ctrl+C stops`;
    return [line(header), ...rows.map(line), footer];
  }
}

/**
 * `--worktree-transport mount|git` and `--git-remote URL` (borg.docker.worktrees / borg.docker.gitRemote,
 * gitRemote.ts). @throws UsageError for a bad value, or `git` without a remote.
 */
function gitTransportOptions(opt: Opts): { worktrees: WorktreeTransport; gitRemote: string } {
  const w = checkSetting<WorktreeTransport>({ ...WORKTREES_RULE, setting: '--worktree-transport' }, opt['worktree-transport'], DEFAULT_TASK_SETTINGS.worktrees);
  if (w.problem) throw new UsageError(w.problem);
  let gitRemote = '';
  if (opt['git-remote'] !== undefined) {
    if (typeof opt['git-remote'] !== 'string') throw new UsageError('--git-remote needs a URL');
    try {
      gitRemote = parseGitRemote(opt['git-remote']).url;
    } catch (e) {
      throw new UsageError((e as Error).message.replace('borg.docker.gitRemote', '--git-remote'));
    }
  }
  if (w.value === 'git' && !gitRemote) throw new UsageError('--worktree-transport git needs --git-remote URL (a bare repository the Docker hosts can reach)');
  return { worktrees: w.value, gitRemote };
}
