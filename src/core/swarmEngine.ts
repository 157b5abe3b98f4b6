import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { ArchiveStat, ContainerEvent, ContainerInfo, ContainerStatus, CreateSpec, DockerEngine, Engine, errorText, isConnectionError, LiveContainerEvent, statusCode } from './engine';
import { BorgError, DockerUnreachableError, ImageMissingError, InvalidInputError, NameConflictError, RefusedError } from './errors';
import { assertNoDockerSocket, HardeningSettings } from './hardening';
import { isManaged, LABEL_MANAGED, LABEL_PERSONA, LABEL_WORKSPACE } from './labels';

/**
 * The Swarm engine: one Borg agent = one Swarm service (Engine API 1.41 `POST /services/create`,
 * https://docs.docker.com/engine/api/v1.41/#tag/Service/operation/ServiceCreate) with one
 * replica and `TaskTemplate.RestartPolicy.Condition: none`, so a task that ended stays ended
 * (https://docs.docker.com/engine/reference/commandline/service_create/#restart-policy). Every
 * Engine call names the *service* (its id or name); the service's newest task stands for the
 * container of {@link DockerEngine}: its state, exit code, node and (on the manager's node) its
 * container for OOM, events and files. Swarm facts this file relies on, measured on dockerd
 * 20.10.24 (API 1.41), are in the docstrings where they are used.
 */

/** Label on an input secret, an isolation network and the stop marker: the service they belong to (its name). */
export const LABEL_SWARM_SERVICE = 'borg.swarm.service';

/**
 * Service label set when Borg ended a task it could not reach by scaling the service to 0 (Swarm
 * then deletes the task and its container: measured, the exit code is gone): the exit code to
 * report instead (143 stop, 137 kill). Cleared by the next start.
 */
export const LABEL_SWARM_STOPPED = 'borg.swarm.stopped';

/** Where the input secret is mounted in the task's container (`/run/secrets/<File.Name>`, Engine API SecretReference). */
export const INPUT_SECRET_FILE = 'borg-input';

/** Swarm keeps a secret's data up to 500 KB (https://docs.docker.com/engine/swarm/secrets/). */
export const MAX_INPUT_BYTES = 500 * 1024;

/** The safety-net poll of {@link SwarmEngine.wait} (ms): Docker's events wake it first. */
export const WAIT_POLL_MS = 1_000;

/** After a container event, the task is re-checked this often (ms), {@link QUICK_CHECKS} times, until Swarm records the task's end. */
export const QUICK_CHECK_MS = 50;
export const QUICK_CHECKS = 60;

/** How long {@link SwarmEngine.start} waits for the orchestrator to create the new task (ms). */
export const TASK_APPEAR_MS = 30_000;

/**
 * The shell that runs the agent's command in every task, as `/bin/sh -c SCRIPT borg-input <argv…>`.
 * - Swarm has no `no-new-privileges` for a service in API 1.41 (ContainerSpec.Privileges has
 *   CredentialSpec and SELinuxContext only; NoNewPrivileges came with API 1.46 / Docker 27), and
 *   measured on 20.10 a service's container reads `NoNewPrivs: 0`. So the command runs under
 *   `setpriv --no-new-privs` (util-linux and busybox both have it; the flag is inherited by every
 *   child and cannot be unset), and an image without setpriv fails closed (exit 126, a message on
 *   stderr) rather than running without it.
 * - A service has no attachable stdin, so the agent's one input line is the task's input secret
 *   (`/run/secrets/borg-input`), given to the command as its stdin; without one, stdin is
 *   `/dev/null` (Docker's stdin of a container with OpenStdin false).
 * Nothing from the spec is interpolated into the script: the argv follows as `"$@"`.
 */
export const TASK_SCRIPT = [
  "command -v setpriv >/dev/null 2>&1 || { echo 'borg: this image has no setpriv, so no-new-privileges cannot be set for a Swarm task; not running it.' >&2; exit 126; }",
  `if [ -f /run/secrets/${INPUT_SECRET_FILE} ]; then exec setpriv --no-new-privs "$@" < /run/secrets/${INPUT_SECRET_FILE}; fi`,
  'exec setpriv --no-new-privs "$@" < /dev/null',
].join('\n');

/** Swarm task states (Engine API TaskState) as Borg's container states; see {@link taskStatus}. */
export const TASK_STATES: Record<string, 'starting' | 'running' | 'terminal'> = {
  new: 'starting',
  allocated: 'starting',
  pending: 'starting',
  assigned: 'starting',
  accepted: 'starting',
  preparing: 'starting',
  ready: 'starting',
  starting: 'starting',
  running: 'running',
  complete: 'terminal',
  failed: 'terminal',
  rejected: 'terminal',
  shutdown: 'terminal',
  orphaned: 'terminal',
  remove: 'terminal',
};

/**
 * How each of Borg's confinements (hardening.ts `hardenedHostConfig`) is enforced for a Swarm
 * task (Engine API 1.41 TaskSpec / ContainerSpec / ResourceRequirements). The rule for anything
 * Swarm cannot do: enforce it another way or refuse, never weaken it silently.
 */
export const SWARM_CONFINEMENT: Readonly<Record<string, string>> = {
  capabilities: 'ContainerSpec.CapabilityDrop ["ALL"] (API 1.41)',
  'no-new-privileges': 'not in API 1.41: the command runs under `setpriv --no-new-privs`; no setpriv in the image → exit 126 (TASK_SCRIPT)',
  pids: 'TaskTemplate.Resources.Limits.Pids (API 1.41)',
  memory: 'Resources.Limits.MemoryBytes and Reservations.MemoryBytes; swap cannot be limited by a service (Docker lets the container swap as much as its memory where the host has swap)',
  cpus: 'Resources.Limits.NanoCPUs and Reservations.NanoCPUs',
  init: 'ContainerSpec.Init true',
  'network none / gateway':
    'no "none" for services (measured: `network none not found`; no network = the default bridge): a new internal overlay network of its own per service (no route out, no gwbridge; only its own address)',
  'network bridge': "no TaskTemplate.Networks: the node's default bridge, as `bridge` with Docker",
  'docker socket': 'assertNoDockerSocket on every bind, as DockerEngine',
  'root user': 'refused, as DockerEngine',
};

