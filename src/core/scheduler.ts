import { hostText } from './hostCounts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Agent } from './agent';
import { INPUT_FILE, readAgentInput, taskInput } from './agentInput';
import { AgentGit, GitMetadataAlteredError, PreparedCheckout, TaskCheckout, TrustedCheckout, WORKTREE_MOUNT } from './agentGit';
import { Disposable, toDisposable } from './disposable';
import { DockerUnreachableError, InterruptedError, PipelineStoppedError, RefusedError } from './errors';
import { Emitter } from './event';
import type { Git } from './git';
import type { Gateway } from './gateway/gateway';
import type { TestNetworkMode } from './hardening';
import { LABEL_PHASE, LABEL_TASK } from './labels';
import type { LogSink } from './log';
import { LaunchResult, Pipeline } from './pipeline';
import type { Prompts } from './prompts';
import type { RunRefusal } from './gateway/ledger';
import { blockingReason, blockSignal } from './streamJson';
import { toolsFor, PersonaTools } from './personaTools';
import { BlockedReason, Phase, Task, TaskStore } from './taskStore';
import { chooseCheckout, requireCommit } from './taskCheckout';
import { checkTaskVerb, nextAfter, RunOutcome } from './taskLife';
import { readWorktreeText } from './worktreeFiles';
import { AgentGitInput, GitRemote, GitRemoteRefusedError, parseGitRemote, WorktreeTransport } from './gitRemote';
import { BorgError } from './errors';

/** Settings the scheduler reads at each dispatch. */
export interface TaskSettings {
  /**
   * Command for the test phase, run with `/bin/sh -c` in a confined test container (never on
   * the host) with the worktree at /workspace/repo; empty skips the phase.
   */
  testCommand: string;
  /** Test command timeout, seconds: the container is stopped (its whole process tree ends). */
  testTimeoutSeconds: number;
  /** Image of the test container; '' = the agent image. */
  testImage: string;
  /** Network of the test container (default `none`). */
  testNetwork: TestNetworkMode;
  /** Attempts per task before it fails (default 5). */
  maxAttempts: number;
  /** Branch tasks start from; empty: the branch checked out in the repository. */
  baseBranch: string;
  /** Model name passed to agents ('' = the agent's default). */
  model: string;
  /** Tools every persona may use besides its own (`borg.allowedTools`). */
  allowedTools: string[];
  /** Each persona's tools, replacing Borg's defaults for that persona (`borg.personaTools`; personaTools.ts). */
  personaTools: PersonaTools;
  /** `borg.docker.worktrees`: `mount` (bind the worktree) or `git` (the agent clones from {@link gitRemote}; gitRemote.ts). */
  worktrees: WorktreeTransport;
  /** `borg.docker.gitRemote`: the URL agents clone from and push to in `git` mode ('' = none set: a task is blocked). */
  gitRemote: string;
}

export const DEFAULT_TASK_SETTINGS: TaskSettings = {
  testCommand: '',
  testTimeoutSeconds: 600,
  testImage: '',
  testNetwork: 'none',
  maxAttempts: 5,
  baseBranch: '',
  model: '',
  allowedTools: [],
  personaTools: {},
  worktrees: 'mount',
  gitRemote: '',
};

/** Which persona runs which phase; `test` runs in a test container named `<prefix>-test-<n>`. */
export const PERSONA_OF: Record<Exclude<Phase, 'test'>, string> = { spec: 'manager', qa: 'qa', impl: 'worker' };

/** The persona (container name part) of test containers. */
export const TEST_PERSONA = 'test';

export { WORKTREE_MOUNT };

const NEXT: Record<Exclude<Phase, 'test'>, Phase> = { spec: 'qa', qa: 'impl', impl: 'test' };

/**
 * The test container's command in `git` mode (`/bin/sh -c`; the values come in its env, never
 * spliced into the script): clone the pushed branch into /workspace/repo, check it is the commit
 * Borg pushed, then run `borg.testCommand` there with `/bin/sh -c`.
 */
export const TEST_CLONE_SCRIPT = [
  'command -v git >/dev/null 2>&1 || { echo "borg: the test image has no git, so it cannot clone the task from borg.docker.gitRemote (borg.docker.worktrees is git)"; exit 127; }',
  'git -c protocol.allow=never -c protocol.file.allow=always -c protocol.https.allow=always -c protocol.ssh.allow=always clone --quiet --no-tags --single-branch --no-recurse-submodules --branch "$BORG_GIT_BRANCH" -- "$BORG_GIT_URL" /workspace/repo || exit 1',
  'cd /workspace/repo || exit 1',
  '[ "$(git rev-parse HEAD)" = "$BORG_GIT_COMMIT" ] || { echo "borg: $BORG_GIT_BRANCH on the remote is not the commit Borg pushed ($BORG_GIT_COMMIT)"; exit 1; }',
  'exec /bin/sh -c "$BORG_TEST_COMMAND"',
].join('\n');

/** Pause after a dispatch found Docker unreachable (ms); the safety timer or a refresh tries again. */
const DOCKER_BACKOFF_MS = 10_000;

/** Most test output kept as `lastError` (characters, from the end). */
const TEST_OUTPUT_CAP = 8_000;

