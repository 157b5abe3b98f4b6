import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from './errors';

/**
 * How every container Borg creates is confined (agents and test containers alike). Docker's
 * defaults give a container 14 capabilities, setuid escalation, unlimited processes, memory
 * and CPU, and the default bridge network; Borg's defaults take all of that away: by default
 * (`gateway`) an agent has no network at all, and reaches its model only through the gateway's
 * socket mounted into it (gateway/gateway.ts).
 *
 * Network modes: `gateway` — Docker network `none` (loopback only) plus the gateway socket: the
 * model, and hosts listed in `borg.egressAllow` through its CONNECT proxy, are the only
 * destinations; `bridge` — Docker's default bridge network (anything the host can reach) plus the
 * gateway for the model, for images that need more; `none` — no network and no gateway (no model).
 */
export type NetworkMode = 'gateway' | 'bridge' | 'none';

/** The modes a test container may have: it runs no model, so no gateway. */
export type TestNetworkMode = Exclude<NetworkMode, 'gateway'>;

export interface HardeningSettings {
  /** Most processes (and threads) in the container: a fork bomb stops here (`PidsLimit`). */
  pidsLimit: number;
  /** Memory limit in MiB; swap is the same (`Memory` = `MemorySwap`: no swap beyond it). */
  memoryMb: number;
  /** CPUs the container may use (`NanoCpus` = cpus × 1e9). */
  cpus: number;
  /** `gateway` (default: only the model gateway), `bridge` (Docker's default network, plus the gateway) or `none` (nothing). */
  network: NetworkMode;
}

export const DEFAULT_HARDENING: HardeningSettings = { pidsLimit: 512, memoryMb: 4096, cpus: 2, network: 'gateway' };

/** A setting's rule: a number in a range (whole where `integer`), or one of `values`. */
export type SettingRule = { kind: 'number'; setting: string; min: number; max: number; integer: boolean; unit?: string } | { kind: 'enum'; setting: string; values: readonly string[] };

/** The rule of each hardening setting; one table for the extension's settings and the CLI's flags. */
export const HARDENING_RULES: Record<keyof HardeningSettings, SettingRule> = {
  pidsLimit: { kind: 'number', setting: 'borg.pidsLimit', min: 16, max: 1_000_000, integer: true },
  memoryMb: { kind: 'number', setting: 'borg.memoryMb', min: 16, max: 1_048_576, integer: true, unit: 'MiB' },
  cpus: { kind: 'number', setting: 'borg.cpus', min: 0.01, max: 1024, integer: false },
  network: { kind: 'enum', setting: 'borg.network', values: ['gateway', 'bridge', 'none'] },
};

/** The rule of `borg.testNetwork` (the CLI's `--test-network`): a test container runs no model, so `gateway` is not offered. */
export const TEST_NETWORK_RULE: SettingRule = { kind: 'enum', setting: 'borg.testNetwork', values: ['none', 'bridge'] };

/**
 * Checks `value` against `rule`. Returns the value to use and, for a bad one, `problem` (the
 * setting, its value and what it must be: a CLI refuses with it) and `warning` (the problem and
 * the default used instead: the extension shows it). `undefined` (not set) is the default
 * without a warning.
 */
export function checkSetting<T extends string | number>(rule: SettingRule, value: unknown, fallback: T): { value: T; problem?: string; warning?: string } {
  if (value === undefined || value === null || value === '') return { value: fallback };
  let what: string;
  if (rule.kind === 'enum') {
    if (typeof value === 'string' && rule.values.includes(value)) return { value: value as T };
    what = `one of ${rule.values.join(', ')}`;
  } else {
    const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    const ok = typeof n === 'number' && Number.isFinite(n) && n >= rule.min && n <= rule.max && (!rule.integer || Number.isInteger(n));
    if (ok) return { value: n as T };
    what = `${rule.integer ? 'a whole number' : 'a number'} from ${rule.min} to ${rule.max}${rule.unit ? ` ${rule.unit}` : ''}`;
  }
  const problem = `${rule.setting} is ${JSON.stringify(value)}; it must be ${what}.`;
  return { value: fallback, problem, warning: `${problem} Using ${rule.kind === 'enum' ? '' : 'the default, '}${fallback}.` };
}