/** The part of a Swarm task Borg reads (Engine API Task). */
export interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  CreatedAt: string;
  Version?: { Index?: number };
  DesiredState?: string;
  Status?: { Timestamp?: string; State?: string; Err?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
}

/** The part of a Swarm service Borg reads (Engine API Service). */
export interface SwarmService {
  ID: string;
  CreatedAt: string;
  Version: { Index: number };
  Spec: ServiceSpec;
}

/** The service spec Borg writes (Engine API ServiceSpec, the fields used). */
export interface ServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: {
      Image: string;
      Labels: Record<string, string>;
      Command: string[];
      Env?: string[];
      User: string;
      Dir?: string;
      TTY: boolean;
      Init: boolean;
      CapabilityDrop: string[];
      Mounts: Array<{ Type: 'bind'; Source: string; Target: string; ReadOnly: boolean }>;
      Secrets?: Array<{ SecretID: string; SecretName: string; File: { Name: string; UID: string; GID: string; Mode: number } }>;
      StopGracePeriod?: number;
    };
    Resources: { Limits: { NanoCPUs: number; MemoryBytes: number; Pids: number }; Reservations: { NanoCPUs: number; MemoryBytes: number } };
    RestartPolicy: { Condition: 'none' };
    Placement: { Constraints: string[] };
    Networks?: Array<{ Target: string }>;
    ForceUpdate?: number;
  };
  Mode: { Replicated: { Replicas: number } };
}

/**
 * The newest of a service's tasks: the latest `CreatedAt`, then the highest `Version.Index`
 * (Swarm keeps up to 5 old tasks per slot: `TaskHistoryRetentionLimit`). Undefined for none.
 */
export function newestTask<T extends SwarmTask>(tasks: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const t of tasks) {
    if (!best) best = t;
    else {
      const a = Date.parse(t.CreatedAt);
      const b = Date.parse(best.CreatedAt);
      if (a > b || (a === b && (t.Version?.Index ?? 0) > (best.Version?.Index ?? 0))) best = t;
    }
  }
  return best;
}

/**
 * A service's state as a container's (the claim and verb tables read it):
 *
 * | newest task                                   | status  | exit code |
 * |-----------------------------------------------|---------|-----------|
 * | none, Replicas 0, no stop marker              | created | –         |
 * | none, Replicas 0, stop marker (LABEL_SWARM_STOPPED) | exited | the marker's |
 * | none, Replicas ≥ 1 (the orchestrator is making it) | running | –     |
 * | new … starting (about to run)                 | running | –  (claim skips it: live) |
 * | running                                       | running | –         |
 * | complete                                      | exited  | ContainerStatus.ExitCode, else 0 |
 * | failed, rejected, shutdown, orphaned, remove  | exited  | ContainerStatus.ExitCode when not 0, else 1 (never a guessed clean exit) |
 * | a state Swarm may add later                   | running | – (left alone) |
 */
export function taskStatus(task: SwarmTask | undefined, replicas: number, stoppedMarker?: string): { status: ContainerStatus; exitCode?: number } {
  if (!task) {
    if (replicas >= 1) return { status: 'running' };
    if (stoppedMarker !== undefined && /^\d+$/.test(stoppedMarker)) return { status: 'exited', exitCode: Number(stoppedMarker) };
    return { status: 'created' };
  }
  const state = task.Status?.State ?? '';
  const kind = TASK_STATES[state];
  if (kind !== 'terminal') return { status: 'running' };
  const code = task.Status?.ContainerStatus?.ExitCode;
  if (state === 'complete') return { status: 'exited', exitCode: typeof code === 'number' ? code : 0 };
  return { status: 'exited', exitCode: typeof code === 'number' && code !== 0 ? code : 1 };
}

/** True when the task state is final (Engine API TaskState: complete, failed, rejected, shutdown, orphaned, remove). */
export function isTerminal(task: SwarmTask | undefined): boolean {
  return TASK_STATES[task?.Status?.State ?? ''] === 'terminal';
}

/**
 * A `host:container[:ro|:rw]` bind as a Swarm mount (Engine API Mount, Type bind). The source is
 * a path on the node the task is placed on.
 * @throws RefusedError for any other option (`z`, propagation…): a service's bind cannot carry it as written.
 */
export function bindMount(bind: string): { Type: 'bind'; Source: string; Target: string; ReadOnly: boolean } {
  const parts = bind.split(':');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1]) throw new RefusedError(`The bind ${bind} is not host:container[:ro] and cannot be given to a Swarm service.`);
  const opt = parts[2] ?? 'rw';
  if (opt !== 'ro' && opt !== 'rw') throw new RefusedError(`The bind ${bind} has the option "${opt}", which a Swarm service's bind mount cannot apply; only ro and rw are supported.`);
  return { Type: 'bind', Source: parts[0], Target: parts[1], ReadOnly: opt === 'ro' };
}

/**
 * Swarm placement constraints (`node.role==worker`, `node.labels.borg==yes`,
 * https://docs.docker.com/engine/reference/commandline/service_create/#constraint): `<attribute> ==|!= <value>`.
 * @throws InvalidInputError naming a constraint that is not of that form.
 */
export function checkPlacement(constraints: readonly string[]): string[] {
  for (const c of constraints) {
    if (typeof c !== 'string' || !/^[A-Za-z0-9_.-]+\s*(==|!=)\s*[^\s=!]+$/.test(c.trim())) {
      throw new InvalidInputError(`The Swarm placement constraint ${JSON.stringify(c)} is not of the form <attribute>==<value> or <attribute>!=<value> (e.g. node.role==worker).`);
    }
  }
  return constraints.map((c) => c.trim());
}

