import { checkSetting, SettingRule } from './hardening';
import { InvalidInputError } from './errors';

/**
 * One Docker host of `borg.docker.hosts` (or the CLI's `--docker-host`): where it is, what it is
 * called in the Agents view and the run records, and how many agents it runs at once.
 */
export interface HostEntry {
  /** Unique among the entries; letters, digits, `_`, `.`, `-` ({@link HOST_RULES}). */
  name: string;
  /**
   * As written: a Docker address (`unix:///…`, `tcp://…`, `https://…`, `ssh://[user@]host[:port]`,
   * `host:port`) or a Docker context name (a bare word: no `://`, no `:`), resolved by
   * dockerEndpoint.ts `resolveHostEndpoint`.
   */
  address: string;
  /** Agents at once on this host, 1–32. */
  slots: number;
}

/**
 * The rules of one host entry, one table for the setting and the CLI flag:
 * | field   | rule                                                                       | default |
 * |---------|----------------------------------------------------------------------------|---------|
 * | `host`  | a Docker address or a context name; no spaces or control characters       | required |
 * | `slots` | a whole number 1–32 (`borg.maxParallelAgents`' range)                      | `borg.maxParallelAgents` |
 * | `name`  | `^[A-Za-z0-9][A-Za-z0-9_.-]*$`, at most 40 characters; unique              | the address's host part, the socket's file name, or the context name; `-2`, `-3`, … when taken |
 * Two entries with the same address (as written, case of scheme and host ignored) or the same
 * explicit name are refused: one daemon listed twice would list its containers twice.
 */
export const HOST_RULES = {
  slots: { kind: 'number', setting: 'slots', min: 1, max: 32, integer: true },
} as const satisfies Record<string, SettingRule>;

/** A host name: letters, digits, `_`, `.`, `-`, starting with a letter or digit (safe in labels, views and logs). */
export const HOST_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Longest host name. */
export const MAX_HOST_NAME_LENGTH = 40;
/** Longest address (characters). */
const MAX_ADDRESS_LENGTH = 1000;

/** What to write, for messages. */
const SETTING_EXAMPLE = `"ssh://me@box", "unix:///var/run/docker.sock", a Docker context name such as "colima", or {"host": "tcp://10.0.0.5:2376", "slots": 4, "name": "gpu-box"}`;
const FLAG_EXAMPLE = '--docker-host ADDRESS[,slots=N][,name=NAME], e.g. --docker-host ssh://me@box,slots=4,name=gpu-box (ADDRESS: unix://…, tcp://…, https://…, ssh://… or a Docker context name)';

/**
 * True when `address` names a Docker context rather than an address: no `://` and no `:` (a bare
 * `host:port` is a TCP address, as in dockerEndpoint.ts). Context names follow the Docker CLI's
 * rule `^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$` (docker/cli `cli/context/store`).
 */
export function isContextName(address: string): boolean {
  return !address.includes('://') && !address.includes(':');
}

/** The Docker CLI's context-name rule. */
const CONTEXT_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$/;

/**
 * Reads `borg.docker.hosts` (an array of address strings or `{ host, slots?, name? }` objects).
 * Unset or empty: `[]` (one daemon: borg.dockerHost / DOCKER_HOST / the context). A value that
 * is not an array is `[]` with one warning; a bad entry (wrong type, bad address, slots out of
 * range, bad or duplicate name, duplicate address) is dropped with one warning that names its
 * position and what to write — the settingRules.ts convention. Never throws.
 */
export function readHostsSetting(raw: unknown, defaultSlots: number): { hosts: HostEntry[]; warnings: string[] } {
  const warnings: string[] = [];
  if (raw === undefined || raw === null) return { hosts: [], warnings };
  if (!Array.isArray(raw)) {
    warnings.push(`borg.docker.hosts is ${JSON.stringify(raw)}; it must be a list of hosts such as [${SETTING_EXAMPLE}]. Using the default (one Docker daemon: borg.dockerHost).`);
    return { hosts: [], warnings };
  }
  const picked = new Picker();
  raw.forEach((item, i) => {
    try {
      picked.add(entryOfSetting(item));
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      warnings.push(`borg.docker.hosts entry ${i + 1} (${JSON.stringify(item)}) is ignored: ${e.message}`);
    }
  });
  return { hosts: picked.finish(defaultSlots), warnings };
}

/**
 * Reads the CLI's repeatable `--docker-host ADDRESS[,slots=N][,name=NAME]`.
 * @throws InvalidInputError naming the flag value and what to write, for a bad address, slots
 *   out of 1–32, a bad or duplicate name, a duplicate address, or an unknown `key=`.
 */
export function parseHostFlags(values: readonly string[], defaultSlots: number): HostEntry[] {
  const picked = new Picker();
  for (const v of values) {
    try {
      picked.add(entryOfFlag(v));
    } catch (e) {
      if (!(e instanceof InvalidInputError)) throw e;
      throw new InvalidInputError(`--docker-host ${JSON.stringify(v)} is not valid: ${e.message} Write ${FLAG_EXAMPLE}.`, { cause: e });
    }
  }
  return picked.finish(defaultSlots);
}

/** An entry before defaults: slots and name may be missing. */
interface RawEntry {
  address: string;
  slots?: number;
  name?: string;
}

