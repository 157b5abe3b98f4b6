import { Agent, AgentState } from './agent';
import { AgentInput, INPUT_FILE, readAgentInput, withDeadline } from './agentInput';
import { AsideRemoval, claimName, isAsideOf, judge, MAX_CLAIM_CANDIDATES, SkipReason } from './claim';
import { Disposable } from './disposable';
import { ContainerInfo, Engine, errorText } from './engine';
import type { Duplex } from 'node:stream';
import { BorgError, DockerUnreachableError, ImageMissingError, InterruptedError, PipelineStoppedError, RefusedError } from './errors';
import { Emitter } from './event';
import { DEFAULT_HARDENING, describeLimits, HardeningSettings, NetworkMode } from './hardening';
import { GATEWAY_MOUNT, GATEWAY_SOCKET_IN_CONTAINER, type Gateway } from './gateway/gateway';
import type { RunRef } from './gateway/upstream';
import { agentLabels, LABEL_GATEWAY, LABEL_LIMITS, LABEL_PHASE, LABEL_TASK, LABEL_TIMEOUT, timeoutOf } from './labels';
import { containerOwner, ownerSpec, chownTree } from './ownership';
import { containerName, ContainerSeq, validateNamePart } from './names';
import { Slots } from './slots';
import { STATE_MOUNT, StateDirs } from './stateDirs';
import type { ContainerRow, Store } from './store';
import { checkVerb, needsInspect } from './verbs';

/** Settings the Pipeline reads at each launch, so changes apply without a restart. */
export interface PipelineSettings {
  /** Container name prefix (default "borg"). */
  prefix: string;
  /** Agent image reference; must be present locally. */
  image: string;
  /** Agents running at once, 1–32 (default 4). */
  maxParallelAgents: number;
  /** Watchdog budget in seconds; 0 disables it (default 600). */
  agentTimeoutSeconds: number;
  /** Grace between SIGTERM and SIGKILL in seconds (default 10); at shutdown at most {@link SHUTDOWN_GRACE_SECONDS}. */
  stopGraceSeconds: number;
  /** How every container is confined: capabilities, pids, memory, CPUs, network (hardening.ts). */
  hardening: HardeningSettings;
}

export const DEFAULT_SETTINGS: PipelineSettings = {
  prefix: 'borg',
  image: 'borg-agent-demo:latest',
  maxParallelAgents: 4,
  agentTimeoutSeconds: 600,
  stopGraceSeconds: 10,
  hardening: DEFAULT_HARDENING,
};

/**
 * Most seconds of grace between SIGTERM and SIGKILL when shutdown stops agents: VS Code ends the
 * extension host about 5 s after it calls `deactivate()` (measured, see ../shared/harness.md),
 * and the database must still be flushed after the agents were joined.
 */
export const SHUTDOWN_GRACE_SECONDS = 2;

/** Finished agents kept for the views (most recent first); older ones are released. */
export const FINISHED_AGENTS_KEPT = 50;

/** The personas agents run as. */
export const PERSONAS = ['manager', 'qa', 'worker'] as const;

export interface PipelineOptions {
  engine: Engine;
  store: Store;
  stateDirs: StateDirs;
  /** This workspace's id (see workspace.ts), put on every container as `borg.workspace`. */
  workspaceId: string;
  settings: () => PipelineSettings;
  /**
   * The model gateway (gateway/gateway.ts), owned by the Runtime. An agent whose network is not
   * `none` gets its folder mounted at /run/borg-gateway (read-only) and a run token on stdin;
   * no key ever goes to a container. Without it, agents have no way to a model.
   */
  gateway?: Gateway;
  /**
   * Every launch first waits for {@link Pipeline.recover} (running it if needed), so adopted
   * agents count against the slots. The extension and `borg run` set it; one-shot CLI commands
   * do not (they would adopt, and wait for, unrelated agents).
   */
  adoptBeforeLaunch?: boolean;
  /**
   * Set when another process holds this workspace's database (dbLock.ts): the Pipeline shows
   * containers but refuses every verb with this reason.
   */
  readOnly?: string;
  /** First `containerSeq` value (tests start near the 2^32 wrap). */
  seqStart?: number;
  maxClaimCandidates?: number;
}

/**
 * Per-launch options. `input` is sent on stdin as one JSON line and kept as Borg's own
 * input.json for that name (never in the agent-writable state dir).
 */
export interface LaunchOptions {
  input?: Partial<AgentInput>;
  /** false: no stdin at all (a test container runs its command and ignores input). Default true. */
  stdin?: boolean;
  env?: string[];
  /** Overrides `hardening.memoryMb` for this launch (bytes). */
  memoryBytes?: number;
  /** Overrides `hardening.network` for this launch (the test container's `borg.testNetwork`). */
  network?: NetworkMode;
  /** false: no gateway for this container (the test container runs no model). Default true. */
  gateway?: boolean;
  /** Overrides the watchdog (`agentTimeoutSeconds`) for this launch; 0 = off. */
  timeoutSeconds?: number;
  /** Overrides the image setting for this launch. */
  image?: string;
  /** Overrides the image's ENTRYPOINT and CMD. */
  entrypoint?: string[];
  cmd?: string[];
  /** Overrides the image's WORKDIR. */
  workdir?: string;
  /** Abandons the launch while it waits for a slot or for recovery (a cancelled task): rejects with RefusedError. */
  signal?: AbortSignal;
  /** More labels (task, phase). */
  labels?: Record<string, string>;
  /** More `host:container[:ro]` binds (a task's worktree and git dir). A Docker socket is refused. */
  binds?: string[];
  /**
   * Host folders the container writes besides its state dir (a task's worktree and git
   * sandbox): when the container runs as another uid than the host user (the host user is root,
   * see ownership.ts), they are handed to that uid first.
   */
  writable?: string[];
}

export interface LaunchResult {
  name: string;
  id: string;
  /** The tracked run; `agent.done` settles when it ends. */
  agent: Agent;
  reclaimed: boolean;
  stateDir: string;
  skipped: Array<{ name: string; reason: SkipReason }>;
}

/** A launch waiting for a free slot. `queuedAt` in ms since the epoch. */
export interface QueuedLaunch {
  /** This Pipeline's number for it (for {@link Pipeline.cancelQueued}); unique per Pipeline. */
  id: number;
  persona: string;
  queuedAt: number;
  /** The task and phase it runs (`borg.task` / `borg.phase` labels), for a task's launch. */
  task?: string;
  phase?: string;
}

/** What {@link Pipeline.recover} found: names adopted (running), collected (exited while away), lost (vanished) and removed (never started). */
export interface RecoveryReport {
  adopted: string[];
  collected: string[];
  lost: string[];
  /** Containers created but never started (their launch died), and reclaimed ones a claim moved aside but did not remove, removed. */
  removed: string[];
  /** Runs given up as lost while their Docker was gone, found running again: killed, never adopted. */
  killed: string[];
}

