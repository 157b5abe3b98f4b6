import type { Duplex, PassThrough, Readable } from 'node:stream';
import type { ArchiveStat, ContainerEvent, ContainerInfo, CreateSpec, Engine, HostState, LiveContainerEvent } from './engine';
import { DockerUnreachableError, InvalidInputError } from './errors';

/** One Docker host of a {@link HostsEngine}: its unique name, its engine and how many agents it runs at once. */
export interface HostMember {
  name: string;
  engine: Engine;
  /** Agents at once on this host, ≥ 1. */
  slots: number;
}

/** A member with its live state. */
type Member = HostMember & { state: HostState };

/**
 * Several Docker hosts behind the one {@link Engine} interface (`borg.docker.hosts`, the CLI's
 * repeatable `--docker-host`). The Pipeline keeps one slot pool per host ({@link hosts}) and names
 * the host of each new container in {@link CreateSpec.host}; every later call about a container
 * goes to the host that holds it (remembered from create, list and inspect; else each host is
 * asked). Lists and inspects merge the hosts' answers and set {@link ContainerInfo.host}.
 *
 * A host whose call fails with {@link DockerUnreachableError} is marked down ({@link HostState.up}
 * false) until a call reaches it again: the Pipeline places nothing on it, lists leave it out
 * (its agents' follows fail with the same error, so they end `lost` and their task phases are
 * requeued on the other hosts), and a name's inspect counts it as not having the name. Only when every host
 * is down does a list, inspect or ping fail.
 *
 * Container names are unique per Docker daemon, not across hosts: a name taken on a host that is
 * down can be claimed on another (Borg's names carry a counter, so this needs a name from an
 * earlier session on a host that is down now).
 */
export class HostsEngine implements Engine {
  private readonly members: ReadonlyArray<Member>;
  /** Container id → the member that holds it. */
  private readonly where = new Map<string, Member>();

  /** @throws InvalidInputError for no member, a repeated name or a slot count below 1. */
  constructor(members: HostMember[]) {
    if (members.length === 0) throw new InvalidInputError('No Docker host given: borg.docker.hosts (or --docker-host) needs at least one entry.');
    const seen = new Set<string>();
    for (const m of members) {
      if (seen.has(m.name)) throw new InvalidInputError(`Two Docker hosts are named ${m.name}: give each entry of borg.docker.hosts its own "name".`);
      seen.add(m.name);
      if (!(Number.isInteger(m.slots) && m.slots >= 1)) throw new InvalidInputError(`Docker host ${m.name} has ${m.slots} slots: give it a whole number of at least 1.`);
    }
    this.members = members.map((m) => ({ ...m, state: { name: m.name, address: m.engine.endpoint, slots: m.slots, up: true } }));
  }

  /** `2 Docker hosts: a (unix:///…), b (tcp://…)`. */
  get endpoint(): string {
    return `${this.members.length} Docker hosts: ${this.members.map((m) => `${m.name} (${m.engine.endpoint})`).join(', ')}`;
  }

  /** True when any host is reached over plain HTTP on another machine. */
  get insecureRemote(): boolean {
    return this.members.some((m) => m.engine.insecureRemote === true);
  }

  /** Every host's address (a launch may be placed on any). */
  get daemonAddresses(): readonly string[] {
    return this.members.map((m) => m.engine.endpoint);
  }

  /** Each host's name, address, slots and whether the last call reached it (a live view). */
  get hosts(): readonly HostState[] {
    return this.members.map((m) => m.state);
  }

  /** Resolves when at least one host answers (and marks each up or down). @throws DockerUnreachableError when none does. */
  async ping(): Promise<void> {
    await this.onAll(async (m) => {
      await m.engine.ping();
      return [];
    });
  }

  /** Every host's containers (each with `host` set); a host that does not answer is marked down and left out. */
  async list(filter?: { managedOnly?: boolean; workspace?: string; namePrefix?: string }): Promise<ContainerInfo[]> {
    const parts = await this.onAll(async (m) => {
      const rows = await m.engine.list(filter);
      return rows.map((c) => this.seen(m, c)).filter((c): c is ContainerInfo => c !== undefined);
    });
    return parts.flat();
  }

