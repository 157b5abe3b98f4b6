import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as https from 'node:https';
import type Docker from 'dockerode';
import { ContextEnv, readDockerContext, readNamedContext } from './dockerContext';
import { InvalidInputError } from './errors';
import { isContextName } from './dockerHosts';
import { defaultSshIdentity } from './sshIdentity';
import { sshHttpAgent } from './sshTransport';
import { hostKeyAlgorithms, hostKeyVerifier, KnownHostKeys, readKnownHostKeys } from './sshKnownHosts';

/**
 * Where Borg talks to Docker, parsed once from `borg.dockerHost`, else `DOCKER_HOST`, else the
 * current Docker context (dockerContext.ts) — the same rules for all (the Docker CLI's, see
 * https://docs.docker.com/engine/security/protect-access/ and `docker --help`):
 * - none set: `~/.docker/run/docker.sock` when it exists (Docker Desktop; docker-modem's
 *   `findDefaultUnixSocket`), else `/var/run/docker.sock`;
 * - a context's address uses the context's own TLS files (`contexts/tls/…`) and `SkipTLSVerify`,
 *   never DOCKER_TLS_VERIFY / DOCKER_CERT_PATH;
 * - `unix:///path` — a local socket (empty path: /var/run/docker.sock);
 * - `tcp://host[:port]` (or a bare `host[:port]`) — TLS when `DOCKER_TLS_VERIFY` is set (non-empty,
 *   not "0"), with `ca.pem`, `cert.pem`, `key.pem` from `DOCKER_CERT_PATH` (default `~/.docker`),
 *   default port 2376; plain HTTP otherwise, default port 2375;
 * - `https://host[:port]` — TLS (port 2376); client certificates as above when `DOCKER_TLS_VERIFY`
 *   or `DOCKER_CERT_PATH` is set, otherwise the server is checked against Node's default CAs;
 * - `http://host[:port]` — plain HTTP (port 2375); refused when `DOCKER_TLS_VERIFY` asks for TLS;
 * - `ssh://[user@]host[:port]` — HTTP over SSH sessions running `docker system dial-stdio` on
 *   the host, as the Docker CLI does (sshTransport.ts, ssh2): port 22, user `USER`; authenticated by the
 *   ssh-agent at `SSH_AUTH_SOCK` and/or the first unencrypted default identity (sshIdentity.ts);
 *   the host key must be listed in `~/.ssh/known_hosts` or `/etc/ssh/ssh_known_hosts`
 *   (sshKnownHosts.ts) — an unknown or changed key is refused. Encrypted: never `insecureRemote`.
 */
export type DockerEndpoint =
  | { kind: 'socket'; socketPath: string; address: string }
  | { kind: 'tcp'; host: string; port: number; tls?: TlsFiles; address: string }
  | { kind: 'ssh'; host: string; port: number; username: string; ssh: SshAuth; address: string };

/** How an ssh:// endpoint authenticates, and the host keys it accepts. */
export interface SshAuth {
  /** The ssh-agent's socket (`SSH_AUTH_SOCK`). */
  agent?: string;
  /** An unencrypted default identity, when one exists. */
  privateKey?: Buffer;
  identityFile?: string;
  /** The host's keys from the known_hosts files (never empty for a parsed endpoint). */
  knownHosts: KnownHostKeys;
}

/** Which rule chose the endpoint: the setting, DOCKER_HOST, the current context, a `borg.docker.hosts` entry, or nothing (the default socket). */
export type EndpointSource = { kind: 'setting' } | { kind: 'env' } | { kind: 'context'; name: string; metaFile: string } | { kind: 'host'; name: string } | { kind: 'default' };

/** The client's TLS material (file contents) and the folder it came from. */
export interface TlsFiles {
  /** Unset for `https://` without client certificates: the server is checked against Node's CAs. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  certDir?: string;
  /** A context's `SkipTLSVerify`: the server's certificate is not checked. */
  skipVerify?: boolean;
}

