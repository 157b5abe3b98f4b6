import type { ContainerInfo } from './engine';
import { RefusedError } from './errors';

/** The commands a user can run on an existing agent container. */
export type Verb = 'hardline' | 'reclaim' | 'stop' | 'remove' | 'logs';

/** Every verb, in the order menus and `contextValue`s list them. */
export const VERBS: readonly Verb[] = ['hardline', 'reclaim', 'stop', 'remove', 'logs'];

/**
 * Which verb fits which container — the one table that both the commands ({@link checkVerb})
 * and the Agents tree's menus (`contextValue` in src/vscode/agentItems.ts) read:
 *
 * | container                                      | hardline | reclaim | stop | remove | logs |
 * |------------------------------------------------|----------|---------|------|--------|------|
 * | running, paused, restarting                    | –        | –       | yes  | – (stop first) | yes |
 * | exited 0 and not OOM-killed; created           | –        | yes     | –    | yes    | yes  |
 * | stopped by Borg (`endedBy`), not OOM-killed    | –        | yes     | –    | yes    | yes  |
 * | exited ≠ 0 (timed out too); OOM-killed; dead   | yes      | –       | –    | yes    | yes  |
 * | removing, or a state Docker may add later      | –        | –       | –    | –      | yes  |
 * | not ours (no `borg.managed=true` label)        | –        | –       | –    | –      | –    |
 *
 * OOM-killed means Docker's `State.OOMKilled`: measured on dockerd 20.10, a container whose
 * child was OOM-killed while its main process exited 0 reports `ExitCode 0, OOMKilled true`,
 * and the flag is reset when the container starts again (it is this run's, not sticky). A list
 * does not carry the flag (`oomKilled` undefined): such a container reads as not OOM-killed
 * here, so callers that act on the answer pass inspected info ({@link needsInspect} says when a
 * list entry must be inspected first; Pipeline.reclaim/hardline inspect before they act).
 *
 * Stopped means Borg's own record says a user's stop ended the run (`endedBy: 'stopped'`, set
 * by the Pipeline from its database, never from the container): SIGTERM gives exit 143, which
 * would otherwise read as a crash. Such an agent did nothing wrong, so it offers Reclaim, not
 * Hardline. A watchdog stop (`timed-out`) stays crash-like: the agent ran out of time.
 */
export function verbsFor(c: ContainerInfo): Verb[] {
  if (!c.managed) return [];
  if (isLive(c)) return ['stop', 'logs'];
  if (isClean(c) || isStopped(c)) return ['reclaim', 'remove', 'logs'];
  if (isCrashed(c)) return ['hardline', 'remove', 'logs'];
  return ['logs'];
}

/** True when a container's OOM flag matters but is unknown (it ended, and came from a list): inspect it before judging. */
export function needsInspect(c: ContainerInfo): boolean {
  return (c.status === 'exited' || c.status === 'dead') && c.oomKilled === undefined;
}

/** True when Docker says this run was OOM-killed (`State.OOMKilled`, any exit code; see {@link verbsFor}). */
export function isOomKilled(c: ContainerInfo): boolean {
  return (c.status === 'exited' || c.status === 'dead') && c.oomKilled === true;
}

/**
 * Words for a container's state in refusals and lists: "running", "exited 0", "exited 3",
 * "OOM-killed (exit 0)", "stopped (exit 143)", "timed out (exit 143)", "dead".
 */
export function stateWords(c: ContainerInfo): string {
  if (c.status !== 'exited') return c.status;
  if (c.oomKilled === true) return `OOM-killed (exit ${c.exitCode ?? '?'})`;
  if (c.endedBy === 'stopped') return `stopped (exit ${c.exitCode ?? '?'})`;
  if (c.endedBy === 'timed-out') return `timed out (exit ${c.exitCode ?? '?'})`;
  return `exited ${c.exitCode ?? '?'}`;
}

/** True when Borg's record says a user's stop ended this exited run and Docker saw no OOM (see {@link verbsFor}). */
export function isStopped(c: ContainerInfo): boolean {
  return c.status === 'exited' && c.endedBy === 'stopped' && c.oomKilled !== true;
}

/** True for a clean end: exited 0 and not OOM-killed, or created and never started. */
export function isClean(c: ContainerInfo): boolean {
  return (c.status === 'exited' && c.exitCode === 0 && c.oomKilled !== true) || c.status === 'created';
}

/** True for a crash kept for hardline: exited non-zero (not stopped by Borg), OOM-killed with any exit code, or dead. */
export function isCrashed(c: ContainerInfo): boolean {
  return (c.status === 'exited' && (c.exitCode !== 0 || c.oomKilled === true) && !isStopped(c)) || c.status === 'dead';
}

/** True while the container is up (running, paused or restarting). */
export function isLive(c: ContainerInfo): boolean {
  return c.status === 'running' || c.status === 'paused' || c.status === 'restarting';
}

/**
 * Refuses a verb that {@link verbsFor} does not list for the container (the same table, so a
 * command never does what the menu would not offer, and the reverse).
 * @throws RefusedError when there is no such container, it is not ours, or its state does not
 *   fit — naming the state and the command that fits.
 */
export function checkVerb(verb: Verb, c: ContainerInfo | undefined, name: string): asserts c is ContainerInfo {
  if (!c) throw new RefusedError(`There is no container named ${name}. Run "Borg: Refresh" (or \`borg ls\`) to see the agents.`);
  if (!c.managed) {
    throw new RefusedError(`${name} is not a Borg container (it has no borg.managed label); Borg leaves it alone.`);
  }
  if (verbsFor(c).includes(verb)) return;
  const state = stateWords(c);
  switch (verb) {
    case 'hardline':
      if (isLive(c)) throw new RefusedError(`${name} is ${state}: hardline is for crashed agents. Use Show Logs to follow it, or Stop.`);
      if (isClean(c)) throw new RefusedError(`${name} finished cleanly (${state}): hardline is for crashed agents. Use Reclaim to run a fresh agent under this name.`);
      if (isStopped(c)) throw new RefusedError(`${name} was stopped by Borg (${state}): hardline is for crashed agents. Use Reclaim to run a fresh agent under this name.`);
      break;
    case 'reclaim':
      if (isLive(c)) throw new RefusedError(`${name} is ${state}: reclaim is for agents that exited cleanly. Stop it first.`);
      if (isCrashed(c)) throw new RefusedError(`${name} crashed (${state}): reclaim is for agents that exited cleanly. Use Hardline to restart the crashed agent and attach to it.`);
      break;
    case 'stop':
      throw new RefusedError(`${name} is not running (${state}); there is nothing to stop.`);
    case 'remove':
      if (isLive(c)) throw new RefusedError(`${name} is ${state}: stop it first (Borg: Stop Agent), then remove it.`);
      break;
    case 'logs':
      break;
  }
  throw new RefusedError(`${name} is ${state}: ${verb} does not fit now (what fits: ${verbsFor(c).join(', ') || 'nothing'}). Run "Borg: Refresh" and try again.`);
}