  /**
   * Inspects on the host that holds `nameOrId` when known, else on every host at once; a host
   * that cannot be reached counts as not having it (and is marked down). Undefined when no
   * reachable host has it.
   * @throws DockerUnreachableError when no host answers; any other failure of a host.
   */
  async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    const known = this.where.get(nameOrId);
    if (known) {
      const c = await this.mark(known, () => known.engine.inspect(nameOrId));
      if (c) return this.seen(known, c);
      this.where.delete(nameOrId);
      return undefined; // its host answered: it is gone
    }
    const found = await this.onAll(async (m) => {
      const c = await m.engine.inspect(nameOrId);
      const info = c ? this.seen(m, c) : undefined;
      return info ? [info] : [];
    });
    const all = found.flat();
    // A name can be on two hosts (see the class comment): the running one is the one that matters.
    return all.find((c) => c.status === 'running') ?? all[0];
  }

  /** Creates on host `spec.host` (the Pipeline's placement), else on the first host that is up. @throws InvalidInputError for an unknown host name. */
  async create(spec: CreateSpec): Promise<string> {
    const m = spec.host !== undefined ? this.members.find((x) => x.name === spec.host) : (this.members.find((x) => x.state.up) ?? this.members[0]);
    if (!m) throw new InvalidInputError(`No Docker host is named ${spec.host}.`);
    const id = await this.mark(m, () => m.engine.create(spec));
    this.where.set(id, m);
    return id;
  }

  async start(id: string): Promise<void> {
    await this.route(id, (e) => e.start(id));
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    await this.route(id, (e) => e.stop(id, graceSeconds));
  }

  async kill(id: string): Promise<void> {
    await this.route(id, (e) => e.kill(id));
  }

  async remove(id: string, opts?: { force?: boolean }): Promise<void> {
    await this.route(id, (e) => e.remove(id, opts));
    this.where.delete(id);
  }

  async rename(id: string, name: string): Promise<boolean> {
    return this.route(id, (e) => e.rename(id, name));
  }

  wait(id: string, signal?: AbortSignal): Promise<number> {
    return this.route(id, (e) => e.wait(id, signal));
  }

  attach(id: string, opts: { stdin: boolean; signal?: AbortSignal }): Promise<Duplex> {
    return this.route(id, (e) => e.attach(id, opts));
  }

  /** Docker's frame format is the same on every host. */
  demux(stream: Readable): { stdout: PassThrough; stderr: PassThrough } {
    return this.members[0].engine.demux(stream);
  }

  logs(id: string, tail?: number, opts?: { timestamps?: boolean; since?: string }): Promise<string> {
    return this.route(id, (e) => e.logs(id, tail, opts));
  }

  containerEvents(id: string, sinceMs: number): Promise<ContainerEvent[]> {
    return this.route(id, (e) => e.containerEvents(id, sinceMs));
  }

  archiveStat(id: string, path: string): Promise<ArchiveStat | undefined> {
    return this.route(id, (e) => e.archiveStat(id, path));
  }

  archive(id: string, path: string, signal?: AbortSignal): Promise<Readable> {
    return this.route(id, (e) => e.archive(id, path, signal));
  }

  /**
   * The labels and user of image `ref` on host `host` (the launch's placement), or, without one,
   * when every host that is up has it (a launch may be placed on any of them); undefined when
   * it (or one of them) lacks it.
   * @throws DockerUnreachableError when no host answers.
   */
  async image(ref: string, host?: string): Promise<{ labels: Record<string, string>; user: string } | undefined> {
    const placed = host !== undefined ? this.members.find((m) => m.name === host) : undefined;
    if (placed) return this.mark(placed, () => placed.engine.image(ref));
    const found = await this.onAll(async (m) => [await m.engine.image(ref)]);
    const all = found.flat();
    if (all.some((i) => i === undefined)) return undefined;
    return all[0];
  }

  /**
   * The hosts' live event streams merged. Resolves once every host that answers has opened its
   * stream (hosts that do not are marked down); the merged stream ends when any host's ends (the
   * caller reconnects, which is when a host that came back joins again) or `signal` aborts.
   * @throws DockerUnreachableError when no host's stream opens.
   */
  async events(signal: AbortSignal, filter?: { workspace?: string }): Promise<AsyncIterable<LiveContainerEvent>> {
    const inner = new AbortController();
    const onAbort = () => inner.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let streams: Array<AsyncIterable<LiveContainerEvent>>;
    try {
      streams = (await this.onAll(async (m) => [await m.engine.events(inner.signal, filter)])).flat();
    } catch (e) {
      inner.abort();
      signal.removeEventListener('abort', onAbort);
      throw e;
    }
    return mergeUntilFirstEnd(streams, inner, () => signal.removeEventListener('abort', onAbort));
  }

  /**
   * Records where container `c` is and tags it with its host. The first host to report an id
   * keeps it (Borg's own create, or the list that showed it first): another daemon answering
   * for the same id — a crafted answer — is not believed, and its row is left out.
   */
  private seen(m: Member, c: ContainerInfo): ContainerInfo | undefined {
    const known = this.where.get(c.id);
    if (known && known !== m) return undefined;
    this.where.set(c.id, m);
    return { ...c, host: m.name };
  }

  /** Runs `fn` on member `m`, marking it up when it answers and down when it cannot be reached. */
  private async mark<T>(m: Member, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      m.state.up = true;
      m.state.error = undefined;
      return r;
    } catch (e) {
      if (e instanceof DockerUnreachableError) {
        m.state.up = false;
        m.state.error = e.detail;
      } else {
        m.state.up = true;
        m.state.error = undefined;
      }
      throw e;
    }
  }

  /**
   * Runs `fn` on every host at once. A host that cannot be reached is left out (marked down);
   * any other failure is thrown. @throws DockerUnreachableError when no host could be reached.
   */
  private async onAll<T>(fn: (m: Member) => Promise<T[]>): Promise<T[][]> {
    const settled = await Promise.allSettled(this.members.map((m) => this.mark(m, () => fn(m))));
    const out: T[][] = [];
    let unreachable: DockerUnreachableError | undefined;
    for (const s of settled) {
      if (s.status === 'fulfilled') out.push(s.value);
      else if (s.reason instanceof DockerUnreachableError) unreachable ??= s.reason;
      else throw s.reason;
    }
    if (out.length === 0 && unreachable) throw this.allDown(unreachable);
    return out;
  }

  /** The error for "no host answers": names each host and why. */
  private allDown(first: DockerUnreachableError): DockerUnreachableError {
    const why = this.members.map((m) => `${m.name}: ${m.state.error ?? 'no answer'}`).join('; ');
    return new DockerUnreachableError(this.endpoint, `no Docker host answers (${why})`, { cause: first, advice: 'Start Docker on at least one of them (or fix borg.docker.hosts), then Refresh.' });
  }

  /** Runs `fn` on the engine of the host that holds container `id` (asking every host when not known yet). */
  private async route<T>(id: string, fn: (e: Engine) => Promise<T>): Promise<T> {
    let m = this.where.get(id);
    if (!m) {
      await this.inspect(id);
      m = this.where.get(id);
    }
    if (!m) {
      // No host that answers has it. While one is down it may be there: that is "Docker gone"
      // for it, never "no such container" (an agent's follow must end lost, not removed).
      const down = this.members.filter((x) => !x.state.up);
      if (down.length > 0) {
        throw new DockerUnreachableError(
          down.map((x) => x.engine.endpoint).join(', '),
          `container ${id} is on no Docker host that answers (${down.map((x) => `${x.name}: ${x.state.error ?? 'no answer'}`).join('; ')})`,
          {
            advice: 'Start Docker there (or fix borg.docker.hosts), then Refresh.',
          },
        );
      }
      // Every host answered: ask the first, so the caller gets that daemon's own "no such container".
      m = this.members[0];
    }
    const member = m;
    return this.mark(member, () => fn(member.engine));
  }
}

/** Yields the events of every stream as they come; ends (aborting the rest through `inner`) when the first stream ends or fails. */
async function* mergeUntilFirstEnd(streams: Array<AsyncIterable<LiveContainerEvent>>, inner: AbortController, done: () => void): AsyncGenerator<LiveContainerEvent> {
  const iterators = streams.map((s) => s[Symbol.asyncIterator]());
  const next = (i: number) => iterators[i].next().then((r) => ({ i, r }));
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<LiveContainerEvent> }>>(iterators.map((_, i) => [i, next(i)]));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) return;
      yield r.value;
      pending.set(i, next(i));
    }
  } finally {
    inner.abort();
    done();
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}