/**
 * Reads raw hardening values (settings or CLI flags) through {@link HARDENING_RULES}; bad values
 * become defaults, with a problem and a warning each (see {@link checkSetting}). `nameOf` names
 * each value in those messages (default: the setting, e.g. `borg.pidsLimit`; the CLI passes its flags).
 */
export function readHardening(
  raw: Partial<Record<keyof HardeningSettings, unknown>>,
  nameOf: (key: keyof HardeningSettings) => string = (k) => HARDENING_RULES[k].setting,
): { settings: HardeningSettings; problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const pick = <K extends keyof HardeningSettings>(k: K): HardeningSettings[K] => {
    const r = checkSetting({ ...HARDENING_RULES[k], setting: nameOf(k) }, raw[k], DEFAULT_HARDENING[k]);
    if (r.problem) problems.push(r.problem);
    if (r.warning) warnings.push(r.warning);
    return r.value as HardeningSettings[K];
  };
  return { settings: { pidsLimit: pick('pidsLimit'), memoryMb: pick('memoryMb'), cpus: pick('cpus'), network: pick('network') }, problems, warnings };
}

/** The limits as one line, for the `borg.limits` label and the tree's tooltip: `pids 512 · memory 4096 MiB · cpus 2 · network gateway`. */
export function describeLimits(h: HardeningSettings, memoryBytes?: number): string {
  const mem = memoryBytes ? `${Math.round((memoryBytes / 1024 / 1024) * 10) / 10} MiB` : `${h.memoryMb} MiB`;
  return `pids ${h.pidsLimit} · memory ${mem} · cpus ${h.cpus} · network ${h.network} · no capabilities · no-new-privileges`;
}

/**
 * The HostConfig fields that confine a container (Engine API ContainerCreate, HostConfig):
 * `CapDrop: ALL` (no capability, even for a root process), `no-new-privileges` (setuid binaries
 * cannot raise privileges), `PidsLimit`, `Memory` + `MemorySwap` (equal: no swap), `NanoCpus`,
 * `Init` (docker-init as PID 1 reaps zombies and forwards signals, so a stop ends the whole
 * process tree) and the network.
 * @param memoryBytes overrides `memoryMb` (tests use a few MiB to provoke an OOM kill).
 */
export function hardenedHostConfig(h: HardeningSettings, memoryBytes?: number): Record<string, unknown> {
  const memory = memoryBytes ?? h.memoryMb * 1024 * 1024;
  return {
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    PidsLimit: h.pidsLimit,
    Memory: memory,
    MemorySwap: memory,
    NanoCpus: Math.round(h.cpus * 1e9),
    Init: true,
    // `gateway`: no network; the gateway's socket is a bind mount (pipeline.ts).
    NetworkMode: h.network === 'gateway' ? 'none' : h.network,
  };
}

/**
 * Refuses binds that would hand a container the Docker daemon (root on the host): a source that
 * is a unix socket, is named `docker.sock`, or is a folder holding the daemon's socket (`/`,
 * `/var/run`, ...). `endpoint` is the daemon address in use (`unix:///var/run/docker.sock`).
 * @throws InvalidInputError naming the bind.
 */
export function assertNoDockerSocket(binds: readonly string[], endpoint: string): void {
  const sockets = ['/var/run/docker.sock', '/run/docker.sock'];
  if (endpoint.startsWith('unix://')) sockets.push(endpoint.slice('unix://'.length));
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const realSockets = sockets.map(real);
  for (const bind of binds) {
    const source = bind.split(':')[0];
    const src = real(source);
    let isSocket = false;
    try {
      isSocket = fs.statSync(src).isSocket();
    } catch {
      // missing: Docker would create a folder there
    }
    const holdsSocket = realSockets.some((s) => s === src || s.startsWith(src.endsWith(path.sep) ? src : src + path.sep));
    if (isSocket || path.basename(source) === 'docker.sock' || holdsSocket) {
      throw new InvalidInputError(`Refusing to mount ${source} into a container: it is (or holds) a socket such as Docker's, which would give the agent control of the host. Remove that bind.`);
    }
  }
}
