import * as path from 'node:path';
import { checkSetting, SettingRule } from '../hardening';
import { readEgressAllow } from './egress';
import { DEFAULT_GATEWAY_SETTINGS, GatewaySettings, REPLAY_PREFIX } from './gateway';

/** The raw values behind {@link GatewaySettings}: settings (`borg.*`) or CLI flags. */
export interface RawGatewaySettings {
  modelUpstream?: unknown;
  gatewayRecord?: unknown;
  egressAllow?: unknown;
  maxCostUsdPerTask?: unknown;
  maxCostUsdPerDay?: unknown;
}

/** The rules of the gateway's numeric settings (USD; 0 = no cap). */
export const COST_RULES: Record<'maxCostUsdPerTask' | 'maxCostUsdPerDay', SettingRule> = {
  maxCostUsdPerTask: { kind: 'number', setting: 'borg.maxCostUsdPerTask', min: 0, max: 100_000, integer: false, unit: 'USD' },
  maxCostUsdPerDay: { kind: 'number', setting: 'borg.maxCostUsdPerDay', min: 0, max: 1_000_000, integer: false, unit: 'USD' },
};

/**
 * Reads the gateway's settings, one table for the extension and the CLI. Bad values become
 * defaults, each with a `problem` (the CLI refuses with it) and a `warning` (the extension shows
 * it). `nameOf` names a value in the messages (default: its `borg.*` setting; the CLI passes its flags).
 * - `modelUpstream`: an `http://` or `https://` base URL, or `replay:<file>` (a recording made with
 *   `gatewayRecord`); default `https://api.anthropic.com`.
 * - `gatewayRecord`: a file path ('' = off).
 * - `egressAllow`: host patterns (egress.ts).
 * - `maxCostUsdPerTask`, `maxCostUsdPerDay`: USD, 0 = no cap.
 * Relative files (the recording, a replay) are taken relative to `baseDir` (the workspace folder;
 * the CLI's current folder), so the gateway never writes or reads beside whatever its process's
 * working folder happens to be.
 */
export function readGatewaySettings(
  raw: RawGatewaySettings,
  nameOf: (key: keyof RawGatewaySettings) => string = (k) => `borg.${k}`,
  baseDir: string = process.cwd(),
): { settings: GatewaySettings; problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const d = DEFAULT_GATEWAY_SETTINGS;

  let upstream = d.upstream;
  const u = typeof raw.modelUpstream === 'string' ? raw.modelUpstream.trim() : raw.modelUpstream;
  if (u !== undefined && u !== null && u !== '') {
    if (typeof u === 'string' && u.startsWith(REPLAY_PREFIX) && u.length > REPLAY_PREFIX.length) upstream = REPLAY_PREFIX + path.resolve(baseDir, u.slice(REPLAY_PREFIX.length));
    else if (typeof u === 'string' && isHttpUrl(u)) upstream = u;
    else {
      const p = `${nameOf('modelUpstream')} is ${JSON.stringify(u)}; it must be an http:// or https:// URL, or replay:<file> (a recording made with borg.gatewayRecord).`;
      problems.push(p);
      warnings.push(`${p} Using ${d.upstream}.`);
    }
  }

  const recordRaw = typeof raw.gatewayRecord === 'string' ? raw.gatewayRecord.trim() : '';
  const record = recordRaw ? path.resolve(baseDir, recordRaw) : '';
  if (raw.gatewayRecord !== undefined && raw.gatewayRecord !== null && typeof raw.gatewayRecord !== 'string') {
    const p = `${nameOf('gatewayRecord')} must be a file path.`;
    problems.push(p);
    warnings.push(`${p} Not recording.`);
  }

  const egress = readEgressAllow(raw.egressAllow);
  for (const p of egress.problems) {
    const named = p.replace(/^borg\.egressAllow/, nameOf('egressAllow'));
    problems.push(named);
    warnings.push(`${named} That entry is ignored.`);
  }

  const cost = (k: keyof typeof COST_RULES): number => {
    const r = checkSetting<number>({ ...COST_RULES[k], setting: nameOf(k) }, raw[k], d[k]);
    if (r.problem) problems.push(r.problem);
    if (r.warning) warnings.push(r.warning);
    return r.value;
  };
  const settings: GatewaySettings = { upstream, record, egressAllow: egress.rules, maxCostUsdPerTask: cost('maxCostUsdPerTask'), maxCostUsdPerDay: cost('maxCostUsdPerDay') };
  return { settings, problems, warnings };
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}
