import * as os from 'node:os';
import * as vscode from 'vscode';
import { checkSetting, readHardening, TEST_NETWORK_RULE } from '../core/hardening';
import type { PipelineSettings, ShutdownMode } from '../core/pipeline';
import { DEFAULT_TASK_SETTINGS, TaskSettings } from '../core/scheduler';
import { GeneralSettings, readGeneralSettings } from '../core/settingRules';
import type { GatewaySettings } from '../core/gateway/gateway';
import { readGatewaySettings } from '../core/gateway/settings';
import { readPersonaTools } from '../core/personaTools';
import { readGitTransport } from '../core/gitRemote';

/** Typed reads of the `borg.*` settings. A bad value (out of range, wrong type) is its default, with a line in `warnings`. */
export interface BorgConfig extends PipelineSettings, TaskSettings, Pick<GeneralSettings, 'agentsGroupBy' | 'notifyTaskEnded' | 'badge'> {
  onShutdown: ShutdownMode;
  /** Empty: DOCKER_HOST or the local socket. */
  dockerHost: string;
  /** `borg.home`: the folder of the workspace homes ('' = $BORG_HOME or ~/.borg); read at activation. */
  home: string;
  /** The model gateway's settings (`borg.modelUpstream`, `borg.gatewayRecord`, `borg.egressAllow`, `borg.maxCostUsdPer*`). */
  gateway: GatewaySettings;
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
  const transport = readGitTransport({ worktrees: c.get('docker.worktrees'), gitRemote: c.get('docker.gitRemote') });
  // Every other setting, through its rule (core/settingRules.ts): a bad value is its default, with a warning.
  const general = readGeneralSettings(Object.fromEntries(GENERAL_KEYS.map((k) => [k, c.get(k)])));
  return {
    ...general.settings,
    hardening: hardening.settings,
    gateway: gateway.settings,
    testNetwork: testNetwork.value,
    personaTools: personaTools.tools,
    worktrees: transport.worktrees,
    gitRemote: transport.gitRemote,
    warnings: [...transport.warnings, ...general.warnings, ...hardening.warnings, ...(testNetwork.warning ? [testNetwork.warning] : []), ...gateway.warnings, ...personaTools.problems],
  };
}

/** The settings {@link readGeneralSettings} reads, by their name without `borg.`. */
const GENERAL_KEYS = [
  'containerPrefix',
  'agentImage',
  'maxParallelAgents',
  'agentTimeoutSeconds',
  'stopGraceSeconds',
  'onShutdown',
  'dockerHost',
  'home',
  'testCommand',
  'testTimeoutSeconds',
  'testImage',
  'maxAttempts',
  'baseBranch',
  'model',
  'allowedTools',
  'agents.groupBy',
  'notifications.taskEnded',
  'badge',
];

/** Fires `listener` when any `borg.*` setting changes. */
export function onDidChangeConfig(listener: () => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('borg')) listener();
  });
}
