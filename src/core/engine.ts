import Docker from 'dockerode';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { currentContextName } from './dockerContext';
import { dockerDownOf } from './dockerDown';
import { describeChoice, DockerEndpoint, EndpointSource, isPlainRemote, modemOptions, rawEndpoint, resolveDockerEndpoint, resolveHostEndpoint } from './dockerEndpoint';
import { DockerUnreachableError, BorgError, ImageMissingError, InvalidInputError, NameConflictError } from './errors';
import { assertNoDockerSocket, hardenedHostConfig, HardeningSettings } from './hardening';
import { isManaged, LABEL_MANAGED, LABEL_PERSONA, LABEL_WORKSPACE } from './labels';

/**
 * Container states as Docker reports them in `State.Status` (Engine API, ContainerState).
 * @see https://docs.docker.com/engine/api/v1.41/#tag/Container/operation/ContainerInspect
 */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** What Borg needs to know about one container, from a list or an inspect. */
export interface ContainerInfo {
  id: string;
  /** Without Docker's leading slash. */
  name: string;
  status: ContainerStatus;
  /** Set once the container has exited (from inspect, or parsed from a list's "Exited (N)"). */
  exitCode?: number;
  /**
   * Only known from inspect; undefined from a list. Docker resets it when the container starts,
   * and sets it with any exit code (a child OOM-killed while the main process exits 0).
   */
  oomKilled?: boolean;
  /** ISO timestamps from inspect; undefined from a list or when Docker reports its zero time. */
  startedAt?: string;
  finishedAt?: string;
  /** Creation time, ms since the epoch. */
  createdAt: number;
  image: string;
  labels: Record<string, string>;
  managed: boolean;
  persona?: string;
  workspace?: string;
  /** True when this came from inspect (so exitCode/oomKilled are exact). */
  inspected: boolean;
  /**
   * How Borg itself ended this exited run: `stopped` (Stop Agent, Stop All, a shutdown in stop
   * mode) or `timed-out` (the watchdog). Only the Pipeline sets it, from its own records (its
   * agents, the database's `containers` row for this id) — never from Docker or anything the
   * container can write, so an agent that exits 143 by itself stays a crash.
   */
  endedBy?: 'stopped' | 'timed-out';
  /** `Config.WorkingDir` (only from inspect; '' or undefined: the image's, or `/`). */
  workingDir?: string;
  /**
   * Where it runs: the name of its Docker host (a member of the hosts engine, `borg.docker.hosts`)
   * or, with the Swarm engine, the hostname of the node its task was placed on. Undefined with a
   * single Docker daemon (and for a Swarm task not placed yet).
   */
  host?: string;
}

/** One event Docker recorded for a container (`kill` with its `signal`, `oom`, `die`, `destroy`, …). */
export interface ContainerEvent {
  action: string;
  /** ms since the epoch. */
  at: number;
  attributes: Record<string, string>;
}

/** One event of Docker's live stream for a labelled container (`create`, `start`, `die`, `destroy`, …). */
export interface LiveContainerEvent extends ContainerEvent {
  /** The container's id. */
  id: string;
}

/** What `create` needs. `binds` are `host:container[:ro]` strings. */
export interface CreateSpec {
  name: string;
  image: string;
  labels: Record<string, string>;
  env?: string[];
  binds?: string[];
  /** Keep stdin open until the first attached client detaches, so an agent reads exactly one input. */
  openStdin?: boolean;
  tty?: boolean;
  /** Confinement (see hardening.ts); applied to every container. */
  hardening: HardeningSettings;
  /** Overrides `hardening.memoryMb` (bytes). */
  memoryBytes?: number;
  /** `uid:gid`; never root (see ownership.ts). */
  user: string;
  /** Overrides the image's ENTRYPOINT / CMD (the test container runs `/bin/sh -c <command>`). */
  entrypoint?: string[];
  cmd?: string[];
  /** Overrides the image's WORKDIR. */
  workdir?: string;
  /** The Docker host to create it on (a {@link Engine.hosts} name, chosen by the Pipeline's slots); ignored by single-host engines. */
  host?: string;
}

/** One Docker host of an engine that spreads agents over several (`borg.docker.hosts`). */
export interface HostState {
  /** Unique, shown in the Agents view and recorded with each run. */
  name: string;
  /** Its address, for messages. */
  address: string;
  /** How many agents it runs at once (≥ 1). */
  slots: number;
  /** False after a call failed to reach it, until one reaches it again. */
  up: boolean;
  /** Why it is down (the last connection failure), for messages. */
  error?: string;
}

