import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { Disposable } from '../disposable';
import { Emitter } from '../event';
import type { Store } from '../store';
import { EgressRule, egressRuleFor, parseConnectTarget } from './egress';
import { Ledger, Refusal, RunUsage, startOfLocalDay } from './ledger';
import { costUsd, TokenUsage } from './pricing';
import { RecordingUpstream, recordingLabel, ReplayUpstream, replayLabel } from './recording';
import { HttpUpstream, httpLabel, RunRef, Upstream, UpstreamResponse, UpstreamUnreachableError } from './upstream';
import { UsageMeter } from './usage';

/** Where an agent container sees its gateway folder (read-only), and the socket in it. */
export const GATEWAY_MOUNT = '/run/borg-gateway';
export const GATEWAY_SOCKET_IN_CONTAINER = `${GATEWAY_MOUNT}/gateway.sock`;
/** The socket's file name in each agent's host folder. */
const SOCKET_FILE = 'gateway.sock';

/** The Anthropic API Borg talks to by default (`borg.modelUpstream`). */
export const DEFAULT_MODEL_UPSTREAM = 'https://api.anthropic.com';
/** `borg.modelUpstream` prefix that serves a recording instead of the network. */
export const REPLAY_PREFIX = 'replay:';
/** Largest request body forwarded (bytes); a long conversation is a few MB. */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Waits (ms) before each new try when no answer started (nothing reached the model). */
const UNREACHABLE_RETRY_MS = [250, 1000];

/** The paths an agent may call: the Messages API and its token counter (https://docs.anthropic.com/en/api/messages). */
const FORWARDED_PATHS = new Set(['/v1/messages', '/v1/messages/count_tokens']);
/** The agent's request headers passed on (lower-case); everything else (its key, cookies, hop-by-hop headers) is dropped. */
const REQUEST_HEADERS = new Set(['content-type', 'accept', 'anthropic-version', 'anthropic-beta', 'user-agent', 'x-app']);
/** The upstream's response headers passed back. */
const RESPONSE_HEADERS = /^(content-type|request-id|retry-after|x-should-retry|anthropic-ratelimit-.*|anthropic-organization-id)$/;

/** What the gateway reads at every request, so a changed setting applies to the next one. */
export interface GatewaySettings {
  /** `borg.modelUpstream`: an http(s) base URL, or `replay:<file>`. */
  upstream: string;
  /** `borg.gatewayRecord`: a file every exchange is appended to ('' = off). Request bodies are written only here. */
  record: string;
  /** `borg.egressAllow`, parsed (egress.ts). */
  egressAllow: readonly EgressRule[];
  /** `borg.maxCostUsdPerTask` (USD, all the task's runs; 0 = no cap). */
  maxCostUsdPerTask: number;
  /** `borg.maxCostUsdPerDay` (USD, every run since local midnight; 0 = no cap). */
  maxCostUsdPerDay: number;
}

export const DEFAULT_GATEWAY_SETTINGS: GatewaySettings = { upstream: DEFAULT_MODEL_UPSTREAM, record: '', egressAllow: [], maxCostUsdPerTask: 5, maxCostUsdPerDay: 50 };

export interface GatewayOptions {
  store: Store;
  /** The workspace's gateway folder (one sub-folder per agent holds its socket); moved to the temp folder when too long for a socket path. */
  root: string;
  settings: () => GatewaySettings;
  /** The real key (SecretStorage, or ANTHROPIC_API_KEY for the CLI); read per request, never stored. */
  apiKey: () => Promise<string | undefined>;
  log?: (line: string) => void;
  now?: () => number;
}

/** One metered (or refused) request, for the live views. */
export interface MeterEvent {
  run: RunRef;
  status: number;
  usage: TokenUsage;
  costUsd: number;
  refusal?: Refusal;
}

/** One CONNECT through the egress proxy. */
export interface EgressEvent {
  agent: string;
  host: string;
  port: number;
  allowed: boolean;
}

interface Served {
  run: RunRef;
  tokenSha256: string;
  server: net.Server;
  sockets: Set<net.Socket>;
}