/** A setting's item: a string, or `{ host, slots?, name? }` (nothing else). */
function entryOfSetting(item: unknown): RawEntry {
  if (typeof item === 'string') return { address: checkAddress(item) };
  if (!item || typeof item !== 'object' || Array.isArray(item)) throw new InvalidInputError(`it must be an address or a context name, or an object; write ${SETTING_EXAMPLE}.`);
  const o = item as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['host', 'slots', 'name'].includes(k));
  if (unknown.length) throw new InvalidInputError(`it has ${unknown.map((k) => `"${k}"`).join(', ')}; only "host", "slots" and "name" are read.`);
  if (typeof o.host !== 'string') throw new InvalidInputError(`"host" must be an address or a context name; write ${SETTING_EXAMPLE}.`);
  return { address: checkAddress(o.host), slots: o.slots === undefined ? undefined : checkSlots(o.slots), name: o.name === undefined ? undefined : checkName(o.name) };
}

/** A flag value: `ADDRESS[,slots=N][,name=NAME]`. */
function entryOfFlag(v: string): RawEntry {
  const [address, ...rest] = v.split(',');
  const entry: RawEntry = { address: checkAddress(address) };
  for (const part of rest) {
    const m = /^(slots|name)=(.*)$/.exec(part.trim());
    if (!m) throw new InvalidInputError(`"${part}" is not slots=N or name=NAME.`);
    if (m[1] === 'slots') entry.slots = checkSlots(m[2]);
    else entry.name = checkName(m[2]);
  }
  return entry;
}

function checkAddress(v: string): string {
  const a = v.trim();
  if (!a) throw new InvalidInputError('the address is empty.');
  if (a.length > MAX_ADDRESS_LENGTH) throw new InvalidInputError(`the address is longer than ${MAX_ADDRESS_LENGTH} characters.`);
  if (/[\s\p{Cc}]/u.test(a)) throw new InvalidInputError('the address has spaces or control characters.');
  if (isContextName(a) && !CONTEXT_NAME_PATTERN.test(a))
    throw new InvalidInputError(`"${a}" is neither an address (unix://, tcp://, https://, ssh://, host:port) nor a Docker context name (letters, digits, "_", ".", "+", "-").`);
  return a;
}

function checkSlots(v: unknown): number {
  const r = checkSetting<number>(HOST_RULES.slots, v, 0);
  if (r.problem || v === '' || v === null) throw new InvalidInputError(`slots is ${JSON.stringify(v)}; it must be a whole number from ${HOST_RULES.slots.min} to ${HOST_RULES.slots.max}.`);
  return r.value;
}

function checkName(v: unknown): string {
  if (typeof v !== 'string' || !HOST_NAME_PATTERN.test(v) || v.length > MAX_HOST_NAME_LENGTH)
    throw new InvalidInputError(`name is ${JSON.stringify(v)}; it must be letters, digits, "_", "." or "-", starting with a letter or digit, at most ${MAX_HOST_NAME_LENGTH} characters.`);
  return v;
}

/**
 * Collects entries, refusing a second one with the same address or explicit name; default names
 * are given at the end, after every explicit one is known.
 */
class Picker {
  private readonly entries: Array<RawEntry & { key: string }> = [];

  add(e: RawEntry): void {
    const key = addressKey(e.address);
    const sameAddress = this.entries.findIndex((x) => x.key === key);
    if (sameAddress >= 0) throw new InvalidInputError(`${e.address} is listed already (entry ${sameAddress + 1}); list each Docker daemon once.`);
    if (e.name !== undefined) {
      const sameName = this.entries.findIndex((x) => x.name === e.name);
      if (sameName >= 0) throw new InvalidInputError(`the name "${e.name}" is taken by entry ${sameName + 1}; give each host its own name.`);
    }
    this.entries.push({ ...e, key });
  }

  finish(defaultSlots: number): HostEntry[] {
    const taken = new Set(this.entries.flatMap((e) => (e.name ? [e.name] : [])));
    return this.entries.map((e) => {
      let name = e.name;
      if (name === undefined) {
        const base = defaultHostName(e.address);
        name = base;
        for (let n = 2; taken.has(name); n++) name = `${base.slice(0, MAX_HOST_NAME_LENGTH - String(n).length - 1)}-${n}`;
        taken.add(name);
      }
      return { name, address: e.address, slots: e.slots ?? defaultSlots };
    });
  }
}

/** The address compared for duplicates: scheme and host are case-insensitive, a trailing slash is dropped. */
function addressKey(address: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/]*)(.*)$/i.exec(address);
  if (!m) return address.toLowerCase();
  return `${m[1].toLowerCase()}${m[2].toLowerCase()}${m[3].replace(/\/+$/, '')}`;
}

/**
 * A name for an entry that has none: the context name; for a unix socket `local` (its file's
 * name without `.sock` when that is not `docker`); otherwise the host part (`ssh://me@gpu-box` →
 * `gpu-box`, `tcp://10.0.0.5:2376` → `10.0.0.5`). Characters outside the name rule become `-`.
 */
export function defaultHostName(address: string): string {
  let base: string;
  if (isContextName(address)) base = address;
  else if (address.startsWith('unix://')) {
    const file = (address.split('/').pop() ?? '').replace(/\.sock$/, '');
    base = file && file !== 'docker' ? file : 'local';
  } else {
    const rest = address.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
    const hostPort = rest.split('/')[0].replace(/^[^@]*@/, '');
    base = hostPort.startsWith('[') ? hostPort.slice(1, hostPort.indexOf(']')) : hostPort.split(':')[0];
  }
  const safe = base.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return (safe || 'host').slice(0, MAX_HOST_NAME_LENGTH);
}