/**
 * Everything Borg asks of a container engine. {@link DockerEngine} implements it over dockerode;
 * the unit tests' fake (test/unit/fakeDocker.ts) implements it in memory, so the Pipeline's edge
 * cases (spawn failure, crash, joins, shutdown during a launch or a hardline) have fast tests
 * besides the real-Docker ones. Errors follow the same rules in every implementation:
 * connection failures are {@link DockerUnreachableError}, 409 on create {@link NameConflictError},
 * 404 on inspect is `undefined` and nothing else is ever read as "not found".
 */
export interface Engine {
  /** The address in use, for messages. */
  readonly endpoint: string;
  /** True when the connection is plain HTTP to a host that is not this machine (secrets stay home). */
  readonly insecureRemote?: boolean;
  /**
   * Set by engines over several Docker hosts: the Pipeline keeps one slot pool per host, places
   * each launch on the least loaded host that is up and passes it as {@link CreateSpec.host}.
   * Undefined: one daemon (or Swarm, which places tasks itself) and one pool of
   * `maxParallelAgents`.
   */
  readonly hosts?: readonly HostState[];
  /**
   * True when the agent's input must be written to the attached stream, and the stream ended,
   * *before* {@link start} (Swarm: a service has no stdin to attach to, so the input becomes the
   * task's input secret at start). False/undefined: attach, start, then write (Docker).
   */
  readonly startTakesInput?: boolean;
  /**
   * False when {@link rename} cannot work (Swarm: services cannot be renamed): the claim then
   * removes a reclaimed one in place instead of moving it aside. Undefined/true: it can.
   */
  readonly canRename?: boolean;
  /**
   * The addresses of the daemons a new container may land on, for the gateway's rule (its socket
   * can only be mounted by a daemon on this machine: pipeline.ts `usesGateway`). Several hosts:
   * each host's; Swarm: the manager's while tasks are pinned to its node, else a description of
   * where placement may put them. Undefined: `[endpoint]`.
   */
  readonly daemonAddresses?: readonly string[];
  /**
   * True when the watchdog's end of a run also removes it (Swarm: an over-time service is
   * removed once its exit is recorded). False/undefined: a timed-out container is kept (hardline).
   */
  readonly removesTimedOut?: boolean;
  ping(): Promise<void>;
  list(filter?: { managedOnly?: boolean; workspace?: string; namePrefix?: string }): Promise<ContainerInfo[]>;
  inspect(nameOrId: string): Promise<ContainerInfo | undefined>;
  create(spec: CreateSpec): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string, graceSeconds: number): Promise<void>;
  kill(id: string): Promise<void>;
  remove(id: string, opts?: { force?: boolean }): Promise<void>;
  /**
   * Renames container `id` to `name` (any state; Docker frees the old name at once). False when
   * no container has that id (404). @throws NameConflictError when `name` is taken (409).
   */
  rename(id: string, name: string): Promise<boolean>;
  wait(id: string, signal?: AbortSignal): Promise<number>;
  attach(id: string, opts: { stdin: boolean; signal?: AbortSignal }): Promise<Duplex>;
  demux(stream: Readable): { stdout: PassThrough; stderr: PassThrough };
  logs(id: string, tail?: number, opts?: { timestamps?: boolean; since?: string }): Promise<string>;
  containerEvents(id: string, sinceMs: number): Promise<ContainerEvent[]>;
  /**
   * Follows Docker's event stream for Borg's containers (`borg.managed=true`; with `workspace`,
   * only that workspace's) from now on.
   * Resolves once the stream is open; the iterable ends when Docker ends it (daemon stopped,
   * connection lost) or `signal` aborts. @throws DockerUnreachableError when it cannot be opened.
   */
  events(signal: AbortSignal, filter?: { workspace?: string }): Promise<AsyncIterable<LiveContainerEvent>>;
  /** Labels and `USER` of image `ref`; `host`: on that host (several hosts; others ignore it). */
  image(ref: string, host?: string): Promise<{ labels: Record<string, string>; user: string } | undefined>;
  /** What `path` in container `id` is (`HEAD …/archive`); undefined when the path does not exist. Works on exited containers. */
  archiveStat(id: string, path: string): Promise<ArchiveStat | undefined>;
  /** `path` in container `id` as a tar stream (`GET …/archive`); works on exited containers (no exec). */
  archive(id: string, path: string, signal?: AbortSignal): Promise<Readable>;
}

/**
 * Docker's stat of a container path: the `X-Docker-Container-Path-Stat` header of
 * `HEAD /containers/{id}/archive?path=` (base64 JSON, Engine API ContainerArchiveInfo).
 * `mode` is Go's `os.FileMode` (type bits high: directory 1<<31, symlink 1<<27; see
 * containerFiles.ts `kindOfMode`); `linkTarget` is the resolved target of a symlink.
 */