/** A launch's container created (and attached) before its slot: see Pipeline.stageAhead. */
interface Staged {
  claim: { name: string; created: string; reclaimed: boolean; skipped: Array<{ name: string; reason: SkipReason }> };
  stream: Duplex;
  /** The Docker host it was placed on (several hosts); undefined with one daemon. */
  host?: string;
}

/** A queued launch's handles: its abort, and, until called, the start of its staging. */
interface Waiter {
  abort: AbortController;
  stage?: () => void;
  /** The Docker host its slot is on: placed when it stages (several hosts), fixed for a container that exists. */
  host?: string;
}

/** How shutdown treats running agents: `detach` leaves containers running, `stop` stops them. */
export type ShutdownMode = 'detach' | 'stop';

/**
 * The Pipeline: one per extension activation (or CLI run). Owns `containerSeq`, the agent
 * slots, every {@link Agent} and every launch in flight, so {@link joinAgents} can await them
 * all. Views read its state (`containers`, `agents`, counts) and listen to `onDidChange`; they
 * never call Docker themselves.
 */
export class Pipeline extends Disposable {
  readonly seq: ContainerSeq;
  /**
   * Labelled containers of this workspace as of the last {@link refresh}, but for those made
   * ahead for launches still waiting for a slot (the views show those as queued launches; Remove
   * Exited Agents must not take them for clean exits).
   */
  containers: ContainerInfo[] = [];
  /** Set when the last refresh could not reach Docker. */
  dockerError: DockerUnreachableError | undefined;

  private readonly agentsByName = new Map<string, Agent>();
  private readonly inflight = new Set<Promise<unknown>>();
  /**
   * Agents whose end is not recorded yet. An agent's `state` leaves `running` before its `done`
   * settles (its log is still being closed), so joins wait on this set, not on the state.
   */
  private readonly unsettled = new Map<Agent, Promise<void>>();
  /** Removals of reclaimed containers moved aside by a claim (claim.ts), joined by {@link joinAgents}. */
  private readonly removals = new Set<Promise<void>>();
  private readonly slots: Slots;
  private stopped = false;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private recovering: Promise<RecoveryReport> | undefined;
  private readonly waiting = new Map<QueuedLaunch, Waiter>();
  /** Containers created ahead of their slot (see {@link stageAhead}) and not started yet: recovery leaves them alone. */
  private readonly stagedIds = new Set<string>();
  private queuedSeq = 0;
  private stopAllGeneration = 0;
  /** Exit facts inspected once per exited container id (a list carries neither): OOM flag and Docker's FinishedAt. */
  private readonly exitById = new Map<string, { oomKilled: boolean; finishedAt?: string }>();

  private readonly changed = this.register(new Emitter<void>());
  /** Fires when containers, agents, counts or the Docker error changed. */
  readonly onDidChange = this.changed.event;
  private readonly output = this.register(new Emitter<{ agent: string; line: string }>());
  /** Fires for every output line of every agent. */
  readonly onDidOutput = this.output.event;

  constructor(private readonly o: PipelineOptions) {
    super();
    this.seq = new ContainerSeq(o.seqStart ?? 0);
    // Several Docker hosts: one pool per host (each its own slots); else one of maxParallelAgents.
    const hosts = o.engine.hosts;
    this.slots = new Slots(o.settings().maxParallelAgents, hosts ? () => o.engine.hosts ?? hosts : undefined);
  }

  get engine(): Engine {
    return this.o.engine;
  }

  get stateDirs(): StateDirs {
    return this.o.stateDirs;
  }

  get workspaceId(): string {
    return this.o.workspaceId;
  }

  /** Agents followed by this Pipeline: the running ones and the last {@link FINISHED_AGENTS_KEPT} finished, by container name. */
  get agents(): ReadonlyMap<string, Agent> {
    return this.agentsByName;
  }

  /** Agents holding a slot now. */
  get runningCount(): number {
    return this.slots.running;
  }

  /** Launches waiting for a slot. */
  get queuedCount(): number {
    return this.slots.queued;
  }

  /** Launches waiting for a slot, oldest first. */
  get queued(): QueuedLaunch[] {
    return [...this.waiting.keys()];
  }

  /**
   * Cancels one launch still waiting for a slot (or for recovery): its place in the queue is
   * given up and its promise rejects with an InterruptedError ("Cancelled before it started.").
   * @returns false when it is no longer queued (it started, or was cancelled already).
   */
  cancelQueued(id: number): boolean {
    for (const [q, w] of this.waiting) {
      if (q.id !== id) continue;
      w.abort.abort();
      return true;
    }
    return false;
  }

  /** Agents allowed at once: the live `maxParallelAgents` setting (applied to the slots as it is read). */
  get maxParallel(): number {
    const max = this.o.settings().maxParallelAgents;
    if (max !== this.slots.limit) this.slots.setLimit(max);
    return this.slots.limit;
  }

  /** Why this Pipeline changes nothing (another process holds the database), or undefined. */
  get readOnlyReason(): string | undefined {
    return this.o.readOnly;
  }

  /** True once {@link stop} ran: no new work is accepted. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Takes the next number from `containerSeq` and returns `<prefix>-<persona>-<n>`.
   * @throws InvalidInputError when prefix or persona breaks Docker's name rule or the name is too long.
   */
  containerName(persona: string): string {
    const prefix = this.o.settings().prefix;
    validateNamePart('container prefix (borg.containerPrefix)', prefix);
    validateNamePart('persona', persona);
    return containerName(prefix, persona, this.seq.next());
  }

  /**
   * Launches an agent of `persona`: waits for a slot, claims a name (see claim.ts), creates the
   * container with Borg's labels and the state dir mounted at /home/agent/state, attaches,
   * starts it, sends `input` on stdin and hands it to a tracked {@link Agent}. Resolves once the
   * container runs.
   * @throws InvalidInputError (bad prefix/persona), ImageMissingError, DockerUnreachableError,
   *   PipelineStoppedError (shutting down), BorgError (no free name).
   */
  launch(persona: string, opts: LaunchOptions = {}): Promise<LaunchResult> {
    return this.track(() => this.launchNow(persona, opts));
  }

  /**
   * Every path that starts a container (launch, hardline, reclaim) runs through here, so
   * {@link joinAgents} and {@link shutdown} see it from its first await to the Agent it hands
   * over: a window closed between attach and start still detaches (or stops) that agent.
   */
  private track<T>(start: () => Promise<T>): Promise<T> {
    try {
      this.assertRunning();
    } catch (e) {
      return Promise.reject(e);
    }
    const run = start();
    this.inflight.add(run);
    this.changed.fire();
    const forget = () => {
      this.inflight.delete(run);
      this.changed.fire();
    };
    run.then(forget, forget);
    return run;
  }

