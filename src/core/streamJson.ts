/**
 * Reading an agent's NDJSON output, in the shape of Claude Code's `--output-format stream-json`:
 * `{"type":"system","subtype":"init","session_id":...}`, `assistant`/`user` messages, and a
 * final `{"type":"result","is_error":...,"result":...,"total_cost_usd":...,"usage":{...}}`.
 *
 * API failures, as Claude Code 2.1.332 prints them (measured against a scripted Messages API
 * answering 401/403/429/529/400, `CLAUDE_CODE_MAX_RETRIES=0`; see test/docker/claudeImage.test.ts):
 * - an `assistant` message with `"error":"<code>"` (`authentication_failed`, `billing_error`,
 *   `rate_limit`, `server_error`, …), `"is_api_error_message":true`, `"api_error_status":401` and
 *   `"api_error_type":"authentication_error"` (the API's `error.type`); without any key the CLI
 *   prints `"error":"authentication_failed"` with no status;
 * - the `result` line with `"is_error":true`, `"subtype":"success"` (sic), the same
 *   `api_error_status` / `api_error_type` and `"terminal_reason":"api_error"`;
 * - while it retries, `{"type":"system","subtype":"api_retry","error_status":429,"error":"rate_limit",...}`
 *   (not a failure yet: the run goes on);
 * - for subscription limits, `{"type":"rate_limit_event","rate_limit_info":{"status":"rejected",
 *   "resetsAt":<epoch seconds>,...}}` (shape read from the CLI's bundle; not produced by an API key).
 */

/** One API failure the CLI reported on an `assistant` message. */
export interface ApiError {
  /** The CLI's error code, e.g. `authentication_failed`, `rate_limit`, `billing_error`. */
  code?: string;
  /** HTTP status of the failed request (`api_error_status`). */
  status?: number;
  /** The API's error type (`api_error_type`), e.g. `authentication_error`, `rate_limit_error`. */
  type?: string;
  /** The message text the CLI showed (for the reason shown to the user; never matched). */
  text?: string;
}

/** What a run's stream said, folded line by line with {@link foldLine}. */
export interface StreamSummary {
  sessionId?: string;
  /** Set once a `result` line was seen. */
  result?: {
    isError: boolean;
    text: string;
    subtype?: string;
    costUsd?: number;
    inputTokens?: number;
    outputTokens?: number;
    /** `api_error_status`: the HTTP status of the request that ended the run. */
    apiErrorStatus?: number;
    /** `api_error_type`: the API's error type. */
    apiErrorType?: string;
    /** `terminal_reason`, e.g. `api_error`. */
    terminalReason?: string;
  };
  /** Error codes seen on assistant messages (e.g. "authentication_failed"). */
  errors: string[];
  /** Structured API failures from assistant messages, in order. */
  apiErrors: ApiError[];
  /** The last `rate_limit_event` with status `rejected`: when the limit resets (epoch seconds). */
  rateLimit?: { status: string; resetsAt?: number; rateLimitType?: string };
}

/** Why a task cannot go on until the user acts: no usable credentials, or a quota/limit hit. */
export interface BlockSignal {
  kind: 'auth' | 'quota';
  /** What the CLI said, e.g. `authentication_failed (HTTP 401): Invalid API key · Fix external API key`. */
  detail: string;
  /** ISO-8601 UTC time when the limit resets, when the stream said so. */
  retryAfter?: string;
}

export function emptySummary(): StreamSummary {
  return { errors: [], apiErrors: [] };
}