export interface ArchiveStat {
  name: string;
  size: number;
  mode: number;
  /** RFC 3339, as Docker writes it. */
  mtime: string;
  linkTarget: string;
}

/** Where the Engine talks to, as written (`dockerHost`, else DOCKER_HOST, else the local socket); never throws. See dockerEndpoint.ts. */
export function describeEndpoint(dockerHost?: string): string {
  return rawEndpoint(dockerHost);
}

/**
 * The one wrapper around dockerode. Every Docker call in Borg goes through here, so errors are
 * translated in one place: connection failures become {@link DockerUnreachableError}, 409 on
 * create {@link NameConflictError}, a missing image {@link ImageMissingError}; 404 on inspect is
 * "not found" (undefined), never an error, and no other failure is ever read as "not found".
 */
export class DockerEngine implements Engine {
  private client!: Docker;
  private target!: DockerEndpoint;
  private chosenBy: EndpointSource = { kind: 'default' };

  /**
   * @param dockerHost optional `unix://`, `tcp://`, `http://`, `https://` or `ssh://` address; default `DOCKER_HOST` or the local socket.
   * @param opts.host one `borg.docker.hosts` entry (dockerHosts.ts): its address or context name
   *   is used instead of `dockerHost` / DOCKER_HOST / the current context (dockerEndpoint.ts
   *   `resolveHostEndpoint`), now and on every {@link connect}.
   * @param opts.refusal a choice of engines that cannot work (engines.ts, lenient): every
   *   {@link connect} fails with it, so every call does (the views show "check the setting").
   * @throws InvalidInputError as {@link connect}.
   */
  constructor(dockerHost?: string, opts: { lenient?: boolean; host?: { name: string; address: string }; refusal?: InvalidInputError } = {}) {
    this.hostEntry = opts.host;
    this.refusal = opts.refusal;
    if (opts.lenient) this.tryConnect(dockerHost);
    else this.connect(dockerHost);
  }

  /** The `borg.docker.hosts` entry this engine is bound to, if any. */
  readonly hostEntry: { name: string; address: string } | undefined;
  private readonly refusal: InvalidInputError | undefined;

  /** Set while the address could not be resolved ({@link tryConnect}): every call fails with it. */
  private invalid: { error: InvalidInputError; raw: string; source: EndpointSource } | undefined;

  /**
   * {@link connect} for the extension: a bad address (setting, DOCKER_HOST, a broken context) does
   * not keep the old connection — it is remembered, and every call fails with it as a
   * {@link DockerUnreachableError} whose advice says to check that setting or context (so the views
   * show "check the setting", never silently another daemon). Returns the error, or undefined.
   */
  tryConnect(dockerHost?: string): InvalidInputError | undefined {
    try {
      this.connect(dockerHost);
      return undefined;
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      this.invalid = this.hostEntry
        ? { error: e, raw: this.hostEntry.address, source: { kind: 'host', name: this.hostEntry.name } }
        : { error: e, raw: rawEndpoint(dockerHost), source: failedSource(dockerHost) };
      this.target ??= { kind: 'socket', socketPath: '/var/run/docker.sock', address: this.invalid.raw };
      try {
        this.client ??= new Docker(modemOptions(this.target));
      } catch {
        // docker-modem rejects the environment too: no call gets past `invalid` anyway
      }
      return e;
    }
  }

  /** The resolution error of the address in use, if it could not be resolved. */
  get invalidAddress(): InvalidInputError | undefined {
    return this.invalid?.error;
  }

  /**
   * Points the engine at another daemon (the `borg.dockerHost` setting changed). Calls already
   * running finish on the old connection; new calls use the new one.
   * `tcp://` uses TLS with DOCKER_TLS_VERIFY and the certificates in DOCKER_CERT_PATH, the same
   * whether the address comes from `dockerHost` or DOCKER_HOST (rules in dockerEndpoint.ts).
   * With neither `dockerHost` nor DOCKER_HOST, the current Docker context's address is used
   * (dockerContext.ts), else the default socket.
   * @throws InvalidInputError when the address is not a `unix://`, `tcp://` or `http(s)://` address,
   *   TLS is asked for and a certificate file is missing, or the current context is broken; the
   *   engine keeps its old connection.
   */
  connect(dockerHost?: string): void {
    if (this.refusal) throw this.refusal;
    const { endpoint: target, source } = this.hostEntry ? resolveHostEndpoint(this.hostEntry.address, this.hostEntry.name) : resolveDockerEndpoint(dockerHost);
    let client: Docker;
    try {
      client = new Docker(modemOptions(target));
    } catch (e) {
      // docker-modem reads DOCKER_HOST / DOCKER_CERT_PATH by itself on every construction.
      throw new InvalidInputError(
        `The Docker client cannot start from the environment (DOCKER_HOST="${process.env.DOCKER_HOST ?? ''}", DOCKER_CERT_PATH="${process.env.DOCKER_CERT_PATH ?? ''}"): ${(e as Error).message}. Fix or unset those variables.`,
        { cause: e },
      );
    }
    this.target = target;
    this.chosenBy = source;
    this.client = client;
    this.invalid = undefined;
  }

