import { BorgError, NameConflictError } from './errors';
import type { ContainerInfo, DockerEngine, Engine } from './engine';
import { needsInspect } from './verbs';

/** What the claim step needs from the engine (a fake engine implements just this in unit tests). */
export type ClaimEngine = Pick<DockerEngine, 'list' | 'inspect' | 'remove' | 'rename'> & Pick<Engine, 'canRename'>;

/**
 * Why a candidate name was passed over. `oom-unknown`: exited 0 but its OOM flag is unknown (a
 * list entry {@link judge} was given without an inspect): never reclaimed on a guess.
 */
export type SkipReason = 'live' | 'foreign' | 'other-workspace' | 'crashed' | 'oom-killed' | 'oom-unknown' | 'dead' | 'remove-failed' | 'conflict';

/** The claim table's answer for one existing container. */
export type Verdict = { action: 'reclaim' } | { action: 'skip'; reason: SkipReason };

/** A container still 'created' (never started) this long after creation is abandoned and may be reclaimed. */
export const CREATED_GRACE_MS = 60_000;

/** Default cap on candidate names tried by one launch. */
export const MAX_CLAIM_CANDIDATES = 256;

/** How many inspects {@link claimName} keeps in flight at once (the one it needs and the next ones it will likely need). */
export const INSPECT_BATCH = 8;

/**
 * The claim table: what to do with an existing container that holds a candidate name.
 * Fields are Docker's `State` (Engine API ContainerState); "not found" never reaches here.
 *
 * | state                                   | verdict                          |
 * |-----------------------------------------|----------------------------------|
 * | no `borg.managed=true` label            | skip: someone else's, never touched |
 * | another workspace's `borg.workspace`    | skip: that window's to manage     |
 * | running, paused, restarting, removing   | skip: live                        |
 * | created (never started), over 60 s old   | reclaim                           |
 * | created less than 60 s ago              | skip: another launch is about to start it |
 * | exited with OOMKilled (any exit code)   | skip: oom-killed, kept for hardline |
 * | exited non-zero                         | skip: crashed, kept for hardline  |
 * | exited 0, OOMKilled false               | reclaim (moved aside and removed, reuse the name and its state dir) |
 * | exited 0, OOMKilled unknown (a list)    | skip: oom-unknown — {@link claimName} inspects first, so this is never a guess |
 * | dead                                    | skip                              |
 *
 * OOMKilled, measured on dockerd 20.10: a container whose *child* was OOM-killed while its main
 * process exited 0 reports `ExitCode 0, OOMKilled true`, so exit 0 alone is not clean; and the
 * flag is reset when the container starts again (not sticky), so it always speaks of the last run.
 */
export function judge(info: ContainerInfo, workspaceId: string, now = Date.now()): Verdict {
  if (!info.managed) return { action: 'skip', reason: 'foreign' };
  if (info.workspace !== workspaceId) return { action: 'skip', reason: 'other-workspace' };
  switch (info.status) {
    case 'running':
    case 'paused':
    case 'restarting':
    case 'removing':
      return { action: 'skip', reason: 'live' };
    case 'created':
      // Between create and start another window's launch holds a 'created' container: leave young ones alone.
      return now - info.createdAt >= CREATED_GRACE_MS ? { action: 'reclaim' } : { action: 'skip', reason: 'live' };
    case 'dead':
      return { action: 'skip', reason: 'dead' };
    case 'exited':
      if (info.oomKilled === true) return { action: 'skip', reason: 'oom-killed' };
      // A user-stopped agent (exit 143, `endedBy` in verbs.ts) is skipped too: the automatic
      // name search judges Docker's state only (another window's claim has no view of this
      // database), and a stopped agent's container and folder are the user's to look at; the
      // explicit Reclaim (verbs.ts) is how its name is reused.
      if (info.exitCode !== 0) return { action: 'skip', reason: 'crashed' };
      if (info.oomKilled === false) return { action: 'reclaim' };
      return { action: 'skip', reason: 'oom-unknown' };
    default:
      return { action: 'skip', reason: 'live' }; // a state Docker may add later: leave it alone
  }
}