export interface SchedulerOptions {
  pipeline: Pipeline;
  tasks: TaskStore;
  git: Git;
  prompts: Prompts;
  /** Folder holding one worktree per task (`task-<id>`). */
  worktreeRoot: string;
  settings: () => TaskSettings;
  /** The model gateway: a run's tokens, cost and refusals come from it (never from what the agent prints about itself). */
  gateway?: Gateway;
  /** Safety-net dispatch interval, ms (dispatch is event-driven; this only catches missed events). */
  safetyIntervalMs?: number;
  /** Task progress, one `info` line each: a phase starting, a commit, a test result, where the task went after a run. */
  log?: LogSink;
}

interface ActiveRun {
  phase: Phase;
  /** An agent of this task's phase that was already running (adopted after a restart). */
  adopted?: Agent;
  agentName?: string;
  cancelled: boolean;
  /** Aborts the test container (cancel, shutdown): it is killed. */
  abort: AbortController;
  done: Promise<void>;
}

/**
 * Drives tasks through their phases: `backlog → spec (manager) → qa (qa) → impl (worker) →
 * test (host) → done`, one phase per dispatch, each task in its own git worktree on branch
 * `borg/task-<id>`. Dispatch is event-driven — adding a task, a run finishing, Retry — with a
 * slow safety timer. At most `maxParallelAgents` task runs are active; their agents take the
 * Pipeline's slots like any other. The host commits after each phase.
 */
export class Scheduler extends Disposable {
  private readonly active = new Map<number, ActiveRun>();
  private readonly makingWorktree = new Map<number, Promise<string>>();
  /** What the last phase of each task trusted about its checkout (AgentGit.trust): the next phase's prepare re-checks it on disk instead of asking git. */
  private readonly trustedByTask = new Map<number, TrustedCheckout>();
  private readonly agentGit: AgentGit;
  private stopped = false;
  /** Set by {@link start}: no phase is dispatched before recovery adopted the running agents. */
  private started = false;
  /** Set by {@link pause} (Stop All): nothing is dispatched until {@link resume}. */
  private pausedFlag = false;
  /** No dispatch before this time (ms): set when Docker was unreachable, so a dead daemon is not hammered. */
  private backoffUntil = 0;
  private readonly changed = this.register(new Emitter<void>());
  /** Fires when any task changed. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly o: SchedulerOptions) {
    super();
    this.agentGit = new AgentGit(o.git);
    const timer = setInterval(() => this.dispatch(), o.safetyIntervalMs ?? 30_000);
    timer.unref?.();
    this.register(toDisposable(() => clearInterval(timer)));
  }

  get tasks(): TaskStore {
    return this.o.tasks;
  }

  /**
   * Opens dispatch, once the runtime has recovered the Pipeline and taken back the running
   * phases (see runtime.ts): until then `dispatch()` — the safety timer, add, Retry, a config
   * change — starts nothing. Dispatches at once.
   */
  start(): void {
    this.started = true;
    this.dispatch();
  }

  /** True once {@link start} ran. */
  get isStarted(): boolean {
    return this.started;
  }

  /** Stop All: no phase is dispatched until {@link resume}; running ones go on (Stop All stops their agents). */
  pause(): void {
    if (this.pausedFlag) return;
    this.pausedFlag = true;
    this.o.tasks.store.addEvent('dispatch-paused', null, {});
    this.changed.fire();
  }

  /** Ends a {@link pause} and dispatches. */
  resume(): void {
    if (!this.pausedFlag) return;
    this.pausedFlag = false;
    this.o.tasks.store.addEvent('dispatch-resumed', null, {});
    this.changed.fire();
    this.dispatch();
  }

  /** True while dispatch is paused (Stop All until Resume). */
  get paused(): boolean {
    return this.pausedFlag;
  }

  /** Task ids with a phase running now. */
  get activeIds(): number[] {
    return [...this.active.keys()];
  }

  /** Tasks ready to run but not running (shown as queued). */
  get queuedCount(): number {
    return this.o.tasks.dispatchable().filter((t) => !this.active.has(t.id)).length;
  }

  /**
   * Adds a task on `repo` (any folder inside a git repository) and dispatches at once.
   * @throws InvalidInputError for a bad title/description; BorgError when `repo` is not in a git
   * repository; NoCommitError (taskCheckout.ts) when it has no commit yet.
   */
  async add(t: { title: string; description: string; repo: string }): Promise<Task> {
    const repo = await this.o.git.toplevel(t.repo);
    await requireCommit(this.o.git, repo);
    const settings = this.o.settings();
    let task = this.o.tasks.add({ ...t, repo, maxAttempts: settings.maxAttempts });
    // Make the worktree now, so a dispatch goes straight to Docker (a failure here is retried,
    // and reported, by the dispatch).
    await this.ensureWorktree(task, settings).catch(() => undefined);
    task = this.o.tasks.get(task.id)!;
    this.changed.fire();
    this.dispatch();
    return task;
  }

  /** Starts runs for ready tasks while fewer than `maxParallelAgents` runs are active. Synchronous; runs proceed in the background. */
  dispatch(): void {
    if (!this.started || this.pausedFlag || this.stopped || this.isDisposed || Date.now() < this.backoffUntil) return;
    this.resumeQuotaBlocks();
    const max = this.o.pipeline.maxParallel;
    for (const task of this.o.tasks.dispatchable()) {
      if (this.active.size >= max) break;
      if (this.active.has(task.id)) continue;
      const run: ActiveRun = { phase: phaseToRun(task), cancelled: false, abort: new AbortController(), done: Promise.resolve() };
      this.active.set(task.id, run);
      run.done = this.runPhase(task, run).finally(() => {
        this.active.delete(task.id);
        this.changed.fire();
        this.dispatch();
      });
    }
  }