  /** Which rule chose the endpoint in use (the setting, DOCKER_HOST, a context, the default). */
  get source(): EndpointSource {
    return this.invalid?.source ?? this.chosenBy;
  }

  /** For the log: `Docker at unix:///… (context colima)`. */
  get choice(): string {
    return describeChoice(this.target, this.chosenBy);
  }

  /** The dockerode client (for the few callers that stream, such as hardline's attach). */
  get docker(): Docker {
    return this.client;
  }

  /** The endpoint in use (after {@link connect}; the fallback socket while {@link invalidAddress} is set). */
  get resolved(): DockerEndpoint {
    return this.target;
  }

  /** The address in use, for messages: `unix:///var/run/docker.sock`, `tcp://host:2375`, ... */
  get endpoint(): string {
    return this.invalid?.raw ?? this.target.address;
  }

  /**
   * True when the daemon is reached over plain HTTP on a non-loopback host, so whatever is sent to
   * it (the agents' API key on the attach stream) crosses the network unencrypted. Callers refuse
   * to send secrets then unless `borg.allowInsecureDockerHost` is on.
   */
  get insecureRemote(): boolean {
    return isPlainRemote(this.target);
  }

  /** Resolves when the daemon answers. @throws DockerUnreachableError */
  async ping(): Promise<void> {
    await this.call(() => this.docker.ping());
  }

  /**
   * Lists containers (running or not). With `managedOnly`, only Borg's; with `workspace`, only
   * that workspace's; with `namePrefix`, only names starting with it (Docker's name filter is a
   * regular expression on "/name", so the prefix is escaped).
   */
  async list(filter: { managedOnly?: boolean; workspace?: string; namePrefix?: string } = {}): Promise<ContainerInfo[]> {
    const label: string[] = [];
    if (filter.managedOnly || filter.workspace) label.push(`${LABEL_MANAGED}=true`);
    if (filter.workspace) label.push(`${LABEL_WORKSPACE}=${filter.workspace}`);
    const filters: Record<string, string[]> = {};
    if (label.length) filters.label = label;
    if (filter.namePrefix) filters.name = [`^/${escapeRegExp(filter.namePrefix)}`];
    const rows = await this.call(() => this.docker.listContainers({ all: true, filters }));
    // A Swarm task's container carries Borg's labels too (swarmEngine.ts): it is the service's, not a container agent.
    return rows.filter((r) => !r.Labels?.['com.docker.swarm.task.id']).map(fromListRow);
  }

