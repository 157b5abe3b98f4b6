import type { EndpointSource } from './dockerEndpoint';
import { describeSource } from './dockerEndpoint';
import { InvalidInputError } from './errors';

/**
 * Why Docker cannot be reached, as far as the error tells — each cause has its own advice (and
 * its own welcome view, keyed by the `borg.dockerDown` context key), so a wrong setting is never
 * answered with "Start Docker":
 * - `notRunning`: the default socket is missing (ENOENT) or refuses (ECONNREFUSED) — start Docker;
 * - `permission`: the socket exists but this user may not open it (EACCES) — the docker group;
 * - `setting`: borg.dockerHost or DOCKER_HOST names an address that is invalid, missing, refused
 *   or unknown — check the setting;
 * - `context`: the current Docker context is broken or points nowhere — check the context;
 * - `tls`: the TLS handshake failed (certificate, protocol) — check the certificates;
 * - `other`: anything else (the daemon answered with an error, a timeout on a remote host).
 */
export type DockerDownCause = 'notRunning' | 'permission' | 'setting' | 'context' | 'tls' | 'other';

/** A classified failure to reach Docker, for the welcome view, the status bar and the log. */
export interface DockerDown {
  cause: DockerDownCause;
  /** The address tried (`unix:///var/run/docker.sock`), or the raw value when it did not parse. */
  endpoint: string;
  /** Which rule chose it, in words (`borg.dockerHost`, `context colima`, …). */
  chosenBy: string;
  /** The error as Docker or Node gave it. */
  error: string;
  /** What to do, for this cause. */
  advice: string;
}

/** Node's TLS failure codes (`tls.connect`, OpenSSL) and the message words that mean one. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|EPROTO$|ERR_OSSL_)/;
const TLS_WORDS = /certificate|\bssl\b|\btls\b|handshake/i;
/** Codes saying "nothing at that address" (socket file missing, port closed, host unknown or unreachable). */
// ESSH (sshTransport.ts): the ssh:// host refused the host key check or the login — the address or its keys are to check.
const NOWHERE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTDIR', 'ESSH']);

/**
 * Classifies a failure to reach Docker: a pure function of the error (its `code` anywhere on the
 * `cause` chain, else its words) and of the rule that chose the endpoint. An
 * {@link InvalidInputError} is a value that did not parse (setting, DOCKER_HOST, context files).
 */
export function classifyDockerFailure(error: unknown, source: EndpointSource): DockerDownCause {
  const codes = codesOf(error);
  const text = messagesOf(error).join(' ');
  const configured: DockerDownCause = source.kind === 'context' ? 'context' : source.kind === 'default' ? 'notRunning' : 'setting';
  if (chainOf(error).some((e) => e instanceof InvalidInputError)) return source.kind === 'default' ? 'setting' : configured;
  if (codes.includes('EACCES') || codes.includes('EPERM')) return 'permission';
  if (codes.some((c) => TLS_CODES.test(c)) || (!codes.some((c) => NOWHERE_CODES.has(c)) && TLS_WORDS.test(text))) return 'tls';
  if (codes.some((c) => NOWHERE_CODES.has(c))) return configured;
  if (/ENOENT|ECONNREFUSED/.test(text)) return configured;
  if (/EACCES|permission denied/i.test(text)) return 'permission';
  return 'other';
}

/** What to do for each cause (`endpoint`: the address tried; `chosenBy`: which rule chose it). */
export const DOCKER_DOWN_ADVICE: Record<DockerDownCause, (endpoint: string, chosenBy: string) => string> = {
  notRunning: () => 'Start Docker (Docker Desktop, `colima start`, or `sudo systemctl start docker`), then Retry.',
  permission: (endpoint) => `This user may not open ${endpoint}: add yourself to the docker group (\`sudo usermod -aG docker $USER\`, then log in again), or use rootless Docker; then Retry.`,
  setting: (_endpoint, chosenBy) => `Check ${chosenBy}: it names no Docker daemon that answers. Fix the address (or clear it to use the Docker context or the default socket), then Retry.`,
  context: (_endpoint, chosenBy) =>
    `Check the Docker ${chosenBy}: it points to no daemon that answers. Start the daemon it names, or run \`docker context use default\` (or set borg.dockerHost), then Retry.`,
  tls: (_endpoint, chosenBy) => `The TLS handshake failed: check the certificates for ${chosenBy} (ca.pem, cert.pem, key.pem, DOCKER_CERT_PATH), then Retry.`,
  other: () => 'Check that the Docker daemon is healthy (`docker info`), then Retry.',
};

/** The classified failure, with the endpoint, the rule that chose it and the advice. */
export function dockerDownOf(error: unknown, endpoint: string, source: EndpointSource): DockerDown {
  const cause = classifyDockerFailure(error, source);
  const chosenBy = describeSource(source);
  return { cause, endpoint, chosenBy, error: detailOf(error), advice: DOCKER_DOWN_ADVICE[cause](endpoint, chosenBy) };
}

/** One paragraph for a message or a tooltip: where, why, the error, what to do. */
export function describeDockerDown(d: DockerDown): string {
  return `Docker is not reachable at ${d.endpoint} (${d.chosenBy}): ${d.error}. ${d.advice}`;
}

function detailOf(error: unknown): string {
  const e = error as { detail?: unknown; message?: unknown };
  if (typeof e?.detail === 'string') return e.detail;
  return typeof e?.message === 'string' ? e.message.replace(/\.$/, '') : String(error);
}

function chainOf(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = error, i = 0; e && i < 8; e = (e as { cause?: unknown }).cause, i++) out.push(e);
  return out;
}

function codesOf(error: unknown): string[] {
  return chainOf(error)
    .map((e) => (e as { code?: unknown }).code)
    .filter((c): c is string => typeof c === 'string');
}

function messagesOf(error: unknown): string[] {
  return chainOf(error).map((e) => String((e as { message?: unknown }).message ?? ''));
}