  /**
   * Takes back the task phases whose agents kept running while no one followed them (the
   * Pipeline adopted them in `recover()`): an agent's input.json names its task and phase. The
   * phase then ends like any other — commit, judge, next phase — instead of running twice.
   * Call after `Pipeline.recover()`. Returns the task ids taken back.
   */
  adoptRuns(): number[] {
    const taken: number[] = [];
    for (const agent of this.o.pipeline.agents.values()) {
      if (agent.state !== 'running') continue;
      const input = readAgentInput(this.o.pipeline.stateDirs.readFile(agent.name, INPUT_FILE));
      const task = input?.taskId !== undefined ? this.o.tasks.get(input.taskId) : undefined;
      if (!task || this.active.has(task.id) || task.status !== input?.phase || !task.worktree) continue;
      const run: ActiveRun = { phase: task.status as Phase, adopted: agent, cancelled: false, abort: new AbortController(), done: Promise.resolve() };
      this.active.set(task.id, run);
      run.done = this.runPhase(task, run).finally(() => {
        this.active.delete(task.id);
        this.changed.fire();
        this.dispatch();
      });
      taken.push(task.id);
    }
    if (taken.length) this.changed.fire();
    return taken;
  }

  /**
   * Stops dispatching (shutdown); runs in flight go on until their agents settle. A running test
   * container is killed (the task runs its test phase again next time), so shutdown does not
   * wait for it.
   */
  stop(): void {
    this.stopped = true;
    for (const run of this.active.values()) run.abort.abort();
  }