  /** Inspects by name or id; undefined when Docker answers 404. @throws DockerUnreachableError, BorgError for any other failure. */
  async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    try {
      const info = await this.call(() => this.docker.getContainer(nameOrId).inspect());
      return fromInspect(info);
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Creates (does not start) a container; returns its id. Never sets AutoRemove: logs and
   * filesystem stay for diagnosis. Every container is confined by `spec.hardening`
   * (hardening.ts), never runs as uid 0 and never gets the Docker socket.
   * @throws InvalidInputError for a root user or a bind of a socket; NameConflictError (409);
   *   ImageMissingError; DockerUnreachableError.
   */
  async create(spec: CreateSpec): Promise<string> {
    if (/^0(:|$)/.test(spec.user) || /^root(:|$)/.test(spec.user)) throw new InvalidInputError(`Refusing to run ${spec.name} as root (${spec.user}).`);
    assertNoDockerSocket(spec.binds ?? [], this.endpoint);
    try {
      const c = await this.call(() =>
        this.docker.createContainer({
          name: spec.name,
          Image: spec.image,
          Labels: spec.labels,
          Env: spec.env,
          User: spec.user,
          ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
          ...(spec.cmd ? { Cmd: spec.cmd } : {}),
          ...(spec.workdir ? { WorkingDir: spec.workdir } : {}),
          Tty: spec.tty ?? false,
          OpenStdin: spec.openStdin ?? false,
          StdinOnce: spec.openStdin ?? false,
          AttachStdin: spec.openStdin ?? false,
          AttachStdout: true,
          AttachStderr: true,
          HostConfig: {
            AutoRemove: false,
            Binds: spec.binds,
            ...hardenedHostConfig(spec.hardening, spec.memoryBytes),
          },
        }),
      );
      return c.id;
    } catch (e) {
      const code = statusCode(e);
      if (code === 409) throw new NameConflictError(`The name ${spec.name} is already in use.`, { cause: e });
      if (code === 404 && /image/i.test(errorText(e))) throw new ImageMissingError(spec.image);
      throw e;
    }
  }

  async start(id: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).start());
    } catch (e) {
      if (statusCode(e) === 304) return; // already started
      throw e;
    }
  }

  /** Sends SIGTERM, then SIGKILL after `graceSeconds` (Docker's own stop timeout). Already stopped is fine. */
  async stop(id: string, graceSeconds: number): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).stop({ t: graceSeconds }));
    } catch (e) {
      if (statusCode(e) === 304) return;
      throw e;
    }
  }

  async kill(id: string): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).kill());
    } catch (e) {
      if (statusCode(e) === 409) return; // not running
      throw e;
    }
  }

  /** Removes a stopped container (a running one only with `force`). 404 counts as done. */
  async remove(id: string, opts: { force?: boolean } = {}): Promise<void> {
    try {
      await this.call(() => this.docker.getContainer(id).remove({ force: opts.force ?? false }));
    } catch (e) {
      if (statusCode(e) === 404) return;
      throw e;
    }
  }

  /** See {@link Engine.rename}. */
  async rename(id: string, name: string): Promise<boolean> {
    try {
      await this.call(() => this.docker.getContainer(id).rename({ name }));
      return true;
    } catch (e) {
      const code = statusCode(e);
      if (code === 404) return false;
      if (code === 409) throw new NameConflictError(`The name ${name} is already in use.`, { cause: e });
      throw e;
    }
  }

  /**
   * Waits until the container is not running and returns its exit code. `signal` ends the wait
   * early (rejects with an AbortError) without touching the container.
   * Docker answers `POST /containers/{id}/wait` with its headers at once and the body at the exit,
   * so a daemon that dies in between cuts the body; docker-modem 5 listens for no error on a
   * non-stream body and dockerode's `wait()` then never settles (measured: dockerd 20.10
   * SIGKILLed while a container ran). So the body is read here, and a cut one is a connection
   * failure.
   * @throws DockerUnreachableError when the daemon cannot be reached or went away before the exit;
   *   BorgError (statusCode 404) when no container has that id.
   */
  async wait(id: string, signal?: AbortSignal): Promise<number> {
    for (;;) {
      try {
        return await this.waitOnce(id, signal);
      } catch (e) {
        // A cut wait is not yet a lost container: over tcp or ssh it may be a network blip while
        // the container runs on. Ask once more; only a daemon that does not answer (or a
        // container that no longer runs) ends the wait with the failure.
        if (!(e instanceof DockerUnreachableError) || signal?.aborted) throw e;
        const now = await this.inspect(id).catch(() => undefined);
        if (now?.status !== 'running') throw e;
      }
    }
  }

  private async waitOnce(id: string, signal?: AbortSignal): Promise<number> {
    const res = await this.call(
      () =>
        new Promise<Readable>((resolve, reject) => {
          const opts = { path: `/containers/${encodeURIComponent(id)}/wait?`, method: 'POST', isStream: true, abortSignal: signal, statusCodes: WAIT_STATUS_CODES, options: {} };
          this.docker.modem.dial(opts as never, (err: unknown, data: unknown) => (err ? reject(err as Error) : resolve(data as Readable)));
        }),
    );
    // A connection a NAT or firewall drops silently would never end the wait: TCP keepalive finds it.
    (res as Readable & { socket?: { setKeepAlive?: (on: boolean, ms: number) => void } }).socket?.setKeepAlive?.(true, 30_000);
    const body = await this.call(() => readWaitBody(res, id, signal));
    const code = (parseJson(body) as { StatusCode?: unknown } | undefined)?.StatusCode;
    if (typeof code !== 'number') throw new BorgError(`Docker answered the wait for ${id} without an exit code.`);
    return code;
  }

  /**
   * Attaches to stdin/stdout/stderr (call before `start` to see all output). Returns the raw
   * hijacked duplex: write stdin to it; read multiplexed output with {@link demux} (no TTY).
   */
  async attach(id: string, opts: { stdin: boolean; signal?: AbortSignal }): Promise<Duplex> {
    const stream = await this.call(() =>
      this.docker.getContainer(id).attach({
        stream: true,
        stdin: opts.stdin,
        stdout: true,
        stderr: true,
        hijack: opts.stdin,
        abortSignal: opts.signal,
      } as Docker.ContainerAttachOptions),
    );
    return stream as unknown as Duplex;
  }

  /** Splits Docker's multiplexed stream (8-byte frame headers) into stdout and stderr streams. */
  demux(stream: Readable): { stdout: PassThrough; stderr: PassThrough } {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.docker.modem.demuxStream(stream, stdout, stderr);
    stream.on('end', () => {
      stdout.end();
      stderr.end();
    });
    stream.on('error', () => {
      stdout.end();
      stderr.end();
    });
    return { stdout, stderr };
  }

  /**
   * The last `tail` lines of stdout+stderr, as text; with `timestamps`, each line starts with
   * Docker's RFC 3339 nano receive time and a space; with `since` (`<seconds>.<nanoseconds>`),
   * only lines received at or after that time (Docker keeps the equal ones).
   */
  async logs(id: string, tail = 500, opts: { timestamps?: boolean; since?: string } = {}): Promise<string> {
    const query = { stdout: true, stderr: true, tail, follow: false, timestamps: opts.timestamps ?? false, ...(opts.since ? { since: opts.since } : {}) };
    const buf = (await this.call(() => this.docker.getContainer(id).logs(query as unknown as Docker.ContainerLogsOptions & { follow: false }))) as unknown as Buffer;
    return demuxBuffer(buf);
  }

  /**
   * The events Docker recorded for container `id` from `sinceMs` until now — Engine API
   * `GET /events` with `since` and `until` (answered at once, not followed). A `kill` event is
   * how a stop or kill from outside (`docker stop`, `docker kill`, the daemon shutting down) is
   * told apart from an agent that exited non-zero by itself: a process in the container cannot
   * make the daemon record one.
   */
  async containerEvents(id: string, sinceMs: number): Promise<ContainerEvent[]> {
    const stamp = (ms: number) => `${Math.floor(ms / 1000)}.${String(Math.floor(ms % 1000)).padStart(3, '0')}000000`;
    const opts = { since: stamp(sinceMs), until: stamp(Date.now()), filters: { type: ['container'], container: [id] } };
    const stream = await this.call(() => this.docker.getEvents(opts as unknown as Docker.GetEventsOptions) as unknown as Promise<Readable>);
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    const out: ContainerEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as { Action?: string; status?: string; timeNano?: number; time?: number; Actor?: { Attributes?: Record<string, string> } };
        out.push({ action: e.Action ?? e.status ?? '', at: e.timeNano ? Math.floor(e.timeNano / 1e6) : (e.time ?? 0) * 1000, attributes: e.Actor?.Attributes ?? {} });
      } catch {
        // not an event line
      }
    }
    return out;
  }

  /**
   * Docker's live event stream (Engine API `GET /events`, followed), filtered on
   * `type=container`, `label=borg.managed=true` and the lifecycle actions that change what the
   * views show ({@link LIFECYCLE_EVENTS}) by the daemon, so other containers — and a labelled
   * one's attach, exec or health-check chatter — cost nothing. Lines are NDJSON and may split across chunks; a line that is not JSON is skipped.
   * The labels come from the container (an agent cannot set its own), but attribute values are
   * still only used to decide *that* something changed, never shown.
   */
  async events(signal: AbortSignal, filter: { workspace?: string } = {}): Promise<AsyncIterable<LiveContainerEvent>> {
    // Several label filters must all match (Engine API /events): another window's or workspace's agents cost nothing.
    const label = [`${LABEL_MANAGED}=true`, ...(filter.workspace ? [`${LABEL_WORKSPACE}=${filter.workspace}`] : [])];
    const opts = { filters: { type: ['container'], label, event: [...LIFECYCLE_EVENTS] }, abortSignal: signal };
    const stream = await this.call(() => this.docker.getEvents(opts as unknown as Docker.GetEventsOptions) as unknown as Promise<Readable>);
    return parseEventStream(stream, signal);
  }

  /** Follows the container's output from `since` (s since the epoch) on; the stream is multiplexed. */
  async followLogs(id: string, since: number, signal?: AbortSignal): Promise<Readable> {
    const s = await this.call(() => this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: true, since, abortSignal: signal } as Docker.ContainerLogsOptions & { follow: true }));
    return s as unknown as Readable;
  }

  /** True when `ref` (`repo:tag`) is present locally (no registry is asked). */
  async imageExists(ref: string): Promise<boolean> {
    return (await this.image(ref)) !== undefined;
  }

  /** The labels of local image `ref` ({} when it has none), or undefined when it is not present. */
  async imageLabels(ref: string): Promise<Record<string, string> | undefined> {
    return (await this.image(ref))?.labels;
  }

  /** Labels and `USER` ('' when unset) of local image `ref`, or undefined when it is not present. */
  async image(ref: string): Promise<{ labels: Record<string, string>; user: string } | undefined> {
    try {
      const info = await this.call(() => this.docker.getImage(ref).inspect());
      return { labels: info.Config?.Labels ?? {}, user: info.Config?.User ?? '' };
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Imports a root filesystem tar as image `repo:tag` (`docker import`), applying Dockerfile
   * instructions in `changes` (e.g. `ENTRYPOINT [...]`). Resolves when the import finished.
   */
  async importImage(tar: Readable, repo: string, tag: string, changes: string[]): Promise<void> {
    const out = await this.call(() => this.docker.importImage(tar, { repo, tag, changes } as object));
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(out as unknown as Readable, (err: Error | null, res: Array<{ error?: string }>) => {
        const failed = res?.find((r) => r.error);
        if (err || failed) reject(new BorgError(`Importing ${repo}:${tag} failed: ${err?.message ?? failed?.error}`));
        else resolve();
      });
    });
  }

  /** Runs `fn` and turns connection failures into {@link DockerUnreachableError}. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.invalid) {
      const { error, raw, source } = this.invalid;
      throw new DockerUnreachableError(raw, error.message.replace(/\.$/, ''), { cause: error, advice: dockerDownOf(error, raw, source).advice });
    }
    try {
      return await fn();
    } catch (e) {
      if (isConnectionError(e)) {
        const advice = dockerDownOf(e, this.endpoint, this.source).advice;
        throw new DockerUnreachableError(this.endpoint, errorText(e), { cause: e, advice });
      }
      throw e;
    }
  }

  /**
   * Docker's stat of `path` in container `id`, any state (the daemon mounts an exited
   * container's filesystem for it; no process runs). Undefined on 404 (no such path; the
   * container is assumed to exist: inspect first).
   * @throws DockerUnreachableError; BorgError for any other failure.
   */
  async archiveStat(id: string, path: string): Promise<ArchiveStat | undefined> {
    let res: { headers?: Record<string, string | string[] | undefined>; resume?: () => void };
    try {
      res = (await this.call(() => this.docker.getContainer(id).infoArchive({ path }))) as typeof res;
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
    res.resume?.(); // a HEAD answer has no body; free the socket
    const raw = res.headers?.['x-docker-container-path-stat'];
    if (typeof raw !== 'string') throw new BorgError(`Docker answered a stat of ${path} without its X-Docker-Container-Path-Stat header.`);
    const j = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as Partial<ArchiveStat>;
    return { name: String(j.name ?? ''), size: Number(j.size ?? 0), mode: Number(j.mode ?? 0), mtime: String(j.mtime ?? ''), linkTarget: String(j.linkTarget ?? '') };
  }

  /**
   * `path` of container `id` as an (uncompressed) tar stream: a file as one entry named by its
   * base name, a directory with everything under it. Works on exited and crashed containers.
   * `signal` aborts the transfer. Destroy the stream to stop reading early.
   * @throws DockerUnreachableError; BorgError with statusCode 404 when the path does not exist.
   */
  async archive(id: string, path: string, signal?: AbortSignal): Promise<Readable> {
    const s = await this.call(() => this.docker.getContainer(id).getArchive({ path, abortSignal: signal } as { path: string }));
    return s as unknown as Readable;
  }
}