/** Options for {@link claimName}. */
export interface ClaimOptions<T> {
  engine: ClaimEngine;
  /** Returns the next candidate name (from the Pipeline's containerSeq). */
  nextCandidate: () => string;
  /** Common prefix of all candidates (`<prefix>-<persona>-`), for one filtered list call. */
  namePrefix: string;
  workspaceId: string;
  /** Creates the container under `name`; must throw {@link NameConflictError} on Docker's 409. */
  create: (name: string, reclaimed: boolean) => Promise<T>;
  /**
   * Takes ownership of the removal of a reclaimed container moved aside ({@link asideName}),
   * called as it starts, before `create`: the caller must await it before it shuts down (the
   * Pipeline joins it in `joinAgents`). The promise never rejects.
   */
  adoptRemoval: (removal: Promise<AsideRemoval>) => void;
  maxCandidates?: number;
}

/** How the removal of a reclaimed container, moved aside under `aside`, ended: `error` set when it could not be removed (it is left there, untouched). */
export interface AsideRemoval {
  /** The name it was reclaimed from. */
  name: string;
  aside: string;
  id: string;
  error?: unknown;
}

/**
 * The name a reclaimed container is moved to before it is removed: `<name>.reclaimed-<first 12
 * hex digits of its id>`. Never a candidate (candidates end in a number), and it names its own
 * container: a container found under such a name whose id does not start with that suffix was
 * not moved aside by a claim ({@link isAsideOf}).
 */
export function asideName(name: string, id: string): string {
  return `${name}.reclaimed-${id.slice(0, 12)}`;
}

/** True when `name` is {@link asideName} of the container `id` (one a claim moved aside and may not have removed: the process ended first). */
export function isAsideOf(name: string, id: string): boolean {
  const m = /\.reclaimed-([0-9a-f]{12})$/.exec(name);
  return m !== null && id.startsWith(m[1]);
}

/** The outcome of a claim: the name taken, whether it was reclaimed, what `create` returned, and the names passed over. */
export interface Claim<T> {
  name: string;
  reclaimed: boolean;
  created: T;
  skipped: Array<{ name: string; reason: SkipReason }>;
}

/** Candidates {@link claimName} asks about one by one (an inspect each) before it lists the rest in one call. */
export const PROBE_CANDIDATES = 8;

/**
 * Finds a free name and creates the container under it.
 *
 * Where the time goes (measured on dockerd 20.10 here): an inspect by name ≈ 1 ms whatever the
 * daemon holds; a list costs ≈ 0.1 ms per row it returns (200 stale rows ≈ 20–30 ms, more than
 * the create itself) plus a filter pass over every container on the daemon. So the first
 * {@link PROBE_CANDIDATES} candidates are inspected — a stale container costs only when its name
 * is a candidate, and an inspect carries `OOMKilled`, which a list does not. The first alone (a
 * free name costs one inspect); when it is taken, the next ones at once, by guessing their names
 * as `namePrefix` + the next numbers (containerSeq's order; a wrong guess only costs a wasted
 * inspect, since candidates still come from `nextCandidate`, which is never called ahead). Past
 * those, one `list` of the names starting with `namePrefix` answers the table for the rest; a
 * listed container of ours that exited 0 (or 137, or with no exit code in its row) is inspected
 * before it is judged (never reclaimed on a guess), {@link INSPECT_BATCH} at a time: the name needed now and the listed names that follow
 * it by number. A name nobody holds is created directly: if another window or host took it
 * meanwhile, Docker answers 409 and we move to the next candidate. A container to reclaim that
 * exited is renamed aside ({@link asideName}; ≈ 4 ms here) and removed off the critical path (a
 * remove deletes its layer: 20–40 ms, as much as a create or more), the removal handed to
 * `adoptRemoval` before the create; one never started is removed first, and so is every one on an
 * engine that cannot rename (`canRename: false`, Swarm). A failed list or inspect
 * (daemon down, permission) aborts the claim with that error; it is never read as "not found".
 *
 * @throws DockerUnreachableError or the engine's error when Docker fails; BorgError when
 *   `maxCandidates` names were all taken.
 */
