import type { ContainerInfo } from './engine';
import { RefusedError } from './errors';

/** The commands a user can run on an existing agent container. */
export type Verb = 'hardline' | 'reclaim' | 'stop' | 'remove' | 'logs';

/** Words for a container's state in refusals: "running", "exited 0", "exited 3", "OOM-killed", ... */
export function stateWords(c: ContainerInfo): string {
  if (c.status !== 'exited') return c.status;
  if (c.exitCode === 137 && c.oomKilled) return 'OOM-killed (exit 137)';
  return `exited ${c.exitCode ?? '?'}`;
}

/** True for a clean exit: exited 0 (OOMKilled is sticky and only counts with 137, see claim.ts), or created and never started. */
export function isClean(c: ContainerInfo): boolean {
  return (c.status === 'exited' && c.exitCode === 0) || c.status === 'created';
}

/** True for a crash kept for hardline: exited non-zero (OOM-killed included) or dead. */
export function isCrashed(c: ContainerInfo): boolean {
  return (c.status === 'exited' && c.exitCode !== 0) || c.status === 'dead';
}

/** True while the container is up (running, paused or restarting). */
export function isLive(c: ContainerInfo): boolean {
  return c.status === 'running' || c.status === 'paused' || c.status === 'restarting';
}

/**
 * Which verb fits which state — the same table the tree's context menus use through
 * `contextValue` (see src/vscode/agentItems.ts):
 *
 * | state                 | hardline | reclaim | stop | remove | logs |
 * |-----------------------|----------|---------|------|--------|------|
 * | running/paused/restarting | –    | –       | yes  | – (stop first) | yes |
 * | exited 0 / created    | –        | yes     | –    | yes    | yes  |
 * | exited ≠ 0, OOM, dead | yes      | –       | –    | yes    | yes  |
 * | not ours (no label)   | –        | –       | –    | –      | –    |
 *
 * @throws RefusedError naming the container's state and the command that fits.
 */
export function checkVerb(verb: Verb, c: ContainerInfo | undefined, name: string): asserts c is ContainerInfo {
  if (!c) throw new RefusedError(`There is no container named ${name}. Run "Borg: Refresh" (or \`borg ls\`) to see the agents.`);
  if (!c.managed) {
    throw new RefusedError(`${name} is not a Borg container (it has no borg.managed label); Borg leaves it alone.`);
  }
  const state = stateWords(c);
  switch (verb) {
    case 'logs':
      return;
    case 'hardline':
      if (isCrashed(c)) return;
      if (isLive(c)) throw new RefusedError(`${name} is ${state}: hardline is for crashed agents. Use Show Logs to follow it, or Stop.`);
      throw new RefusedError(`${name} finished cleanly (${state}): hardline is for crashed agents. Use Reclaim to run a fresh agent under this name.`);
    case 'reclaim':
      if (isClean(c)) return;
      if (isLive(c)) throw new RefusedError(`${name} is ${state}: reclaim is for agents that exited cleanly. Stop it first.`);
      throw new RefusedError(`${name} crashed (${state}): reclaim is for agents that exited cleanly. Use Hardline to restart the crashed agent and attach to it.`);
    case 'stop':
      if (isLive(c)) return;
      throw new RefusedError(`${name} is not running (${state}); there is nothing to stop.`);
    case 'remove':
      if (!isLive(c)) return;
      throw new RefusedError(`${name} is ${state}: stop it first (Borg: Stop Agent), then remove it.`);
  }
}