/** Container actions that change a list row (state, name, existence); Engine API `/events` `event` filter. */
export const LIFECYCLE_EVENTS = ['create', 'start', 'restart', 'die', 'destroy', 'pause', 'unpause', 'rename', 'oom', 'update'] as const;

/** Which rule chose an address that failed to resolve (the same order as resolveDockerEndpoint). */
function failedSource(dockerHost?: string): EndpointSource {
  if (dockerHost?.trim()) return { kind: 'setting' };
  if (process.env.DOCKER_HOST?.trim()) return { kind: 'env' };
  let name = 'current';
  try {
    name = currentContextName()?.name ?? name;
  } catch {
    // config.json itself is broken
  }
  return { kind: 'context', name, metaFile: '' };
}

// ESSH: an ssh:// host's SSH handshake, host key or login failed (sshTransport.ts).
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'ESSH']);

/** True for a failure to reach the daemon at all (no HTTP answer): what becomes {@link DockerUnreachableError}. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return typeof code === 'string' && CONNECTION_CODES.has(code) && statusCode(e) === undefined;
}

/** The HTTP status Docker answered with, when the error came from an answer. */
export function statusCode(e: unknown): number | undefined {
  const c = (e as { statusCode?: unknown })?.statusCode;
  return typeof c === 'number' ? c : undefined;
}

