import * as http from 'node:http';
import * as https from 'node:https';

/**
 * Which run a model request belongs to, as the gateway knows it from the run's token (never from
 * anything the agent sends besides the token itself).
 */
export interface RunRef {
  /** The agent's container name, e.g. `borg-worker-7`. */
  agent: string;
  persona: string;
  /** The task and phase when the run is a task phase. */
  taskId?: number;
  phase?: string;
  /** When this run (this start of the container) began, ms since the epoch. */
  startedAt: number;
}

/** One request to the model, as the gateway forwards it: the body is read whole (it is bounded). */
export interface UpstreamRequest {
  method: string;
  /** Path and query, e.g. `/v1/messages?beta=true`. */
  path: string;
  /** Lower-case header names; only the gateway's allow-list of the agent's headers, plus the real key. */
  headers: Record<string, string>;
  body: Buffer;
  run: RunRef;
}

/** The model's answer; `body` yields chunks as they arrive (never buffered whole). */
export interface UpstreamResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: AsyncIterable<Buffer>;
}

/**
 * Where the gateway sends model requests: the network (`HttpUpstream`), a recorded session
 * (`ReplayUpstream`, recording.ts) or either of them through a recorder.
 */
export interface Upstream {
  /** For the log and the views: `https://api.anthropic.com`, `replay of demo.jsonl`. */
  readonly label: string;
  /** true when answers come from a recording, not a model: the views say so. */
  readonly replay: boolean;
  /**
   * Sends one request. Resolves once the status and headers arrived.
   * @throws UpstreamUnreachableError when no answer started (DNS, refused, reset, TLS, timeout):
   *   nothing reached the model, so the request may be sent again.
   */
  send(req: UpstreamRequest, signal: AbortSignal): Promise<UpstreamResponse>;
  dispose?(): void;
}

/** No answer started: the upstream could not be reached (the run goes back in the queue, no attempt spent). */
export class UpstreamUnreachableError extends Error {
  constructor(
    readonly upstream: string,
    readonly reason: string,
  ) {
    super(`The model upstream ${upstream} could not be reached: ${reason}`);
    this.name = 'UpstreamUnreachableError';
  }
}

/** The label of an http(s) upstream: origin and path without a trailing slash (`https://api.anthropic.com`). */
export function httpLabel(base: URL): string {
  return base.origin + base.pathname.replace(/\/$/, '');
}

/** How long (ms) the upstream may take to start answering before it counts as unreachable. */
export const UPSTREAM_HEADERS_TIMEOUT_MS = 10 * 60_000;

/**
 * The model over HTTP(S) at `baseUrl` (`borg.modelUpstream`, default `https://api.anthropic.com`):
 * the request path is appended to the base URL's path. Responses stream as they arrive.
 */
export class HttpUpstream implements Upstream {
  readonly replay = false;
  private readonly base: URL;
  private readonly agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  /** @throws TypeError when `baseUrl` is not an http(s) URL. */
  constructor(baseUrl: string) {
    this.base = new URL(baseUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new TypeError(`${baseUrl} is not an http:// or https:// URL`);
  }

  get label(): string {
    return httpLabel(this.base);
  }

  send(req: UpstreamRequest, signal: AbortSignal): Promise<UpstreamResponse> {
    const url = new URL(this.base.pathname.replace(/\/$/, '') + req.path, this.base);
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const out = mod.request(
        url,
        {
          method: req.method,
          headers: { ...req.headers, host: url.host, 'content-length': String(req.body.length), 'accept-encoding': 'identity' },
          agent: url.protocol === 'https:' ? this.agents.https : this.agents.http,
          signal,
        },
        (res) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode ?? 502, headers, body: res });
        },
      );
      out.setTimeout(UPSTREAM_HEADERS_TIMEOUT_MS, () => out.destroy(new Error(`no answer within ${UPSTREAM_HEADERS_TIMEOUT_MS / 1000} s`)));
      out.on('error', (e) => reject(signal.aborted ? e : new UpstreamUnreachableError(this.label, (e as NodeJS.ErrnoException).code ?? e.message)));
      out.end(req.body);
    });
  }

  dispose(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
