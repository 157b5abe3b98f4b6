import { Duplex, PassThrough, Readable } from 'node:stream';
import type { ArchiveStat, ContainerInfo, CreateSpec, Engine, LiveContainerEvent } from '../../src/core/engine';
import { DockerUnreachableError, NameConflictError } from '../../src/core/errors';
import { isManaged, LABEL_MANAGED, LABEL_PERSONA, LABEL_WORKSPACE } from '../../src/core/labels';

/** One container of the {@link FakeDocker}. */
export interface FakeContainer {
  info: ContainerInfo;
  spec: CreateSpec;
  /** Everything written to the container's stdin, joined. */
  stdin: string;
  /** Grace (s) of every stop call, in order. */
  stops: number[];
  starts: number;
  /** Events as Docker records them (kill on stop/kill, oom). */
  events: Array<{ action: string; at: number; attributes: Record<string, string> }>;
  stream?: Duplex;
  exit?: (code: number) => void;
  exited?: Promise<number>;
}

/** A promise with its resolve function, for gates a test opens when it wants. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/**
 * An in-memory {@link Engine}, for the fast edge cases of seed 001 (spawn failure, crash,
 * joins, shutdown during a launch or a hardline) on top of the real-Docker tests. Containers run
 * until the test ends them ({@link exit}), a stop (exit 143 after SIGTERM) or a kill (137).
 * Hooks let a test hold a `start` (a window closed between attach and start), fail a start, or
 * take the daemon away (every call then throws DockerUnreachableError, as the real engine does).
 */
export class FakeDocker implements Engine {
  readonly endpoint = 'unix:///fake/docker.sock';
  insecureRemote = false;
  readonly containers = new Map<string, FakeContainer>();
  /** Set to make every call fail as if the daemon were gone. */
  down = false;
  /** Awaited by `start` before the container runs (a test holds it to act in between). */
  beforeStart: ((c: FakeContainer) => Promise<void>) | undefined;
  /** Makes `start` fail with this error once. */
  failNextStart: Error | undefined;
  /** When true, a stop's SIGTERM is ignored and only the grace's SIGKILL ends it (exit 137). */
  ignoreSigterm = false;
  private seq = 0;
  /** Starts every container id (several fakes as several Docker hosts need ids unique across them). */
  idPrefix = 'fake';
  /** The open event streams ({@link events}): push an event to each, or end them. */
  private readonly eventStreams = new Set<{ workspace?: string; push: (e: LiveContainerEvent | null) => void }>();

  /**
   * Holds every `start` until `release()`: `reached` resolves once a start is waiting (a window
   * closed between attach and start is a shutdown called then).
   */
  holdStarts(): { reached: Promise<void>; release: () => void } {
    const held = gate();
    const reached = gate();
    this.beforeStart = async () => {
      reached.open();
      await held.opened;
    };
    return { reached: reached.opened, release: held.open };
  }

  /** The container named `name`. @throws when there is none. */
  get(name: string): FakeContainer {
    for (const c of this.containers.values()) if (c.info.name === name) return c;
    throw new Error(`no fake container ${name}`);
  }

  /** Ends a running container with `code` (and OOMKilled when `oom`), writing `lines` first. */
  exit(name: string, code: number, opts: { oom?: boolean; lines?: string[] } = {}): void {
    const c = this.get(name);
    for (const l of opts.lines ?? []) c.stream?.push(`${l}\n`);
    c.info.oomKilled = opts.oom === true;
    c.exit?.(code);
  }

  /** Writes output lines as the container would. */
  output(name: string, ...lines: string[]): void {
    const c = this.get(name);
    for (const l of lines) c.stream?.push(`${l}\n`);
  }

  /** Adds an existing container (as if made by an earlier window). */
  add(info: Partial<ContainerInfo> & { name: string }, running = info.status === 'running'): FakeContainer {
    const id = info.id ?? `${this.idPrefix}${++this.seq}`;
    const labels = info.labels ?? {};
    const c: FakeContainer = {
      info: {
        id,
        status: 'exited',
        createdAt: Date.now(),
        image: 'img',
        managed: isManaged(labels),
        persona: labels[LABEL_PERSONA],
        workspace: labels[LABEL_WORKSPACE],
        inspected: true,
        ...info,
        labels,
      },
      spec: { name: info.name, image: 'img', labels, hardening: { pidsLimit: 1, memoryMb: 1, cpus: 1, network: 'none' }, user: '1000:1000' },
      stdin: '',
      stops: [],
      starts: running ? 1 : 0,
      events: [],
    };
    this.containers.set(id, c);
    if (running) this.run(c);
    return c;
  }

