/**
 * The egress allow-list (`borg.egressAllow`): which destinations an agent may reach through the
 * gateway's CONNECT proxy. Everything else is refused by name, before any connection is made
 * (no DNS lookup either), and logged.
 *
 * An entry is a host name or a pattern, optionally with a port:
 * - `example.com` — that host only;
 * - `*.example.com` — its subdomains (not `example.com` itself);
 * - `.example.com` — the host and its subdomains;
 * - `:port` suffix (`example.com:8443`) — that port only. Without a port, 443 and 80 are allowed.
 *
 * Matching is case-insensitive and ignores one trailing dot (`Example.COM.` is `example.com`).
 * An IP literal is allowed only when listed exactly. An entry that is not a valid host pattern
 * is reported by {@link readEgressAllow} and ignored.
 */

/** Ports an entry without a port allows: HTTPS and HTTP. */
export const DEFAULT_EGRESS_PORTS: readonly number[] = [443, 80];

export interface EgressRule {
  /** The entry as the user wrote it (for messages). */
  entry: string;
  /** Lower-case host without a trailing dot; for wildcards the domain after `*.` or `.`. */
  host: string;
  /** `exact`: the host only; `sub`: subdomains only; `self-and-sub`: both. */
  match: 'exact' | 'sub' | 'self-and-sub';
  ports: readonly number[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** `host` lower-cased, one trailing dot dropped, IPv6 brackets removed. */
export function normalHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function isHostName(h: string): boolean {
  return h.length > 0 && h.length <= 253 && h.split('.').every((l) => LABEL.test(l));
}

function isIpLiteral(h: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(h) || (h.includes(':') && /^[0-9a-f:.]+$/.test(h));
}

/**
 * Parses `borg.egressAllow` (a list of entries, see the module comment). Bad entries are
 * skipped, each with a problem naming it and what an entry looks like.
 */
export function readEgressAllow(raw: unknown): { rules: EgressRule[]; problems: string[] } {
  const rules: EgressRule[] = [];
  const problems: string[] = [];
  const list = Array.isArray(raw) ? raw : raw === undefined || raw === null || raw === '' ? [] : [raw];
  for (const item of list) {
    const rule = typeof item === 'string' ? parseEntry(item) : undefined;
    if (rule) rules.push(rule);
    else problems.push(`borg.egressAllow: ${JSON.stringify(item)} is not a host pattern; use example.com, *.example.com, .example.com, optionally with :port.`);
  }
  return { rules, problems };
}

function parseEntry(entry: string): EgressRule | undefined {
  let s = entry.trim().toLowerCase();
  let ports: readonly number[] = DEFAULT_EGRESS_PORTS;
  const port = /^(.*[^:]):(\d{1,5})$/.exec(s);
  if (port && !s.startsWith('[') && (port[1].match(/:/g) ?? []).length === 0) {
    const n = Number(port[2]);
    if (n < 1 || n > 65_535) return undefined;
    ports = [n];
    s = port[1];
  } else if (/^\[.*\]:\d{1,5}$/.test(s)) {
    const i = s.lastIndexOf(':');
    const n = Number(s.slice(i + 1));
    if (n < 1 || n > 65_535) return undefined;
    ports = [n];
    s = s.slice(0, i);
  }
  let match: EgressRule['match'] = 'exact';
  if (s.startsWith('*.')) {
    match = 'sub';
    s = s.slice(2);
  } else if (s.startsWith('.')) {
    match = 'self-and-sub';
    s = s.slice(1);
  }
  const host = normalHost(s);
  if (match === 'exact' ? !(isHostName(host) || isIpLiteral(host)) : !isHostName(host)) return undefined;
  return { entry, host, match, ports };
}

/**
 * The rule that lets an agent reach `host:port`, or undefined (refused). Pure: no DNS lookup, so a
 * name is judged as written and an IP literal only matches an entry with that exact address.
 */
export function egressRuleFor(rules: readonly EgressRule[], host: string, port: number): EgressRule | undefined {
  const h = normalHost(host);
  return rules.find((r) => {
    if (!r.ports.includes(port)) return false;
    if (r.match === 'exact') return h === r.host;
    const sub = h.endsWith('.' + r.host);
    return r.match === 'sub' ? sub : sub || h === r.host;
  });
}

/**
 * Splits a CONNECT target (`host:port`, `[v6]:port`) into host and port.
 * @returns undefined when it is not such a target.
 */
export function parseConnectTarget(target: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(target) ?? /^([^:[\]\s/]+):(\d{1,5})$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: normalHost(m[1]), port };
}