/** The daemon's message (`json.message`) or the error's own. */
export function errorText(e: unknown): string {
  const j = (e as { json?: { message?: string } })?.json;
  if (j && typeof j.message === 'string') return j.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

function fromListRow(row: Docker.ContainerInfo): ContainerInfo {
  const labels = row.Labels ?? {};
  const exited = /^Exited \((-?\d+)\)/.exec(row.Status ?? '');
  return {
    id: row.Id,
    name: (row.Names?.[0] ?? '').replace(/^\//, ''),
    status: row.State as ContainerStatus,
    exitCode: exited ? Number(exited[1]) : undefined,
    createdAt: row.Created * 1000,
    image: row.Image,
    labels,
    managed: isManaged(labels),
    persona: labels[LABEL_PERSONA],
    workspace: labels[LABEL_WORKSPACE],
    inspected: false,
  };
}

function fromInspect(info: Docker.ContainerInspectInfo): ContainerInfo {
  const labels = info.Config?.Labels ?? {};
  const s = info.State;
  const stopped = s.Status === 'exited' || s.Status === 'dead';
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    status: s.Status as ContainerStatus,
    exitCode: stopped ? s.ExitCode : undefined,
    oomKilled: s.OOMKilled,
    startedAt: s.StartedAt && s.StartedAt !== ZERO_TIME ? s.StartedAt : undefined,
    finishedAt: s.FinishedAt && s.FinishedAt !== ZERO_TIME ? s.FinishedAt : undefined,
    createdAt: Date.parse(info.Created),
    image: info.Config?.Image ?? info.Image,
    labels,
    managed: isManaged(labels),
    persona: labels[LABEL_PERSONA],
    workspace: labels[LABEL_WORKSPACE],
    inspected: true,
    workingDir: info.Config?.WorkingDir ?? '',
  };
}

/** The NDJSON lines of a followed `/events` stream, as events; ends with the stream (or `signal`). */
async function* parseEventStream(stream: Readable, signal: AbortSignal): AsyncGenerator<LiveContainerEvent> {
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  let rest = '';
  try {
    for await (const chunk of stream) {
      rest += String(chunk);
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        let e: { id?: string; Action?: string; status?: string; timeNano?: number; time?: number; Actor?: { ID?: string; Attributes?: Record<string, string> } };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          continue; // not an event line
        }
        yield {
          id: e.Actor?.ID ?? e.id ?? '',
          action: e.Action ?? e.status ?? '',
          at: e.timeNano ? Math.floor(e.timeNano / 1e6) : (e.time ?? 0) * 1000,
          attributes: e.Actor?.Attributes ?? {},
        };
      }
    }
  } catch (e) {
    if (!signal.aborted) throw e; // the connection broke: the caller reconnects
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

/** `POST /containers/{id}/wait`'s answers (Engine API ContainerWait), as dockerode lists them. */
const WAIT_STATUS_CODES = { 200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' };

/** Most bytes of a wait answer read (`{"StatusCode":0,"Error":null}` is 30). */
const WAIT_BODY_MAX = 64 * 1024;

/**
 * The body of a wait answer. A body cut before its end (the daemon died or the connection broke)
 * rejects with an `ECONNRESET` error (a connection failure for {@link DockerEngine.call});
 * `signal` rejects with an AbortError and drops the connection.
 */
function readWaitBody(res: Readable, id: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    let done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      if (e) reject(e);
      else resolve(text);
    };
    const cut = (cause?: unknown) => Object.assign(new Error(`Docker closed the connection before container ${id} exited`), { code: 'ECONNRESET', cause });
    const onAbort = () => {
      finish(Object.assign(new Error('The wait was aborted.'), { name: 'AbortError', code: 'ABORT_ERR' }));
      res.destroy();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > WAIT_BODY_MAX) {
        finish(new BorgError(`Docker's answer to the wait for ${id} is over ${WAIT_BODY_MAX} bytes.`));
        res.destroy();
      }
    });
    res.on('end', () => finish());
    res.on('error', (e) => finish(cut(e)));
    res.on('close', () => finish(cut()));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Decodes a non-TTY logs buffer (8-byte frame headers) into text. */
function demuxBuffer(buf: Buffer | string): string {
  if (typeof buf === 'string') return buf;
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i];
    const size = buf.readUInt32BE(i + 4);
    if (type > 2 || i + 8 + size > buf.length) return buf.toString('utf8'); // not multiplexed (TTY)
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}
