import { BorgError, NameConflictError } from './errors';
import type { ContainerInfo, DockerEngine } from './engine';

/** What the claim step needs from the engine (a fake engine implements just this in unit tests). */
export type ClaimEngine = Pick<DockerEngine, 'list' | 'inspect' | 'remove'>;

/** Why a candidate name was passed over. */
export type SkipReason = 'live' | 'foreign' | 'other-workspace' | 'crashed' | 'oom-killed' | 'dead' | 'remove-failed' | 'conflict';

/** The claim table's answer for one existing container. */
export type Verdict = { action: 'reclaim' } | { action: 'skip'; reason: SkipReason };

/** A container still 'created' (never started) this long after creation is abandoned and may be reclaimed. */
export const CREATED_GRACE_MS = 60_000;

/** Default cap on candidate names tried by one launch. */
export const MAX_CLAIM_CANDIDATES = 256;

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
 * | exited 0                                | reclaim (remove, reuse the name and its state dir) |
 * | exited 137 with OOMKilled               | skip: kept for hardline           |
 * | exited non-zero otherwise               | skip: kept for hardline           |
 * | dead                                    | skip                              |
 *
 * OOMKilled is sticky in Docker (it stays true after a restart), so it only decides anything
 * together with exit code 137 (128 + SIGKILL): an exited-0 container is clean whatever it says.
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
      if (info.exitCode === 0) return { action: 'reclaim' };
      if (info.exitCode === 137 && info.oomKilled) return { action: 'skip', reason: 'oom-killed' };
      return { action: 'skip', reason: 'crashed' };
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
  maxCandidates?: number;
}

/** The outcome of a claim: the name taken, whether it was reclaimed, what `create` returned, and the names passed over. */
export interface Claim<T> {
  name: string;
  reclaimed: boolean;
  created: T;
  skipped: Array<{ name: string; reason: SkipReason }>;
}

/**
 * Finds a free name and creates the container under it.
 *
 * One `list` of the containers whose names start with `namePrefix` answers the table for most
 * candidates; a candidate is inspected only when the list cannot tell its exit code. A name the
 * list did not show is created directly: if another window or host took it meanwhile, Docker
 * answers 409 and we move to the next candidate. A failed list or inspect (daemon down,
 * permission) aborts the claim with that error; it is never read as "not found".
 *
 * @throws DockerUnreachableError or the engine's error when Docker fails; BorgError when
 *   `maxCandidates` names were all taken.
 */
export async function claimName<T>(opts: ClaimOptions<T>): Promise<Claim<T>> {
  const max = opts.maxCandidates ?? MAX_CLAIM_CANDIDATES;
  const existing = new Map<string, ContainerInfo>();
  for (const c of await opts.engine.list({ namePrefix: opts.namePrefix })) existing.set(c.name, c);

  const skipped: Claim<T>['skipped'] = [];
  for (let i = 0; i < max; i++) {
    const name = opts.nextCandidate();
    let info = existing.get(name);
    if (info && info.managed && info.workspace === opts.workspaceId && info.status === 'exited' && (info.exitCode === undefined || info.exitCode === 137)) {
      // Ours, and the list cannot tell: no exit code in its status text, or 137 without the OOMKilled flag.
      info = await opts.engine.inspect(name);
    }
    let reclaimed = false;
    if (info) {
      const verdict = judge(info, opts.workspaceId);
      if (verdict.action === 'skip') {
        skipped.push({ name, reason: verdict.reason });
        continue;
      }
      try {
        await opts.engine.remove(info.id);
      } catch {
        skipped.push({ name, reason: 'remove-failed' }); // e.g. restarted meanwhile: never reuse a name we could not free
        continue;
      }
      reclaimed = true;
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
