import { formatUsdCents } from './costText';
import { HostCount, hostLoad, hostText, HostWord } from './hostCounts';

/** What the status bar item shows, as numbers and flags (statusBar.ts fills it in). */
export interface StatusFacts {
  /** Agents running now, and at most at once (`borg.maxParallelAgents`). */
  running: number;
  max: number;
  /** Agent launches waiting for a slot. */
  launchesQueued: number;
  /** Tasks waiting for their next phase. */
  tasksQueued: number;
  /** After Stop All, until Resume Tasks. */
  paused: boolean;
  /** Today's metered spend in USD, when the gateway metered anything today; undefined: nothing said. */
  spentTodayUsd?: number;
  /** The model is a recording (`replay:`). */
  replay: boolean;
  /** Another window or `borg run` holds the database: this window only reads. */
  readOnly: boolean;
  /** Docker cannot be reached: the other facts say nothing. */
  dockerUnreachable: boolean;
  /** Where agents run (core/hostCounts.ts); said only when there is more than one. */
  hosts?: readonly HostCount[];
  /** What {@link hosts} are: Docker hosts (default) or Swarm nodes. */
  hostWord?: HostWord;
}

/**
 * The status bar item's accessible label, in words a screen reader reads well instead of the
 * codicons and `·` of its text: `2 of 4 agents running, 3 tasks queued, $0.42 spent today`.
 * VS Code reads `accessibilityInformation.label` in place of the text (StatusBarItem API).
 */
export function statusAccessibleLabel(f: StatusFacts): string {
  if (f.dockerUnreachable) return 'Borg Pipeline: Docker is unreachable';
  const parts = [`${f.running} of ${f.max} agent${f.max === 1 ? '' : 's'} running`];
  if (f.launchesQueued > 0) parts.push(plural(f.launchesQueued, 'agent launch', 'agent launches') + ' waiting');
  if (f.tasksQueued > 0) parts.push(plural(f.tasksQueued, 'task', 'tasks') + ' queued');
  if (f.paused) parts.push('tasks paused');
  if (f.readOnly) parts.push('read-only: another window or borg run holds this workspace');
  if (f.spentTodayUsd !== undefined) parts.push(`${formatUsdCents(f.spentTodayUsd).replace(/^</, 'less than ')} spent today`);
  if (f.replay) parts.push('the model is a replayed recording');
  const hosts = f.hosts ?? [];
  if (hosts.length > 1) parts.push(`on ${hosts.length} ${f.hostWord === 'Node' ? 'nodes' : 'hosts'}: ${hosts.map(hostWords).join('; ')}`);
  return parts.join(', ');
}

/**
 * The status bar tooltip's lines for the hosts, one each (`a: 2/4`, `b: down — <error>`,
 * `node-1: 2 running`); none with one host or none. Names and errors are made inert
 * ({@link hostText}): they come from settings and Docker.
 */
export function hostLines(hosts: readonly HostCount[] | undefined): string[] {
  return hosts && hosts.length > 1 ? hosts.map((h) => `${hostText(h.name)}: ${hostLoad(h)}`) : [];
}

/** How many hosts the engine says are down. */
export function hostsDown(hosts: readonly HostCount[] | undefined): number {
  return (hosts ?? []).filter((h) => h.state && !h.state.up).length;
}

/** `a 2 of 4 running`, `b down`, `node-1 2 running`: one host in words (the error is in the tooltip). */
function hostWords(h: HostCount): string {
  const name = hostText(h.name);
  if (h.state && !h.state.up) return `${name} down`;
  return h.state ? `${name} ${h.running} of ${h.state.slots} running` : `${name} ${h.running} running`;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
