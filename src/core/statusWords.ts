import { formatUsdCents } from './costText';

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
  return parts.join(', ');
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
