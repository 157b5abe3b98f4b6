import { HostEntry, readHostsSetting } from './dockerHosts';
import { checkSetting, SettingRule } from './hardening';
import { DOCKER_NAME_PATTERN } from './names';
import { DEFAULT_SETTINGS, ShutdownMode } from './pipeline';
import { DEFAULT_TASK_SETTINGS } from './scheduler';

/**
 * The rules of the `borg.*` settings not read by hardening.ts (limits, networks),
 * gateway/settings.ts (upstream, recording, egress, budgets) or personaTools.ts: one table, so
 * package.json's `minimum`/`maximum`/`enum` and what the extension accepts cannot drift apart
 * (test/unit/settingRules.test.ts checks the manifest against it).
 */
export const GENERAL_RULES = {
  maxParallelAgents: { kind: 'number', setting: 'borg.maxParallelAgents', min: 1, max: 32, integer: true },
  agentTimeoutSeconds: { kind: 'number', setting: 'borg.agentTimeoutSeconds', min: 0, max: 86_400, integer: true, unit: 'seconds' },
  stopGraceSeconds: { kind: 'number', setting: 'borg.stopGraceSeconds', min: 0, max: 300, integer: true, unit: 'seconds' },
  testTimeoutSeconds: { kind: 'number', setting: 'borg.testTimeoutSeconds', min: 1, max: 86_400, integer: true, unit: 'seconds' },
  maxAttempts: { kind: 'number', setting: 'borg.maxAttempts', min: 1, max: 50, integer: true },
  onShutdown: { kind: 'enum', setting: 'borg.onShutdown', values: ['detach', 'stop'] },
  agentsGroupBy: { kind: 'enum', setting: 'borg.agents.groupBy', values: ['task', 'state', 'none'] },
  engine: { kind: 'enum', setting: 'borg.engine', values: ['docker', 'swarm'] },
} as const satisfies Record<string, SettingRule>;

/** Longest `borg.containerPrefix` (package.json `maxLength`): `<prefix>-<persona>-<n>` must stay within Docker's 63 characters. */
export const MAX_PREFIX_LENGTH = 40;

/** The free-text settings (trimmed; a non-string is replaced by the default with a warning). */
const STRING_SETTINGS = {
  image: { setting: 'borg.agentImage', fallback: DEFAULT_SETTINGS.image },
  dockerHost: { setting: 'borg.dockerHost', fallback: '' },
  home: { setting: 'borg.home', fallback: '' },
  testCommand: { setting: 'borg.testCommand', fallback: DEFAULT_TASK_SETTINGS.testCommand },
  testImage: { setting: 'borg.testImage', fallback: DEFAULT_TASK_SETTINGS.testImage },
  baseBranch: { setting: 'borg.baseBranch', fallback: DEFAULT_TASK_SETTINGS.baseBranch },
  model: { setting: 'borg.model', fallback: DEFAULT_TASK_SETTINGS.model },
} as const;

/** The values {@link readGeneralSettings} returns (see {@link GENERAL_RULES} and the string settings). */
export interface GeneralSettings {
  prefix: string;
  image: string;
  maxParallelAgents: number;
  agentTimeoutSeconds: number;
  stopGraceSeconds: number;
  onShutdown: ShutdownMode;
  dockerHost: string;
  home: string;
  testCommand: string;
  testTimeoutSeconds: number;
  testImage: string;
  maxAttempts: number;
  baseBranch: string;
  model: string;
  allowedTools: string[];
  /** `borg.agents.groupBy`: how the Agents view groups its rows. */
  agentsGroupBy: 'task' | 'state' | 'none';
  /** `borg.notifications.taskEnded`: a notification when a task ends done, failed or blocked. */
  notifyTaskEnded: boolean;
  /** `borg.badge`: the Tasks view's badge with the number of tasks needing attention. */
  badge: boolean;
  /** `borg.engine`: one Docker daemon (or several, `borg.docker.hosts`), or a Swarm through its manager. */
  engine: EngineKind;
  /** `borg.docker.hosts`: the Docker hosts agents are spread over (empty: the one daemon of borg.dockerHost). */
  dockerHosts: HostEntry[];
  /** `borg.swarm.placement`: Swarm placement constraints of every agent service (`node.labels.borg==yes`). */
  swarmPlacement: string[];
}