/**
 * The service spec for `spec` (created with Replicas 0: the name is reserved, nothing runs).
 * `argv` is the command to run (the spec's entrypoint + cmd, or the image's), wrapped in
 * {@link TASK_SCRIPT}; labels go on the service and on the ContainerSpec (so the task's
 * container carries them too: Docker's events and `docker ps` see Borg's labels). Confinement
 * per {@link SWARM_CONFINEMENT}; `networkId`: the service's own internal network (network
 * none / gateway), none for bridge.
 * @throws InvalidInputError for a root or non-numeric user; RefusedError for a bind Swarm cannot express.
 */
export function serviceSpec(spec: CreateSpec, argv: readonly string[], opts: { placement: readonly string[]; networkId?: string }): ServiceSpec {
  if (/^0(:|$)/.test(spec.user) || /^root(:|$)/.test(spec.user)) throw new InvalidInputError(`Refusing to run ${spec.name} as root (${spec.user}).`);
  // The input secret's file is owned by the user (SecretReference File.UID/GID take numbers).
  if (!/^\d+(:\d+)?$/.test(spec.user)) throw new InvalidInputError(`The Swarm engine needs a numeric uid:gid for ${spec.name}, not ${spec.user}.`);
  if (argv.length === 0) throw new InvalidInputError(`${spec.image} has no ENTRYPOINT or CMD and none was given: a Swarm task needs a command.`);
  const h: HardeningSettings = spec.hardening;
  const memory = spec.memoryBytes ?? h.memoryMb * 1024 * 1024;
  const nanoCpus = Math.round(h.cpus * 1e9);
  return {
    Name: spec.name,
    Labels: { ...spec.labels },
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Labels: { ...spec.labels },
        Command: ['/bin/sh', '-c', TASK_SCRIPT, INPUT_SECRET_FILE, ...argv],
        ...(spec.env ? { Env: [...spec.env] } : {}),
        User: spec.user,
        ...(spec.workdir ? { Dir: spec.workdir } : {}),
        TTY: spec.tty ?? false,
        Init: true,
        CapabilityDrop: ['ALL'],
        Mounts: (spec.binds ?? []).map(bindMount),
      },
      Resources: { Limits: { NanoCPUs: nanoCpus, MemoryBytes: memory, Pids: h.pidsLimit }, Reservations: { NanoCPUs: nanoCpus, MemoryBytes: memory } },
      RestartPolicy: { Condition: 'none' },
      Placement: { Constraints: [...opts.placement] },
      ...(opts.networkId ? { Networks: [{ Target: opts.networkId }] } : {}),
    },
    Mode: { Replicated: { Replicas: 0 } },
  };
}

/** The command a container of `image` runs with `spec`'s overrides (Docker's rule: an entrypoint given drops the image's CMD). */
export function commandOf(spec: Pick<CreateSpec, 'entrypoint' | 'cmd'>, image: { Entrypoint?: string[] | string | null; Cmd?: string[] | string | null } | undefined): string[] {
  const list = (v: string[] | string | null | undefined) => (Array.isArray(v) ? v : typeof v === 'string' && v ? ['/bin/sh', '-c', v] : []);
  if (spec.entrypoint) return [...spec.entrypoint, ...(spec.cmd ?? [])];
  return [...list(image?.Entrypoint), ...(spec.cmd ?? list(image?.Cmd))];
}

/**
 * The name of a service's `n`-th input secret: `borg-in-<service id>-<n>-<random>` (≤ 64
 * characters: Swarm's limit on names); the random part keeps a start that failed after making
 * its secret from blocking the next one with a name conflict.
 */
export function inputSecretName(serviceId: string, n: number, nonce = randomBytes(4).toString('hex')): string {
  return `borg-in-${serviceId.slice(0, 25)}-${n}-${nonce}`;
}

/** One frame of Docker's multiplexed stream (8-byte header: type, 0,0,0, big-endian size). */
interface Frame {
  type: number;
  raw: Buffer;
}

/** Splits a multiplexed byte stream into whole frames, across chunk boundaries. */
export class FrameSplitter {
  private rest: Buffer = Buffer.alloc(0);

  /** Feeds a chunk; returns the whole frames it completed. */
  push(chunk: Buffer): Frame[] {
    this.rest = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const out: Frame[] = [];
    while (this.rest.length >= 8) {
      const size = this.rest.readUInt32BE(4);
      if (this.rest.length < 8 + size) break;
      out.push({ type: this.rest[0], raw: this.rest.subarray(0, 8 + size) });
      this.rest = this.rest.subarray(8 + size);
    }
    return out;
  }
}

/** What an attach is waiting for: the task a start will make, or the one it follows. */
interface Attachment {
  stream: TaskStream;
  stdin: boolean;
}

/**
 * The Duplex {@link SwarmEngine.attach} returns. Writable side: the agent's input, collected
 * until `end()` (at most {@link MAX_INPUT_BYTES}); the next {@link SwarmEngine.start} makes it the
 * task's input secret. Readable side: the task's output, multiplexed like Docker's attach,
 * ending when the task ends.
 */
class TaskStream extends Duplex {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly ended: Promise<void>;
  private markEnded!: () => void;
  readonly abort = new AbortController();
  tooLarge = false;

  constructor() {
    super();
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > MAX_INPUT_BYTES) this.tooLarge = true;
    else this.chunks.push(Buffer.from(chunk));
    cb();
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.markEnded();
    cb();
  }

  override _read(): void {
    // pushed by the follower
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.abort.abort();
    this.markEnded();
    cb(err);
  }

  /** The input written, once the writer ended it (Pipeline ends it before start); what was written so far otherwise. */
  async input(): Promise<Buffer> {
    if (this.writableEnded) await this.ended;
    return Buffer.concat(this.chunks);
  }

  /** Pushes unless destroyed. */
  emit_(buf: Buffer | null): void {
    if (!this.destroyed) this.push(buf);
  }
}

/** How old an isolation network must be before a sweep may remove it (ms). */
export const SWEEP_MIN_AGE_MS = 60_000;

/**
 * {@link Engine} over Docker Swarm, through the manager's {@link DockerEngine}. See the file's
 * header; each method says how it maps to Swarm. Limits (single node vs several):
 * OOM, `containerEvents`, `archiveStat`/`archive`, stop and kill with a grace act on the task's
 * container, which only the daemon of the node it runs on knows: they work when the task is on
 * the manager's node (checked by its `com.docker.swarm.task.id` label) and degrade as each says
 * otherwise.
 */
