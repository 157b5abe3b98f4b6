import * as fs from 'node:fs';
import type { DockerEndpoint, EndpointSource } from './dockerEndpoint';
import type { HostEntry } from './dockerHosts';
import { DockerEngine, Engine } from './engine';
import { InvalidInputError } from './errors';
import { HostsEngine } from './hostsEngine';
import type { EngineKind } from './settingRules';
import { SwarmEngine } from './swarmEngine';

/** What {@link makeEngine} builds from: `borg.engine` / `--engine`, `borg.docker.hosts` / `--docker-host`, `borg.dockerHost`. */
export interface EngineChoice {
  engine: EngineKind;
  /** The Docker hosts (dockerHosts.ts); empty: the one daemon of `dockerHost` / DOCKER_HOST / the context. */
  hosts: readonly HostEntry[];
  /** `borg.dockerHost` (used when `hosts` is empty). */
  dockerHost?: string;
  /** Swarm placement constraints, read at each create (`borg.swarm.placement`). */
  placement?: () => string[];
  /**
   * The extension's way: an address that cannot be resolved does not throw — its engine fails
   * every call with a "check the setting" error (DockerEngine.tryConnect), so the views show a
   * down state instead of another daemon. The CLI refuses at once (not lenient).
   */
  lenient?: boolean;
}

/** One Docker daemon behind an engine: its name (`borg.docker.hosts`' or `docker`) and its DockerEngine. */
export interface EngineMember {
  name: string;
  engine: DockerEngine;
}

/** The daemons behind each engine {@link makeEngine} built (a HostsEngine's members, a SwarmEngine's manager). */
const MEMBERS = new WeakMap<Engine, EngineMember[]>();

/**
 * Builds the engine agents run on:
 * | engine | hosts | result |
 * |--------|-------|--------|
 * | docker | 0     | `DockerEngine(dockerHost)` — DOCKER_HOST, the current context, the default socket (as before) |
 * | docker | 1     | a `DockerEngine` on that entry (its address or context name; one pool of `maxParallelAgents`) |
 * | docker | ≥ 2   | `HostsEngine` over one DockerEngine per entry, with the entries' names and slots |
 * | swarm  | 0 / 1 | `SwarmEngine` over the manager: `dockerHost` (DOCKER_HOST, …) or the one entry |
 * | swarm  | ≥ 2   | refused: a Swarm is reached through one manager, which places services on its nodes |
 * Two entries that resolve to one daemon — the same socket file (links followed), TCP host and
 * port, or ssh user, host and port — are refused: its containers would be listed twice, and its
 * slots counted twice.
 * @throws InvalidInputError (not lenient) for swarm with several hosts, two entries reaching one
 *   daemon, and an address that cannot be resolved (dockerEndpoint.ts says what to write).
 *   Lenient, nothing is thrown: a refused choice gives an engine whose every call fails with
 *   the refusal as a DockerUnreachableError (source: the setting), a bad address fails only
 *   its host's calls (HostsEngine marks that host down).
 */
export function makeEngine(choice: EngineChoice): Engine {
  try {
    return buildEngine(choice);
  } catch (e) {
    if (!choice.lenient || !(e instanceof InvalidInputError)) throw e;
    // Lenient: no other daemon instead — an engine whose every call fails with the refusal.
    return new DockerEngine(undefined, { lenient: true, host: { name: 'borg.docker.hosts', address: choice.hosts.map((h) => h.address).join(', ') }, refusal: e });
  }
}