export async function claimName<T>(opts: ClaimOptions<T>): Promise<Claim<T>> {
  const max = opts.maxCandidates ?? MAX_CLAIM_CANDIDATES;
  let listed: { existing: Map<string, ContainerInfo>; inspector: BatchInspector } | undefined;

  const guessed = new Map<string, Promise<ContainerInfo | undefined>>();
  const probe = (name: string) => {
    const p = guessed.get(name) ?? opts.engine.inspect(name);
    guessed.delete(name);
    return p;
  };
  const skipped: Claim<T>['skipped'] = [];
  for (let i = 0; i < max; i++) {
    const name = opts.nextCandidate();
    let info: ContainerInfo | undefined;
    if (i < PROBE_CANDIDATES) {
      info = await probe(name);
      if (i === 0 && info) guessNext(opts, name, Math.min(PROBE_CANDIDATES, max) - 1, guessed);
    } else {
      listed ??= await listOnce(opts);
      info = listed.existing.get(name);
      if (info && mustInspect(info, opts.workspaceId)) info = await listed.inspector.inspect(name);
    }
    let reclaimed = false;
    if (info) {
      const verdict = judge(info, opts.workspaceId);
      if (verdict.action === 'skip') {
        skipped.push({ name, reason: verdict.reason });
        continue;
      }
      if (info.status === 'created' || opts.engine.canRename === false) {
        // Never started and over a minute old: removed here, as a slow launch could still start it (a rename would hide it from that launch's window).
        // An engine that cannot rename (Swarm services) has its exited one removed in place too, on the launch's path.
        try {
          await opts.engine.remove(info.id);
        } catch {
          skipped.push({ name, reason: 'remove-failed' }); // e.g. started meanwhile: never reuse a name we could not free
          continue;
        }
        reclaimed = true;
      } else {
        const freed = await moveAside(opts, name, info.id);
        if (freed !== true) {
          skipped.push({ name, reason: freed });
          continue;
        }
        reclaimed = true;
      }
    }
    try {
      const created = await opts.create(name, reclaimed);
      return { name, reclaimed, created, skipped };
    } catch (e) {
      if (e instanceof NameConflictError) {
        skipped.push({ name, reason: 'conflict' });
        continue;
      }
      throw e;
    }
  }
  throw new BorgError(
    `No free container name after ${max} candidates starting with "${opts.namePrefix}": they are all running or kept for hardline. ` +
      'Remove crashed agents you no longer need (Borg: Remove Agent) or choose another borg.containerPrefix.',
  );
}

/**
 * Frees `name`, held by the exited container `id` the table says to reclaim: renames it to
 * {@link asideName} (a rename costs a few ms; a remove, tens: its layer is deleted) and hands its
 * removal to `opts.adoptRemoval`. True when the name is free (also when the container was already
 * gone: 404); else why the name is passed over — `conflict` when the aside name is taken
 * (another claim moved it aside first and creates the name itself), `remove-failed` for any
 * other failure (never reuse a name we could not free).
 */
async function moveAside<T>(opts: ClaimOptions<T>, name: string, id: string): Promise<true | SkipReason> {
  const aside = asideName(name, id);
  let renamed: boolean;
  try {
    renamed = await opts.engine.rename(id, aside);
  } catch (e) {
    return e instanceof NameConflictError ? 'conflict' : 'remove-failed';
  }
  if (renamed) opts.adoptRemoval(removeAside(opts.engine, name, aside, id));
  return true;
}