/** Which engine runs agents (`borg.engine`, the CLI's `--engine`). */
export type EngineKind = 'docker' | 'swarm';

/** Raw values by the setting's name without `borg.` (`maxParallelAgents`, `containerPrefix`, …), as `getConfiguration('borg').get` returns them. */
export type RawSettings = Record<string, unknown>;

/**
 * Reads the settings of {@link GeneralSettings} from raw values (anything a user can type into
 * settings.json). An unset value is its default; a bad one — out of range, not a whole number,
 * not one of the enum's values, the wrong type, a container prefix Docker would refuse — is its
 * default too, with one warning each that names the setting, says what it must be and which
 * default is used (the extension shows it with an Open Settings button). Never throws.
 */
export function readGeneralSettings(raw: RawSettings): { settings: GeneralSettings; warnings: string[] } {
  const warnings: string[] = [];
  const rule = <T extends string | number>(key: keyof typeof GENERAL_RULES, fallback: T): T => {
    const r = checkSetting<T>(GENERAL_RULES[key], raw[GENERAL_RULES[key].setting.slice('borg.'.length)], fallback);
    if (r.warning) warnings.push(r.warning);
    return r.value;
  };
  const flag = (name: string, fallback: boolean): boolean => {
    const v = raw[name];
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'boolean') return v;
    warnings.push(`borg.${name} is ${JSON.stringify(v)}; it must be true or false. Using the default, ${fallback}.`);
    return fallback;
  };
  const text = (key: keyof typeof STRING_SETTINGS): string => {
    const { setting, fallback } = STRING_SETTINGS[key];
    const v = raw[setting.slice('borg.'.length)];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') {
      warnings.push(`${setting} is ${JSON.stringify(v)}; it must be text. Using ${fallback ? `the default, ${fallback}` : 'the default (empty)'}.`);
      return fallback;
    }
    return v.trim() || fallback;
  };
  const settings: GeneralSettings = {
    prefix: readPrefix(raw.containerPrefix, warnings),
    image: text('image'),
    maxParallelAgents: rule('maxParallelAgents', DEFAULT_SETTINGS.maxParallelAgents),
    agentTimeoutSeconds: rule('agentTimeoutSeconds', DEFAULT_SETTINGS.agentTimeoutSeconds),
    stopGraceSeconds: rule('stopGraceSeconds', DEFAULT_SETTINGS.stopGraceSeconds),
    onShutdown: rule<ShutdownMode>('onShutdown', 'detach'),
    dockerHost: text('dockerHost'),
    home: text('home'),
    testCommand: text('testCommand'),
    testTimeoutSeconds: rule('testTimeoutSeconds', DEFAULT_TASK_SETTINGS.testTimeoutSeconds),
    testImage: text('testImage'),
    maxAttempts: rule('maxAttempts', DEFAULT_TASK_SETTINGS.maxAttempts),
    baseBranch: text('baseBranch'),
    model: text('model'),
    allowedTools: readAllowedTools(raw.allowedTools, warnings),
    agentsGroupBy: rule<'task' | 'state' | 'none'>('agentsGroupBy', 'task'),
    notifyTaskEnded: flag('notifications.taskEnded', true),
    badge: flag('badge', true),
    engine: rule<EngineKind>('engine', 'docker'),
    dockerHosts: [],
    swarmPlacement: readPlacement(raw['swarm.placement'], warnings),
  };
  const hosts = readHostsSetting(raw['docker.hosts'], settings.maxParallelAgents);
  settings.dockerHosts = hosts.hosts;
  warnings.push(...hosts.warnings);
  return { settings, warnings };
}

/**
 * The setting a warning of {@link readGeneralSettings} (or hardening, gateway, persona tools) is
 * about — its first word, cut to `borg.<name>` (`borg.personaTools.worker` → `borg.personaTools`)
 * — for the Settings editor's search; `undefined` when it names none.
 */