function buildEngine(choice: EngineChoice): Engine {
  const opts = { lenient: choice.lenient };
  if (choice.engine === 'swarm') {
    if (choice.hosts.length > 1)
      throw new InvalidInputError(
        `borg.engine swarm reaches a Swarm through one manager, but ${choice.hosts.length} Docker hosts are listed (${choice.hosts.map((h) => h.name).join(', ')}). List only the manager in borg.docker.hosts (or one --docker-host), or use borg.engine docker to spread agents over the hosts yourself.`,
      );
    const host = choice.hosts[0];
    const manager = new DockerEngine(choice.dockerHost || undefined, { ...opts, host });
    const swarm = new SwarmEngine(manager, { placement: choice.placement });
    MEMBERS.set(swarm, [{ name: host?.name ?? 'manager', engine: manager }]);
    return swarm;
  }
  if (choice.hosts.length === 0) return new DockerEngine(choice.dockerHost || undefined, opts);
  const members = choice.hosts.map((h) => ({ name: h.name, slots: h.slots, engine: new DockerEngine(undefined, { ...opts, host: h }) }));
  refuseSameDaemon(members);
  if (members.length === 1) return members[0].engine;
  const engine = new HostsEngine(members);
  MEMBERS.set(
    engine,
    members.map((m) => ({ name: m.name, engine: m.engine })),
  );
  return engine;
}

/**
 * The Docker daemons behind `engine`, for what must happen on each of them (building the demo
 * image, a `docker.version()` in the logs): a DockerEngine is itself (named `docker`, or its
 * host entry's name); a HostsEngine or SwarmEngine built by {@link makeEngine} its members or its
 * manager; anything else (the unit tests' fakes) none.
 */
export function membersOf(engine: Engine): EngineMember[] {
  if (engine instanceof DockerEngine) return [{ name: engine.hostEntry?.name ?? 'docker', engine }];
  return [...(MEMBERS.get(engine) ?? [])];
}

/** Refuses two members that reach one daemon (those whose address resolved; a bad one fails on its own). */
function refuseSameDaemon(members: ReadonlyArray<{ name: string; engine: DockerEngine }>): void {
  const seen = new Map<string, string>();
  for (const m of members) {
    if (m.engine.invalidAddress) continue;
    const key = daemonKey(m.engine.resolved);
    const other = seen.get(key);
    if (other !== undefined)
      throw new InvalidInputError(
        `Docker hosts "${other}" and "${m.name}" reach the same daemon (${m.engine.endpoint}); its containers would be listed twice. List each Docker daemon once in borg.docker.hosts (or --docker-host).`,
      );
    seen.set(key, m.name);
  }
}

/** What identifies a daemon: the socket's real path, `tcp:host:port`, `ssh:user@host:port` (hosts without case). */
function daemonKey(e: DockerEndpoint): string {
  switch (e.kind) {
    case 'socket': {
      let real = e.socketPath;
      try {
        real = fs.realpathSync(e.socketPath);
      } catch {
        // not there (yet): compared as written
      }
      return `unix:${real}`;
    }
    case 'tcp':
      return `tcp:${e.host.toLowerCase()}:${e.port}`;
    case 'ssh':
      return `ssh:${e.username}@${e.host.toLowerCase()}:${e.port}`;
  }
}

/**
 * For the log: `Docker at unix:///… (DOCKER_HOST)` for one daemon; with several, one such phrase
 * per host (`gpu: Docker at ssh://me@gpu:22 (borg.docker.hosts "gpu"); …`); a Swarm's is its
 * manager's, after `Swarm through`.
 */
export function describeEngine(engine: Engine): string {
  if (engine instanceof DockerEngine) return engine.invalidAddress ? `Docker address invalid: ${engine.invalidAddress.message}` : engine.choice;
  const members = membersOf(engine);
  if (members.length === 0) return engine.endpoint;
  if (engine instanceof SwarmEngine) return `Swarm through ${describeEngine(members[0].engine)}`;
  return members.map((m) => `${m.name}: ${describeEngine(m.engine)}`).join('; ');
}

/**
 * Which rule chose the daemon at `endpoint` (a DockerUnreachableError's), for the down state's
 * advice (dockerDown.ts): the member of `engine` with that address, else the first member's,
 * else the default.
 */
export function sourceFor(engine: Engine, endpoint?: string): EndpointSource {
  const members = membersOf(engine);
  const m = members.find((x) => x.engine.endpoint === endpoint) ?? members[0];
  return m?.engine.source ?? { kind: 'default' };
}
