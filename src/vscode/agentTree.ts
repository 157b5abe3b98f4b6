import type { Agent } from '../core/agent';
import type { ContainerInfo, HostState } from '../core/engine';
import { HostCount, hostCounts, HostWord, hostWordOf, manyHosts } from '../core/hostCounts';
import { LABEL_PHASE, LABEL_TASK } from '../core/labels';
import type { QueuedLaunch } from '../core/pipeline';
import { elapsedWords, nextChangeIn } from '../core/relativeTime';
import { GENERAL_RULES } from '../core/settingRules';
import { isClean, isCrashed, isLive, isStopped } from '../core/verbs';

/**
 * The shape of the Agents tree, without VS Code (unit-tested in plain Node): which rows exist,
 * how they group, and when the tree must repaint in full. agentsView.ts renders it.
 */

/** How the Agents view groups its rows: `borg.agents.groupBy`. */
export type GroupBy = 'task' | 'state' | 'none';
export const GROUP_BYS: readonly GroupBy[] = GENERAL_RULES.agentsGroupBy.values; // the setting's rule (core/settingRules.ts)

/** A group row: a task, a task's phase, loose agents ("No task") or a state. `id`s start with `group:` (no container name has a colon). */
export interface GroupNode {
  kind: 'group';
  id: string;
  label: string;
  /** A codicon id for the group's row. */
  icon: string;
  children: AgentsNode[];
  /** Set on a host's (or node's) group row when the tree groups by host: what the engine knows of it. */
  host?: { word: HostWord; count: HostCount };
}

/** A labelled container of this workspace. `name` is the container's; `info` the Pipeline's last view of it. */
export interface ContainerNode {
  kind: 'container';
  name: string;
  info: ContainerInfo;
  /** Set when the tree spans more than one host: the row's description names its host too. */
  hostShown?: boolean;
}

/** A launch waiting for a slot; `ahead` launches wait before it. */
export interface QueuedNode {
  kind: 'queued';
  launch: QueuedLaunch;
  ahead: number;
}

/** One row of the Agents tree. Rows added later (a container's files) join this union. */
export type AgentsNode = GroupNode | ContainerNode | QueuedNode;

/** Reads `borg.agents.groupBy`; anything else is the default `task`. */
export function groupByOf(value: unknown): GroupBy {
  return GROUP_BYS.includes(value as GroupBy) ? (value as GroupBy) : 'task';
}

/** The task phases in the order a task runs them; other phase labels sort after, by name. */
const PHASE_ORDER = ['spec', 'qa', 'impl', 'test'];

/** State groups, in the order they show; empty ones are left out. */
const STATE_GROUPS: ReadonlyArray<{ key: StateGroup; label: string; icon: string }> = [
  { key: 'waiting', label: 'Waiting for a slot', icon: 'watch' },
  { key: 'running', label: 'Running', icon: 'vm-running' },
  { key: 'crashed', label: 'Crashed', icon: 'error' },
  { key: 'stopped', label: 'Stopped', icon: 'debug-stop' },
  { key: 'exited', label: 'Exited cleanly', icon: 'pass' },
  { key: 'other', label: 'Other', icon: 'question' },
];
type StateGroup = 'waiting' | 'running' | 'crashed' | 'stopped' | 'exited' | 'other';

/** Which state group a container falls in (the verb table's words: live, stopped, clean, crashed). */
export function stateGroupOf(c: ContainerInfo): StateGroup {
  if (isLive(c)) return 'running';
  if (isStopped(c)) return 'stopped';
  if (isClean(c)) return 'exited';
  if (isCrashed(c)) return 'crashed';
  return 'other';
}

/** `#12 impl` for a task's container or launch (from its `borg.task` / `borg.phase` labels), else undefined. */
export function taskPhaseOf(task: string | undefined, phase: string | undefined): string | undefined {
  return task ? `#${task}${phase ? ` ${phase}` : ''}` : undefined;
}