  /** Resolves when no task run is active. */
  async join(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()].map((r) => r.done));
  }

  /**
   * Cancel: stops the task's running agent (its worktree stays) and marks it cancelled. A phase
   * still waiting for a slot is abandoned at once (it never takes one).
   */
  async cancel(id: number): Promise<Task> {
    const task = this.require(id);
    checkTaskVerb('cancel', task);
    const run = this.active.get(id);
    if (run) {
      run.cancelled = true;
      run.abort.abort(); // a launch waiting for a slot, a test container in flight
      // No agent yet (still launching): runAgentPhase stops it as soon as it runs.
      if (run.agentName) await this.o.pipeline.stopAgent(run.agentName).catch(() => undefined);
      await run.done;
    }
    const t = this.o.tasks.update(id, { status: 'cancelled' });
    this.o.tasks.store.addEvent('task-cancelled', run?.agentName ?? null, { taskId: id });
    this.changed.fire();
    return t;
  }

  /** Retry: a failed, blocked, cancelled or retrying task runs its phase again (a failed one with fresh attempts). */
  retry(id: number): Task {
    const task = this.require(id);
    checkTaskVerb('retry', task);
    const t = this.o.tasks.update(id, { status: 'retry', attempt: task.status === 'failed' ? 0 : task.attempt, blockedReason: null, retryAt: null });
    this.changed.fire();
    this.dispatch();
    return t;
  }

  /**
   * A task blocked on a rate limit or quota with the upstream's retry time goes back in the
   * queue once that time passed (checked at every dispatch, and by the safety timer); one
   * without a retry time waits for Retry.
   */
  private resumeQuotaBlocks(): void {
    const now = Date.now();
    for (const t of this.o.tasks.list()) {
      if (t.status !== 'blocked' || t.blockedReason !== 'quota' || t.retryAt === null || t.retryAt > now) continue;
      this.o.tasks.update(t.id, { status: 'retry', blockedReason: null, retryAt: null });
      this.o.tasks.store.addEvent('task-quota-resumed', null, { taskId: t.id });
    }
  }

  /**
   * Puts blocked tasks back in the queue (after an API key was set): every one but those blocked
   * on a budget, which wait for a raised cap and their own Retry. Returns how many.
   */
  unblockAll(): number {
    const blocked = this.o.tasks.list().filter((t) => t.status === 'blocked' && t.blockedReason !== 'budget');
    for (const t of blocked) this.o.tasks.update(t.id, { status: 'retry', blockedReason: null, retryAt: null });
    if (blocked.length) {
      this.changed.fire();
      this.dispatch();
    }
    return blocked.length;
  }

  /** Delete: cancels if running, removes the worktree and, with `deleteBranch`, the branch, then the task. */
  async delete(id: number, opts: { deleteBranch: boolean }): Promise<void> {
    const task = this.require(id);
    checkTaskVerb('delete', task);
    if (this.active.has(id)) await this.cancel(id);
    if (task.worktree) {
      await this.o.git.removeWorktree(task.repo, task.worktree);
      AgentGit.remove(task.worktree);
    }
    if (opts.deleteBranch && task.branch) await this.o.git.deleteBranch(task.repo, task.branch).catch(() => undefined);
    this.o.tasks.delete(id);
    this.trustedByTask.delete(id);
    this.o.tasks.store.addEvent('task-deleted', null, { taskId: id, deletedBranch: opts.deleteBranch });
    this.changed.fire();
  }

  /**
   * Merge: merges a done task's branch into its base branch (refuses on conflicts, changing
   * nothing) and marks the task `merged`; merging it again is refused (taskLife.ts).
   */
  async merge(id: number): Promise<Task> {
    const task = this.require(id);
    checkTaskVerb('merge', task);
    if (!task.branch || !task.baseBranch) throw new RefusedError(`Task ${id} has no branch yet; there is nothing to merge.`);
    await this.o.git.merge(task.repo, task.baseBranch, task.branch, `Merge task ${id}: ${task.title}`);
    const t = this.o.tasks.update(id, { status: 'merged' });
    this.o.tasks.store.addEvent('task-merged', null, { taskId: id, into: task.baseBranch });
    this.changed.fire();
    return t;
  }

  /**
   * True when the engine spreads agents over several Docker hosts and one is still up: a run lost
   * with its host (Docker gone there) is dispatched again at once, placed on the hosts that are
   * up, instead of backing off as when the one daemon is gone.
   */
  private someHostUp(): boolean {
    return this.o.pipeline.engine.hosts?.some((h) => h.up) ?? false;
  }

  /** One `info` line of task progress: `task 3 "Title": <text>`. */
  private note(t: Pick<Task, 'id' | 'title'>, text: string): void {
    this.o.log?.(`task ${t.id} ${JSON.stringify(t.title)}: ${text}`, 'info');
  }

  private require(id: number): Task {
    const t = this.o.tasks.get(id);
    if (!t) throw new RefusedError(`There is no task ${id}.`);
    return t;
  }

  private async runPhase(task: Task, run: ActiveRun): Promise<void> {
    // Backlog stays backlog when the first phase never started (shutdown, Docker down, Stop All).
    const notStarted = (): Partial<Task> => (task.status === 'backlog' ? { status: 'backlog' } : nextAfter(task, run.phase, 'interrupted'));
    const settings = this.o.settings();
    let t = this.o.tasks.update(task.id, { status: run.phase, phase: run.phase, dispatchedAt: Date.now() });
    this.changed.fire();
    try {
      const worktree = await this.ensureWorktree(t, settings);
      t = this.o.tasks.get(t.id)!;
      let phase = run.phase;
      if (phase !== 'test') {
        const ok = await this.runAgentPhase(t, phase, worktree, settings, run);
        if (!ok) return;
        phase = NEXT[phase];
        this.o.tasks.update(t.id, { status: phase, phase });
        this.changed.fire();
        if (phase !== 'test') return; // the next phase is the next dispatch
      }
      await this.runTestPhase(this.o.tasks.get(t.id)!, worktree, settings, run);
    } catch (e) {
      if (e instanceof GitMetadataAlteredError) {
        this.o.tasks.update(t.id, { status: 'failed', lastError: alteredMessage(e.message, t.worktree) });
        this.o.tasks.store.addEvent('task-git-altered', null, { taskId: t.id, detail: e.message });
      } else if (run.cancelled) {
        this.o.tasks.update(t.id, { status: 'cancelled' });
      } else if (e instanceof PipelineStoppedError || e instanceof DockerUnreachableError || e instanceof InterruptedError) {
        // Shutting down, Docker is down, or Stop All: not the task's fault; it runs again on a later dispatch.
        if (e instanceof DockerUnreachableError && !this.someHostUp()) this.backoffUntil = Date.now() + DOCKER_BACKOFF_MS;
        this.o.tasks.update(t.id, notStarted());
      } else {
        // Not the task's fault (image missing, Docker down, not a repository): wait for the user.
        this.o.tasks.update(t.id, { status: 'blocked', blockedReason: 'other', retryAt: null, lastError: e instanceof Error ? e.message : String(e) });
        this.note(t, `blocked (other): ${firstLine(e instanceof Error ? e.message : String(e))}`);
      }
      this.changed.fire();
    }
  }

  /** Runs one agent phase; returns true when it succeeded (and the task should move on). */
  private async runAgentPhase(t: Task, phase: Exclude<Phase, 'test'>, worktree: string, settings: TaskSettings, run: ActiveRun): Promise<boolean> {
    const persona = PERSONA_OF[phase];
    // spec.md was written by an agent: read only a regular file inside the worktree, never a link.
    const spec = readWorktreeText(worktree, 'spec.md', 256 * 1024) ?? '(no spec.md yet)';
    const { prompt, systemPrompt } = this.o.prompts.render(persona, t.repo, {
      taskId: t.id,
      title: t.title,
      description: t.description,
      workdir: WORKTREE_MOUNT,
      spec,
      lastError: phase === 'impl' && t.lastError ? `\nThe previous attempt failed:\n${t.lastError}\n` : '',
    });
    if (run.cancelled) return this.apply(t, phase, { outcome: 'cancelled' }); // cancelled while the worktree was made
    const checkout = checkoutOf(t, worktree);
    const runId = this.o.tasks.startRun({ taskId: t.id, phase, attempt: t.attempt, agent: run.adopted?.name });
    const started = run.adopted?.startedAt ?? Date.now();
    let launch: Pick<LaunchResult, 'name' | 'agent'>;
    /** Read before the launch; an adopted phase reads it after its agent ended. */
    let trusted: TrustedCheckout | undefined;
    /** `git` mode: the remote and what Borg pushed to it before the launch (an adopted phase: from its recorded input). */
    let remote: { remote: GitRemote; input: AgentGitInput } | undefined;
    if (run.adopted) {
      launch = { name: run.adopted.name, agent: run.adopted }; // a phase that kept running while no one followed it (see adoptRuns)
      const recorded = readAgentInput(this.o.pipeline.stateDirs.readFile(run.adopted.name, INPUT_FILE))?.git;
      if (recorded) remote = { remote: new GitRemote(this.o.git, parseGitRemote(recorded.url)), input: recorded };
    } else
      try {
        let mounts: { binds: string[]; writable: string[] };
        if (settings.worktrees === 'git') {
          // No worktree is mounted: the agent clones the branch Borg pushes (gitRemote.ts).
          trusted = await this.agentGit.trust(checkout);
          remote = await this.pushForPhase(t, checkout, settings);
          mounts = remote.remote.mounts;
        } else {
          const prepared = await this.agentGit.prepare(checkout, this.trustedByTask.get(t.id));
          trusted = prepared.trusted;
          this.trustedByTask.set(t.id, trusted);
          mounts = prepared;
        }
        launch = await this.o.pipeline.launch(persona, {
          input: taskInput({
            taskId: t.id,
            phase,
            persona,
            prompt,
            systemPrompt,
            model: settings.model,
            allowedTools: toolsFor(persona, settings.personaTools, settings.allowedTools),
            workdir: WORKTREE_MOUNT,
            git: remote?.input,
          }),
          signal: run.abort.signal,
          binds: mounts.binds,
          writable: mounts.writable,
          labels: { [LABEL_TASK]: String(t.id), [LABEL_PHASE]: phase },
        });
      } catch (e) {
        throw this.launchFailed(runId, started, run, e);
      }
    run.agentName = launch.name;
    this.note(t, `${phase} phase ${run.adopted ? 'taken back' : 'started'} in ${launch.name}${onHost(launch.agent.host)} (attempt ${t.attempt + 1}/${t.maxAttempts})`);
    if (!run.adopted) this.o.tasks.finishRun(runId, { agent: launch.name, host: launch.agent.host ?? null, outcome: 'running', finishedAt: null });
    this.changed.fire(); // views name the agent now, not when it ended
    // Cancelled while the container was being created: cancel() found no agent to stop.
    if (run.cancelled) await this.o.pipeline.stopAgent(launch.name).catch(() => undefined);
    const agent = launch.agent;
    await agent.done;
    // Nothing the agent wrote runs on the host: check its git metadata before git reads the
    // worktree, and commit through the trusted admin dir (never the worktree's own .git).
    // A detached agent is still running and still writing: the host leaves its worktree alone
    // (no walk, no rename, no commit) until whoever adopts it sees it end.
    // What the gateway metered and refused is the host's own record; the agent's stream is only its word.
    const metered = agent.gatewayRun && this.o.gateway ? this.o.gateway.usageOf(agent.gatewayRun) : undefined;
    let verdict = judgeRun(agent, run.cancelled, agent.gatewayRun ? this.o.gateway?.lastRefusal(agent.gatewayRun) : undefined);
    let commit: string | undefined;
    // `git` mode: nothing of the host was mounted, so there is no sandbox to check; the agent's
    // work arrives through the remote (taken back below, before the usual commit).
    const altered = agent.state === 'detached' || remote ? undefined : await this.agentGit.check(checkout, trusted);
    if (agent.state === 'detached') {
      // interrupted: the phase's next run commits
    } else if (altered) {
      verdict = { outcome: 'altered', error: alteredMessage(altered, worktree) };
    } else if (verdict.outcome === 'interrupted' || verdict.outcome === 'lost') {
      // Stopped, or Docker went away: the work so far stays uncommitted in the worktree for the phase's next run.
      if ((agent.lostReason === 'docker' || verdict.unreachable) && !this.someHostUp()) this.backoffUntil = Date.now() + DOCKER_BACKOFF_MS;
    } else {
      try {
        trusted ??= await this.agentGit.trust(checkout);
        if (remote) await this.takeBack(t, checkout, trusted, remote);
        commit = await this.o.git.commitAll(trusted.target, `borg: task ${t.id} ${phase} (${persona}): ${t.title}`);
        this.note(t, commit ? `committed the ${persona} agent's work as ${commit.slice(0, 12)}` : `the ${persona} agent changed nothing to commit`);
      } catch (e) {
        const what = e instanceof GitRemoteRefusedError ? (e as Error).message : `Committing the ${persona} agent's work failed: ${(e as Error).message}`;
        if (verdict.outcome === 'ok') verdict = { outcome: 'failed', error: what };
        else if (e instanceof GitRemoteRefusedError) verdict = { ...verdict, error: `${verdict.error ?? ''}\n${what}`.trim() };
      }
    }
    this.o.tasks.finishRun(runId, {
      outcome: verdict.outcome,
      exitCode: agent.exitCode ?? null,
      durationMs: Date.now() - started,
      sessionId: agent.stream.sessionId ?? null,
      costUsd: metered ? metered.costUsd : (agent.stream.result?.costUsd ?? null),
      inputTokens: metered ? metered.inputTokens : (agent.stream.result?.inputTokens ?? null),
      outputTokens: metered ? metered.outputTokens : (agent.stream.result?.outputTokens ?? null),
      output: agent.stream.result?.text ?? agent.lastLine ?? null,
      streamFile: this.o.pipeline.stateDirs.hostFile(launch.name, 'agent.log'),
      error: verdict.error ?? null,
      commitSha: commit ?? null,
    });
    this.o.tasks.store.addEvent(`task-${phase}-${verdict.outcome}`, launch.name, { taskId: t.id, attempt: t.attempt, error: verdict.error });
    return this.apply(t, phase, verdict);
  }

  /**
   * The test phase: `borg.testCommand` with `/bin/sh -c` in a test container — the test image,
   * the worktree and sandbox git mounted as for agents, the same confinement, network
   * `borg.testNetwork` (default none), the watchdog set to `testTimeoutSeconds` — never on the
   * host, since the tests, scripts and Makefiles it runs were written by agents. Cancel and
   * shutdown kill the container.
   */
  private async runTestPhase(t: Task, worktree: string, settings: TaskSettings, run: ActiveRun): Promise<void> {
    const runId = this.o.tasks.startRun({ taskId: t.id, phase: 'test', attempt: t.attempt });
    const started = Date.now();
    if (!settings.testCommand.trim()) {
      this.o.tasks.finishRun(runId, { outcome: 'ok', durationMs: 0, output: 'no borg.testCommand set: test phase skipped' });
      this.note(t, 'tests skipped (no borg.testCommand set)');
      this.o.tasks.update(t.id, { status: 'done', lastError: null });
      this.changed.fire();
      return;
    }
    const checkout = checkoutOf(t, worktree);
    let launch: LaunchResult;
    let prepared: PreparedCheckout | undefined;
    try {
      let run_: { cmd: string[]; env?: string[]; workdir?: string; binds: string[]; writable: string[] };
      if (settings.worktrees === 'git') {
        // The test container clones the branch too (its image needs git); nothing comes back from it.
        const { remote, input } = await this.pushForPhase(t, checkout, settings);
        run_ = {
          cmd: [TEST_CLONE_SCRIPT],
          env: [`BORG_GIT_URL=${input.url}`, `BORG_GIT_BRANCH=${input.branch}`, `BORG_GIT_COMMIT=${input.commit}`, `BORG_TEST_COMMAND=${settings.testCommand}`],
          ...remote.mounts,
        };
      } else {
        prepared = await this.agentGit.prepare(checkout, this.trustedByTask.get(t.id));
        this.trustedByTask.set(t.id, prepared.trusted);
        run_ = { cmd: [settings.testCommand], workdir: WORKTREE_MOUNT, binds: prepared.binds, writable: prepared.writable };
      }
      launch = await this.o.pipeline.launch(TEST_PERSONA, {
        stdin: false,
        image: settings.testImage || undefined,
        entrypoint: ['/bin/sh', '-c'],
        cmd: run_.cmd,
        env: run_.env,
        workdir: run_.workdir,
        network: settings.testNetwork,
        gateway: false,
        timeoutSeconds: settings.testTimeoutSeconds,
        binds: run_.binds,
        writable: run_.writable,
        labels: { [LABEL_TASK]: String(t.id), [LABEL_PHASE]: 'test' },
        signal: run.abort.signal,
      });
    } catch (e) {
      throw this.launchFailed(runId, started, run, e);
    }
    this.o.tasks.finishRun(runId, { agent: launch.name, host: launch.agent.host ?? null, outcome: 'running', finishedAt: null });
    this.changed.fire(); // views name the test container now, not when it ended
    this.note(t, `test phase started in ${launch.name}: ${settings.testCommand}`);
    const agent = launch.agent;
    const kill = () => void this.o.pipeline.engine.kill(launch.id).catch(() => undefined);
    if (run.abort.signal.aborted) kill();
    else run.abort.signal.addEventListener('abort', kill, { once: true });
    await agent.done;
    run.abort.signal.removeEventListener('abort', kill);
    const logs = await this.o.pipeline.engine.logs(launch.id, 2000).catch(() => agent.output);
    const output = logs.slice(-TEST_OUTPUT_CAP);
    const aborted = run.abort.signal.aborted || agent.state === 'detached' || agent.state === 'stopped' || agent.state === 'lost';
    const how =
      agent.state === 'timed-out'
        ? `timed out after ${settings.testTimeoutSeconds} s`
        : agent.state === 'oom-killed'
          ? 'was OOM-killed'
          : agent.state === 'failed'
            ? `could not be followed (${agent.error ?? 'unknown error'})`
            : `exited with ${agent.exitCode ?? '?'}`;
    let verdict: RunVerdict = aborted
      ? run.cancelled
        ? { outcome: 'cancelled' }
        : lostOrInterrupted(agent)
      : agent.state === 'exited'
        ? { outcome: 'ok' }
        : { outcome: 'failed', error: `borg.testCommand (${settings.testCommand}) ${how} in ${launch.name}:\n${output}` };
    const altered = prepared ? await this.agentGit.check(checkout, prepared.trusted) : undefined;
    if (altered) verdict = { outcome: 'altered', error: alteredMessage(altered, worktree) };
    this.o.tasks.finishRun(runId, {
      outcome: verdict.outcome,
      exitCode: aborted ? null : (agent.exitCode ?? null),
      durationMs: Date.now() - started,
      output,
      error: verdict.error ?? null,
      streamFile: this.o.pipeline.stateDirs.hostFile(launch.name, 'agent.log'),
    });
    this.o.tasks.store.addEvent(`task-test-${verdict.outcome}`, launch.name, { taskId: t.id, attempt: t.attempt });
    this.note(
      t,
      verdict.outcome === 'ok' ? `tests passed in ${launch.name}` : verdict.outcome === 'failed' ? `tests failed: borg.testCommand ${how} in ${launch.name}` : `test phase ${verdict.outcome}`,
    );
    this.apply(t, 'test', verdict);
  }

  /**
   * `git` mode, before a phase: pushes the task branch's tip to `borg.docker.gitRemote`
   * (gitRemote.ts: forced, Borg's branch only) and returns what the agent's input names.
   * @throws BorgError when no valid remote is set, the path remote fails its check or the push fails.
   */
  private async pushForPhase(t: Task, checkout: TaskCheckout, settings: TaskSettings): Promise<{ remote: GitRemote; input: AgentGitInput }> {
    if (!settings.gitRemote) {
      throw new BorgError(
        'borg.docker.worktrees is git but borg.docker.gitRemote names no remote: set it to a bare repository the Docker hosts can reach (ssh://, https:// or a shared path), then Retry.',
      );
    }
    const remote = new GitRemote(this.o.git, parseGitRemote(settings.gitRemote));
    const commit = await this.o.git.revParse(t.repo, `refs/heads/${checkout.branch}`);
    await remote.push(t.repo, checkout.branch, commit);
    this.note(t, `pushed ${checkout.branch} (${commit.slice(0, 12)}) to ${remote.spec.url}`);
    return { remote, input: { url: remote.spec.url, branch: checkout.branch, commit } };
  }

  /**
   * `git` mode, after a phase: fetches the agent's branch into the quarantine ref and, when it
   * descends from what was pushed, fast-forwards the task's worktree to it (through the trusted
   * admin dir, git.ts `runOn`: `merge --ff-only`, no hooks).
   * @throws GitRemoteRefusedError (history rewritten, branch gone, remote altered); BorgError when git fails.
   */
  private async takeBack(t: Task, checkout: TaskCheckout, trusted: TrustedCheckout, r: { remote: GitRemote; input: AgentGitInput }): Promise<void> {
    const got = await r.remote.fetch(t.repo, t.id, checkout.branch, r.input.commit);
    if (got === r.input.commit) return;
    await this.o.git.runOn(trusted.target, ['merge', '--ff-only', '--no-verify', '--quiet', got]);
    this.note(t, `took ${checkout.branch} back from ${r.remote.spec.url} at ${got.slice(0, 12)}`);
  }

  /**
   * A phase's container never started: records why on its run, so no run stays "running", and
   * returns the error for the caller to rethrow (runPhase moves the task).
   */
  private launchFailed(runId: number, started: number, run: ActiveRun, e: unknown): unknown {
    const outcome = run.cancelled ? 'cancelled' : e instanceof PipelineStoppedError || e instanceof DockerUnreachableError || e instanceof InterruptedError ? 'interrupted' : 'blocked';
    this.o.tasks.finishRun(runId, { outcome, durationMs: Date.now() - started, error: e instanceof Error ? e.message : String(e) });
    return e;
  }

  /** Moves the task after a run by the task-life table (taskLife.ts `nextAfter`); true when the phase succeeded. */
  private apply(t: Task, phase: Phase, v: RunVerdict): boolean {
    const next = nextAfter(t, phase, v.outcome, v.error, v.blockedReason ? { reason: v.blockedReason, retryAt: v.retryAt } : undefined);
    this.note(t, describeMove(phase, v, next));
    // An agent phase that succeeded moves on in runPhase (which also starts the test phase at once).
    if (v.outcome === 'ok' && phase !== 'test') return true;
    this.o.tasks.update(t.id, next);
    this.changed.fire();
    return v.outcome === 'ok';
  }

  /**
   * Creates the task's worktree from the base branch, once (concurrent calls share one
   * creation): branch `borg/task-<id>` in `<worktreeRoot>/<repo folder>/task-<id>`, or the first
   * free `-2`, `-3`, … (taskCheckout.ts).
   */
  private ensureWorktree(t: Task, settings: TaskSettings): Promise<string> {
    let making = this.makingWorktree.get(t.id);
    if (!making) {
      making = this.makeWorktree(t, settings).finally(() => this.makingWorktree.delete(t.id));
      this.makingWorktree.set(t.id, making);
    }
    return making;
  }

  private async makeWorktree(t0: Task, settings: TaskSettings): Promise<string> {
    const t = this.o.tasks.get(t0.id) ?? t0;
    if (t.worktree && fs.existsSync(t.worktree)) return t.worktree;
    // First time: a branch and folder nothing else uses (another database, an earlier task #N,
    // another repository); later (the worktree was deleted): the task's own again.
    const { branch, worktree: dir } = t.branch && t.worktree ? { branch: t.branch, worktree: t.worktree } : await chooseCheckout(this.o.git, t.repo, this.o.worktreeRoot, t.id);
    const base = t.baseBranch ?? (settings.baseBranch || (await this.o.git.currentBranch(t.repo)) || 'HEAD');
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    try {
      await this.o.git.addWorktree(t.repo, dir, branch, base);
    } catch (e) {
      if (!/already exists/.test((e as Error).message)) throw e;
      await this.o.git.readdWorktree(t.repo, dir, branch); // the branch survived a deleted worktree
    }
    this.o.tasks.update(t.id, { worktree: dir, branch, baseBranch: base });
    return dir;
  }
}