/** The environment variables read; `process.env` by default (a parameter for tests). */
export type DockerEnv = Partial<Record<'DOCKER_HOST' | 'DOCKER_TLS_VERIFY' | 'DOCKER_CERT_PATH' | 'HOME' | 'SSH_AUTH_SOCK' | 'USER', string>> & ContextEnv;

const DEFAULT_SOCKET = '/var/run/docker.sock';
/** Docker's registered ports: 2375 plain, 2376 TLS (dockerd(8), "Daemon socket option"). */
const PLAIN_PORT = 2375;
const TLS_PORT = 2376;

/**
 * The address as the user wrote it (`dockerHost`, else `DOCKER_HOST`, else the local socket), for
 * messages; never throws.
 */
export function rawEndpoint(dockerHost?: string, env: DockerEnv = process.env): string {
  let fromContext: string | undefined;
  if (!dockerHost?.trim() && !env.DOCKER_HOST?.trim()) {
    try {
      fromContext = readDockerContext(env)?.host;
    } catch {
      // a broken context: the default is what the message can name
    }
  }
  return dockerHost?.trim() || env.DOCKER_HOST?.trim() || fromContext || `unix://${DEFAULT_SOCKET}`;
}

/**
 * Parses the Docker address as {@link parseDockerEndpoint} and says which rule chose it.
 * @throws InvalidInputError as {@link parseDockerEndpoint}, and for a current context that is
 *   not defined or whose meta.json is broken (naming the file; see dockerContext.ts).
 */
export function resolveDockerEndpoint(dockerHost?: string, env: DockerEnv = process.env): { endpoint: DockerEndpoint; source: EndpointSource } {
  if (dockerHost?.trim()) return { endpoint: parseAddress(dockerHost.trim(), 'borg.dockerHost', env), source: { kind: 'setting' } };
  if (env.DOCKER_HOST?.trim()) return { endpoint: parseAddress(env.DOCKER_HOST.trim(), 'DOCKER_HOST', env), source: { kind: 'env' } };
  const context = readDockerContext(env);
  if (context) {
    const tls: TlsFiles = { ...context.tls, skipVerify: context.skipTlsVerify || undefined };
    const endpoint = parseAddress(context.host, `Docker context "${context.name}", ${context.metaFile}`, env, tls);
    return { endpoint, source: { kind: 'context', name: context.name, metaFile: context.metaFile } };
  }
  const desktop = path.join(env.HOME?.trim() || os.homedir(), '.docker', 'run', 'docker.sock');
  const socketPath = fs.existsSync(desktop) ? desktop : DEFAULT_SOCKET;
  return { endpoint: { kind: 'socket', socketPath, address: `unix://${socketPath}` }, source: { kind: 'default' } };
}

/**
 * Resolves one `borg.docker.hosts` entry's address (dockerHosts.ts `HostEntry.address`): a
 * Docker context name (a bare word) is read from `~/.docker/contexts` by name — its own TLS
 * files, as for the current context — with `default` meaning DOCKER_HOST, else the default
 * socket; anything else is an address with the rules of {@link parseDockerEndpoint}.
 * @throws InvalidInputError as {@link parseDockerEndpoint}, naming the entry, and for a context
 *   that is not defined (naming its meta.json).
 */
export function resolveHostEndpoint(address: string, name: string, env: DockerEnv = process.env): { endpoint: DockerEndpoint; source: EndpointSource } {
  const source: EndpointSource = { kind: 'host', name };
  const where = `borg.docker.hosts "${name}"`;
  if (!isContextName(address)) return { endpoint: parseAddress(address, where, env), source };
  if (address === 'default') {
    if (env.DOCKER_HOST?.trim()) return { endpoint: parseAddress(env.DOCKER_HOST.trim(), `${where}, context default: DOCKER_HOST`, env), source };
    return { endpoint: { kind: 'socket', socketPath: DEFAULT_SOCKET, address: `unix://${DEFAULT_SOCKET}` }, source };
  }
  const context = readNamedContext(address, where, env);
  const tls: TlsFiles = { ...context.tls, skipVerify: context.skipTlsVerify || undefined };
  return { endpoint: parseAddress(context.host, `${where}, Docker context "${context.name}", ${context.metaFile}`, env, tls), source };
}

