import { Disposable, toDisposable } from '../core/disposable';
import type { ContainerInfo, HostState } from '../core/engine';
import type { Event } from '../core/event';
import type { QueuedLaunch } from '../core/pipeline';
import { AgentsNode, buildAgentTree, ContainerNode, containerRows, GroupBy, RowAgent, timeChangesIn, timeOf, treeSignature } from './agentTree';
import { Debouncer } from './debouncer';
import { KeyedThrottle } from './keyedThrottle';
import { REAL_TIMERS, Timers } from './timers';

/**
 * How often (ms) at most one agent's row is repainted for its output lines or its metering: ≤ 2
 * a second. Other rows' tooltips stay open meanwhile; the streaming row's own tooltip closes at
 * its next repaint (VS Code disposes a row's hover when it re-renders: measured in code-server
 * 4.100 with a 3 s interval, the tooltip showed until the repaint, then closed).
 */
export const ROW_REPAINT_MS = 500;

/** What the repaints read of the Pipeline (core/pipeline.ts). */
export interface RepaintSource {
  readonly containers: readonly ContainerInfo[];
  readonly queued: readonly QueuedLaunch[];
  readonly agents: ReadonlyMap<string, RowAgent>;
  /** Containers, agents' states, the queue or the Docker error changed (not per output line). */
  readonly onDidChange: Event<void>;
  /** One agent wrote one output line (its row's last line changed). */
  readonly onDidOutput: Event<{ agent: string }>;
}

/** Where the repaints go: the tree view (agentsView.ts) or a test's counter. */
export interface RepaintTarget {
  /** True while the tree is on screen. */
  visible(): boolean;
  /** The whole tree changed (new rows): `roots` are the nodes to show from now on. */
  full(roots: AgentsNode[]): void;
  /** These rows changed; they are the same objects the last {@link full} handed over. */
  rows(rows: ContainerNode[]): void;
}

export interface RepaintOptions {
  groupBy?: () => GroupBy;
  /** The engine's Docker hosts ({@link Engine.hosts}), read at every rebuild: with several, the tree groups by host. */
  hosts?: () => readonly HostState[] | undefined;
  /** More state a full repaint shows (the Docker error): a change of it repaints in full. */
  extra?: () => string;
  debounceMs?: number;
  rowMs?: number;
  timers?: Timers;
}

/**
 * Decides what the Agents tree repaints, and when, so a tooltip stays open while agents run
 * (no VS Code here: unit tests drive it with a manual clock):
 * - in full only when the rows or a row's state changed ({@link treeSignature}); the Pipeline's
 *   changes are debounced here, at the edge;
 * - one row for its output lines and meter events ({@link rowChanged}), at most every
 *   {@link ROW_REPAINT_MS} per burst, with the very node the tree got;
 * - the rows whose relative time words changed ("up 3 min", "2 min ago"), on one timer set
 *   for the next unit boundary of any row, only while the view is visible;
 * - nothing while the view is hidden: the next {@link visibilityChanged} repaints in full.
 */
export class AgentRepaints extends Disposable {
  /** The tree as of the last full repaint. */
  roots: AgentsNode[] = [];
  /** Full repaints so far (tests count them against output lines). */
  fullRepaints = 0;
  /** The container rows of {@link roots}, by name. */
  private shown = new Map<string, ContainerNode>();
  private signature: string | undefined;
  /** Each row's time words as last painted, by name. */
  private readonly painted = new Map<string, string>();
  private clock: unknown;
  private stale = false;
  private readonly timers: Timers;
  private readonly throttle: KeyedThrottle<string>;

  constructor(
    private readonly source: RepaintSource,
    private readonly target: RepaintTarget,
    private readonly o: RepaintOptions = {},
  ) {
    super();
    this.timers = o.timers ?? REAL_TIMERS;
    const debounced = this.register(new Debouncer(o.debounceMs ?? 150, () => this.update(), this.timers));
    this.register(source.onDidChange(() => debounced.trigger()));
    this.throttle = this.register(new KeyedThrottle<string>(o.rowMs ?? ROW_REPAINT_MS, (names) => this.repaintRows(names), this.timers));
    this.register(source.onDidOutput((e) => this.rowChanged(e.agent)));
    this.register(toDisposable(() => this.stopClock()));
  }

  /** The row of container `name` as the tree shows it. */
  row(name: string): ContainerNode | undefined {
    return this.shown.get(name);
  }

  /** Something `name`'s row shows changed (an output line, a meter event): repaint that row soon. */
  rowChanged(name: string): void {
    if (this.target.visible()) this.throttle.trigger(name);
    else this.stale = true;
  }

  /** The tree painted `name`'s row with these time words (the timer repaints it when they change). */
  markPainted(name: string, words: string): void {
    this.painted.set(name, words);
  }

  /** The view was shown or hidden: shown after changes it missed, it repaints in full. */
  visibilityChanged(visible: boolean): void {
    if (visible && this.stale) this.update(true);
    else this.tick();
  }

  /** Rebuilds the tree from the source and repaints it in full when its signature changed (always with `force`). */
  update(force = false): void {
    const groupBy = this.o.groupBy?.() ?? 'task';
    const roots = buildAgentTree(this.source.containers, this.source.queued, groupBy, this.o.hosts?.());
    const signature = treeSignature(roots, `${groupBy}|${this.o.extra?.() ?? ''}`);
    if (!force && signature === this.signature) return this.tick();
    this.signature = signature;
    this.roots = roots;
    this.shown = new Map(containerRows(roots).map((r) => [r.name, r]));
    for (const name of [...this.painted.keys()]) if (!this.shown.has(name)) this.painted.delete(name);
    this.fullRepaints++;
    this.stale = false;
    this.target.full(roots);
    this.tick();
  }

  private repaintRows(names: string[]): void {
    const rows = names.map((n) => this.shown.get(n)).filter((c): c is ContainerNode => !!c);
    if (rows.length) this.target.rows(rows);
  }

  /**
   * Repaints the rows whose time words changed since they were painted, then sets the timer for
   * the next change of any row's words; no timer while hidden or with no rows.
   */
  private tick(): void {
    this.stopClock();
    if (!this.target.visible() || this.shown.size === 0) return;
    const now = this.timers.now();
    const due: ContainerNode[] = [];
    let next = Infinity;
    for (const [name, row] of this.shown) {
      const agent = this.source.agents.get(name);
      const painted = this.painted.get(name);
      if (painted !== undefined && painted !== timeOf(row.info, agent, now)) due.push(row);
      next = Math.min(next, timeChangesIn(row.info, agent, now));
    }
    if (due.length) this.target.rows(due);
    // A little past the boundary, so the words have surely changed when it fires.
    if (Number.isFinite(next)) this.clock = this.timers.setTimeout(() => this.tick(), next + 50);
  }

  /** True while the relative-time timer is set (tests: none while hidden). */
  get clockSet(): boolean {
    return this.clock !== undefined;
  }

  private stopClock(): void {
    if (this.clock !== undefined) this.timers.clearTimeout(this.clock);
    this.clock = undefined;
  }
}