/** Folds one output line into `s` (lines that are not JSON objects are ignored). */
export function foldLine(s: StreamSummary, line: string): void {
  if (!line.startsWith('{')) return;
  let msg: Record<string, unknown>;
  try {
    msg = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  if (typeof msg.session_id === 'string') s.sessionId = msg.session_id;
  if (msg.type === 'assistant') foldAssistant(s, msg);
  else if (msg.type === 'rate_limit_event') foldRateLimit(s, msg);
  else if (msg.type === 'result') {
    const usage = (msg.usage ?? {}) as Record<string, unknown>;
    s.result = {
      isError: msg.is_error === true,
      text: typeof msg.result === 'string' ? msg.result : JSON.stringify(msg.result ?? ''),
      subtype: str(msg.subtype),
      costUsd: num(msg.total_cost_usd),
      inputTokens: num(usage.input_tokens),
      outputTokens: num(usage.output_tokens),
      apiErrorStatus: num(msg.api_error_status),
      apiErrorType: str(msg.api_error_type),
      terminalReason: str(msg.terminal_reason),
    };
    for (const k of ['apiErrorStatus', 'apiErrorType', 'terminalReason'] as const) if (s.result[k] === undefined) delete s.result[k];
  }
}

/**
 * The structured reason a run cannot succeed until the user acts, or undefined. Only the CLI's
 * structured fields count, never free text (a result saying "fixed the rate limit bug" is an
 * ordinary result):
 * - `auth`: assistant error codes `authentication_failed`, `oauth_org_not_allowed`,
 *   `cloud_credential_error`, `verification_required`, `account_on_hold`; HTTP 401 or 403; API
 *   error types `authentication_error`, `permission_error`;
 * - `quota`: codes `rate_limit`, `billing_error`; HTTP 429; types `rate_limit_error`,
 *   `billing_error`; a `rate_limit_event` with status `rejected`.
 * Overload (529, `overloaded`, `server_error`) and request errors are ordinary failures.
 * A `result` line's status/type counts only when it is an error (`is_error`).
 */
export function blockSignal(s: StreamSummary): BlockSignal | undefined {
  const candidates: ApiError[] = [...s.apiErrors];
  if (s.result?.isError && (s.result.apiErrorStatus !== undefined || s.result.apiErrorType !== undefined)) {
    candidates.push({ status: s.result.apiErrorStatus, type: s.result.apiErrorType, text: s.result.text });
  }
  let found: { kind: BlockSignal['kind']; error: ApiError } | undefined;
  for (const e of candidates) {
    const kind = classify(e);
    // Auth outranks quota: a new key is needed before any wait helps.
    if (kind && (!found || (kind === 'auth' && found.kind === 'quota'))) found = { kind, error: e };
  }
  const limited = s.rateLimit?.status === 'rejected';
  if (!found && !limited) return undefined;
  const retryAfter = s.rateLimit?.resetsAt !== undefined ? new Date(s.rateLimit.resetsAt * 1000).toISOString() : undefined;
  if (!found) {
    const what = s.rateLimit?.rateLimitType ? `${s.rateLimit.rateLimitType} usage limit` : 'usage limit';
    return { kind: 'quota', detail: `${what} reached`, ...(retryAfter ? { retryAfter } : {}) };
  }
  return { kind: found.kind, detail: describe(found.error), ...(found.kind === 'quota' && retryAfter ? { retryAfter } : {}) };
}

/**
 * The blocking reason as a sentence for the task's record and the user, or undefined; derived
 * from {@link blockSignal}. It says what to do: auth → set a key, then Retry; quota → wait (until
 * the reset time when known), then Retry.
 */
export function blockingReason(s: StreamSummary): string | undefined {
  const b = blockSignal(s);
  if (!b) return undefined;
  if (b.kind === 'auth') return `The agent could not authenticate: ${b.detail}. Set an API key (Borg: Set API Key), then Retry.`;
  const until = b.retryAfter ? `wait until ${b.retryAfter}` : 'wait until the rate limit or quota resets (or raise it)';
  return `The agent hit a rate limit or quota: ${b.detail}. ${until[0].toUpperCase()}${until.slice(1)}, then Retry.`;
}

const AUTH_CODES = new Set(['authentication_failed', 'oauth_org_not_allowed', 'cloud_credential_error', 'verification_required', 'account_on_hold']);
const QUOTA_CODES = new Set(['rate_limit', 'billing_error']);
const AUTH_TYPES = new Set(['authentication_error', 'permission_error']);
const QUOTA_TYPES = new Set(['rate_limit_error', 'billing_error']);

/** The most specific field decides: the CLI's code, then the API's type, then the HTTP status. */
function classify(e: ApiError): BlockSignal['kind'] | undefined {
  if (e.code !== undefined) {
    if (AUTH_CODES.has(e.code)) return 'auth';
    if (QUOTA_CODES.has(e.code)) return 'quota';
  }
  if (e.type !== undefined) {
    if (AUTH_TYPES.has(e.type)) return 'auth';
    if (QUOTA_TYPES.has(e.type)) return 'quota';
  }
  if (e.status === 401 || e.status === 403) return 'auth';
  if (e.status === 429) return 'quota';
  return undefined;
}

function describe(e: ApiError): string {
  const head = [e.code ?? e.type, e.status !== undefined ? `HTTP ${e.status}` : undefined].filter(Boolean);
  const label = head.length === 2 ? `${head[0]} (${head[1]})` : (head[0] ?? 'API error');
  const text = e.text?.trim().split('\n')[0].slice(0, 300);
  return text ? `${label}: ${text}` : String(label);
}

function foldAssistant(s: StreamSummary, msg: Record<string, unknown>): void {
  const code = str(msg.error);
  const status = num(msg.api_error_status);
  const type = str(msg.api_error_type);
  if (code !== undefined) s.errors.push(code);
  if (code === undefined && status === undefined && type === undefined) return;
  s.apiErrors.push({ code, status, type, text: messageText(msg.message) });
  const last = s.apiErrors[s.apiErrors.length - 1];
  for (const k of ['code', 'status', 'type', 'text'] as const) if (last[k] === undefined) delete last[k];
}

function foldRateLimit(s: StreamSummary, msg: Record<string, unknown>): void {
  const info = msg.rate_limit_info as Record<string, unknown> | undefined;
  if (!info || typeof info !== 'object') return;
  const status = str(info.status);
  if (status === undefined) return;
  if (status !== 'rejected') {
    // A later "allowed" clears an earlier rejection: the limit reset within the run.
    if (s.rateLimit) delete s.rateLimit;
    return;
  }
  s.rateLimit = { status };
  const resetsAt = num(info.resetsAt);
  if (resetsAt !== undefined) s.rateLimit.resetsAt = resetsAt;
  const type = str(info.rateLimitType);
  if (type !== undefined) s.rateLimit.rateLimitType = type;
}

/** The text blocks of an assistant `message`, joined. */
function messageText(message: unknown): string | undefined {
  const content = (message as { content?: unknown } | undefined)?.content;
  if (!Array.isArray(content)) return undefined;
  const text = content
    .filter((c): c is { type: 'text'; text: string } => !!c && typeof c === 'object' && (c as { type?: unknown }).type === 'text' && typeof (c as { text?: unknown }).text === 'string')
    .map((c) => c.text)
    .join(' ');
  return text || undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