/** `altered`: the agent altered git metadata (agentGit.ts); the task fails at once, nothing of it is committed. */
type RunVerdict = { outcome: RunOutcome; error?: string; blockedReason?: BlockedReason; retryAt?: number; unreachable?: boolean };

/** ` on <host>` for a run on one of several Docker hosts (a Swarm node's name comes from the node: inert text), else ''. */
function onHost(host: string | undefined): string {
  return host === undefined ? '' : ` on ${hostText(host)}`;
}

/** A run that ended without finishing: `lost` when its container was removed outside Borg, else interrupted. */
function lostOrInterrupted(agent: Agent): RunVerdict {
  if (agent.state === 'lost' && agent.lostReason === 'killed') return { outcome: 'interrupted', error: agent.error };
  if (agent.state === 'lost' && agent.lostReason === 'removed') {
    return { outcome: 'lost', error: `${agent.name} was removed outside Borg while it ran; the ${agent.persona === TEST_PERSONA ? 'test' : agent.persona} phase runs again.` };
  }
  return { outcome: 'interrupted' };
}

/** The checkout of a task whose worktree exists (branch and base are set with it). */
function checkoutOf(t: Task, worktree: string): TaskCheckout {
  return { repo: t.repo, worktree, branch: t.branch ?? `borg/task-${t.id}`, baseBranch: t.baseBranch ?? 'HEAD' };
}