  private async launchNow(persona: string, opts: LaunchOptions): Promise<LaunchResult> {
    const settings = this.o.settings();
    validateNamePart('container prefix (borg.containerPrefix)', settings.prefix);
    validateNamePart('persona', persona);
    containerName(settings.prefix, persona, 0xffff_ffff); // the longest name this launch can make must fit
    const image = opts.image ?? settings.image;
    const gateway = this.usesGateway(opts.network ?? settings.hardening.network, opts); // refused before it queues
    const input: AgentInput = { ...opts.input, persona };
    // Image check, claim, create and attach need no slot (a created container runs nothing), so
    // a queued launch does them while it waits; only the start waits for the slot.
    const stage = async (host?: string): Promise<Staged> => {
      const img = await this.o.engine.image(image, host);
      if (!img) throw new ImageMissingError(image);
      const claim = await claimName({
        engine: this.o.engine,
        namePrefix: `${settings.prefix}-${persona}-`,
        nextCandidate: () => this.nextName(settings.prefix, persona),
        workspaceId: this.o.workspaceId,
        maxCandidates: this.o.maxClaimCandidates ?? MAX_CLAIM_CANDIDATES,
        create: (name) => this.createContainer(name, persona, image, img.user, input, opts, settings, gateway, host),
        adoptRemoval: (removal) => this.adoptRemoval(removal),
      });
      this.stagedIds.add(claim.created);
      try {
        const stream = await this.o.engine.attach(claim.created, { stdin: opts.stdin !== false });
        return { claim, stream, host };
      } catch (e) {
        await this.discard({ claim });
        throw e;
      }
    };
    return this.withSlot(
      settings,
      async (release, staged) => {
        const { claim, stream } = staged!;
        const { name, created: id } = claim;
        const agent = await this.startAndFollow({
          name,
          id,
          persona,
          input,
          release,
          settings,
          opts,
          gateway,
          stream,
          host: staged!.host,
          event: claim.reclaimed ? 'reclaimed' : 'launched',
          detail: { image, skipped: claim.skipped },
        });
        return { name, id, agent, reclaimed: claim.reclaimed, stateDir: this.o.stateDirs.dir(name), skipped: claim.skipped };
      },
      { persona, signal: opts.signal, labels: opts.labels, early: { stage, discard: (st) => this.discard(st) } },
    );
  }

  /**
   * The next candidate name from `containerSeq`. While a Docker host is down, a name Borg's
   * records still hold (any state but removed) is passed over: its container may be on that
   * host, which no inspect can see now, and names are unique per daemon only.
   */
  private nextName(prefix: string, persona: string): string {
    const someDown = this.o.engine.hosts?.some((h) => !h.up) ?? false;
    for (;;) {
      const name = containerName(prefix, persona, this.seq.next());
      if (!someDown) return name;
      const row = this.o.store.getContainer(name);
      if (!row || row.state === 'removed') return name;
    }
  }

  /**
   * Removes a container a launch created ahead of its slot and never started (the launch was
   * cancelled, stopped or failed meanwhile). Never throws: a container Docker still holds is a
   * never-started one, which the next recovery removes (it has no database row).
   */
  private async discard(st: { claim: { created: string }; stream?: Duplex }): Promise<void> {
    st.stream?.destroy();
    await this.o.engine.remove(st.claim.created, { force: true }).catch(() => undefined);
    this.stagedIds.delete(st.claim.created);
  }

  /**
   * Hardline: brings a crashed (or OOM-killed) agent back. Docker reruns the entrypoint with a
   * fresh, empty stdin on restart, so we attach *before* `start` and send the agent's input
   * (input.json from its state dir) again; the agent can resume its session from the state dir.
   * The restarted container is followed like any agent (slot, watchdog counted from the new
   * start with the budget in its `borg.timeout` label, log), and tracked as a launch until then.
   * `nameOrId` may be an id or id prefix: the container's real name is used from then on.
   * @throws RefusedError when the container is not ours, another workspace's, not crashed, or
   *   has no input.json; DockerUnreachableError; PipelineStoppedError.
   */
  hardline(nameOrId: string): Promise<Agent> {
    return this.track(() => this.hardlineNow(nameOrId));
  }

  private async hardlineNow(nameOrId: string): Promise<Agent> {
    const info = await this.ours('hardline', nameOrId);
    const name = info.name;
    const input = readAgentInput(this.o.stateDirs.readFile(name, INPUT_FILE), info.persona);
    if (!input) {
      throw new RefusedError(`${name} has no readable ${INPUT_FILE} in Borg's records (${this.o.stateDirs.hostDir(name)}), so its input cannot be sent again.`);
    }
    // Let the agent resume the crashed session (Claude Code: --resume <session_id>), whose history is in the state dir.
    const session = this.sessionOf(info.id);
    if (session) input.resumeSessionId = session;
    const persona = info.persona ?? input.persona;
    const settings = this.o.settings();
    return this.withSlot(
      settings,
      async (release) => {
        const fresh = await this.inspect(info.id); // it may have been hardlined elsewhere while we queued
        checkVerb('hardline', fresh, name);
        this.exitById.delete(fresh.id); // Docker resets OOMKilled on start
        const timeoutSeconds = timeoutOf(fresh.labels) ?? settings.agentTimeoutSeconds;
        return this.startAndFollow({
          name,
          id: fresh.id,
          persona,
          input,
          release,
          settings,
          opts: { timeoutSeconds },
          gateway: fresh.labels?.[LABEL_GATEWAY] === 'true' && !!this.o.gateway,
          labels: fresh.labels,
          host: fresh.host,
          event: 'hardline',
          detail: { previousExitCode: fresh.exitCode ?? null, resumedSession: session ?? null },
        });
      },
      { persona, labels: info.labels, host: info.host },
    );
  }

  /**
   * Reclaim: removes a cleanly exited agent's container and launches a fresh one under the same
   * name, with the same persona, image and state dir.
   * `nameOrId` may be an id or id prefix: the container's real name is reused, never the prefix.
   * @throws RefusedError when the container is not ours, another workspace's, or did not exit
   *   cleanly (a crashed one points at hardline); NameConflictError when another window took
   *   the name meanwhile.
   */
  reclaim(nameOrId: string, opts: LaunchOptions = {}): Promise<LaunchResult> {
    return this.track(() => this.reclaimNow(nameOrId, opts));
  }