/** The log line for the endpoint chosen: `Docker at unix:///… (context colima)`. */
export function describeChoice(endpoint: DockerEndpoint, source: EndpointSource): string {
  return `Docker at ${endpoint.address} (${describeSource(source)})`;
}

/** Why this endpoint, in words: `borg.dockerHost`, `DOCKER_HOST`, `context colima`, `the default socket`. */
export function describeSource(source: EndpointSource): string {
  switch (source.kind) {
    case 'setting':
      return 'borg.dockerHost';
    case 'env':
      return 'DOCKER_HOST';
    case 'context':
      return `context ${source.name}`;
    case 'host':
      return `borg.docker.hosts "${source.name}"`;
    default:
      return 'the default socket';
  }
}

/**
 * Parses the Docker address (`dockerHost`, else `env.DOCKER_HOST`, else the current Docker
 * context, else the local socket) and reads the TLS files it needs.
 * @throws InvalidInputError for an address that is not `unix://`, `tcp://`, `http(s)://` or
 *   `host:port` (the message says what to write), a bad port, `http://` with DOCKER_TLS_VERIFY
 *   set, or a missing/unreadable `ca.pem`, `cert.pem` or `key.pem` (naming the file, DOCKER_CERT_PATH
 *   and DOCKER_TLS_VERIFY).
 */
export function parseDockerEndpoint(dockerHost?: string, env: DockerEnv = process.env): DockerEndpoint {
  return resolveDockerEndpoint(dockerHost, env).endpoint;
}

/**
 * One address's rules. `contextTls` is given for a context's address: TLS then comes from the
 * context's files (TLS when it has any, or the scheme is https), not from the environment.
 */
function parseAddress(raw: string, source: string, env: DockerEnv, contextTls?: TlsFiles): DockerEndpoint {
  if (raw.startsWith('unix://')) {
    const socketPath = raw.slice('unix://'.length) || DEFAULT_SOCKET;
    if (!socketPath.startsWith('/')) throw bad(raw, source, 'a unix socket path must be absolute (unix:///var/run/docker.sock)');
    return { kind: 'socket', socketPath, address: `unix://${socketPath}` };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === 'ssh') return parseSsh(raw, source, env);
  if (scheme !== undefined && !['tcp', 'http', 'https'].includes(scheme)) {
    throw bad(raw, source, `"${scheme}://" is not supported`);
  }
  let url: URL;
  try {
    url = new URL(scheme ? raw : `tcp://${raw}`);
  } catch {
    throw bad(raw, source, 'it is not an address');
  }
  if (!url.hostname) throw bad(raw, source, 'it names no host');
  if ((url.pathname && url.pathname !== '/') || url.search || url.username) throw bad(raw, source, 'only a host and a port may follow the scheme');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const shownHost = host.includes(':') ? `[${host}]` : host;
  if (contextTls) {
    const hasFiles = !!(contextTls.ca || contextTls.cert || contextTls.key);
    const tls = scheme === 'https' || (scheme !== 'http' && hasFiles);
    const port = url.port ? Number(url.port) : tls ? TLS_PORT : PLAIN_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw bad(raw, source, `port ${url.port} is out of range`);
    if (!tls) return { kind: 'tcp', host, port, address: `tcp://${shownHost}:${port}` };
    return { kind: 'tcp', host, port, tls: contextTls, address: `tcp://${shownHost}:${port} (TLS${contextTls.skipVerify ? ', server not verified' : ''})` };
  }
  const verify = tlsVerify(env);
  const wantsTls = scheme === 'https' || ((scheme === 'tcp' || scheme === undefined) && verify);
  if (scheme === 'http' && verify) {
    throw new InvalidInputError(
      `The Docker address "${raw}" (${source}) is plain HTTP, but DOCKER_TLS_VERIFY=${env.DOCKER_TLS_VERIFY} asks for TLS. Write tcp://HOST:${TLS_PORT} (or https://HOST:${TLS_PORT}), or unset DOCKER_TLS_VERIFY.`,
    );
  }
  const port = url.port ? Number(url.port) : wantsTls ? TLS_PORT : PLAIN_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw bad(raw, source, `port ${url.port} is out of range`);
  if (!wantsTls) return { kind: 'tcp', host, port, address: `tcp://${shownHost}:${port}` };
  const withClientCerts = verify || !!env.DOCKER_CERT_PATH?.trim();
  const tls = withClientCerts ? readTlsFiles(env) : {};
  return { kind: 'tcp', host, port, tls, address: `tcp://${shownHost}:${port} (TLS)` };
}

