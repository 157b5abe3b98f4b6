import { parseHostFlags } from '../core/dockerHosts';
import { makeEngine } from '../core/engines';
import { checkSetting, HardeningSettings, readHardening } from '../core/hardening';
import { EngineKind, GENERAL_RULES } from '../core/settingRules';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from '../core/engine';
import type { LogSink } from '../core/log';
import { Git } from '../core/git';
import { Prompts } from '../core/prompts';
import { Runtime } from '../core/runtime';
import { DEFAULT_TASK_SETTINGS, TaskSettings } from '../core/scheduler';
import { BorgError, InvalidInputError } from '../core/errors';
import { DEFAULT_SETTINGS, PipelineSettings } from '../core/pipeline';
import { StateDirs } from '../core/stateDirs';
import type { Store } from '../core/store';
import { adoptLegacyDatabase } from '../core/legacyDatabase';
import { borgHomeOf, DB_FILE, gatewayRootOf, WorkspaceHome, workspaceHome, workspaceId, workspaceKeyOf } from '../core/workspace';
import type { GatewaySettings } from '../core/gateway/gateway';
import { RawGatewaySettings, readGatewaySettings } from '../core/gateway/settings';
import { AcquireResult, DbLock, describeHolder, lockFileOf, WINDOW_COMMAND } from './lock';

/** A command-line mistake: the message and the usage go to stderr, exit code 2. */
export class UsageError extends Error {}

/** Output sinks, so tests can capture them. `isTTY` picks the live progress display of `borg run`. */
export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Raw write to stdout without a newline (live redraws); defaults to `out`. */
  write?: (s: string) => void;
  isTTY?: boolean;
  /** Terminal width and height when `isTTY`. */
  columns?: number;
  rows?: number;
}

/** Parsed options; repeatable ones (`--docker-host`) are lists. */
export type Opts = Record<string, string | boolean | string[] | undefined>;

/** Where a CLI run keeps its things. */
export interface CliPaths {
  db: string;
  stateDir: string;
  worktrees: string;
  prompts: string;
  /** The workspace folder (`--workspace`, else the current folder), absolute. */
  workspace: string;
  /** Its id (workspace.ts), the `borg.workspace` label of its containers. */
  workspaceId: string;
  /** Its home (`$BORG_HOME` or ~/.borg, then `workspaces/<id>`), where the defaults point. */
  home: WorkspaceHome;
  /** Set when the old shared `~/.borg/borg.sqlite` was just copied to `db` (see {@link resolvePaths}). */
  adoptedFrom?: string;
}

/**
 * The global path options, resolved. The workspace is `--workspace PATH` or the current folder;
 * `--db`, `--state-dir` and `--worktrees` default to its home
 * `<$BORG_HOME or ~/.borg>/workspaces/<id>/{borg.sqlite,agents,worktrees}` — the same folders the
 * extension uses for that folder, so both keep a name and its state dir together.
 *
 * With the default `--db`, a database in the old shared place `<home>/borg.sqlite` is copied to
 * the workspace's database once, when that does not exist yet (legacyDatabase.ts); `io` gets a
 * note saying so.
 */
export function resolvePaths(opt: Opts, io?: Pick<CliIo, 'err'>): CliPaths {
  const str = (k: string) => (typeof opt[k] === 'string' ? (opt[k] as string) : undefined);
  const borgHome = borgHomeOf();
  const workspace = path.resolve(str('workspace') ?? process.cwd());
  const id = workspaceId(workspaceKeyOf(workspace));
  const home = workspaceHome(borgHome, id);
  const paths: CliPaths = {
    db: path.resolve(str('db') ?? home.db),
    stateDir: path.resolve(str('state-dir') ?? home.stateDir),
    worktrees: path.resolve(str('worktrees') ?? home.worktrees),
    prompts: path.resolve(str('prompts') ?? defaultPromptsDir()),
    workspace,
    workspaceId: id,
    home,
  };
  if (str('db') === undefined) {
    const legacy = path.join(borgHome, DB_FILE);
    if (adoptLegacyDatabase(legacy, paths.db)) {
      paths.adoptedFrom = legacy;
      io?.err(
        `[borg] copied the database ${legacy} (shared by all workspaces before) to this workspace's ${paths.db}; ` +
          `other workspaces start empty. The old file stays (see ${legacy}.adopted); use --db ${legacy} to work on it.`,
      );
    }
  }
  return paths;
}