  private async reclaimNow(nameOrId: string, opts: LaunchOptions): Promise<LaunchResult> {
    const info = await this.ours('reclaim', nameOrId);
    const name = info.name;
    const persona = info.persona ?? 'agent';
    const settings = this.o.settings();
    const image = opts.image ?? info.image;
    const previous = readAgentInput(this.o.stateDirs.readFile(name, INPUT_FILE), persona);
    const input: AgentInput = { ...(previous ?? { persona }), ...opts.input, persona };
    const gateway = this.usesGateway(opts.network ?? settings.hardening.network, opts);
    return this.withSlot(
      settings,
      async (release) => {
        const img = await this.o.engine.image(image);
        if (!img) throw new ImageMissingError(image);
        await this.o.engine.remove(info.id);
        const id = await this.createContainer(name, persona, image, img.user, input, opts, settings, gateway, info.host);
        const agent = await this.startAndFollow({ name, id, persona, input, release, settings, opts, gateway, host: info.host, event: 'reclaimed', detail: { image, previousId: info.id } });
        return { name, id, agent, reclaimed: true, stateDir: this.o.stateDirs.dir(name), skipped: [] };
      },
      { persona, signal: opts.signal, labels: opts.labels, host: info.host },
    );
  }

  /**
   * Stops a running agent (SIGTERM, SIGKILL after `stopGraceSeconds`); a followed one ends as
   * `stopped` (its task phase is interrupted, not failed). @throws RefusedError when not ours,
   * another workspace's, or not running.
   */
  async stopAgent(nameOrId: string): Promise<void> {
    const info = await this.ours('stop', nameOrId);
    const name = info.name;
    const agent = this.agentsByName.get(name);
    if (agent && agent.state === 'running' && agent.id === info.id) {
      await agent.stop();
      await agent.done;
    } else {
      await this.o.engine.stop(info.id, this.o.settings().stopGraceSeconds);
      // Borg's record that it stopped this run (the view reads "stopped", not a crash; see endedByOf).
      const after = await this.o.engine.inspect(info.id).catch(() => undefined);
      const exit = { exitCode: after?.exitCode ?? null, oomKilled: after?.oomKilled === true };
      if (after) this.exitById.set(info.id, { oomKilled: exit.oomKilled, finishedAt: after.finishedAt }); // the refresh below needs no inspect of its own
      if (this.o.store.getContainer(name)?.id === info.id) this.o.store.setContainerState(name, 'stopped', exit);
      else this.o.store.upsertContainer({ name, id: info.id, persona: info.persona ?? 'agent', state: 'stopped', ...exit, workspace: this.o.workspaceId });
      this.o.store.addEvent('stopped', name, { id: info.id });
    }
    this.scheduleRefresh();
  }

  /**
   * Removes a stopped agent's container (logs and filesystem go with it) and, unless
   * `keepState`, its state dir; returns the container's real name. @throws RefusedError when not
   * ours, another workspace's, or still running.
   */
  async removeAgent(nameOrId: string, opts: { keepState: boolean }): Promise<string> {
    const info = await this.ours('remove', nameOrId);
    const name = info.name;
    await this.o.engine.remove(info.id);
    if (!opts.keepState) this.o.stateDirs.remove(name);
    this.o.store.setContainerState(name, 'removed');
    this.o.store.addEvent('removed', name, { id: info.id, keptState: opts.keepState });
    this.scheduleRefresh();
    return name;
  }

  /** The last `tail` lines of a container's output (`timestamps`, `since`: see Engine.logs). @throws RefusedError when it is not ours or unknown. */
  async logs(name: string, tail = 2000, opts: { timestamps?: boolean; since?: string } = {}): Promise<string> {
    const info = await this.o.engine.inspect(name);
    checkVerb('logs', info, name);
    return this.o.engine.logs(info.id, tail, opts);
  }

  /**
   * Inspects `nameOrId` (a name, an id or an id prefix, as Docker resolves them) and checks
   * that `verb` fits it and that it is this workspace's (`borg.workspace` label): another
   * folder's agents are that window's, or that `--workspace`'s, to manage.
   * @throws RefusedError (also when read-only); PipelineStoppedError.
   */
  private async ours(verb: 'hardline' | 'reclaim' | 'stop' | 'remove', nameOrId: string): Promise<ContainerInfo> {
    this.assertRunning();
    const info = await this.inspect(nameOrId);
    checkVerb(verb, info, nameOrId);
    if (info.workspace !== this.o.workspaceId) {
      throw new RefusedError(
        `${info.name} belongs to another workspace (borg.workspace ${info.workspace ?? 'unset'}; this one is ${this.o.workspaceId}). ` +
          'Manage it from the window of that folder, or with `borg --workspace <that folder>`.',
      );
    }
    return info;
  }

  /**
   * The session id of the last recorded run of container `id` (stream-json `session_id`, kept
   * with the run's event in the database when it ended), so hardline resumes that container's
   * own session — never another run's under the same name, nor anything the agent wrote.
   */
  private sessionOf(id: string): string | undefined {
    const rows = this.o.store.query('SELECT detail FROM events WHERE detail LIKE ? AND detail LIKE \'%"sessionId":"%\' ORDER BY id DESC LIMIT 20', [`%"id":"${id}"%`]);
    for (const r of rows) {
      try {
        const d = JSON.parse(String(r.detail)) as { id?: unknown; sessionId?: unknown };
        if (d.id === id && typeof d.sessionId === 'string') return d.sessionId;
      } catch {
        // not JSON: skip
      }
    }
    return undefined;
  }

  private assertRunning(): void {
    if (this.o.readOnly) throw new RefusedError(this.o.readOnly);
    if (this.stopped) throw new PipelineStoppedError();
  }