/**
 * dockerode/docker-modem options for `e`. Every connection field is set explicitly: docker-modem
 * (5.x, `defaultOpts()` in lib/modem.js) always reads DOCKER_HOST, DOCKER_TLS_VERIFY (only "1")
 * and DOCKER_CERT_PATH itself and merges them under the options given, so a field left out would
 * come from the environment rather than from `e`.
 */
export function modemOptions(e: DockerEndpoint): Docker.DockerOptions {
  const none = { socketPath: undefined, host: undefined, port: undefined, ca: undefined, cert: undefined, key: undefined, username: undefined, password: undefined, sshOptions: undefined };
  if (e.kind === 'socket') return { ...none, socketPath: e.socketPath, protocol: 'http' } as Docker.DockerOptions;
  // ssh: plain HTTP over Borg's own ssh transport (sshTransport.ts), not docker-modem's `protocol: 'ssh'` (its connections outlive aborted requests).
  if (e.kind === 'ssh')
    return { ...none, host: e.host, port: e.port, protocol: 'http', agent: sshHttpAgent({ ...sshConnectOptions(e), host: e.host, port: e.port, username: e.username }) } as Docker.DockerOptions;
  const tls = e.tls ? { ca: e.tls.ca, cert: e.tls.cert, key: e.tls.key } : {};
  // SkipTLSVerify (a context's): docker-modem passes `agent` to every request, and only an agent carries rejectUnauthorized.
  const agent = e.tls?.skipVerify ? { agent: new https.Agent({ ...tls, rejectUnauthorized: false }) } : {};
  return { ...none, host: e.host, port: e.port, protocol: e.tls ? 'https' : 'http', ...tls, ...agent } as Docker.DockerOptions;
}

/**
 * True when Borg would talk plain HTTP to a daemon on another machine: a `tcp`/`http` endpoint
 * without TLS whose host is not loopback ({@link isLoopbackHost}). Unix sockets are local. Anything
 * sent to such a daemon (the agents' API key on the attach stream) crosses the network in clear.
 */
export function isPlainRemote(e: DockerEndpoint): boolean {
  return e.kind === 'tcp' && !e.tls && !isLoopbackHost(e.host);
}

/** `localhost` (and `*.localhost`, RFC 6761), 127.0.0.0/8, `::1` and `::ffff:127.x.x.x`. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase()
    .replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (/^127(\.\d{1,3}){3}$/.test(h)) return h.split('.').every((o) => Number(o) <= 255);
  if (/^(0{0,4}:){2,7}0{0,3}1$/.test(h) || h === '::1') return true;
  const mapped = /^::ffff:(127(?:\.\d{1,3}){3})$/.exec(h);
  return mapped !== null && isLoopbackHost(mapped[1]);
}

/**
 * ssh2's connect options for `e` (besides host, port, username): the agent and/or key,
 * a host-key check against the known_hosts entries (ssh2 accepts any key without one) and the
 * host-key algorithms of those entries; agent forwarding stays off (docker-modem's default).
 */