/**
 * The built-in prompts, `media/prompts` of the installed extension: next to `dist/` for the
 * bundle (`dist/cli.js`), three levels up for the unbundled build (`out/src/cli/*.js`).
 */
export function defaultPromptsDir(): string {
  const candidates = [path.join(__dirname, '..', 'media', 'prompts'), path.join(__dirname, '..', '..', '..', 'media', 'prompts')];
  return candidates.find((d) => fs.existsSync(d)) ?? candidates[0];
}

/** An integer option in [min, max], or undefined when absent. @throws UsageError otherwise. */
export function intOption(opt: Opts, name: string, min: number, max: number): number | undefined {
  const v = opt[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got "${String(v)}")`);
  }
  return n;
}

/**
 * The engine of a command, from `--engine docker|swarm` (default docker) and the repeatable
 * `--docker-host ADDRESS[,slots=N][,name=NAME]` (dockerHosts.ts; overrides DOCKER_HOST and the
 * current context; none: DOCKER_HOST, else the current context, else the default socket), built
 * by engines.ts `makeEngine` (several hosts: a HostsEngine; swarm: the manager's SwarmEngine).
 * `defaultSlots` is a host's slots when it names none (`--max-agents`, else 4).
 * @throws UsageError for a bad `--engine` or `--docker-host` value, or swarm with several hosts;
 *   InvalidInputError (exit 1) for two hosts reaching one daemon, or an address that cannot be
 *   resolved (an unknown ssh host key, a missing context, TLS files).
 */
export function engineOf(opt: Opts, defaultSlots: number = DEFAULT_SETTINGS.maxParallelAgents): Engine {
  const kind = checkSetting<EngineKind>(GENERAL_RULES.engine, opt.engine, 'docker');
  if (kind.problem) throw new UsageError(kind.problem.replace(GENERAL_RULES.engine.setting, '--engine'));
  const raw = opt['docker-host'];
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  let hosts;
  try {
    hosts = parseHostFlags(values, defaultSlots);
  } catch (e) {
    if (e instanceof InvalidInputError) throw new UsageError(e.message);
    throw e;
  }
  if (kind.value === 'swarm' && hosts.length > 1) throw new UsageError(`--engine swarm reaches a Swarm through one manager: give one --docker-host (the manager), not ${hosts.length}.`);
  return makeEngine({ engine: kind.value, hosts });
}

/** The Anthropic key from ANTHROPIC_API_KEY, read by the gateway per request (it never reaches a container). */
export function envApiKey(): Promise<string | undefined> {
  return Promise.resolve(process.env.ANTHROPIC_API_KEY?.trim() || undefined);
}

/** The CLI flag of each gateway setting. */
const GATEWAY_FLAGS: Record<keyof RawGatewaySettings, string> = {
  modelUpstream: '--model-upstream',
  gatewayRecord: '--gateway-record',
  egressAllow: '--egress-allow',
  maxCostUsdPerTask: '--max-cost-usd-per-task',
  maxCostUsdPerDay: '--max-cost-usd-per-day',
};

/**
 * Gateway settings from `--model-upstream URL|replay:FILE`, `--gateway-record FILE`,
 * `--egress-allow a.com,*.b.org`, `--max-cost-usd-per-task N`, `--max-cost-usd-per-day N`
 * (core/gateway/settings.ts).
 * @throws UsageError for a value that breaks its rule, naming the flag.
 */
export function gatewaySettings(opt: Opts): GatewaySettings {
  const egress =
    typeof opt['egress-allow'] === 'string'
      ? (opt['egress-allow'] as string)
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : undefined;
  const { settings, problems } = readGatewaySettings(
    {
      modelUpstream: opt['model-upstream'],
      gatewayRecord: opt['gateway-record'],
      egressAllow: egress,
      maxCostUsdPerTask: opt['max-cost-usd-per-task'],
      maxCostUsdPerDay: opt['max-cost-usd-per-day'],
    },
    (k) => GATEWAY_FLAGS[k],
  );
  if (problems.length) throw new UsageError(problems.join('\n'));
  return settings;
}

/**
 * The CLI's {@link Runtime} over `store` with its paths and settings (read live from
 * `settings`): `long` for `borg run`, `oneShot` for the agent verbs.
 */
export function makeRuntime(
  engine: Engine,
  store: Store,
  paths: CliPaths,
  o: { kind: 'long' | 'oneShot'; settings: () => PipelineSettings; taskSettings?: () => TaskSettings; gatewaySettings?: () => GatewaySettings; log?: LogSink },
): Runtime {
  return new Runtime({
    kind: o.kind,
    engine,
    store,
    apiKey: envApiKey,
    gatewaySettings: o.gatewaySettings,
    gatewayRoot: gatewayRootOf(paths.db),
    stateDirs: new StateDirs(paths.stateDir),
    workspaceId: paths.workspaceId,
    settings: o.settings,
    taskSettings: o.taskSettings ?? (() => DEFAULT_TASK_SETTINGS),
    git: new Git(),
    prompts: new Prompts(paths.prompts),
    worktreeRoot: paths.worktrees,
    log: o.log,
  });
}

/** The CLI flag of each limit. */
const LIMIT_FLAGS: Record<keyof HardeningSettings, string> = { pidsLimit: '--pids-limit', memoryMb: '--memory-mb', cpus: '--cpus', network: '--network' };

/**
 * Pipeline settings from the options (`--prefix`, `--image`, the limits `--pids-limit`,
 * `--memory-mb`, `--cpus`, `--network`).
 * @throws UsageError for a limit that breaks its rule (core/hardening.ts), naming it.
 */
export function pipelineSettings(opt: Opts, extra: Partial<PipelineSettings> = {}): PipelineSettings {
  const raw = { pidsLimit: opt['pids-limit'], memoryMb: opt['memory-mb'], cpus: opt.cpus, network: opt.network };
  const { settings: hardening, problems } = readHardening(raw, (k) => LIMIT_FLAGS[k]);
  if (problems.length) throw new UsageError(problems.join('\n'));
  return {
    ...DEFAULT_SETTINGS,
    prefix: String(opt.prefix ?? DEFAULT_SETTINGS.prefix),
    image: String(opt.image ?? DEFAULT_SETTINGS.image),
    hardening,
    ...extra,
  };
}

/**
 * Takes the database lock for a short command, waiting up to 5 s for another short command.
 * @throws BorgError naming the lock file and its holder when it is held (by `borg run` at once).
 */
export async function lockForCommand(db: string, command: string, io: CliIo): Promise<DbLock> {
  const r = await DbLock.acquire(db, command, 5_000);
  return takeOrRefuse(r, db, command, io);
}

/** Returns the lock, printing a note for a taken-over stale lock, or throws the refusal. */
export function takeOrRefuse(r: AcquireResult, db: string, command: string, io: CliIo): DbLock {
  if (!r.lock) {
    const h = r.holder;
    const who = h.command === 'run' && command === 'run' ? `Another ${describeHolder(h)}` : describeHolder(h);
    const what =
      h.command === 'run'
        ? 'Stop it first (Ctrl+C or kill ' + h.pid + '), or use another --db.'
        : h.command === WINDOW_COMMAND
          ? 'Close that window (or add the task there), or use another --db.'
          : `Wait for it to finish, or use another --db. If no such process exists, delete ${lockFileOf(db)}.`;
    throw new BorgError(`${who} is using the database ${db} (lock file ${lockFileOf(db)}). ${what}`);
  }
  if (r.tookOverFrom) {
    const t = r.tookOverFrom;
    io.err(`[borg] took over the stale lock ${lockFileOf(db)} of pid ${t.pid} (${t.description ?? `borg ${t.command}`}), which is no longer running`);
  }
  return r.lock;
}

/** "3.2 s", "850 ms", "2 min 5 s". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The first line of a text, at most `max` characters. */
export function firstLine(text: string | null | undefined, max = 160): string {
  const line =
    (text ?? '')
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean) ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