  /**
   * Runs `fn` holding an agent slot; the slot is released when `fn` fails, else handed to the
   * agent `fn` starts. While it waits, the launch is listed in `queued`.
   */
  private async withSlot<T>(
    settings: PipelineSettings,
    fn: (release: () => void, staged?: Staged) => Promise<T>,
    o: {
      persona?: string;
      signal?: AbortSignal;
      labels?: Record<string, string>;
      /** Stages the container ahead of the slot on the host given (see {@link stageAhead}). */
      early?: { stage: (host?: string) => Promise<Staged>; discard: (s: Staged) => Promise<void> };
      /** The host of a container that exists already (hardline, reclaim): its slot is on that host. */
      host?: string;
    } = {},
  ): Promise<T> {
    const { persona = 'agent', signal: outer, labels = {}, early } = o;
    // The Stop All generation is taken before the first await: a Stop All issued from here on refuses this launch.
    const generation = this.stopAllGeneration;
    this.slots.setLimit(settings.maxParallelAgents);
    const entry: QueuedLaunch = { id: ++this.queuedSeq, persona, queuedAt: Date.now(), task: labels[LABEL_TASK], phase: labels[LABEL_PHASE] };
    // Aborted by the caller's signal (a cancelled task) or by cancelQueued (the Agents view).
    const abort = new AbortController();
    const follow = () => abort.abort();
    outer?.addEventListener('abort', follow, { once: true });
    if (outer?.aborted) abort.abort();
    const signal = abort.signal;
    // Several hosts: a launch is placed when it stages; a run of an existing container keeps its host.
    const waiter: Waiter = { abort, host: o.host ?? (early ? undefined : this.slots.place()) };
    this.waiting.set(entry, waiter);
    this.changed.fire();
    const cancelled = () => new InterruptedError('Cancelled before it started.');
    /** Set when staging failed: the launch gives up its place at once with that error. */
    let stageError: unknown;
    let staging: Promise<Staged> | undefined;
    let release: () => void;
    try {
      if (signal.aborted) throw cancelled();
      // Adopt what is already running before adding to it (a failed recovery surfaces in the launch itself).
      if (this.o.adoptBeforeLaunch) await this.recover().catch(() => undefined);
      else await this.recovering?.catch(() => undefined);
      if (generation !== this.stopAllGeneration) throw new InterruptedError('Stopped by Stop All before it started.');
      if (signal.aborted) throw cancelled();
      this.assertRunning();
      if (early) {
        waiter.stage = () => {
          waiter.host ??= this.slots.place();
          staging = early.stage(waiter.host);
          staging.catch((e: unknown) => {
            stageError = e;
            abort.abort();
          });
          this.slots.admitPlaced();
        };
        this.stageAhead();
      }
      release = await this.slots.acquire(
        signal,
        () => (stageError as Error | undefined) ?? cancelled(),
        () => waiter.host,
      );
    } catch (e) {
      // Given up while queued: a container made for it meanwhile is removed (it never started).
      if (staging && early) await staging.then(early.discard, () => undefined);
      throw e;
    } finally {
      outer?.removeEventListener('abort', follow);
      this.waiting.delete(entry);
      this.changed.fire();
      this.stageAhead();
    }
    let ok = false;
    let staged: Staged | undefined;
    let handed = false;
    try {
      this.assertRunning();
      staged = staging ? await staging : early ? await early.stage(waiter.host) : undefined;
      this.assertRunning();
      handed = true;
      const result = await fn(release, staged);
      ok = true;
      return result;
    } finally {
      if (!ok) release();
      if (!handed && staged && early) await early.discard(staged);
    }
  }

  /**
   * Lets the launches that get the next free slots — the first `maxParallelAgents` in the queue
   * — create and attach their containers now, so a freed slot only has a start to wait for. A
   * created container runs nothing, and starts only with a slot: at most `maxParallelAgents`
   * run, and at most as many more wait created.
   */
  private stageAhead(): void {
    let places = this.slots.limit;
    for (const w of this.waiting.values()) {
      if (places-- <= 0) return;
      const stage = w.stage;
      w.stage = undefined;
      stage?.();
    }
  }

  /**
   * Whether a container with `network` reaches the model through the gateway: every agent whose
   * network is not `none`, unless the launch opts out (test containers).
   * @throws RefusedError when Docker is not on this machine: the gateway's socket can only be
   *   mounted into a local daemon's containers (README, "Remote Docker hosts").
   */
  private usesGateway(network: NetworkMode, opts: LaunchOptions): boolean {
    if (!this.o.gateway || opts.gateway === false || network === 'none') return false;
    // Several hosts: the launch may be placed on any of them, so every one must be on this machine.
    const endpoints = this.o.engine.daemonAddresses ?? [this.o.engine.endpoint];
    const endpoint = endpoints.find((e) => !e.startsWith('unix://') && !e.startsWith('npipe://'));
    if (endpoint !== undefined) {
      throw new RefusedError(
        `Docker is at ${endpoint}, not on this machine, so agents there cannot reach Borg's model gateway (a socket on this machine). ` +
          'Use a local Docker, or set borg.network to none (agents without a model). See the README, "Remote Docker hosts".',
      );
    }
    return true;
  }

  /**
   * Creates (not starts) a confined container for `persona` under `name` (see hardening.ts),
   * running as a non-root uid (ownership.ts) that owns its state dir and `opts.writable`, with
   * the state dir mounted — and, with `viaGateway` (see {@link usesGateway}), the agent's gateway
   * folder read-only and `BORG_GATEWAY_SOCKET`; then writes Borg's own input.json for the name.
   */
  private async createContainer(
    name: string,
    persona: string,
    image: string,
    imageUser: string,
    input: AgentInput,
    opts: LaunchOptions,
    settings: PipelineSettings,
    viaGateway: boolean,
    host?: string,
  ): Promise<string> {
    const owner = containerOwner(imageUser);
    const dir = this.o.stateDirs.ensure(name, owner);
    for (const w of opts.writable ?? []) chownTree(w, owner);
    const hardening: HardeningSettings = { ...settings.hardening, ...(opts.network ? { network: opts.network } : {}) };
    const timeoutSeconds = opts.timeoutSeconds ?? settings.agentTimeoutSeconds;
    const gateway = viaGateway ? this.o.gateway : undefined;
    const id = await this.o.engine.create({
      name,
      image,
      labels: agentLabels(persona, this.o.workspaceId, {
        ...opts.labels,
        [LABEL_LIMITS]: describeLimits(hardening, opts.memoryBytes),
        [LABEL_TIMEOUT]: String(timeoutSeconds),
        [LABEL_GATEWAY]: gateway ? 'true' : 'false',
      }),
      // The images Borg ships end themselves BORG_TIMEOUT_SECONDS after their start, so an agent
      // nobody follows (detached, a one-shot `borg launch`) still ends.
      env: [`BORG_PERSONA=${persona}`, `BORG_TIMEOUT_SECONDS=${timeoutSeconds}`, ...(gateway ? [`BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET_IN_CONTAINER}`] : []), ...(opts.env ?? [])],
      binds: [`${dir}:${STATE_MOUNT}`, ...(gateway ? [`${gateway.folderOf(name)}:${GATEWAY_MOUNT}:ro`] : []), ...(opts.binds ?? [])],
      openStdin: opts.stdin !== false,
      hardening,
      memoryBytes: opts.memoryBytes,
      user: ownerSpec(owner),
      entrypoint: opts.entrypoint,
      cmd: opts.cmd,
      workdir: opts.workdir,
      host,
    });
    // Only once the name is ours: a create that lost the name (409) must not touch the winner's input.
    this.o.stateDirs.writeFile(name, INPUT_FILE, JSON.stringify(input, null, 2));
    return id;
  }

  /**
   * Owns the removal of a reclaimed container a claim moved aside, until it ends ({@link
   * joinAgents}, and so shutdown, awaits it). One that could not be removed (started again
   * meanwhile, Docker gone) is left under its aside name, untouched, with a
   * `reclaim-remove-failed` event; recovery removes it later if the claim table still says so.
   */
  private adoptRemoval(removal: Promise<AsideRemoval>): void {
    const done: Promise<void> = removal
      .then((r) => {
        if (r.error === undefined) return;
        try {
          this.o.store.addEvent('reclaim-remove-failed', r.aside, { id: r.id, from: r.name, error: errorText(r.error) });
        } catch (e) {
          console.error(`[borg] recording the failed removal of ${r.aside} failed`, e);
        }
      })
      .finally(() => this.removals.delete(done));
    this.removals.add(done);
  }

