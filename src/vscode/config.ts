import * as os from 'node:os';
import * as vscode from 'vscode';
import { checkSetting, readHardening, TEST_NETWORK_RULE } from '../core/hardening';
import { DEFAULT_SETTINGS, PipelineSettings, ShutdownMode } from '../core/pipeline';
import { DEFAULT_TASK_SETTINGS, TaskSettings } from '../core/scheduler';
import type { GatewaySettings } from '../core/gateway/gateway';
import { readGatewaySettings } from '../core/gateway/settings';
import { readPersonaTools } from '../core/personaTools';
import { GroupBy, groupByOf } from './agentTree';

/** Typed reads of the `borg.*` settings. Values out of range fall back to their defaults, clamped where a range is given. */
export interface BorgConfig extends PipelineSettings, TaskSettings {
  onShutdown: ShutdownMode;
  /** Empty: DOCKER_HOST or the local socket. */
  dockerHost: string;
  /** `borg.home`: the folder of the workspace homes ('' = $BORG_HOME or ~/.borg); read at activation. */
  home: string;
  /** The model gateway's settings (`borg.modelUpstream`, `borg.gatewayRecord`, `borg.egressAllow`, `borg.maxCostUsdPer*`). */
  gateway: GatewaySettings;
  /** `borg.notifications.taskEnded`: a notification when a task ends done, failed or blocked (taskNotifications.ts). */
  notifyTaskEnded: boolean;
  /** `borg.badge`: the Tasks view's badge with the number of tasks needing attention. */
  badge: boolean;
  /** `borg.agents.groupBy`: how the Agents view groups its rows. */
  agentsGroupBy: GroupBy;
  /** One line per bad setting: what it must be and the default used instead (shown once per change). */
  warnings: string[];
}

export function readConfig(): BorgConfig {
  const c = vscode.workspace.getConfiguration('borg');
  const hardening = readHardening({ pidsLimit: c.get('pidsLimit'), memoryMb: c.get('memoryMb'), cpus: c.get('cpus'), network: c.get('network') });
  const testNetwork = checkSetting(TEST_NETWORK_RULE, c.get('testNetwork'), DEFAULT_TASK_SETTINGS.testNetwork);
  const gateway = readGatewaySettings(
    {
      modelUpstream: c.get('modelUpstream'),
      gatewayRecord: c.get('gatewayRecord'),
      egressAllow: c.get('egressAllow'),
      maxCostUsdPerTask: c.get('maxCostUsdPerTask'),
      maxCostUsdPerDay: c.get('maxCostUsdPerDay'),
    },
    undefined,
    // Relative recording and replay files are the workspace folder's.
    vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir(),
  );
  const personaTools = readPersonaTools(c.get('personaTools'));
  const groupByValue = c.get<unknown>('agents.groupBy');
  const agentsGroupBy = groupByOf(groupByValue);
  const groupByWarning = groupByValue !== undefined && groupByValue !== agentsGroupBy ? [`borg.agents.groupBy must be task, state or none (got ${JSON.stringify(groupByValue)}); using task.`] : [];
  return {
    prefix: c.get<string>('containerPrefix', DEFAULT_SETTINGS.prefix).trim(),
    image: c.get<string>('agentImage', DEFAULT_SETTINGS.image).trim() || DEFAULT_SETTINGS.image,
    maxParallelAgents: clampInt(c.get('maxParallelAgents'), 1, 32, DEFAULT_SETTINGS.maxParallelAgents),
    agentTimeoutSeconds: clampInt(c.get('agentTimeoutSeconds'), 0, 86_400, DEFAULT_SETTINGS.agentTimeoutSeconds),
    stopGraceSeconds: clampInt(c.get('stopGraceSeconds'), 0, 300, DEFAULT_SETTINGS.stopGraceSeconds),
    hardening: hardening.settings,
    onShutdown: c.get<string>('onShutdown') === 'stop' ? 'stop' : 'detach',
    dockerHost: c.get<string>('dockerHost', '').trim(),
    home: c.get<string>('home', '').trim(),
    gateway: gateway.settings,
    testCommand: c.get<string>('testCommand', DEFAULT_TASK_SETTINGS.testCommand).trim(),
    testTimeoutSeconds: clampInt(c.get('testTimeoutSeconds'), 1, 86_400, DEFAULT_TASK_SETTINGS.testTimeoutSeconds),
    testImage: c.get<string>('testImage', '').trim(),
    testNetwork: testNetwork.value,
    maxAttempts: clampInt(c.get('maxAttempts'), 1, 50, DEFAULT_TASK_SETTINGS.maxAttempts),
    baseBranch: c.get<string>('baseBranch', '').trim(),
    model: c.get<string>('model', '').trim(),
    allowedTools: (c.get<unknown>('allowedTools') instanceof Array ? (c.get<unknown[]>('allowedTools') ?? []) : []).filter((x): x is string => typeof x === 'string'),
    personaTools: personaTools.tools,
    notifyTaskEnded: c.get<unknown>('notifications.taskEnded') !== false,
    badge: c.get<unknown>('badge') !== false,
    agentsGroupBy,
    warnings: [...hardening.warnings, ...(testNetwork.warning ? [testNetwork.warning] : []), ...gateway.warnings, ...personaTools.problems, ...groupByWarning],
  };
}

/** Fires `listener` when any `borg.*` setting changes. */
export function onDidChangeConfig(listener: () => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('borg')) listener();
  });
}

function clampInt(value: unknown, min: number, max: number, fallback: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}