/** The task's error when its agent altered git metadata. */
function alteredMessage(detail: string, worktree: string | null): string {
  return `The agent altered its git metadata (${detail}). Nothing from the worktree was committed or run on the host; it is kept for inspection${worktree ? ` at ${worktree}` : ''}. Retry the task once you have looked at it, or delete it.`;
}

/** The phase a ready task runs next. */
export function phaseToRun(t: Task): Phase {
  if (t.status === 'backlog') return 'spec';
  if (t.status === 'retry' || t.status === 'blocked') return t.phase;
  return t.status as Phase;
}

/**
 * Judges a finished agent run: cancelled; interrupted (detached or stopped, Docker gone); lost
 * (removed outside Borg); then the gateway's record of the run's last request, when it refused
 * it or the upstream failed it (`refusal`, see gateway/ledger.ts): auth, quota and budget block
 * the task with that reason, an unreachable upstream puts it back in the queue (interrupted, no
 * attempt spent); then the stream's structured signals (streamJson.ts: runs without the gateway);
 * ok (exit 0 with a non-error `result` line); otherwise failed with a clear error — including
 * "exited 0 without a result line".
 */
export function judgeRun(agent: Agent, cancelled: boolean, refusal?: RunRefusal): RunVerdict {
  if (cancelled) return { outcome: 'cancelled' };
  // Ended by someone, not by its own doing: detached or stopped (shutdown, Stop Agent, Stop All),
  // Docker gone, or removed outside Borg. No attempt is spent.
  if (agent.state === 'detached' || agent.state === 'stopped' || agent.state === 'lost') return lostOrInterrupted(agent);
  if (refusal && refusal.refusal !== 'refused') {
    if (refusal.refusal === 'unreachable') return { outcome: 'interrupted', unreachable: true, error: `${refusal.message.replace(/^borg gateway: /, '')}` };
    const retry = refusal.retryAt ? ` The upstream said to retry after ${new Date(refusal.retryAt).toISOString()}.` : '';
    const todo: Record<string, string> = {
      auth: 'Set API Key, then Retry.',
      quota: 'Wait for the rate limit or quota to reset, then Retry.',
      budget: 'Raise the cap (borg.maxCostUsdPerTask / borg.maxCostUsdPerDay), then Retry.',
    };
    const message = refusal.message.replace(/^borg gateway: /, '');
    return { outcome: 'blocked', blockedReason: refusal.refusal as BlockedReason, retryAt: refusal.retryAt, error: `${message}${/Retry/.test(message) ? '' : ` ${todo[refusal.refusal]}`}${retry}` };
  }
  const signal = blockSignal(agent.stream);
  const blocked = blockingReason(agent.stream);
  if (blocked) return { outcome: 'blocked', error: blocked, blockedReason: signal?.kind === 'auth' ? 'auth' : 'quota' };
  const result = agent.stream.result;
  if (agent.state === 'exited' && result && !result.isError) return { outcome: 'ok' };
  if (agent.state === 'exited' && !result)
    return { outcome: 'failed', error: `The ${agent.persona} agent exited 0 without a result line: its output did not finish (last line: ${agent.lastLine ?? 'none'}).` };
  const how = agent.state === 'timed-out' ? 'timed out' : agent.state === 'oom-killed' ? 'was OOM-killed' : `exited with ${agent.exitCode ?? '?'}`;
  return { outcome: 'failed', error: `The ${agent.persona} agent ${how}${result ? `: ${result.text}` : agent.error ? `: ${agent.error}` : ''}.` };
}

/** Where a run left its task, for the log: `impl failed → retry: <first error line>`, `test ok → done`, `qa blocked (auth) → blocked: …`. */
function describeMove(phase: Phase, v: RunVerdict, next: Partial<Task>): string {
  const to = next.status ?? '?';
  const reason = v.blockedReason ? ` (${v.blockedReason})` : '';
  const why = v.error ? `: ${firstLine(v.error)}` : '';
  return `${phase} ${v.outcome}${reason} → ${to}${why}`;
}

function firstLine(s: string): string {
  const line = s.trim().split('\n')[0];
  return line.length > 300 ? `${line.slice(0, 299)}…` : line;
}
