/**
 * What the Node-side driver (session.ts) and the suite inside the extension host (suite.ts) tell
 * each other: a plan file named by {@link PLAN_ENV} (one entry per workbench window, keyed by the
 * window's folder) and, per window, a JSON file of measurements the suite writes.
 */

/** Environment variable (set for code-server, so seen by every extension host it starts) naming the plan file. */
export const PLAN_ENV = 'BORG_BENCH_PLAN';

/** Extension id of Borg (package.json publisher.name). */
export const BORG_ID = 'borg-pipeline.borg-pipeline';
/** Extension id of the empty extension (bench/host/empty-extension), P6's baseline. */
export const EMPTY_ID = 'borg-bench.empty-extension';

/** The host benchmarks one window can measure. */
export type HostBenchId = 'P6' | 'P7' | 'P8' | 'P9';
export const HOST_BENCH_IDS: readonly HostBenchId[] = ['P6', 'P7', 'P8', 'P9'];

/** What one window measures. P6 (both activations) is measured in every window. */
export interface WindowPlan {
  /** Absolute path of the JSON file the suite writes its {@link WindowResult} to. */
  out: string;
  /** Which of P7, P8, P9 to measure after the activations (P6 is always measured). */
  measure: HostBenchId[];
  /**
   * Activate the empty extension before Borg. Always true: Borg's activation leaves work running
   * in the host (its first refresh, view updates) that slows an activation right after it.
   */
  emptyFirst: boolean;
  quick: boolean;
  /** P8: walks per tree size. */
  reps: number;
  /** P9: removals. */
  removals: number;
  /** P7: how long each state is counted, and the settle period before it (ms). */
  countMs: number;
  settleMs: number;
  /** P8: containers of the large tree and of the baseline tree. */
  large: number;
  small: number;
  /** Container name prefix of this run (unique: includes the driver's pid). */
  prefix: string;
}

/** The plan file: one {@link WindowPlan} per window folder (absolute path). */
export interface Plan {
  windows: Record<string, WindowPlan>;
}

/** Counts per name: Engine methods (e.g. `list`) or Docker API requests (e.g. `GET /containers/json`). */
export type CallCounts = Record<string, number>;

/** Borg's Docker calls in one period: the Engine methods called (outermost only) and the HTTP requests its dockerode client sent. */
export interface Calls {
  engine: CallCounts;
  http: CallCounts;
}

export interface ActivationSample {
  /** `ext.activate()` of the not-yet-active extension, ms (require of its main module + its activate()). */
  borgMs: number;
  emptyMs: number;
  /** From the same `ext.activate()` call until Borg's `BorgApi.ready` resolved (database open, views and real commands registered), ms. */
  borgReadyMs: number;
  /** The extension host process's CPU time (user + system, all its threads) during each activation, ms: less moved by other load than the wall time. */
  borgCpuMs: number;
  emptyCpuMs: number;
  emptyFirst: boolean;
  /** Borg's workspace database existed before the activation (the usual start, not a first-ever one). */
  dbExisted: boolean;
}

export interface DockerCallsResult {
  /** Per state: what the settle period contained, then the counted window. */
  hidden: { settle: Calls; settleMs: number; counted: Calls; countedMs: number };
  visible: { settle: Calls; settleMs: number; counted: Calls; countedMs: number };
}

export interface AgentsTreeResult {
  /** Per container count: walk times (getChildren + getTreeItem over the whole tree, ms), refresh times (ms), rows walked. */
  sizes: Array<{ containers: number; walkMs: number[]; refreshMs: number[]; nodes: number; createMs: number }>;
}

export interface OutsideRemoveResult {
  /** Per removal: `docker rm -f` returning → the tree without the row (ms; negative when the tree changed first). */
  fromCliMs: number[];
  /** Per removal: Docker's destroy event (as this host received it) → the tree without the row (ms). */
  fromEventMs: number[];
  /** Borg's Docker calls from just before the `docker rm` until the row was gone, summed over the runs. */
  callsPerRemoval: Calls[];
  /** Borg's Docker calls in the idle period before each removal (polling would show here). */
  idleCalls: Calls;
  idleMs: number;
}

/** What the suite writes for one window. */
export interface WindowResult {
  /** The extension host's pid (the driver waits for it to end before the next window). */
  pid: number;
  activation: ActivationSample;
  dockerCalls?: DockerCallsResult;
  agentsTree?: AgentsTreeResult;
  outsideRemove?: OutsideRemoveResult;
  /** Notes: what was already active, anything unexpected. */
  notes: string[];
}

/** How many calls in all. */
export function callTotal(c: CallCounts): number {
  return Object.values(c).reduce((a, b) => a + b, 0);
}

/** "GET /containers/json ×2, GET /images/{id}/json ×1", or "none". */
export function countsText(c: CallCounts): string {
  return callTotal(c)
    ? Object.entries(c)
        .map(([k, v]) => `${k} ×${v}`)
        .join(', ')
    : 'none';
}

/** The HTTP requests with the Engine methods they came from: "GET /containers/json ×1 (Engine methods: list ×1)". */
export function callsText(c: Calls): string {
  return `${countsText(c.http)} (Engine methods: ${countsText(c.engine)})`;
}