  /**
   * Attaches before start (so no output and no stdin is missed), starts the container, sends
   * `input` as one JSON line followed by EOF (StdinOnce closes the agent's stdin then), records
   * it and hands it to a tracked {@link Agent} that owns the slot's `release`. The input carries
   * `deadline` (ISO time) and `timeoutSeconds` when the watchdog is on, and, for a container
   * made with the gateway (label `borg.gateway`), a new run token (`gateway.token`).
   */
  private async startAndFollow(a: {
    name: string;
    id: string;
    persona: string;
    input: AgentInput;
    release: () => void;
    settings: PipelineSettings;
    opts: LaunchOptions;
    event: string;
    detail: Record<string, unknown>;
    /** The container was made with the gateway (its `borg.gateway` label). */
    gateway: boolean;
    labels?: Record<string, string>;
    /** The stream attached already (a launch attaches while it waits for its slot). */
    stream?: Duplex;
    /** The Docker host it runs on (several hosts). */
    host?: string;
  }): Promise<Agent> {
    const withStdin = a.opts.stdin !== false;
    const stream = a.stream ?? (await this.o.engine.attach(a.id, { stdin: withStdin }));
    this.stagedIds.delete(a.id);
    const startedAt = Date.now();
    const labels = a.labels ?? a.opts.labels ?? {};
    const taskId = labels[LABEL_TASK] && /^\d+$/.test(labels[LABEL_TASK]) ? Number(labels[LABEL_TASK]) : undefined;
    const gatewayRun: RunRef | undefined = a.gateway && this.o.gateway ? { agent: a.name, persona: a.persona, taskId, phase: labels[LABEL_PHASE], startedAt } : undefined;
    let token: string | undefined;
    const timeoutSeconds = a.opts.timeoutSeconds ?? a.settings.agentTimeoutSeconds;
    // The token goes on stdin only (never input.json, env, labels or the database); it is worth nothing outside the gateway.
    const sendInput = () => {
      if (!withStdin) return;
      const input = withDeadline(a.input, timeoutSeconds, startedAt);
      stream.end(JSON.stringify(token ? { ...input, gateway: { token } } : input) + '\n');
    };
    try {
      if (gatewayRun) token = await this.o.gateway!.open(gatewayRun);
      if (this.o.engine.startTakesInput) sendInput(); // Swarm: the input is the task's, given at its start
      await this.o.engine.start(a.id);
    } catch (e) {
      stream.destroy();
      if (gatewayRun) this.o.gateway!.revoke(a.name);
      // Docker went away before the start: nothing to diagnose in it. Remove it if Docker answers
      // again, else record it as never started and recovery removes it. Any other start failure
      // is kept for diagnosis.
      const unreachable = e instanceof DockerUnreachableError;
      if (unreachable) await this.o.engine.remove(a.id, { force: true }).catch(() => undefined);
      this.o.store.upsertContainer({ name: a.name, id: a.id, persona: a.persona, state: unreachable ? 'created' : 'start-failed', exitCode: null, oomKilled: false, workspace: this.o.workspaceId });
      this.o.store.addEvent('start-failed', a.name, { error: errorText(e) });
      if (e instanceof BorgError) throw e;
      throw new BorgError(`Starting ${a.name} failed: ${errorText(e)}. The container is kept for diagnosis (Show Logs, Remove Agent).`, { cause: e });
    }
    if (!this.o.engine.startTakesInput) sendInput();
    this.o.store.upsertContainer({ name: a.name, id: a.id, persona: a.persona, state: 'running', exitCode: null, oomKilled: false, workspace: this.o.workspaceId });
    this.o.store.addEvent(a.event, a.name, { id: a.id, ...(a.host !== undefined ? { host: a.host } : {}), ...a.detail });
    const agent = this.follow(a.name, a.id, a.persona, stream, a.release, { ...a.settings, agentTimeoutSeconds: timeoutSeconds }, startedAt, gatewayRun, a.host);
    this.scheduleRefresh();
    return agent;
  }

  private follow(name: string, id: string, persona: string, stream: Duplex, release: () => void, settings: PipelineSettings, startedAt?: number, gatewayRun?: RunRef, host?: string): Agent {
    this.agentsByName.get(name)?.dispose(); // a finished agent of an earlier run under this name
    const agent = new Agent({
      engine: this.o.engine,
      stateDirs: this.o.stateDirs,
      name,
      id,
      persona,
      stream,
      timeoutMs: settings.agentTimeoutSeconds * 1000,
      graceSeconds: settings.stopGraceSeconds,
      startedAt,
      gatewayRun,
      host,
      onChange: () => this.changed.fire(),
      onOutput: (_a, line) => this.output.fire({ agent: name, line }),
      // The container exited: its slot is free before the exit is inspected and recorded.
      onExited: () => release(),
    });
    this.agentsByName.set(name, agent);
    const settled = agent.done.then(() => {
      release();
      this.record(agent);
      if (agent.state === 'timed-out' && this.o.engine.removesTimedOut) this.removeTimedOut(agent);
      this.unsettled.delete(agent);
      this.releaseFinished();
      this.scheduleRefresh();
    });
    this.unsettled.set(agent, settled);
    return agent;
  }

  /**
   * Removes a timed-out run on an engine that asks for it (Swarm: "the watchdog removes an
   * over-time service"), once its end is recorded; {@link joinAgents} waits for the removal. A
   * failed removal is recorded and leaves the service for Remove Agent.
   */
  private removeTimedOut(agent: Agent): void {
    const done: Promise<void> = this.o.engine
      .remove(agent.id, { force: true })
      .then(
        () => {
          if (this.o.store.getContainer(agent.name)?.id === agent.id) this.o.store.setContainerState(agent.name, 'removed');
          this.o.store.addEvent('removed-timed-out', agent.name, { id: agent.id });
        },
        (e: unknown) => this.o.store.addEvent('remove-timed-out-failed', agent.name, { id: agent.id, error: errorText(e) }),
      )
      .catch((e: unknown) => console.error(`[borg] recording the removal of ${agent.name} failed`, e))
      .finally(() => this.removals.delete(done));
    this.removals.add(done);
  }