/**
 * The model gateway: the agents' only way to the model, and (with `borg.network: gateway`) their
 * only way out at all.
 *
 * - **Per-agent sockets.** Each agent run gets a UNIX socket in its own host folder
 *   (`<root>/<agent>/gateway.sock`), mounted read-only at {@link GATEWAY_MOUNT}; the agent image's
 *   entrypoint forwards 127.0.0.1 to it (agents/claude/README.md). A connection is known to be
 *   that agent's by the socket it came in on; the request must also carry that run's token.
 * - **Tokens.** {@link open} makes a random token for a run (sent on stdin); only its SHA-256 is
 *   kept (table `gateway_runs`), so a new gateway after a window reload serves the same runs.
 *   {@link revoke} ends it. The gateway swaps the token for the real key, which never leaves
 *   this process: not in a container, file, log or the database.
 * - **Forwarding.** Only `POST /v1/messages` and `/v1/messages/count_tokens`; an allow-list of
 *   headers; responses stream back chunk by chunk (never buffered); usage is read from the JSON
 *   or SSE body as it passes (usage.ts), priced (pricing.ts) and recorded per request (ledger.ts).
 * - **Budgets.** Before forwarding, a task past `maxCostUsdPerTask` or a day past
 *   `maxCostUsdPerDay` gets a 400 the CLI reports, and the run is marked `budget`.
 * - **Upstream failures** mark the run: 401/403 `auth`, 429/529 `quota` (with the upstream's
 *   retry time), no answer after three tries `unreachable` (see {@link refusalOf}).
 * - **Egress.** CONNECT `host:port` is let through only when `borg.egressAllow` names it
 *   (egress.ts), judged by name before any connection or DNS lookup; each one is an event.
 *
 * Created and disposed by the Runtime (runtime.ts), for the process that holds the database lock.
 */
export class Gateway extends Disposable {
  private readonly ledger: Ledger;
  private readonly served = new Map<string, Served>();
  private readonly agentOf = new WeakMap<object, string>();
  private readonly http: http.Server;
  private upstreamKey = '';
  private upstream: Upstream | undefined;
  /** Upstreams replaced by a settings change, disposed at {@link close}. */
  private readonly retired: Upstream[] = [];
  private readonly metered = this.register(new Emitter<MeterEvent>());
  private readonly egress = this.register(new Emitter<EgressEvent>());
  /** Fires after each request the gateway answered (metered, or refused). */
  readonly onDidMeter = this.metered.event;
  /** Fires after each CONNECT it allowed or refused. */
  readonly onDidEgress = this.egress.event;
  readonly root: string;

