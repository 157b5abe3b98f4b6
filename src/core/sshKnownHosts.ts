import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';

/**
 * The host keys OpenSSH's known_hosts files list for one host, read the way `ssh` reads them
 * (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): one line per key, `[marker] patterns keytype base64
 * [comment]`; patterns are comma-separated, `*` and `?` wildcards, `!` negates, `[host]:port` for
 * a port other than 22, and `|1|salt|hash` is a hashed name (HMAC-SHA1 of the name keyed by the
 * salt, both base64). `@revoked` lines list keys that are never accepted; `@cert-authority`
 * lines are not supported (skipped: such a host is not trusted through them).
 *
 * docker-modem's ssh transport (ssh2) accepts any host key unless given a verifier; the Docker
 * CLI runs `ssh`, which checks these files. Borg checks them too: a host key not listed is refused.
 */
export interface KnownHostKeys {
  /** Key blobs (base64, as in the file) accepted for the host, with their type (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, …). */
  accepted: Array<{ type: string; key: string }>;
  /** Key blobs (base64) marked `@revoked` for it. */
  revoked: string[];
}

/** The name a known_hosts line uses for `host` on `port`: `host` on 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Reads `files` (missing or unreadable files are skipped) and returns the keys listed for `host`:`port`. */
export function readKnownHostKeys(host: string, port: number, files: readonly string[]): KnownHostKeys {
  const out: KnownHostKeys = { accepted: [], revoked: [] };
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const found = knownHostKeysIn(text, host, port);
    out.accepted.push(...found.accepted);
    out.revoked.push(...found.revoked);
  }
  return out;
}

/** The keys listed for `host`:`port` in the text of one known_hosts file. */
export function knownHostKeysIn(text: string, host: string, port: number): KnownHostKeys {
  const name = knownHostsName(host.toLowerCase(), port);
  const out: KnownHostKeys = { accepted: [], revoked: [] };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: string | undefined;
    if (fields[0].startsWith('@')) marker = fields.shift();
    if (fields.length < 3) continue;
    const [patterns, type, key] = fields;
    if (marker === '@cert-authority') continue;
    if (!/^[A-Za-z0-9+/]+=*$/.test(key) || !matchesPatterns(patterns, name)) continue;
    if (marker === '@revoked') out.revoked.push(key);
    else if (marker === undefined) out.accepted.push({ type, key });
  }
  return out;
}

/**
 * ssh2's `hostVerifier` over `known`: true when the server's key blob is listed and not revoked.
 * ssh2 (1.x) calls it with the raw key blob when `hostHash` is not set.
 */
export function hostKeyVerifier(known: KnownHostKeys): (key: Buffer) => boolean {
  return (key: Buffer) => {
    const b64 = Buffer.from(key).toString('base64');
    if (known.revoked.includes(b64)) return false;
    return known.accepted.some((k) => k.key === b64);
  };
}

/**
 * The host-key algorithms to offer for the known key types (ssh2's `algorithms.serverHostKey`),
 * so the server presents a key the files list: `ssh-rsa` keys sign as rsa-sha2-512/256 too.
 */
export function hostKeyAlgorithms(known: KnownHostKeys): string[] {
  const out: string[] = [];
  for (const { type } of known.accepted) {
    const algs = type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
    for (const a of algs) if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** A comma-separated pattern list against `name`: a negated match excludes, else any match includes. */
function matchesPatterns(patterns: string, name: string): boolean {
  let hit = false;
  for (const p of patterns.split(',')) {
    if (!p) continue;
    if (p.startsWith('|1|')) {
      if (hashedMatches(p, name)) hit = true;
      continue;
    }
    const negated = p.startsWith('!');
    const glob = (negated ? p.slice(1) : p).toLowerCase();
    if (globMatches(glob, name)) {
      if (negated) return false;
      hit = true;
    }
  }
  return hit;
}

function hashedMatches(p: string, name: string): boolean {
  const [, , salt, hash] = p.split('|');
  if (!salt || !hash) return false;
  try {
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  } catch {
    return false;
  }
}

function globMatches(glob: string, name: string): boolean {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(name);
}