  /** Keeps the last {@link FINISHED_AGENTS_KEPT} finished agents (their output for the views) and releases the rest. */
  private releaseFinished(): void {
    const finished = [...this.agentsByName.values()].filter((a) => a.state !== 'running').sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0));
    for (const old of finished.slice(FINISHED_AGENTS_KEPT)) {
      this.agentsByName.delete(old.name);
      old.dispose();
    }
  }

  private record(agent: Agent): void {
    const final: AgentState = agent.state;
    // A detached agent keeps its token: the next gateway of this workspace serves it again.
    const run = agent.gatewayRun;
    if (run && final !== 'detached' && this.o.gateway?.runOf(agent.name)?.startedAt === run.startedAt) this.o.gateway.revoke(agent.name);
    try {
      this.o.store.setContainerState(agent.name, final, { exitCode: agent.exitCode ?? null, oomKilled: agent.oomKilled });
      this.o.store.addEvent(final, agent.name, {
        id: agent.id,
        // The run's own session (hardline resumes it; see sessionOf).
        sessionId: agent.stream.sessionId ?? null,
        lostReason: agent.lostReason ?? null,
        exitCode: agent.exitCode ?? null,
        oomKilled: agent.oomKilled,
        durationMs: (agent.finishedAt ?? Date.now()) - agent.startedAt,
        error: agent.error,
        lastLine: agent.lastLine,
      });
    } catch (e) {
      console.error(`[borg] recording ${agent.name} failed`, e); // store closed during a forced shutdown
    }
  }

  /**
   * Re-reads this workspace's labelled containers from Docker into `containers`. Concurrent
   * calls coalesce. A Docker failure is kept in `dockerError` (and rethrown to the caller).
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    const run = (async () => {
      try {
        do {
          this.refreshAgain = false;
          try {
            // A container made ahead for a launch still waiting for a slot is that queued launch, not an agent that exited.
            const listed = (await this.o.engine.list({ workspace: this.o.workspaceId })).filter((c) => !this.stagedIds.has(c.id));
            this.containers = await this.withExitFacts(listed);
            this.dockerError = undefined;
          } catch (e) {
            this.containers = [];
            this.dockerError = e instanceof DockerUnreachableError ? e : new DockerUnreachableError(this.o.engine.endpoint, String((e as Error).message), { cause: e });
            throw e;
          } finally {
            this.changed.fire();
          }
        } while (this.refreshAgain);
      } finally {
        this.refreshing = undefined;
      }
    })();
    this.refreshing = run;
    return run;
  }

  /**
   * A list carries neither `OOMKilled` (any exit code may come with it: a child process
   * OOM-killed while the main one exits 0) nor `FinishedAt` (the views count "exited 2 min ago"
   * from it, not from the creation): inspect each exited container once and remember both by id
   * until it runs again (Docker resets the flag on start). Then {@link endedByOf} adds how Borg
   * ended it, from Borg's own records.
   */
  private async withExitFacts(list: ContainerInfo[]): Promise<ContainerInfo[]> {
    const rows = this.containerRows();
    for (const c of list) {
      if (!needsInspect(c)) {
        if (c.status !== 'exited' && c.status !== 'dead') this.exitById.delete(c.id); // it runs again: Docker resets the flag
        continue;
      }
      let facts = this.exitById.get(c.id);
      if (facts === undefined) {
        const info = await this.o.engine.inspect(c.id);
        facts = { oomKilled: info?.oomKilled === true, finishedAt: info?.finishedAt };
        this.exitById.set(c.id, facts);
      }
      c.oomKilled = facts.oomKilled;
      c.finishedAt ??= facts.finishedAt;
      c.endedBy = this.endedByOf(c, rows.get(c.name));
    }
    const listed = new Set(list.map((c) => c.id));
    for (const id of [...this.exitById.keys()]) if (!listed.has(id)) this.exitById.delete(id); // removed: forget it
    return list;
  }

  /** This database's container rows by name (none when the store is closed, at shutdown). */
  private containerRows(): Map<string, ContainerRow> {
    try {
      return new Map(this.o.store.listContainers().map((r) => [r.name, r]));
    } catch {
      return new Map();
    }
  }

  /**
   * How Borg ended container `c`'s last run, when it did: the agent this Pipeline followed (same
   * id) or the database row Borg recorded for that id (it outlives a window reload). Only an
   * exited container qualifies, and nothing the container controls is read: an agent that exits
   * 143 by itself has a `crashed` row, so it cannot pass as stopped.
   */
  private endedByOf(c: ContainerInfo, row: ContainerRow | undefined): ContainerInfo['endedBy'] {
    if (c.status !== 'exited') return undefined;
    const agent = this.agentsByName.get(c.name);
    const state = agent && agent.id === c.id && agent.state !== 'running' ? agent.state : row && row.id === c.id ? row.state : undefined;
    return state === 'stopped' || state === 'timed-out' ? state : undefined;
  }

  /**
   * Inspects `nameOrId` and adds Borg's own facts (`endedBy`, see {@link endedByOf}) that the
   * verb table reads: what a command checks before it acts. Undefined when there is no such container.
   * @throws DockerUnreachableError.
   */
  async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    const info = await this.o.engine.inspect(nameOrId);
    if (info) info.endedBy = this.endedByOf(info, this.containerRows().get(info.name));
    return info;
  }

  private scheduleRefresh(): void {
    if (this.isDisposed) return;
    this.refresh().catch(() => undefined);
  }

  /**
   * Reconciles the database with this workspace's labelled containers, once, before any launch
   * (launches wait for it): running containers are adopted (output followed again, a slot
   * taken, the watchdog counting from Docker's StartedAt with the budget in the container's
   * `borg.timeout` label — one found past it is stopped at once); containers that exited while
   * no one followed them get their exit code and OOM recorded; containers never started (a
   * launch died between create and start) are removed; rows whose container vanished (or whose
   * name now holds another container) are marked lost.
   * @throws DockerUnreachableError when Docker cannot be reached (call again later).
   */
  recover(): Promise<RecoveryReport> {
    if (!this.recovering) {
      const run = this.recoverNow();
      this.recovering = run;
      run.catch(() => {
        if (this.recovering === run) this.recovering = undefined; // let a later call retry
      });
    }
    return this.recovering;
  }

  private async recoverNow(): Promise<RecoveryReport> {
    const report: RecoveryReport = { adopted: [], collected: [], lost: [], removed: [], killed: [] };
    const settings = this.o.settings();
    const list = await this.o.engine.list({ workspace: this.o.workspaceId });
    // Serve the runs an earlier gateway handed tokens to, before their agents are adopted.
    await this.o.gateway?.start();
    const byName = new Map(list.map((c) => [c.name, c]));
    for (const c of list) {
      if (this.agentsByName.get(c.name)?.state === 'running' || this.stagedIds.has(c.id)) continue;
      const row = this.o.store.getContainer(c.name);
      const persona = c.persona ?? row?.persona ?? 'agent';
      if (c.status === 'running' && row?.id === c.id && row.state === 'lost') {
        // Given up while its Docker was gone (its phase ran again elsewhere), running again now
        // that it answers: an orphan nobody judges. It is killed, never adopted (two agents on one phase).
        await this.o.engine.kill(c.id).catch(() => undefined);
        this.o.store.addEvent('killed-orphan', c.name, { id: c.id, ...(c.host !== undefined ? { host: c.host } : {}) });
        report.killed.push(c.name);
      } else if (c.status === 'running') {
        const info = await this.o.engine.inspect(c.id);
        if (!info || info.status !== 'running') continue; // exited meanwhile: the next refresh shows it
        const stream = await this.o.engine.attach(c.id, { stdin: false });
        const startedAt = info.startedAt ? Date.parse(info.startedAt) : Date.now();
        const timeoutSeconds = timeoutOf(info.labels) ?? settings.agentTimeoutSeconds;
        this.follow(c.name, c.id, persona, stream, this.slots.take(c.host), { ...settings, agentTimeoutSeconds: timeoutSeconds }, startedAt, this.o.gateway?.runOf(c.name), c.host);
        this.o.store.upsertContainer({ name: c.name, id: c.id, persona, state: 'running', exitCode: null, oomKilled: false, workspace: this.o.workspaceId, createdAt: row?.createdAt });
        this.o.store.addEvent('adopted', c.name, { id: c.id, startedAt: info.startedAt, ...(c.host !== undefined ? { host: c.host } : {}) });
        report.adopted.push(c.name);
      } else if (row && row.id === c.id && (row.state === 'running' || row.state === 'detached') && c.status === 'exited') {
        const info = await this.o.engine.inspect(c.id);
        const exitCode = info?.exitCode ?? c.exitCode ?? null;
        const oomKilled = info?.oomKilled === true;
        const state: AgentState = oomKilled ? 'oom-killed' : exitCode === 0 ? 'exited' : 'crashed';
        this.o.store.setContainerState(c.name, state, { exitCode, oomKilled });
        this.o.store.addEvent('collected', c.name, { id: c.id, exitCode, oomKilled, finishedAt: info?.finishedAt });
        report.collected.push(c.name);
      } else if (c.status === 'exited' && isAsideOf(c.name, c.id)) {
        // Moved aside by a claim that ended before removing it: removed if the claim table still says reclaim.
        const info = await this.o.engine.inspect(c.id);
        if (!info || judge(info, this.o.workspaceId).action !== 'reclaim') continue;
        await this.o.engine.remove(c.id);
        this.o.store.addEvent('removed-aside', c.name, { id: c.id });
        report.removed.push(c.name);
      } else if (c.status === 'created' && (!row || (row.id === c.id && row.state === 'created'))) {
        // Created and never started: its launch died (the host quit before recording it, or Docker
        // went down before the start). A start that failed otherwise stays for diagnosis. Only the
        // database's lock holder launches in this workspace, and recovery runs before its launches.
        await this.o.engine.remove(c.id, { force: true });
        this.o.store.setContainerState(c.name, 'removed');
        this.o.store.addEvent('removed-unstarted', c.name, { id: c.id });
        report.removed.push(c.name);
      }
    }
    // While a Docker host is down its containers are missing from the list, not gone.
    const hostDown = this.o.engine.hosts?.some((h) => !h.up) ?? false;
    for (const row of hostDown ? [] : this.o.store.listContainers()) {
      if (row.workspace !== null && row.workspace !== this.o.workspaceId) continue;
      if (!['running', 'detached', 'created'].includes(row.state)) continue;
      const c = byName.get(row.name);
      if (c && c.id === row.id) continue;
      this.o.store.setContainerState(row.name, 'lost', { exitCode: null, oomKilled: false });
      this.o.store.addEvent('lost', row.name, { id: row.id, replacedBy: c?.id ?? null });
      report.lost.push(row.name);
    }
    // Tokens of runs whose containers no longer run are revoked.
    this.o.gateway?.retain(new Set([...this.agentsByName.values()].filter((a) => a.state === 'running').map((a) => a.name)));
    if (report.adopted.length + report.collected.length + report.lost.length + report.removed.length + report.killed.length > 0) await this.o.store.flush().catch(() => undefined);
    this.scheduleRefresh();
    return report;
  }

  /**
   * Stop All: rejects queued launches, lets launches in flight settle, stops every running
   * agent (SIGTERM, SIGKILL after the grace) and joins them. The Pipeline keeps taking new work.
   */
  async stopAll(): Promise<void> {
    this.stopAllGeneration++; // launches still waiting for recovery refuse when it ends
    this.slots.rejectWaiting(new InterruptedError('Stopped by Stop All before it started.'));
    await Promise.allSettled([...this.inflight]);
    const running = [...this.agentsByName.values()].filter((a) => a.state === 'running');
    await Promise.allSettled(running.map((a) => a.stop()));
    await this.joinAgents();
  }

  /** Stops taking work: new launches are refused and queued ones rejected. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.slots.rejectWaiting(new PipelineStoppedError());
    this.changed.fire();
  }

  /**
   * Resolves when every launch in flight and every agent has settled and its end is recorded, and
   * every reclaimed container moved aside is removed (or left, recorded). Safe to call twice, with
   * nothing running, or after a failed launch; agents that start while it waits are awaited too.
   */
  async joinAgents(): Promise<void> {
    for (;;) {
      const pending = [...this.inflight, ...this.unsettled.values(), ...this.removals];
      if (pending.length === 0) return;
      await Promise.allSettled(pending);
    }
  }

  /**
   * The shutdown sequence behind `deactivate()` and the CLI's signals: stop taking work, let
   * launches in flight settle, detach from (or stop, with at most {@link SHUTDOWN_GRACE_SECONDS}
   * of grace) every running agent, join them all, then flush the store. Agents that a launch in
   * flight hands over meanwhile are detached or stopped too. Never rejects; a failed flush is
   * reported on the console and the old DB file stays intact.
   */
  async shutdown(mode: ShutdownMode): Promise<void> {
    this.stop();
    const grace = Math.min(this.o.settings().stopGraceSeconds, SHUTDOWN_GRACE_SECONDS);
    const ended = new Set<Agent>();
    for (;;) {
      await Promise.allSettled([...this.inflight]);
      const running = [...this.agentsByName.values()].filter((a) => a.state === 'running' && !ended.has(a));
      if (running.length === 0 && this.inflight.size === 0) break;
      for (const a of running) ended.add(a);
      await Promise.allSettled(running.map((a) => (mode === 'stop' ? a.stop(grace) : (a.detach(), Promise.resolve()))));
    }
    await this.joinAgents();
    try {
      await this.o.store.flush();
    } catch (e) {
      console.error('[borg] flushing the database at shutdown failed', e);
    }
  }

  /** Disposes agents (aborting their follows), timers and listeners. Call after {@link shutdown}. */
  override dispose(): void {
    this.stop();
    for (const agent of this.agentsByName.values()) agent.dispose();
    super.dispose();
  }
}