/**
 * The tree's rows. With more than one host — the engine's hosts ({@link Engine.hosts}, shown
 * even with no container, so one that is down shows) and every host a container names
 * ({@link ContainerInfo.host}) — the top level is one group per host (`group:host:<name>`, the
 * name URI-encoded so it holds no `/`), in the engine's order then by name, first one
 * `group:unplaced` group for what has no host yet (queued launches; Swarm tasks not placed);
 * inside each, {@link groupRows}' grouping with ids `group:host:<name>/<its id without group:>`.
 * With one host or none: {@link groupRows} alone, exactly the tree of a single daemon.
 */
export function buildAgentTree(containers: readonly ContainerInfo[], queued: readonly QueuedLaunch[], groupBy: GroupBy, hosts?: readonly HostState[]): AgentsNode[] {
  const counts = hostCounts(containers, hosts);
  if (!manyHosts(counts)) return groupRows(containers, queued, groupBy);
  const word = hostWordOf(hosts);
  const under = (prefix: string, nodes: AgentsNode[]): AgentsNode[] => nodes.map((n) => within(prefix, n));
  const out: AgentsNode[] = [];
  const unplaced = containers.filter((c) => c.host === undefined || c.host === '');
  if (unplaced.length || queued.length) {
    out.push({ kind: 'group', id: 'group:unplaced', label: `No ${word.toLowerCase()} yet`, icon: 'watch', children: under('group:unplaced/', groupRows(unplaced, queued, groupBy)) });
  }
  for (const count of counts) {
    const id = `group:host:${encodeURIComponent(count.name)}`;
    const mine = containers.filter((c) => c.host === count.name);
    const down = count.state !== undefined && !count.state.up;
    out.push({ kind: 'group', id, label: count.name, icon: down ? 'warning' : 'server', host: { word, count }, children: under(`${id}/`, groupRows(mine, [], groupBy)) });
  }
  return out;
}

/** `n` with its group ids (and its children's) moved under `prefix` (`group:host:a/` + `task:12`); rows marked to show their host. */
function within(prefix: string, n: AgentsNode): AgentsNode {
  if (n.kind === 'container') return { ...n, hostShown: true };
  if (n.kind === 'queued') return n;
  return { ...n, id: prefix + n.id.replace(/^group:/, ''), children: n.children.map((c) => within(prefix, c)) };
}

/**
 * The rows of one daemon (or one host): with `none`, queued launches (oldest first) then containers (newest first);
 * with `task`, one group per task (newest task first), one subgroup per phase in run order,
 * then "No task" for loose agents; with `state`, one group per state in {@link STATE_GROUPS}.
 */
export function groupRows(containers: readonly ContainerInfo[], queued: readonly QueuedLaunch[], groupBy: GroupBy): AgentsNode[] {
  const waiting: QueuedNode[] = queued.map((launch, ahead) => ({ kind: 'queued', launch, ahead }));
  const rows: ContainerNode[] = [...containers].sort((a, b) => b.createdAt - a.createdAt).map((info) => ({ kind: 'container', name: info.name, info }));
  if (groupBy === 'none') return [...waiting, ...rows];
  if (groupBy === 'state') {
    const by = new Map<StateGroup, AgentsNode[]>();
    const add = (k: StateGroup, n: AgentsNode) => by.set(k, [...(by.get(k) ?? []), n]);
    for (const q of waiting) add('waiting', q);
    for (const r of rows) add(stateGroupOf(r.info), r);
    return STATE_GROUPS.filter((g) => by.has(g.key)).map((g) => ({ kind: 'group', id: `group:state:${g.key}`, label: g.label, icon: g.icon, children: by.get(g.key)! }));
  }
  // By task, then phase.
  const tasks = new Map<string, Map<string, AgentsNode[]>>();
  const loose: AgentsNode[] = [];
  const add = (task: string | undefined, phase: string | undefined, n: AgentsNode) => {
    if (!task) return loose.push(n);
    const phases = tasks.get(task) ?? new Map<string, AgentsNode[]>();
    tasks.set(task, phases);
    const p = phase ?? '?';
    phases.set(p, [...(phases.get(p) ?? []), n]);
  };
  for (const q of waiting) add(q.launch.task, q.launch.phase, q);
  for (const r of rows) add(r.info.labels[LABEL_TASK], r.info.labels[LABEL_PHASE], r);
  const out: AgentsNode[] = [...tasks.keys()].sort(byTaskDesc).map((task) => ({
    kind: 'group',
    id: `group:task:${task}`,
    label: `Task #${task}`,
    icon: 'tasklist',
    children: [...tasks.get(task)!.keys()].sort(byPhase).map((phase) => ({
      kind: 'group',
      id: `group:task:${task}:${phase}`,
      label: phase,
      icon: 'layers',
      children: tasks.get(task)!.get(phase)!,
    })),
  }));
  if (loose.length) out.push({ kind: 'group', id: 'group:loose', label: 'No task', icon: 'server-process', children: loose });
  return out;
}

