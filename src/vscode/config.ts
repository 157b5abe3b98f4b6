import * as vscode from 'vscode';
import { DEFAULT_SETTINGS, PipelineSettings, ShutdownMode } from '../core/pipeline';

/** Typed reads of the `borg.*` settings. Values out of range fall back to their defaults, clamped where a range is given. */
export interface BorgConfig extends PipelineSettings {
  onShutdown: ShutdownMode;
  /** Empty: DOCKER_HOST or the local socket. */
  dockerHost: string;
}

export function readConfig(): BorgConfig {
  const c = vscode.workspace.getConfiguration('borg');
  return {
    prefix: c.get<string>('containerPrefix', DEFAULT_SETTINGS.prefix).trim(),
    image: c.get<string>('agentImage', DEFAULT_SETTINGS.image).trim() || DEFAULT_SETTINGS.image,
    maxParallelAgents: clampInt(c.get('maxParallelAgents'), 1, 32, DEFAULT_SETTINGS.maxParallelAgents),
    agentTimeoutSeconds: clampInt(c.get('agentTimeoutSeconds'), 0, 86_400, DEFAULT_SETTINGS.agentTimeoutSeconds),
    stopGraceSeconds: clampInt(c.get('stopGraceSeconds'), 0, 300, DEFAULT_SETTINGS.stopGraceSeconds),
    onShutdown: c.get<string>('onShutdown') === 'stop' ? 'stop' : 'detach',
    dockerHost: c.get<string>('dockerHost', '').trim(),
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