  constructor(private readonly o: GatewayOptions) {
    super();
    this.ledger = new Ledger(o.store);
    this.root = socketRootFor(o.root);
    this.http = http.createServer((req, res) => void this.onRequest(req, res));
    this.http.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onConnect(req, socket, head));
    this.http.on('clientError', (_e, socket) => socket.destroy());
  }

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** What answers model requests now: `https://api.anthropic.com`, `replay of demo.jsonl (recording to …)`. */
  get upstreamLabel(): string {
    return upstreamLabelOf(this.o.settings());
  }

  /** true when the model is a recording (`replay:<file>`): the views label every run a replay. */
  get replay(): boolean {
    return this.o.settings().upstream.startsWith(REPLAY_PREFIX);
  }

  /** The host folder to mount at {@link GATEWAY_MOUNT} for `agent`; created (0755) when missing. */
  folderOf(agent: string): string {
    const dir = path.join(this.root, folderName(this.root, agent));
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(this.root, 0o755);
    fs.chmodSync(dir, 0o755);
    return dir;
  }

  /**
   * Serves the runs an earlier gateway of this workspace handed tokens to (table `gateway_runs`):
   * their agents may still run, detached by a window reload. {@link retain} then drops the ones
   * whose containers are gone.
   */
  async start(): Promise<void> {
    for (const row of this.ledger.runs()) {
      if (!this.served.has(row.agent)) await this.listen(row, row.tokenSha256);
    }
  }

  /**
   * Hands `run` a new token and listens on its agent's socket (replacing that agent's earlier
   * run). Resolves once the socket accepts connections.
   * @returns the token (`borg-gw-` + 32 random bytes, base64url): only the agent gets it.
   */
  async open(run: RunRef): Promise<string> {
    const token = `borg-gw-${randomBytes(32).toString('base64url')}`;
    const sha = sha256(token);
    this.closeServed(run.agent);
    await this.listen(run, sha);
    this.ledger.addRun(run, sha);
    return token;
  }

  /** The run `agent` holds a token for, if any. */
  runOf(agent: string): RunRef | undefined {
    return this.served.get(agent)?.run;
  }

  /** Ends `agent`'s run: its token stops working, its socket closes and its connections end. */
  revoke(agent: string): void {
    this.closeServed(agent);
    try {
      this.ledger.removeRun(agent);
    } catch {
      // the store closed first (a forced shutdown): the next gateway's retain() drops it
    }
  }

  /** Revokes every run whose agent is not in `running` (after recovery). */
  retain(running: ReadonlySet<string>): void {
    for (const agent of [...this.served.keys()]) if (!running.has(agent)) this.revoke(agent);
    for (const row of this.ledger.runs()) if (!running.has(row.agent)) this.ledger.removeRun(row.agent);
  }

  /** A run's metered totals (tokens, USD). */
  usageOf(run: RunRef): RunUsage {
    return this.ledger.usageOfRun(run.agent, run.startedAt);
  }

  /** Why the gateway or the upstream ended a run's last request, if it did. */
  lastRefusal(run: RunRef): ReturnType<Ledger['lastRefusal']> {
    return this.ledger.lastRefusal(run.agent, run.startedAt);
  }

  /** USD spent since local midnight. */
  spentToday(): number {
    return this.ledger.spentSince(startOfLocalDay(this.now()));
  }

  spentByTask(taskId: number): number {
    return this.ledger.spentByTask(taskId);
  }

  /**
   * Stops serving: closes every socket and connection; the runs stay recorded, so agents left
   * running (detached) are served again by the next gateway of this workspace.
   */
  async close(): Promise<void> {
    for (const agent of [...this.served.keys()]) this.closeServed(agent);
    for (const u of [...this.retired.splice(0), this.upstream]) u?.dispose?.();
    this.upstream = undefined;
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  override dispose(): void {
    void this.close();
    super.dispose();
  }

  private async listen(run: RunRef, tokenSha256: string): Promise<void> {
    const file = path.join(this.folderOf(run.agent), SOCKET_FILE);
    // Bound under a temporary name, opened to the agent's uid, then renamed into place: an agent's
    // forwarder that is retrying (a window reload) never finds a socket it may not connect to.
    const bound = `${file}.${randomBytes(4).toString('hex')}`;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.setNoDelay(true);
      this.agentOf.set(socket, run.agent);
      this.http.emit('connection', socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // The agent runs as another uid (ownership.ts); the token, not the file mode, guards the socket.
    fs.chmodSync(bound, 0o666);
    fs.renameSync(bound, file); // replaces a socket left by an earlier gateway (this process holds the workspace's lock)
    this.served.set(run.agent, { run, tokenSha256, server, sockets });
  }

  private closeServed(agent: string): void {
    const s = this.served.get(agent);
    if (!s) return;
    this.served.delete(agent);
    s.server.close();
    for (const socket of s.sockets) socket.destroy();
    fs.rmSync(path.join(this.root, folderName(this.root, agent), SOCKET_FILE), { force: true });
  }

  private upstreamFor(settings: GatewaySettings): Upstream {
    const key = `${settings.upstream}\n${settings.record}`;
    if (this.upstream && key === this.upstreamKey) return this.upstream;
    const inner: Upstream = settings.upstream.startsWith(REPLAY_PREFIX)
      ? new ReplayUpstream(settings.upstream.slice(REPLAY_PREFIX.length))
      : new HttpUpstream(settings.upstream || DEFAULT_MODEL_UPSTREAM);
    // The old one may still be streaming answers: it is let go at close().
    if (this.upstream) this.retired.push(this.upstream);
    this.upstream = settings.record ? new RecordingUpstream(inner, settings.record) : inner;
    this.upstreamKey = key;
    return this.upstream;
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const served = this.served.get(this.agentOf.get(req.socket) ?? '');
    try {
      // Read first (bounded), so an answer never races the agent still sending its body.
      const body = await readBody(req, MAX_REQUEST_BYTES);
      if (!body) {
        res.shouldKeepAlive = false;
        return apiError(res, 413, 'request_too_large', `borg gateway: the request is larger than ${MAX_REQUEST_BYTES / 1024 / 1024} MiB.`);
      }
      if (!served) return apiError(res, 401, 'authentication_error', 'borg gateway: this run has ended; its token is revoked.');
      if (/^[a-z]+:\/\//i.test(req.url ?? '')) return this.refuseProxyRequest(req, res, served);
      if (!tokenMatches(req, served.tokenSha256)) return apiError(res, 401, 'authentication_error', "borg gateway: not this run's token.");
      await this.forward(req, body, res, served.run);
    } catch (e) {
      this.o.log?.(`gateway: ${served?.run.agent ?? '?'}: ${(e as Error).message}`);
      if (!res.headersSent) apiError(res, 502, 'api_error', `borg gateway: ${(e as Error).message}`);
      else res.destroy();
    }
  }

  private async forward(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse, run: RunRef): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (req.method !== 'POST' || !FORWARDED_PATHS.has(url.pathname)) {
      return this.refuse(res, run, 403, 'permission_error', 'refused', `borg gateway: ${req.method} ${url.pathname} is not forwarded; agents may call POST /v1/messages only.`);
    }
    const settings = this.o.settings();
    const counting = url.pathname === '/v1/messages/count_tokens';
    if (!counting) {
      const over = this.overBudget(run, settings);
      if (over) return this.refuse(res, run, 400, 'invalid_request_error', 'budget', over);
    }
    const upstream = this.upstreamFor(settings);
    const key = upstream.replay ? undefined : await this.o.apiKey();
    if (!upstream.replay && !key) {
      return this.refuse(res, run, 401, 'authentication_error', 'auth', 'borg gateway: no Anthropic API key is set. Set API Key (Borg: Set API Key; borg: ANTHROPIC_API_KEY), then Retry the task.');
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (REQUEST_HEADERS.has(k) && typeof v === 'string') headers[k] = v;
    if (key) headers['x-api-key'] = key;
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const requestModel = modelOf(body);
    let answer: UpstreamResponse | undefined;
    let lastError: unknown;
    for (let i = 0; i <= UNREACHABLE_RETRY_MS.length && !answer; i++) {
      if (i > 0) await sleep(UNREACHABLE_RETRY_MS[i - 1]);
      if (abort.signal.aborted) return;
      try {
        answer = await upstream.send({ method: 'POST', path: url.pathname + url.search, headers, body, run }, abort.signal);
      } catch (e) {
        if (!(e instanceof UpstreamUnreachableError)) throw e;
        lastError = e;
      }
    }
    if (!answer) {
      const why = (lastError as Error).message;
      return this.refuse(res, run, 502, 'api_error', 'unreachable', `borg gateway: ${why} (tried ${UNREACHABLE_RETRY_MS.length + 1} times). The task goes back in the queue.`);
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(answer.headers)) if (RESPONSE_HEADERS.test(k)) out[k] = v;
    res.writeHead(answer.status, out);
    res.flushHeaders();
    const meter = new UsageMeter(answer.headers['content-type']);
    let complete = false;
    try {
      for await (const chunk of answer.body) {
        meter.push(chunk);
        // Chunks from one read of the upstream go out in one write (uncorked on the next tick).
        if (!res.writableCorked) {
          res.cork();
          process.nextTick(() => res.uncork());
        }
        if (!res.write(chunk)) await drained(res);
        if (res.destroyed) break;
      }
      complete = !res.destroyed;
      if (complete) res.end();
    } finally {
      const metered = complete ? meter.end() : { usage: meter.usageSoFar, model: undefined, error: undefined };
      const model = metered.model ?? requestModel;
      const refusal = refusalOf(answer.status, answer.headers, this.now());
      const message = refusal ? `The model upstream answered ${answer.status}${metered.error ? ` ${metered.error.type}: ${metered.error.message}` : ''}` : undefined;
      this.meter({ run, model, status: answer.status, usage: metered.usage, refusal: refusal?.refusal, retryAt: refusal?.retryAt, message });
    }
  }

  private overBudget(run: RunRef, s: GatewaySettings): string | undefined {
    if (run.taskId !== undefined && s.maxCostUsdPerTask > 0) {
      const spent = this.ledger.spentByTask(run.taskId);
      if (spent >= s.maxCostUsdPerTask) {
        return `borg gateway: task ${run.taskId} reached its budget: $${spent.toFixed(4)} spent of $${s.maxCostUsdPerTask} (borg.maxCostUsdPerTask). Raise the cap, then Retry the task.`;
      }
    }
    if (s.maxCostUsdPerDay > 0) {
      const spent = this.spentToday();
      if (spent >= s.maxCostUsdPerDay) {
        return `borg gateway: today's budget is spent: $${spent.toFixed(4)} of $${s.maxCostUsdPerDay} (borg.maxCostUsdPerDay). Raise the cap and Retry, or wait until midnight.`;
      }
    }
    return undefined;
  }

  /** Answers the agent itself (nothing was forwarded) and records why. */
  private refuse(res: http.ServerResponse, run: RunRef, status: number, type: string, refusal: Refusal, message: string): void {
    apiError(res, status, type, message);
    this.meter({ run, status, usage: ZERO_USAGE, refusal, message });
  }

  private meter(e: { run: RunRef; model?: string; status: number; usage: TokenUsage; refusal?: Refusal; retryAt?: number; message?: string }): void {
    const cost = e.usage === ZERO_USAGE ? 0 : costUsd(e.model, e.usage);
    try {
      this.ledger.add({ at: this.now(), run: e.run, model: e.model, status: e.status, usage: e.usage, costUsd: cost, refusal: e.refusal, retryAt: e.retryAt, message: e.message });
    } catch (err) {
      this.o.log?.(`gateway: recording usage of ${e.run.agent} failed: ${(err as Error).message}`);
    }
    if (e.refusal) this.o.log?.(`gateway: ${e.run.agent}: ${e.refusal}: ${e.message ?? e.status}`);
    this.metered.fire({ run: e.run, status: e.status, usage: e.usage, costUsd: cost, refusal: e.refusal });
  }

  /** A plain-HTTP proxy request (`GET http://host/`): agents get HTTPS through CONNECT only. */
  private refuseProxyRequest(req: http.IncomingMessage, res: http.ServerResponse, served: Served): void {
    let host = '?';
    let port = 80;
    try {
      const u = new URL(req.url ?? '');
      host = u.hostname;
      port = Number(u.port || 80);
    } catch {
      // not a URL: refused as it is
    }
    this.noteEgress(served.run.agent, host, port, false, 'plain HTTP is not proxied');
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end(`borg gateway: plain-HTTP requests through the proxy are refused (${host}); use https:// and list the host in borg.egressAllow.\n`);
  }

  private onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const agent = this.agentOf.get(socket);
    const target = parseConnectTarget(req.url ?? '');
    if (!agent || !this.served.has(agent) || !target) {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const rule = egressRuleFor(this.o.settings().egressAllow, target.host, target.port);
    this.noteEgress(agent, target.host, target.port, !!rule, rule ? `allowed by ${rule.entry}` : 'not in borg.egressAllow');
    if (!rule) {
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\n\r\nborg gateway: ${target.host}:${target.port} is not in borg.egressAllow.\n`);
      return;
    }
    const up = net.connect(target.port, target.host);
    up.once('connect', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => (up.connecting ? socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n') : socket.destroy()));
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
  }

  private noteEgress(agent: string, host: string, port: number, allowed: boolean, why: string): void {
    try {
      this.o.store.addEvent(allowed ? 'egress-allowed' : 'egress-refused', agent, { host, port, why });
    } catch {
      // store closed during shutdown
    }
    this.o.log?.(`gateway: ${agent}: ${allowed ? 'allowed' : 'refused'} ${host}:${port} (${why})`);
    this.egress.fire({ agent, host, port, allowed });
  }
}

const ZERO_USAGE: TokenUsage = Object.freeze({ inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 });

/**
 * The label of the upstream `s` names, as that upstream labels itself, without making one: the
 * views read it on every repaint, and making a replay reads its file and a recording opens its.
 */
export function upstreamLabelOf(s: GatewaySettings): string {
  let inner: string;
  if (s.upstream.startsWith(REPLAY_PREFIX)) inner = replayLabel(s.upstream.slice(REPLAY_PREFIX.length));
  else {
    try {
      inner = httpLabel(new URL(s.upstream || DEFAULT_MODEL_UPSTREAM));
    } catch {
      inner = `(${s.upstream} is not a URL)`;
    }
  }
  return s.record ? recordingLabel(inner, s.record) : inner;
}

/**
 * How an upstream status marks a run (the Anthropic API's errors,
 * https://docs.anthropic.com/en/api/errors): 401 authentication_error and 403 permission_error →
 * `auth`; 429 rate_limit_error and 529 overloaded_error → `quota`, with the time to retry from
 * `retry-after` (seconds or an HTTP date), else the latest `anthropic-ratelimit-*-reset`
 * (RFC 3339). Anything else marks nothing (a 500 is an ordinary failed attempt).
 */
export function refusalOf(status: number, headers: Record<string, string>, now: number): { refusal: Refusal; retryAt?: number } | undefined {
  if (status === 401 || status === 403) return { refusal: 'auth' };
  if (status !== 429 && status !== 529) return undefined;
  const after = headers['retry-after']?.trim();
  let retryAt: number | undefined;
  if (after && /^\d+(\.\d+)?$/.test(after)) retryAt = now + Math.round(Number(after) * 1000);
  else if (after && Number.isFinite(Date.parse(after))) retryAt = Date.parse(after);
  if (retryAt === undefined) {
    const resets = Object.entries(headers)
      .filter(([k]) => /^anthropic-ratelimit-.*-reset$/.test(k))
      .map(([, v]) => Date.parse(v))
      .filter(Number.isFinite);
    if (resets.length) retryAt = Math.max(...resets);
  }
  return { refusal: 'quota', retryAt };
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The request's token (`x-api-key`, or `Authorization: Bearer`) hashes to `sha`. */
function tokenMatches(req: http.IncomingMessage, sha: string): boolean {
  const auth = req.headers.authorization;
  const token = (typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined) ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : undefined);
  if (!token) return false;
  return timingSafeEqual(Buffer.from(sha256(token), 'hex'), Buffer.from(sha, 'hex'));
}

/**
 * The whole body, or undefined when it is larger than `limit` bytes (the rest is read and
 * discarded, so the answer does not race the upload). Events, not `for await`: the async
 * iterator destroys the request, and with it a kept-alive connection, when it finishes.
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= limit ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

/** The `model` of a JSON request body, if it has one. */
function modelOf(body: Buffer): string | undefined {
  try {
    const m = (JSON.parse(body.toString('utf8')) as { model?: unknown }).model;
    return typeof m === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** An error in the Anthropic API's shape (`{type: "error", error: {type, message}}`), which the CLI reports as it is. */
function apiError(res: http.ServerResponse, status: number, type: string, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json', 'x-should-retry': 'false' });
  res.end(JSON.stringify({ type: 'error', error: { type, message } }));
}

/** Resolves when `res` drained or closed, removing both listeners either way. */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Longest UNIX socket path in bytes: sun_path holds 108 with the terminating NUL (unix(7)). */
const MAX_SOCKET_PATH = 107;
/** Folder names of agents whose own name would make the socket path too long: `h-` + 16 hex digits. */
const HASHED_FOLDER_LENGTH = 18;
/** The longest name a socket has in its folder: bound as `gateway.sock.<8 hex digits>`, then renamed to `gateway.sock` (see `listen`). */
const BOUND_SOCKET_FILE = `${SOCKET_FILE}.${'0'.repeat(8)}`;

/**
 * Where the sockets go: `root`, unless even a hashed agent folder would pass the socket path
 * limit there; then a folder in the temp dir named by a hash of `root`.
 */
export function socketRootFor(root: string): string {
  if (Buffer.byteLength(path.join(root, 'x'.repeat(HASHED_FOLDER_LENGTH), BOUND_SOCKET_FILE)) <= MAX_SOCKET_PATH) return root;
  return path.join(os.tmpdir(), `borg-gw-${sha256(root).slice(0, 16)}`);
}

/** An agent's folder under `root`: its container name, or a hash of it when the socket path would be too long. */
function folderName(root: string, agent: string): string {
  if (Buffer.byteLength(path.join(root, agent, BOUND_SOCKET_FILE)) <= MAX_SOCKET_PATH) return agent;
  return `h-${sha256(agent).slice(0, 16)}`;
}