  async ping(): Promise<void> {
    this.check();
  }

  async list(filter: { managedOnly?: boolean; workspace?: string; namePrefix?: string } = {}): Promise<ContainerInfo[]> {
    this.check();
    return [...this.containers.values()]
      .map((c) => c.info)
      .filter((i) => (!filter.managedOnly && !filter.workspace) || i.labels[LABEL_MANAGED] === 'true')
      .filter((i) => !filter.workspace || i.labels[LABEL_WORKSPACE] === filter.workspace)
      .filter((i) => !filter.namePrefix || i.name.startsWith(filter.namePrefix))
      .map((i) => ({ ...i, oomKilled: undefined, inspected: false }));
  }

  async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    this.check();
    for (const c of this.containers.values()) {
      if (c.info.name === nameOrId || c.info.id.startsWith(nameOrId)) return { ...c.info, labels: { ...c.info.labels } };
    }
    return undefined;
  }

  async create(spec: CreateSpec): Promise<string> {
    this.check();
    for (const c of this.containers.values()) if (c.info.name === spec.name) throw new NameConflictError(`The name ${spec.name} is already in use.`);
    const id = `${this.idPrefix}${++this.seq}${'0'.repeat(8)}`;
    this.containers.set(id, {
      info: {
        id,
        name: spec.name,
        status: 'created',
        createdAt: Date.now(),
        image: spec.image,
        labels: spec.labels,
        managed: isManaged(spec.labels),
        persona: spec.labels[LABEL_PERSONA],
        workspace: spec.labels[LABEL_WORKSPACE],
        inspected: true,
      },
      spec,
      stdin: '',
      stops: [],
      starts: 0,
      events: [],
    });
    return id;
  }

  async start(id: string): Promise<void> {
    this.check();
    const c = this.byId(id);
    if (this.beforeStart) await this.beforeStart(c);
    this.check();
    if (this.failNextStart) {
      const e = this.failNextStart;
      this.failNextStart = undefined;
      throw e;
    }
    if (c.info.status === 'running') return;
    c.starts++;
    this.run(c);
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    this.check();
    const c = this.byId(id);
    c.stops.push(graceSeconds);
    if (c.info.status === 'running') {
      c.events.push({ action: 'kill', at: Date.now(), attributes: { signal: '15' } });
      c.exit?.(this.ignoreSigterm ? 137 : 143);
    }
  }

  async kill(id: string): Promise<void> {
    this.check();
    const c = this.byId(id);
    if (c.info.status === 'running') {
      c.events.push({ action: 'kill', at: Date.now(), attributes: { signal: '9' } });
      c.exit?.(137);
    }
  }

  async remove(id: string, opts: { force?: boolean } = {}): Promise<void> {
    this.check();
    const c = this.containers.get(id);
    if (!c) return;
    if (c.info.status === 'running') {
      if (!opts.force) throw Object.assign(new Error('You cannot remove a running container'), { statusCode: 409 });
      c.exit?.(137);
    }
    this.containers.delete(id);
  }

  async rename(id: string, name: string): Promise<boolean> {
    this.check();
    const c = this.containers.get(id);
    if (!c) return false;
    if ([...this.containers.values()].some((o) => o !== c && o.info.name === name)) throw new NameConflictError(`The name ${name} is already in use.`);
    c.info.name = name;
    return true;
  }

  async wait(id: string, signal?: AbortSignal): Promise<number> {
    this.check();
    const c = this.byId(id);
    if (c.info.status !== 'running' || !c.exited) return c.info.exitCode ?? 0;
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      void c.exited!.then((code) => {
        signal?.removeEventListener('abort', onAbort);
        if (this.down) reject(new DockerUnreachableError(this.endpoint, 'connection reset'));
        else resolve(code);
      });
    });
  }

  async attach(id: string, opts: { stdin: boolean }): Promise<Duplex> {
    this.check();
    const c = this.byId(id);
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        if (opts.stdin) c.stdin += chunk.toString();
        cb();
      },
    });
    c.stream = stream;
    return stream;
  }

  demux(stream: Readable): { stdout: PassThrough; stderr: PassThrough } {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stream.on('data', (d) => stdout.write(d));
    stream.on('end', () => {
      stdout.end();
      stderr.end();
    });
    stream.on('close', () => {
      stdout.end();
      stderr.end();
    });
    return { stdout, stderr };
  }

  async containerEvents(id: string, sinceMs: number): Promise<Array<{ action: string; at: number; attributes: Record<string, string> }>> {
    this.check();
    return (this.containers.get(id)?.events ?? []).filter((e) => e.at >= sinceMs);
  }

  async logs(): Promise<string> {
    this.check();
    return '';
  }

  async image(): Promise<{ labels: Record<string, string>; user: string } | undefined> {
    this.check();
    return { labels: {}, user: '1000:1000' };
  }

  async events(signal: AbortSignal, filter: { workspace?: string } = {}): Promise<AsyncIterable<LiveContainerEvent>> {
    this.check();
    const queue: Array<LiveContainerEvent | null> = [];
    let wake: (() => void) | undefined;
    const sink = {
      workspace: filter.workspace,
      push: (e: LiveContainerEvent | null) => {
        queue.push(e);
        wake?.();
      },
    };
    this.eventStreams.add(sink);
    signal.addEventListener('abort', () => sink.push(null), { once: true });
    const streams = this.eventStreams;
    return (async function* () {
      try {
        for (;;) {
          if (!queue.length) await new Promise<void>((r) => (wake = r));
          const e = queue.shift();
          if (e === null || e === undefined) return;
          yield e;
        }
      } finally {
        streams.delete(sink);
      }
    })();
  }

  /** How many event streams are open now. */
  get openEventStreams(): number {
    return this.eventStreams.size;
  }

  /** Sends an event to every open stream whose filter the container matches (as Docker would for a labelled container). */
  emitEvent(id: string, action: string): void {
    const workspace = this.containers.get(id)?.info.labels[LABEL_WORKSPACE];
    for (const s of this.eventStreams) if (!s.workspace || s.workspace === workspace) s.push({ id, action, at: Date.now(), attributes: {} });
  }

  /** Ends every open event stream (the daemon closed the connection). */
  endEvents(): void {
    for (const s of [...this.eventStreams]) s.push(null);
  }

  /**
   * Archives a test set on the fake, by `<id>:<path>`: Docker's stat header and the tar bytes
   * `archive` streams (in `chunk`-byte pieces, so readers see split headers).
   */
  readonly archives = new Map<string, { stat?: ArchiveStat; tar?: Buffer; chunk?: number }>();
  /** How many bytes of each archive a reader pulled, by `<id>:<path>` (to check what was not read). */
  readonly archiveBytesRead = new Map<string, number>();

  async archiveStat(id: string, path: string): Promise<ArchiveStat | undefined> {
    this.check();
    return this.archives.get(`${id}:${path}`)?.stat;
  }

  async archive(id: string, path: string): Promise<Readable> {
    this.check();
    const key = `${id}:${path}`;
    const a = this.archives.get(key);
    if (!a?.tar) throw Object.assign(new Error(`no such path ${path}`), { statusCode: 404 });
    const tar = a.tar;
    const step = a.chunk ?? 512;
    let at = 0;
    const read = this.archiveBytesRead;
    read.set(key, 0);
    return new Readable({
      read() {
        const piece = tar.subarray(at, at + step);
        at += piece.length;
        read.set(key, at);
        this.push(piece.length ? piece : null);
      },
    });
  }

  /** Takes the daemon away: running containers die (as dockerd's shutdown kills them) and every call fails. */
  goDown(): void {
    this.endEvents();
    this.down = true;
    for (const c of this.containers.values()) if (c.info.status === 'running') c.exit?.(137);
  }

  private run(c: FakeContainer): void {
    c.info.status = 'running';
    c.info.exitCode = undefined;
    c.info.startedAt = new Date().toISOString();
    c.info.oomKilled = false;
    c.exited = new Promise<number>((resolve) => {
      c.exit = (code: number) => {
        if (c.info.status !== 'running') return;
        c.info.status = 'exited';
        c.info.exitCode = code;
        c.info.finishedAt = new Date().toISOString();
        c.stream?.push(null);
        resolve(code);
      };
    });
  }

  private byId(id: string): FakeContainer {
    const c = this.containers.get(id);
    if (!c) throw Object.assign(new Error(`No such container: ${id}`), { statusCode: 404 });
    return c;
  }

  private check(): void {
    if (this.down) throw new DockerUnreachableError(this.endpoint, 'connect ENOENT /fake/docker.sock');
  }
}