export function sshConnectOptions(e: Extract<DockerEndpoint, { kind: 'ssh' }>): Record<string, unknown> {
  const known = e.ssh.knownHosts;
  return {
    agent: e.ssh.agent,
    privateKey: e.ssh.privateKey,
    agentForward: false,
    hostVerifier: hostKeyVerifier(known),
    algorithms: { serverHostKey: hostKeyAlgorithms(known) },
    readyTimeout: 20_000,
  };
}

/** `ssh://[user@]host[:port]`: see {@link DockerEndpoint}. */
function parseSsh(raw: string, source: string, env: DockerEnv): DockerEndpoint {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad(raw, source, 'it is not an address');
  }
  if (!url.hostname) throw bad(raw, source, 'it names no host');
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) throw bad(raw, source, 'only a user, a host and a port may follow ssh://');
  if (url.password) throw bad(raw, source, 'a password in the address is not supported (use ssh-agent or a key)');
  const port = url.port ? Number(url.port) : 22;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw bad(raw, source, `port ${url.port} is out of range`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const username = decodeURIComponent(url.username) || env.USER?.trim() || os.userInfo().username;
  const home = env.HOME?.trim() || os.homedir();
  const files = [path.join(home, '.ssh', 'known_hosts'), path.join(home, '.ssh', 'known_hosts2'), '/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
  const knownHosts = readKnownHostKeys(host, port, files);
  if (knownHosts.accepted.length === 0) {
    throw new InvalidInputError(
      `The Docker address "${raw}" (${source}) is an ssh host whose key is not in ${files[0]} or ${files[2]}: Borg accepts only known host keys. Connect once with \`ssh${port === 22 ? '' : ` -p ${port}`} ${username}@${host} true\` and check the fingerprint it shows, then Retry.`,
    );
  }
  const agent = env.SSH_AUTH_SOCK?.trim() || undefined;
  const identity = defaultSshIdentity(home);
  if (!agent && !identity) {
    throw new InvalidInputError(
      `The Docker address "${raw}" (${source}) is an ssh host, but there is no key to log in with: start ssh-agent and add your key (SSH_AUTH_SOCK is unset), or create an unencrypted ${path.join(home, '.ssh', 'id_ed25519')}.`,
    );
  }
  return {
    kind: 'ssh',
    host,
    port,
    username,
    ssh: { agent, privateKey: identity?.key, identityFile: identity?.file, knownHosts },
    address: `ssh://${username}@${host.includes(':') ? `[${host}]` : host}:${port}`,
  };
}

/** Docker CLI rule: DOCKER_TLS_VERIFY turns TLS on when set; we also read "0" as off. */
function tlsVerify(env: DockerEnv): boolean {
  const v = env.DOCKER_TLS_VERIFY?.trim();
  return !!v && v !== '0';
}

function readTlsFiles(env: DockerEnv): TlsFiles {
  const certDir = env.DOCKER_CERT_PATH?.trim() || path.join(env.HOME?.trim() || os.homedir(), '.docker');
  const read = (name: string) => {
    const file = path.join(certDir, name);
    try {
      return fs.readFileSync(file);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(e as Error).message})`;
      throw new InvalidInputError(
        `TLS for Docker needs ${file}, which ${why}. Put ca.pem, cert.pem and key.pem in DOCKER_CERT_PATH (now ${env.DOCKER_CERT_PATH?.trim() ? `"${env.DOCKER_CERT_PATH}"` : `unset, so ${certDir}`}), or unset DOCKER_TLS_VERIFY to talk plain HTTP.`,
        { cause: e },
      );
    }
  };
  return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), certDir };
}

function bad(raw: string, source: string, why: string): InvalidInputError {
  return new InvalidInputError(
    `The Docker address "${raw}" (${source}) is not valid: ${why}. Write unix:///var/run/docker.sock, tcp://HOST:${PLAIN_PORT} (tcp://HOST:${TLS_PORT} with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH for TLS), https://HOST:${TLS_PORT}, ssh://USER@HOST, or leave borg.dockerHost and DOCKER_HOST empty.`,
  );
}