/**
 * Removes a container moved aside (never forced: one started again meanwhile stays, under its
 * aside name, labelled and visible). Resolves with the outcome; never rejects.
 */
async function removeAside(engine: ClaimEngine, name: string, aside: string, id: string): Promise<AsideRemoval> {
  try {
    await engine.remove(id);
    return { name, aside, id };
  } catch (error) {
    return { name, aside, id, error };
  }
}

/**
 * Starts the inspects of the `count` names after `name` when it reads `namePrefix` + a number
 * (Borg's `<prefix>-<persona>-<n>`), so the probes that follow wait for one round trip. A failure
 * is thrown to whoever awaits that name; one never awaited is dropped.
 */
function guessNext<T>(opts: ClaimOptions<T>, name: string, count: number, into: Map<string, Promise<ContainerInfo | undefined>>): void {
  const rest = name.slice(opts.namePrefix.length);
  if (!name.startsWith(opts.namePrefix) || !/^\d+$/.test(rest)) return;
  for (let j = 1; j <= count; j++) {
    const next = `${opts.namePrefix}${Number(rest) + j}`;
    const p = opts.engine.inspect(next);
    p.catch(() => undefined);
    into.set(next, p);
  }
}

/** The one list of the names starting with `namePrefix`, and the inspector for the exited ones of ours among them. */
async function listOnce<T>(opts: ClaimOptions<T>): Promise<{ existing: Map<string, ContainerInfo>; inspector: BatchInspector }> {
  const existing = new Map<string, ContainerInfo>();
  for (const c of await opts.engine.list({ namePrefix: opts.namePrefix })) existing.set(c.name, c);
  const pending = [...existing.values()].filter((c) => mustInspect(c, opts.workspaceId)).map((c) => c.name);
  return { existing, inspector: new BatchInspector(opts.engine, opts.namePrefix, pending) };
}

/**
 * Whether a listed container must be inspected before it is judged: ours, exited, OOM flag
 * unknown, and an exit code where the flag decides something — 0 (reclaim only when not
 * OOM-killed) or unknown — or names the likely cause: 137 (128 + SIGKILL, what the OOM killer
 * sends the main process). Any other non-zero exit is kept for hardline whatever the flag says,
 * so it is skipped as `crashed` without a round trip (200 crashed containers would otherwise
 * cost 200 inspects). Someone else's container is never inspected.
 */
function mustInspect(c: ContainerInfo, workspaceId: string): boolean {
  const decides = c.exitCode === undefined || c.exitCode === 0 || c.exitCode === 137;
  return c.managed && c.workspace === workspaceId && c.status === 'exited' && needsInspect(c) && decides;
}

/**
 * Inspects names on demand, {@link INSPECT_BATCH} at a time: asked for one name, it also starts
 * the inspects of the next pending names in numeric order of their suffix after `prefix`
 * (candidates come from containerSeq in that order). A failure is thrown to whoever awaits that
 * name; one never awaited is dropped.
 */
class BatchInspector {
  private readonly started = new Map<string, Promise<ContainerInfo | undefined>>();
  private readonly order: string[];

  constructor(
    private readonly engine: ClaimEngine,
    prefix: string,
    pending: string[],
  ) {
    const num = (name: string) => {
      const n = Number(name.slice(prefix.length));
      return Number.isFinite(n) ? n : Number.MAX_SAFE_INTEGER;
    };
    this.order = [...pending].sort((a, b) => num(a) - num(b) || (a < b ? -1 : 1));
  }

  inspect(name: string): Promise<ContainerInfo | undefined> {
    if (!this.started.has(name)) {
      const at = this.order.indexOf(name);
      const batch = at < 0 ? [name] : this.order.slice(at, at + INSPECT_BATCH).filter((n) => !this.started.has(n));
      for (const n of batch) {
        const p = this.engine.inspect(n);
        p.catch(() => undefined); // read (and thrown) only by whoever awaits this name
        this.started.set(n, p);
      }
    }
    return this.started.get(name)!;
  }
}