/** Every container row under `nodes`, depth first. */
export function containerRows(nodes: readonly AgentsNode[]): ContainerNode[] {
  const out: ContainerNode[] = [];
  for (const n of nodes) {
    if (n.kind === 'container') out.push(n);
    else if (n.kind === 'group') out.push(...containerRows(n.children));
  }
  return out;
}

/**
 * A string that changes exactly when the tree needs a full repaint: the rows, their groups and
 * every fact a row's state shows (status, exit, OOM, how Borg ended it, when it finished; a
 * queue position; a host's slots, up and error). Output lines and times are not in it: those
 * repaint one row.
 */
export function treeSignature(nodes: readonly AgentsNode[], extra = ''): string {
  const parts: string[] = [extra];
  const walk = (ns: readonly AgentsNode[]) => {
    for (const n of ns) {
      if (n.kind === 'group') {
        const h = n.host?.count.state;
        parts.push(`[${n.id}${h ? `:${h.up}:${h.slots}:${h.error ?? ''}:${h.address}` : ''}`);
        walk(n.children);
        parts.push(']');
      } else if (n.kind === 'queued') parts.push(`q${n.launch.id}:${n.ahead}`);
      else {
        const c = n.info;
        parts.push(`${c.id}:${c.name}:${c.status}:${c.exitCode ?? ''}:${c.oomKilled ?? ''}:${c.endedBy ?? ''}:${c.finishedAt ?? ''}`);
      }
    }
  };
  walk(nodes);
  return parts.join('|');
}

/** What a row's time reads of its followed agent. */
export type RowAgent = Pick<Agent, 'id' | 'startedAt' | 'finishedAt'>;

/**
 * The row's relative time and what it counts from (ms since the epoch): "up 3 min" from the
 * followed run's start; "2 min ago" from Docker's `FinishedAt` once it ended (the Pipeline
 * inspects it once per exit) or the followed agent's end; else "created 5 min ago".
 */
export function timeOf(c: ContainerInfo, agent: RowAgent | undefined, now = Date.now()): string {
  if (c.status === 'running' && agent && agent.id === c.id) return `up ${elapsedWords(now - agent.startedAt)}`;
  const finished = c.finishedAt ? Date.parse(c.finishedAt) : agent && agent.id === c.id ? agent.finishedAt : undefined;
  if ((c.status === 'exited' || c.status === 'dead') && finished !== undefined && Number.isFinite(finished)) return `${elapsedWords(now - finished)} ago`;
  return `created ${elapsedWords(now - c.createdAt)} ago`;
}

/** Ms until {@link timeOf}'s words for this row next change (see core/relativeTime.ts). */
export function timeChangesIn(c: ContainerInfo, agent: RowAgent | undefined, now = Date.now()): number {
  if (c.status === 'running' && agent && agent.id === c.id) return nextChangeIn(now - agent.startedAt);
  const finished = c.finishedAt ? Date.parse(c.finishedAt) : agent && agent.id === c.id ? agent.finishedAt : undefined;
  if ((c.status === 'exited' || c.status === 'dead') && finished !== undefined && Number.isFinite(finished)) return nextChangeIn(now - finished);
  return nextChangeIn(now - c.createdAt);
}

function byTaskDesc(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  return Number.isFinite(na) && Number.isFinite(nb) ? nb - na : b.localeCompare(a);
}

function byPhase(a: string, b: string): number {
  const ia = PHASE_ORDER.indexOf(a);
  const ib = PHASE_ORDER.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0) return -1;
  if (ib >= 0) return 1;
  return a.localeCompare(b);
}