export class SwarmEngine implements Engine {
  readonly startTakesInput = true;
  /** Services cannot be renamed (measured: 501 "renaming services is not supported"): the claim removes in place. */
  readonly canRename = false;
  /** The rule for Swarm: an over-time service is removed once its end is recorded (pipeline.ts removeTimedOut). */
  readonly removesTimedOut = true;
  private managerNode: Promise<string> | undefined;
  private readonly attachments = new Map<string, Attachment[]>();
  private readonly nodeNames = new Map<string, Promise<string | undefined>>();

  /**
   * @param manager the DockerEngine of a Swarm manager (its daemon runs `docker swarm init` or joined as a manager).
   * @param opts.placement placement constraints (`node.role==worker`), read at each create.
   */
  constructor(
    private readonly manager: DockerEngine,
    private readonly opts: { placement?: () => string[] } = {},
  ) {}

  /**
   * Where a new task may run, for the gateway's rule: with no `borg.swarm.placement` every task
   * is pinned to the manager's own node (Borg's binds — state dir, worktree, gateway socket —
   * are paths on this machine), so the manager's address; with placement, the nodes it allows,
   * which Borg cannot vouch are this machine.
   */
  get daemonAddresses(): readonly string[] {
    const placement = this.opts.placement?.() ?? [];
    return placement.length === 0 ? [this.manager.endpoint] : [`the Swarm nodes matching borg.swarm.placement (${placement.join(', ')})`];
  }

  /** `swarm at unix:///var/run/docker.sock`. */
  get endpoint(): string {
    return `swarm at ${this.manager.endpoint}`;
  }

  get insecureRemote(): boolean {
    return this.manager.insecureRemote;
  }

  private get docker(): Docker {
    return this.manager.docker;
  }

  /** The manager answers. @throws DockerUnreachableError */
  async ping(): Promise<void> {
    await this.manager.ping();
  }

  /**
   * Borg's services (`GET /services` with label filters; with `namePrefix`, names starting with
   * it, filtered here) with the state of their newest task (one `GET /tasks` for all of them).
   * `oomKilled` is undefined, as in a container list.
   */
  async list(filter: { managedOnly?: boolean; workspace?: string; namePrefix?: string } = {}): Promise<ContainerInfo[]> {
    const label: string[] = [];
    if (filter.managedOnly || filter.workspace) label.push(`${LABEL_MANAGED}=true`);
    if (filter.workspace) label.push(`${LABEL_WORKSPACE}=${filter.workspace}`);
    const services = ((await this.call(() => this.docker.listServices({ filters: label.length ? { label } : {} } as object))) as unknown as SwarmService[]).filter(
      (s) => !filter.namePrefix || s.Spec.Name.startsWith(filter.namePrefix),
    );
    if (services.length === 0) return [];
    const tasks = (await this.call(() => this.docker.listTasks({ filters: { service: services.map((s) => s.ID) } }))) as SwarmTask[];
    const byService = new Map<string, SwarmTask[]>();
    for (const t of tasks) byService.set(t.ServiceID, [...(byService.get(t.ServiceID) ?? []), t]);
    return Promise.all(services.map(async (s) => this.info(s, newestTask(byService.get(s.ID) ?? []), false)));
  }