export function settingOfWarning(warning: string): string | undefined {
  return /^borg\.(?:agents\.|notifications\.|docker\.|swarm\.)?[A-Za-z]+/.exec(warning)?.[0]; // the settings with a section in their name; `borg.personaTools.worker` names borg.personaTools
}

/**
 * A settings warning as notification text that links nowhere. VS Code renders `[label](target)`
 * in a notification's message as a link — `command:` targets included — and a warning quotes
 * the bad value, which can come from a workspace's `.vscode/settings.json` (a cloned repository,
 * a worktree an agent wrote and you opened): `](` becomes `] (`, which no longer parses as a
 * link, and the text is cut to {@link MAX_WARNING_LENGTH} characters.
 */
export function notificationText(warning: string): string {
  const text = warning.replace(/\]\(/g, '] (');
  return text.length > MAX_WARNING_LENGTH ? `${text.slice(0, MAX_WARNING_LENGTH - 1)}…` : text;
}

/** Longest settings warning shown (characters); a longer one is cut. */
export const MAX_WARNING_LENGTH = 400;

/** `borg.containerPrefix`: Docker's container-name rule (names.ts), at most {@link MAX_PREFIX_LENGTH} characters. */
function readPrefix(v: unknown, warnings: string[]): string {
  const fallback = DEFAULT_SETTINGS.prefix;
  if (v === undefined || v === null) return fallback;
  const s = typeof v === 'string' ? v.trim() : v;
  if (s === '') return fallback;
  if (typeof s === 'string' && DOCKER_NAME_PATTERN.test(s) && s.length <= MAX_PREFIX_LENGTH) return s;
  warnings.push(
    `borg.containerPrefix is ${JSON.stringify(v)}; it must be letters, digits, "_", "." or "-", starting with a letter or digit, at most ${MAX_PREFIX_LENGTH} characters (Docker's container-name rule). Using the default, ${fallback}.`,
  );
  return fallback;
}

/** `borg.allowedTools`: a list of tool names; other entries are dropped with a warning. */
function readAllowedTools(v: unknown, warnings: string[]): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    warnings.push(`borg.allowedTools is ${JSON.stringify(v)}; it must be a list of tool names such as ["WebFetch"]. Using the default (none).`);
    return [];
  }
  const tools = v.filter((x): x is string => typeof x === 'string' && x.trim() !== '').map((x) => x.trim());
  if (tools.length !== v.length)
    warnings.push(`borg.allowedTools has entries that are not tool names (${JSON.stringify(v.filter((x) => typeof x !== 'string' || x.trim() === ''))}); they are ignored.`);
  return tools;
}

/**
 * A Swarm placement constraint as `docker service create --constraint` takes it (Docker docs,
 * "Placement constraints"): `node.id`, `node.hostname`, `node.role`, `node.platform.os`,
 * `node.platform.arch`, `node.labels.<key>` or `engine.labels.<key>`, then `==` or `!=`, then a value.
 */
export const PLACEMENT_PATTERN = /^(?:node\.(?:id|hostname|role|platform\.os|platform\.arch|labels\.[A-Za-z0-9_.-]+)|engine\.labels\.[A-Za-z0-9_.-]+)\s*(?:==|!=)\s*[^\s\p{Cc}]+$/u;

/** `borg.swarm.placement`: a list of constraints ({@link PLACEMENT_PATTERN}); other entries are dropped with a warning. */
function readPlacement(v: unknown, warnings: string[]): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    warnings.push(`borg.swarm.placement is ${JSON.stringify(v)}; it must be a list of Swarm placement constraints such as ["node.labels.borg==yes"]. Using the default (none).`);
    return [];
  }
  const ok = v.filter((x): x is string => typeof x === 'string' && PLACEMENT_PATTERN.test(x.trim())).map((x) => x.trim());
  if (ok.length !== v.length)
    warnings.push(
      `borg.swarm.placement has entries that are not placement constraints (${JSON.stringify(v.filter((x) => typeof x !== 'string' || !PLACEMENT_PATTERN.test(x.trim())))}); they are ignored. Write node.labels.KEY==VALUE, node.role==worker, node.hostname!=NAME, ….`,
    );
  return ok;
}