  /**
   * Service inspect (name, id or id prefix; 404 → undefined) and its newest task as a container.
   * `oomKilled`: the task container's `State.OOMKilled` when that container is on the manager's
   * node; false when it cannot be inspected there (another node, or Swarm removed it).
   * @throws DockerUnreachableError; the daemon's error for any other failure.
   */
  async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    const s = await this.service(nameOrId);
    if (!s) return undefined;
    const task = newestTask(await this.tasks(s.ID));
    return this.info(s, task, true);
  }

  /**
   * Creates the service with Replicas 0 (the name is Borg's, nothing runs) and returns its id.
   * Network none/gateway gets a new internal overlay network of its own first (removed with the
   * service). @throws InvalidInputError (root user, a socket bind, a bad placement),
   * RefusedError (a bind Swarm cannot express), ImageMissingError (no such image on the
   * manager), NameConflictError (409: a service of that name exists), DockerUnreachableError.
   */
  async create(spec: CreateSpec): Promise<string> {
    assertNoDockerSocket(spec.binds ?? [], this.manager.endpoint);
    const given = checkPlacement(this.opts.placement?.() ?? []);
    // No placement given: the manager's node, the one machine whose paths the binds name.
    const placement = given.length > 0 ? given : [`node.id==${await this.managerNodeId()}`];
    let imageConfig: { Entrypoint?: string[] | string | null; Cmd?: string[] | string | null } | undefined;
    if (!spec.entrypoint) {
      try {
        imageConfig = (await this.call(() => this.docker.getImage(spec.image).inspect())).Config as typeof imageConfig;
      } catch (e) {
        if (statusCode(e) === 404) throw new ImageMissingError(spec.image);
        throw e;
      }
    }
    const argv = commandOf(spec, imageConfig);
    serviceSpec(spec, argv, { placement }); // refusals before anything is made
    await this.sweepNetworks();
    const isolated = spec.hardening.network !== 'bridge';
    const networkId = isolated ? await this.isolationNetwork(spec.name) : undefined;
    try {
      const created = await this.call(() => this.docker.createService(serviceSpec(spec, argv, { placement, networkId }) as unknown as Docker.CreateServiceOptions));
      return created.id;
    } catch (e) {
      if (networkId) await this.removeNetwork(networkId);
      if (statusCode(e) === 409) throw new NameConflictError(`The name ${spec.name} is already in use.`, { cause: e });
      throw e;
    }
  }

  /**
   * Runs the service's task: Replicas 1 and `TaskTemplate.ForceUpdate + 1` (a finished task is
   * never restarted under restart condition none; a forced update makes Swarm create a new one —
   * hardline), with the input written to an attach before as a new input secret
   * ({@link inputSecretName}, mode 0400, owned by the task's user) replacing the last one, which
   * is then removed. Resolves once the orchestrator created the new task.
   * @throws BorgError when no new task appears within {@link TASK_APPEAR_MS}; DockerUnreachableError.
   */
  async start(id: string): Promise<void> {
    const s = await this.mustService(id);
    const pending = this.attachments.get(s.ID) ?? [];
    this.attachments.delete(s.ID);
    const withInput = pending.find((a) => a.stdin);
    let input: Buffer | undefined;
    if (withInput) {
      if (withInput.stream.tooLarge) throw new BorgError(`The input of ${s.Spec.Name} is over ${MAX_INPUT_BYTES} bytes, more than a Swarm secret holds.`);
      input = await withInput.stream.input();
    }
    const before = new Set((await this.tasks(s.ID)).map((t) => t.ID));
    const n = (s.Spec.TaskTemplate.ForceUpdate ?? 0) + 1;
    let secret: { id: string; name: string } | undefined;
    if (input && input.length > 0) {
      const name = inputSecretName(s.ID, n);
      const labels = { [LABEL_MANAGED]: 'true', [LABEL_SWARM_SERVICE]: s.Spec.Name };
      // `_body` alone: docker-modem puts every other key of the options into the query string,
      // and the input (with its run token) must never be in a URL (dockerd logs URLs in debug).
      const made = await this.call(() => this.docker.createSecret({ _query: {}, _body: { Name: name, Labels: labels, Data: input!.toString('base64') } } as object));
      secret = { id: (made as unknown as { id: string }).id, name };
    }
    const [uid, gid] = s.Spec.TaskTemplate.ContainerSpec.User.split(':');
    let task: SwarmTask;
    try {
      await this.updateSpec(s.ID, (spec) => {
        spec.Mode = { Replicated: { Replicas: 1 } };
        spec.TaskTemplate.ForceUpdate = n;
        delete spec.Labels[LABEL_SWARM_STOPPED];
        spec.TaskTemplate.ContainerSpec.Secrets = secret ? [{ SecretID: secret.id, SecretName: secret.name, File: { Name: INPUT_SECRET_FILE, UID: uid, GID: gid ?? uid, Mode: 0o400 } }] : [];
      });
      task = await this.newTask(s.ID, before);
    } catch (e) {
      // Nothing may run unfollowed (outside a slot): back to Replicas 0, and the new secret goes.
      await this.updateSpec(s.ID, (spec) => {
        spec.Mode = { Replicated: { Replicas: 0 } };
      }).catch(() => undefined);
      if (secret) await this.call(() => this.docker.getSecret(secret.id).remove()).catch(() => undefined);
      throw e;
    }
    await this.removeSecrets(s.Spec.Name, secret?.id);
    for (const a of pending) void this.pump(a.stream, s.ID, task.ID);
  }

  /**
   * Stops the running task: its container is stopped through the manager's daemon with
   * `graceSeconds` (SIGTERM, SIGKILL after it) when it is on the manager's node — the task ends
   * `failed` (or `complete`) and stays, with its exit code, logs and container (measured);
   * elsewhere the service is scaled to 0 with `StopGracePeriod` = grace (Swarm then deletes the
   * task: the exit reads 143 from {@link LABEL_SWARM_STOPPED}). Resolves when the task ended.
   */
  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.end(id, graceSeconds, 143);
  }

  /** Ends the task at once: SIGKILL to its container on the manager's node, else scale to 0 with no grace (exit read as 137). */
  async kill(id: string): Promise<void> {
    await this.end(id, 0, 137);
  }

  /**
   * Removes the service, its input secrets and its isolation network (404: done). Without
   * `force` a service whose task runs is refused (as Docker refuses to remove a running container).
   */
  async remove(id: string, opts: { force?: boolean } = {}): Promise<void> {
    const s = await this.service(id);
    if (!s) return;
    if (!opts.force) {
      const t = newestTask(await this.tasks(s.ID));
      if (taskStatus(t, s.Spec.Mode.Replicated.Replicas, s.Spec.Labels[LABEL_SWARM_STOPPED]).status === 'running') {
        throw Object.assign(new BorgError(`${s.Spec.Name} is running; stop it before removing it.`), { statusCode: 409 });
      }
    }
    try {
      await this.call(() => this.docker.getService(s.ID).remove());
    } catch (e) {
      if (statusCode(e) !== 404) throw e;
    }
    this.attachments.delete(s.ID);
    await this.removeSecrets(s.Spec.Name);
    for (const n of s.Spec.TaskTemplate.Networks ?? []) await this.removeNetwork(n.Target);
  }

  /** Services cannot be renamed (Swarm answers 501 "renaming services is not supported", measured on 20.10). @throws RefusedError always. */
  async rename(id: string, name: string): Promise<boolean> {
    throw new RefusedError(`Swarm services cannot be renamed (${id} → ${name}).`);
  }

  /**
   * Resolves with the exit code once the service's newest task is final (see {@link taskStatus}).
   * Woken by Docker's `die`/`destroy` events of the service's containers (label
   * `com.docker.swarm.service.id`), re-checked at the start and every {@link WAIT_POLL_MS} as a
   * safety net (a task on another node sends no event here). `signal` ends the wait early
   * (rejects with an AbortError). @throws a 404 error when the service is removed meanwhile.
   */
  async wait(id: string, signal?: AbortSignal): Promise<number> {
    const s = await this.mustService(id);
    return this.waitFor(
      s.ID,
      async () => {
        const now = await this.service(s.ID);
        if (!now) throw Object.assign(new BorgError(`The service ${s.Spec.Name} was removed.`), { statusCode: 404 });
        const t = newestTask(await this.tasks(s.ID));
        const st = taskStatus(t, now.Spec.Mode.Replicated.Replicas, now.Spec.Labels[LABEL_SWARM_STOPPED]);
        if (st.status === 'exited') return st.exitCode ?? 1;
        if (st.status === 'created') return 0; // never started (Docker's wait on a created container answers at once too)
        return undefined;
      },
      signal,
    );
  }

  /**
   * A Duplex standing for the task's stdio. Write the input and end it before {@link start}
   * (`startTakesInput`); read the task's output, multiplexed (demux with {@link demux}), from
   * `GET /tasks/{id}/logs?follow=1` — of the task the next start creates, or, when attached
   * without stdin to a service whose task runs already (recovery adopting it), of that task
   * from now on. It ends when the task ended: Swarm's follow never ends by itself (measured), so
   * at the task's end the follow is closed and the lines it had not delivered yet are read from
   * a non-follow request (per stream, by count: one frame per line).
   */
  async attach(id: string, opts: { stdin: boolean; signal?: AbortSignal }): Promise<Duplex> {
    const s = await this.mustService(id);
    const stream = new TaskStream();
    opts.signal?.addEventListener('abort', () => stream.destroy(), { once: true });
    const t = newestTask(await this.tasks(s.ID));
    if (!opts.stdin && t && !isTerminal(t)) {
      void this.pump(stream, s.ID, t.ID, Math.floor(Date.now() / 1000));
    } else {
      this.attachments.set(s.ID, [...(this.attachments.get(s.ID) ?? []), { stream, stdin: opts.stdin }]);
      stream.once('close', () =>
        this.attachments.set(
          s.ID,
          (this.attachments.get(s.ID) ?? []).filter((a) => a.stream !== stream),
        ),
      );
    }
    return stream;
  }

  demux(stream: Readable): { stdout: PassThrough; stderr: PassThrough } {
    return this.manager.demux(stream);
  }

  /** The service's logs (`GET /services/{id}/logs`, every task it kept, non-follow) as text; `tail`, `timestamps`, `since` as Docker's. */
  async logs(id: string, tail = 500, opts: { timestamps?: boolean; since?: string } = {}): Promise<string> {
    const s = await this.mustService(id);
    const query = { stdout: true, stderr: true, tail, follow: false, timestamps: opts.timestamps ?? false, ...(opts.since ? { since: opts.since } : {}) };
    const buf = (await this.call(() => this.docker.getService(s.ID).logs(query as object))) as unknown as Buffer;
    return demuxText(buf);
  }

  /** The events of the newest task's container (on the manager's node); [] when it is elsewhere or gone. */
  async containerEvents(id: string, sinceMs: number): Promise<ContainerEvent[]> {
    const c = await this.localContainer(id);
    return c ? this.manager.containerEvents(c, sinceMs) : [];
  }

  /** The manager's container events for Borg's labels (the task containers carry them: {@link serviceSpec}); ids are container ids. */
  events(signal: AbortSignal, filter?: { workspace?: string }): Promise<AsyncIterable<LiveContainerEvent>> {
    return this.manager.events(signal, filter);
  }

  /** The image on the manager (each node needs it too: Swarm does not copy images). */
  image(ref: string): Promise<{ labels: Record<string, string>; user: string } | undefined> {
    return this.manager.image(ref);
  }

  /** Stat in the newest task's container when it is on the manager's node; undefined otherwise (not reachable from here). */
  async archiveStat(id: string, path: string): Promise<ArchiveStat | undefined> {
    const c = await this.localContainer(id);
    return c ? this.manager.archiveStat(c, path) : undefined;
  }

  /** A path of the newest task's container as tar, when it is on the manager's node. @throws BorgError (statusCode 404) otherwise. */
  async archive(id: string, path: string, signal?: AbortSignal): Promise<Readable> {
    const c = await this.localContainer(id);
    if (!c) throw Object.assign(new BorgError(`The container of ${id} is not on this Swarm manager's node; its files cannot be read from here.`), { statusCode: 404 });
    return this.manager.archive(c, path, signal);
  }

  // ---- helpers ----

  /** Ends the running task (see {@link stop}); `marker` is the exit reported when Swarm deletes the task. */
  private async end(id: string, graceSeconds: number, marker: number): Promise<void> {
    const s = await this.mustService(id);
    const t = newestTask(await this.tasks(s.ID));
    const st = taskStatus(t, s.Spec.Mode.Replicated.Replicas, s.Spec.Labels[LABEL_SWARM_STOPPED]);
    if (st.status !== 'running') return;
    const local = t ? await this.localContainerOf(s.ID, t) : undefined;
    if (local) {
      if (graceSeconds > 0) await this.manager.stop(local, graceSeconds);
      else await this.manager.kill(local);
    } else {
      await this.updateSpec(s.ID, (spec) => {
        spec.Mode = { Replicated: { Replicas: 0 } };
        spec.TaskTemplate.ContainerSpec.StopGracePeriod = graceSeconds * 1e9;
        spec.Labels[LABEL_SWARM_STOPPED] = String(marker);
      });
    }
    await this.wait(s.ID).catch((e: unknown) => {
      if (statusCode(e) !== 404) throw e;
    });
  }

  /** Waits until `check` answers a number; woken by the service's container events and a slow poll. */
  private async waitFor(serviceId: string, check: () => Promise<number | undefined>, signal?: AbortSignal): Promise<number> {
    const local = new AbortController();
    const onAbort = () => local.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let events: Readable | undefined;
    let wake: (() => void) | undefined;
    try {
      if (signal?.aborted) throw abortError();
      const opts = { filters: { type: ['container'], event: ['die', 'destroy'], label: [`com.docker.swarm.service.id=${serviceId}`] }, abortSignal: local.signal };
      events = (await this.call(() => this.docker.getEvents(opts as unknown as Docker.GetEventsOptions))) as unknown as Readable;
      // A container's `die` comes before Swarm records its task's end (measured: up to ~1 s
      // later), so an event starts a run of quick re-checks.
      let quick = 0;
      events.on('data', () => {
        quick = QUICK_CHECKS;
        wake?.();
      });
      events.on('error', () => undefined);
      local.signal.addEventListener('abort', () => wake?.(), { once: true });
      for (;;) {
        if (signal?.aborted) throw abortError();
        const code = await check();
        if (code !== undefined) return code;
        if (signal?.aborted) throw abortError();
        const delay = quick > 0 ? QUICK_CHECK_MS : WAIT_POLL_MS;
        quick = Math.max(0, quick - 1);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      local.abort();
      events?.destroy();
    }
  }

  /**
   * Follows task `taskId`'s output into `stream` and ends it when the task ended (or is gone):
   * then reads the lines the follow had not delivered from a non-follow request, by count per
   * stream. A failure to follow ends the stream; the wait tells how the run ended.
   */
  private async pump(stream: TaskStream, serviceId: string, taskId: string, since?: number): Promise<void> {
    const counts = [0, 0, 0];
    const query = { stdout: true, stderr: true, ...(since ? { since } : {}) };
    const split = new FrameSplitter();
    let follow: Readable | undefined;
    try {
      follow = await this.taskLogStream(taskId, { ...query, follow: true }, stream.abort.signal);
      follow.on('data', (chunk: Buffer) => {
        for (const f of split.push(chunk)) {
          counts[f.type] = (counts[f.type] ?? 0) + 1;
          stream.emit_(f.raw);
        }
      });
      follow.on('error', () => undefined);
    } catch {
      // no live output; the rest is read at the end
    }
    try {
      await this.waitFor(
        serviceId,
        async () => {
          const t = (await this.tasks(serviceId)).find((x) => x.ID === taskId);
          return !t || isTerminal(t) ? 0 : undefined;
        },
        stream.abort.signal,
      );
      follow?.destroy();
      // Read as a stream, never buffered whole: an agent may have written gigabytes.
      const rest = await this.taskLogStream(taskId, { ...query, follow: false }, stream.abort.signal);
      const seen = [0, 0, 0];
      const tail = new FrameSplitter();
      for await (const chunk of rest) {
        for (const f of tail.push(chunk as Buffer)) {
          seen[f.type] = (seen[f.type] ?? 0) + 1;
          if (seen[f.type] > (counts[f.type] ?? 0)) stream.emit_(f.raw);
        }
      }
    } catch {
      // aborted (the reader went away) or Docker is gone: end what was read
    } finally {
      follow?.destroy();
      stream.emit_(null);
    }
  }

  /**
   * `GET /tasks/{id}/logs` as a stream whether or not it follows (dockerode buffers a
   * non-follow answer whole; this one is read chunk by chunk).
   */
  private async taskLogStream(taskId: string, options: Record<string, unknown>, signal: AbortSignal): Promise<Readable> {
    const modem = this.docker.modem as unknown as { dial(o: object, cb: (err: unknown, data: unknown) => void): void };
    return this.call(
      () =>
        new Promise<Readable>((resolve, reject) =>
          modem.dial(
            {
              path: `/tasks/${encodeURIComponent(taskId)}/logs?`,
              method: 'GET',
              isStream: true,
              abortSignal: signal,
              statusCodes: { 200: true, 404: 'no such task', 500: 'server error', 503: 'node is not part of a swarm' },
              options,
            },
            (err, data) => (err ? reject(err) : resolve(data as Readable)),
          ),
        ),
    );
  }

  /** Inspects a service; undefined on 404. */
  private async service(nameOrId: string): Promise<SwarmService | undefined> {
    try {
      return (await this.call(() => this.docker.getService(nameOrId).inspect())) as unknown as SwarmService;
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw e;
    }
  }

  /** Inspects a service. @throws BorgError with statusCode 404 when there is none (Agent reads it as removed). */
  private async mustService(nameOrId: string): Promise<SwarmService> {
    const s = await this.service(nameOrId);
    if (!s) throw Object.assign(new BorgError(`No Swarm service ${nameOrId}.`), { statusCode: 404 });
    return s;
  }

  private async tasks(serviceId: string): Promise<SwarmTask[]> {
    return (await this.call(() => this.docker.listTasks({ filters: { service: [serviceId] } }))) as SwarmTask[];
  }

  /** Updates a service's spec with `mutate`, at its current version (retried when another update came between). */
  private async updateSpec(serviceId: string, mutate: (spec: ServiceSpec) => void): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const s = await this.mustService(serviceId);
      const spec = structuredClone(s.Spec);
      mutate(spec);
      try {
        await this.call(() => this.docker.getService(s.ID).update({ version: s.Version.Index, ...spec } as object));
        return;
      } catch (e) {
        if (attempt < 3 && /out of sequence/i.test(errorText(e))) continue;
        throw e;
      }
    }
  }

  /** Polls (100 ms) until the service has a task not in `before`. */
  private async newTask(serviceId: string, before: Set<string>): Promise<SwarmTask> {
    const end = Date.now() + TASK_APPEAR_MS;
    for (;;) {
      const fresh = (await this.tasks(serviceId)).filter((t) => !before.has(t.ID));
      const t = newestTask(fresh);
      if (t) return t;
      if (Date.now() > end) throw new BorgError(`Swarm created no task for service ${serviceId} within ${TASK_APPEAR_MS / 1000} s of its start.`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The newest task's container id when it is on the manager's node. */
  private async localContainer(id: string): Promise<string | undefined> {
    const s = await this.service(id);
    if (!s) return undefined;
    const t = newestTask(await this.tasks(s.ID));
    return t ? this.localContainerOf(s.ID, t) : undefined;
  }

  /**
   * Task `t`'s container id when the manager's daemon has it and it carries the task's own
   * Swarm labels (a task status names its container, but only the daemon's labels prove it is
   * that task's: never another container of this daemon).
   */
  private async localContainerOf(serviceId: string, t: SwarmTask): Promise<string | undefined> {
    const cid = t.Status?.ContainerStatus?.ContainerID;
    if (!cid) return undefined;
    const c = await this.manager.inspect(cid);
    if (!c || c.labels['com.docker.swarm.task.id'] !== t.ID || c.labels['com.docker.swarm.service.id'] !== serviceId) return undefined;
    return c.id;
  }

  /** A service and its newest task as a ContainerInfo (OOM and start time from the local container when `inspected`). */
  private async info(s: SwarmService, task: SwarmTask | undefined, inspected: boolean): Promise<ContainerInfo> {
    const labels = s.Spec.Labels ?? {};
    const st = taskStatus(task, s.Spec.Mode?.Replicated?.Replicas ?? 0, labels[LABEL_SWARM_STOPPED]);
    let oomKilled: boolean | undefined;
    let startedAt: string | undefined;
    let finishedAt: string | undefined;
    const stamp = task?.Status?.Timestamp;
    if (task?.Status?.State === 'running') startedAt = stamp;
    if (st.status === 'exited') finishedAt = stamp;
    if (inspected) {
      oomKilled = false;
      const cid = task ? await this.localContainerOf(s.ID, task) : undefined;
      if (cid) {
        const c = await this.manager.inspect(cid);
        if (st.status === 'exited') oomKilled = c?.oomKilled === true;
        startedAt = c?.startedAt ?? startedAt;
        if (st.status === 'exited') finishedAt = c?.finishedAt ?? finishedAt;
      }
    }
    return {
      id: s.ID,
      name: s.Spec.Name,
      status: st.status,
      exitCode: st.exitCode,
      oomKilled,
      startedAt,
      finishedAt,
      createdAt: Date.parse(s.CreatedAt),
      image: s.Spec.TaskTemplate.ContainerSpec.Image,
      labels,
      managed: isManaged(labels),
      persona: labels[LABEL_PERSONA],
      workspace: labels[LABEL_WORKSPACE],
      inspected,
      workingDir: s.Spec.TaskTemplate.ContainerSpec.Dir ?? '',
      host: task?.NodeID ? await this.nodeName(task.NodeID) : undefined,
    };
  }

  /** The manager's own node id (`GET /info` `Swarm.NodeID`), cached once read. @throws BorgError when the daemon is not in a swarm. */
  private managerNodeId(): Promise<string> {
    this.managerNode ??= this.call(() => this.docker.info()).then((i) => {
      const id = (i as { Swarm?: { NodeID?: string } }).Swarm?.NodeID;
      if (!id) throw new BorgError(`The Docker daemon at ${this.manager.endpoint} is not in a swarm: run \`docker swarm init\` there, or set borg.engine to docker.`);
      return id;
    });
    this.managerNode.catch(() => (this.managerNode = undefined));
    return this.managerNode;
  }

  /** A node's hostname (`GET /nodes/{id}`, `Description.Hostname`), cached; undefined when it cannot be read. */
  private nodeName(nodeId: string): Promise<string | undefined> {
    let p = this.nodeNames.get(nodeId);
    if (!p) {
      p = this.call(() => this.docker.getNode(nodeId).inspect())
        .then((n) => (n as { Description?: { Hostname?: string } }).Description?.Hostname)
        .catch(() => {
          this.nodeNames.delete(nodeId);
          return undefined;
        });
      this.nodeNames.set(nodeId, p);
    }
    return p;
  }

  /** Removes the input secrets of service `name` (all, or all but `keep`); failures are left for the service's removal. */
  private async removeSecrets(name: string, keep?: string): Promise<void> {
    const listed = this.call(() => this.docker.listSecrets({ filters: { label: [`${LABEL_SWARM_SERVICE}=${name}`] } } as object));
    const secrets = (await listed.catch(() => [])) as Array<{ ID: string }>;
    for (const sec of secrets) {
      if (sec.ID === keep) continue;
      await this.call(() => this.docker.getSecret(sec.ID).remove()).catch(() => undefined);
    }
  }

  /** A new internal overlay network for service `name` (no route out; Engine API NetworkCreate `Internal`). */
  private async isolationNetwork(name: string): Promise<string> {
    const net = await this.call(() =>
      this.docker.createNetwork({
        Name: `borg-iso-${randomBytes(6).toString('hex')}`,
        Driver: 'overlay',
        Internal: true,
        CheckDuplicate: true,
        Labels: { [LABEL_MANAGED]: 'true', [LABEL_SWARM_SERVICE]: name },
      }),
    );
    return net.id;
  }

  /** Removes a network; one still in use (Swarm removes a service's containers a moment after the service) is left for {@link sweepNetworks}. */
  private async removeNetwork(id: string): Promise<void> {
    await this.call(() => this.docker.getNetwork(id).remove()).catch(() => undefined);
  }

  /**
   * Removes Borg's isolation networks whose service is gone (left behind by a removal that came
   * too early). A network made in the last {@link SWEEP_MIN_AGE_MS} is left alone: it may be
   * another launch's, made a moment before its service (launches stage in parallel).
   */
  private async sweepNetworks(): Promise<void> {
    try {
      const nets = (await this.call(() => this.docker.listNetworks({ filters: { label: [`${LABEL_MANAGED}=true`, LABEL_SWARM_SERVICE] } }))) as Array<{
        Id: string;
        Created?: string;
        Labels?: Record<string, string>;
      }>;
      for (const n of nets) {
        const owner = n.Labels?.[LABEL_SWARM_SERVICE];
        const age = Date.now() - Date.parse(n.Created ?? '');
        if (!(age >= SWEEP_MIN_AGE_MS)) continue; // young, or no creation time: not ours to judge
        if (owner && !(await this.service(owner))) await this.removeNetwork(n.Id);
      }
    } catch (e) {
      if (e instanceof DockerUnreachableError) throw e;
    }
  }

  /** Runs `fn`, turning connection failures into DockerUnreachableError (as DockerEngine does). */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.manager.invalidAddress) await this.manager.ping(); // throws the address's DockerUnreachableError
    try {
      return await fn();
    } catch (e) {
      if (isConnectionError(e)) throw new DockerUnreachableError(this.endpoint, errorText(e), { cause: e });
      throw e;
    }
  }
}

function abortError(): Error {
  const e = new Error('The wait was aborted.');
  e.name = 'AbortError';
  return e;
}

/** A non-TTY logs buffer (8-byte frame headers) as text. */
function demuxText(buf: Buffer | string): string {
  if (typeof buf === 'string') return buf;
  const frames = new FrameSplitter().push(buf);
  if (frames.length === 0 && buf.length > 0) return buf.toString('utf8');
  return Buffer.concat(frames.map((f) => f.raw.subarray(8))).toString('utf8');
}
