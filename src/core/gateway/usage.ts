import type { TokenUsage } from './pricing';

/**
 * Reading the token usage out of one Anthropic Messages API response as its body streams through
 * the gateway, without keeping the body.
 *
 * The two shapes (https://docs.anthropic.com/en/api/messages and
 * https://docs.anthropic.com/en/api/messages-streaming):
 * - `application/json`: `{ "type": "message", "model": "…", "stop_reason": "…", "usage": { "input_tokens",
 *   "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens" } }`; an error is
 *   `{ "type": "error", "error": { "type", "message" } }`; `count_tokens` answers `{ "input_tokens": N }`,
 *   which is not billed. Only a `"type": "message"` body counts.
 * - `text/event-stream`: `message_start` (`message.model`, `message.usage`), `content_block_*` and
 *   `ping` events, then `message_delta` (`delta.stop_reason`, `usage`), `message_stop`; or an `error`
 *   event. The delta's usage is cumulative: each field it carries replaces the value so far.
 */

/** The most bytes one SSE event (or a JSON body, for exact parsing) may take: a larger event is ignored. */
export const MAX_EVENT_BYTES = 1024 * 1024;

/** What one response was metered as, once its body ended. */
export interface MeteredResponse {
  /** The model that answered (`message.model`), when the response named one. */
  model?: string;
  /** Tokens billed; all zero for an error, a `count_tokens` answer or an unreadable body. */
  usage: TokenUsage;
  /** `end_turn`, `max_tokens`, `tool_use`, … when the response said. */
  stopReason?: string;
  /** The API's error (`overloaded_error`, …) when the body was or carried one. */
  error?: { type: string; message: string };
}

/** One server-sent event: its `event:` name (`message` when none) and its `data:` lines joined by `\n`. */
export interface SseEvent {
  event: string;
  data: string;
}

const LF = 0x0a;
const CR = 0x0d;
const MAX_MODEL_CHARS = 200;
const MAX_REASON_CHARS = 100;
const MAX_ERROR_CHARS = 2000;

/** `data`, the field of an event's data lines, as bytes. */
const DATA = Buffer.from('data', 'latin1');
const COLON = 0x3a;

/**
 * Splits a `text/event-stream` body into events as chunks arrive
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 * lines end with `\n`, `\r\n` or `\r`, split anywhere across chunks (a multi-byte UTF-8 character
 * too: lines are decoded whole); `:` lines are comments; a blank line ends an event. It holds only
 * the current event: one over `maxEventBytes` bytes is dropped whole (counted in {@link dropped}).
 * Unlike a browser, {@link end} also delivers a last event that no blank line closed.
 *
 * Events the caller does not want (`ignore`) are skipped without decoding their data: an event is
 * ignored when an `event:` line naming an ignored type comes before its first `data:` line (the
 * Messages API always sends `event:` first). Should a later `event:` line rename an ignored event
 * whose data was skipped to a wanted type, that event is lost and counted in {@link dropped}.
 *
 * Lines are found with `Buffer.indexOf` (memchr), and a line that lies within one chunk is read
 * from the chunk itself: only a line split across chunks is copied.
 */
export class SseDecoder {
  private lineParts: Buffer[] = [];
  private lineBytes = 0;
  private eventBytes = 0;
  private oversize = false;
  private skipLf = false;
  private firstLine = true;
  private eventName = '';
  private data: string[] = [];
  private ignoring = false;
  private skippedData = false;
  private lost = false;
  private droppedEvents = 0;

  /**
   * @param onEvent called with each complete event, in order; what it throws propagates out of {@link push}.
   * @param maxEventBytes the most bytes (lines and line ends not counted) one event may take.
   * @param ignore event names (`event:` values) whose events are neither decoded nor delivered.
   */
  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    private readonly maxEventBytes = MAX_EVENT_BYTES,
    private readonly ignore?: (eventName: string) => boolean,
  ) {}

  /** How many events were dropped for being over `maxEventBytes` (or lost to a rename, see the class comment). */
  get dropped(): number {
    return this.droppedEvents;
  }

  /** Feeds the next chunk of the body. */
  push(chunk: Buffer): void {
    const n = chunk.length;
    let start = 0;
    if (this.skipLf && n > 0) {
      this.skipLf = false;
      if (chunk[0] === LF) start = 1;
    }
    let cr = chunk.indexOf(CR, start);
    while (start < n) {
      const lf = chunk.indexOf(LF, start);
      if (cr >= 0 && cr < start) cr = chunk.indexOf(CR, start);
      const eol = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      if (eol < 0) break;
      if (this.lineParts.length === 0 && !this.oversize) {
        // The whole line is in this chunk: read it from there.
        this.count(eol - start);
        this.endLine(this.oversize ? undefined : chunk.subarray(start, eol));
      } else {
        this.append(chunk.subarray(start, eol));
        this.endLine();
      }
      start = eol + 1;
      if (chunk[eol] === CR) {
        if (start < n) {
          if (chunk[start] === LF) start++;
        } else this.skipLf = true;
      }
    }
    if (start < n) this.append(chunk.subarray(start));
  }

  /** The body ended: delivers what is pending (a last line without a line end, an event without a blank line). */
  end(): void {
    if (this.lineBytes > 0) this.endLine();
    this.dispatch();
  }

  /** Counts `bytes` more of the current line and event; past `maxEventBytes` the event is dropped. */
  private count(bytes: number): void {
    this.lineBytes += bytes;
    this.eventBytes += bytes;
    if (!this.oversize && this.eventBytes > this.maxEventBytes) {
      this.oversize = true;
      this.lineParts = [];
      this.data = [];
    }
  }

  /** Keeps part of a line that may go on in the next chunk. */
  private append(part: Buffer): void {
    if (part.length === 0) return;
    this.count(part.length);
    if (this.oversize) return;
    // A copy: a slice would keep the whole chunk it came from alive.
    this.lineParts.push(Buffer.from(part));
  }

  /** The current line ended: `whole` is all of it when it lay in one chunk, else it is in {@link lineParts}. */
  private endLine(whole?: Buffer): void {
    const empty = this.lineBytes === 0;
    const parts = this.lineParts;
    if (parts.length) this.lineParts = [];
    this.lineBytes = 0;
    if (empty) return this.dispatch();
    if (this.oversize) return;
    const bytes = whole ?? (parts.length === 1 ? parts[0] : Buffer.concat(parts));
    if (this.ignoring && isDataLine(bytes)) {
      this.skippedData = true;
      return;
    }
    let line = bytes.toString('utf8');
    if (this.firstLine) {
      this.firstLine = false;
      if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') {
      this.eventName = value;
      if (this.ignore && this.data.length === 0 && !this.skippedData) this.ignoring = this.ignore(value);
      else if (this.ignoring && !this.ignore?.(value)) this.lost = true;
    } else if (field === 'data') this.data.push(value);
  }

  private dispatch(): void {
    const deliver = !this.oversize && !this.lost && !this.ignoring && this.data.length > 0;
    const event: SseEvent | undefined = deliver ? { event: this.eventName || 'message', data: this.data.join('\n') } : undefined;
    if (this.oversize || this.lost) this.droppedEvents++;
    this.eventName = '';
    this.data = [];
    this.eventBytes = 0;
    this.oversize = false;
    this.ignoring = false;
    this.skippedData = false;
    this.lost = false;
    if (event) this.onEvent(event);
  }
}

/** The line is a `data` field: `data`, or `data:` and a value. */
function isDataLine(line: Buffer): boolean {
  return line.length >= 4 && line[0] === DATA[0] && line[1] === DATA[1] && line[2] === DATA[2] && line[3] === DATA[3] && (line.length === 4 || line[4] === COLON);
}

/**
 * The stream's events that carry no usage, model, stop reason or error (the text and tool input
 * the model writes, nearly all of a response's bytes): the meter skips them undecoded.
 */
const UNMETERED_EVENTS: ReadonlySet<string> = new Set(['content_block_start', 'content_block_delta', 'content_block_stop', 'ping', 'message_stop']);

/** How many bytes of an oversize JSON body are kept from its start (for `type` and `model`) and its end (for `usage`). */
const JSON_HEAD_BYTES = 16 * 1024;
const JSON_TAIL_BYTES = 64 * 1024;

/**
 * Meters one Messages API response: fed its body chunks as they stream (see the file comment for
 * the shapes), it yields the model, the token usage, the stop reason and any API error. Never
 * throws on what the body holds: garbage, a truncated body or an oversize event meters as what
 * could be read (zero usage when nothing). Memory is bounded: an SSE body keeps only its current
 * event (≤ {@link MAX_EVENT_BYTES}); a JSON body up to {@link MAX_EVENT_BYTES} is kept and parsed
 * whole, a larger one only its first 16 KiB and last 64 KiB, read for `type`, `model`,
 * `stop_reason` and the last `usage` object (the API writes `usage` after `content`).
 *
 * An SSE `error` event after `message_start` keeps the usage read so far (a budget counts it).
 */
export class UsageMeter {
  private mode: 'json' | 'sse' | 'sniff';
  private usage: TokenUsage = zeroUsage();
  private model?: string;
  private stopReason?: string;
  private error?: { type: string; message: string };
  private result?: MeteredResponse;
  private sse?: SseDecoder;
  private jsonParts: Buffer[] | undefined = [];
  private jsonBytes = 0;
  private jsonHead?: Buffer;
  private jsonTail?: Buffer;

  /**
   * @param contentType the response's `content-type` header: `text/event-stream` reads events,
   *   `application/json` (or any `…json`) one JSON body; anything else (or none) is told apart by
   *   the body's first non-blank byte (`{`: JSON).
   */
  constructor(contentType: string | undefined) {
    const type = (contentType ?? '').toLowerCase();
    this.mode = type.includes('text/event-stream') ? 'sse' : type.includes('json') ? 'json' : 'sniff';
  }

  /** The usage read so far (tokens), for a live display: an SSE response's running count; a JSON response's only after {@link end}. */
  get usageSoFar(): TokenUsage {
    return { ...this.usage };
  }

  /** Feeds the next chunk of the body; ignored after {@link end}. */
  push(chunk: Buffer): void {
    if (this.result || chunk.length === 0) return;
    if (this.mode === 'sniff') {
      let i = 0;
      while (i < chunk.length && (chunk[i] === 0x20 || chunk[i] === 0x09 || chunk[i] === LF || chunk[i] === CR)) i++;
      if (i === chunk.length) return;
      this.mode = chunk[i] === 0x7b ? 'json' : 'sse';
      chunk = chunk.subarray(i);
    }
    if (this.mode === 'sse') {
      this.sse ??= new SseDecoder(
        (e) => this.onEvent(e),
        MAX_EVENT_BYTES,
        (name) => UNMETERED_EVENTS.has(name),
      );
      this.sse.push(chunk);
    } else this.pushJson(chunk);
  }

  /** The body ended (or was cut): what the response was metered as. Idempotent. */
  end(): MeteredResponse {
    if (this.result) return this.result;
    if (this.mode === 'sse') this.sse?.end();
    else if (this.mode === 'json') this.endJson();
    const result: MeteredResponse = { usage: { ...this.usage } };
    if (this.model !== undefined) result.model = this.model;
    if (this.stopReason !== undefined) result.stopReason = this.stopReason;
    if (this.error !== undefined) result.error = this.error;
    this.result = result;
    return result;
  }

  private onEvent(e: SseEvent): void {
    const msg = parseObject(e.data);
    if (!msg) return;
    const type = typeof msg.type === 'string' ? msg.type : e.event;
    if (type === 'message_start') {
      const message = asObject(msg.message);
      if (!message) return;
      this.model = text(message.model, MAX_MODEL_CHARS) ?? this.model;
      this.usage = { ...zeroUsage(), ...readUsage(message.usage) };
    } else if (type === 'message_delta') {
      this.usage = { ...this.usage, ...readUsage(msg.usage) };
      this.stopReason = text(asObject(msg.delta)?.stop_reason, MAX_REASON_CHARS) ?? this.stopReason;
    } else if (type === 'error') {
      this.error = readError(msg);
    }
  }

  private pushJson(chunk: Buffer): void {
    this.jsonBytes += chunk.length;
    if (this.jsonParts) {
      if (this.jsonBytes <= MAX_EVENT_BYTES) {
        this.jsonParts.push(Buffer.from(chunk));
        return;
      }
      const all = Buffer.concat([...this.jsonParts, chunk]);
      this.jsonParts = undefined;
      this.jsonHead = Buffer.from(all.subarray(0, JSON_HEAD_BYTES));
      this.jsonTail = Buffer.from(all.subarray(-JSON_TAIL_BYTES));
      return;
    }
    const tail = Buffer.concat([this.jsonTail ?? Buffer.alloc(0), chunk]);
    this.jsonTail = Buffer.from(tail.subarray(-JSON_TAIL_BYTES));
  }

  private endJson(): void {
    if (this.jsonParts) {
      const body = parseObject(Buffer.concat(this.jsonParts).toString('utf8'));
      this.jsonParts = undefined;
      if (body?.type === 'message') {
        this.model = text(body.model, MAX_MODEL_CHARS);
        this.usage = { ...zeroUsage(), ...readUsage(body.usage) };
        this.stopReason = text(body.stop_reason, MAX_REASON_CHARS);
      } else if (body?.type === 'error') this.error = readError(body);
      return;
    }
    // Oversize: the first "type" of the head is the top-level one (the API writes id, type, role, model first).
    const head = (this.jsonHead ?? Buffer.alloc(0)).toString('utf8');
    const tail = (this.jsonTail ?? Buffer.alloc(0)).toString('utf8');
    this.jsonHead = this.jsonTail = undefined;
    if (!/^\s*\{/.test(head) || /"type"\s*:\s*"([^"\\]*)"/.exec(head)?.[1] !== 'message') return;
    this.model = text(/"model"\s*:\s*"([^"\\]*)"/.exec(head)?.[1], MAX_MODEL_CHARS);
    this.usage = { ...zeroUsage(), ...readUsage(lastObjectAfter(tail, /"usage"\s*:\s*\{/g)) };
    this.stopReason = text(lastMatch(tail, /"stop_reason"\s*:\s*"([^"\\]*)"/g), MAX_REASON_CHARS);
  }
}

/** All-zero token usage. */
function zeroUsage(): TokenUsage {
  return { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
}

const USAGE_FIELDS: ReadonlyArray<[string, keyof TokenUsage]> = [
  ['input_tokens', 'inputTokens'],
  ['output_tokens', 'outputTokens'],
  ['cache_creation_input_tokens', 'cacheCreationInputTokens'],
  ['cache_read_input_tokens', 'cacheReadInputTokens'],
];

/** The fields of an API `usage` object that are present and valid token counts (finite numbers ≥ 0). */
function readUsage(u: unknown): Partial<TokenUsage> {
  const o = asObject(u);
  const out: Partial<TokenUsage> = {};
  if (!o) return out;
  for (const [api, key] of USAGE_FIELDS) {
    const n = o[api];
    if (typeof n === 'number' && Number.isFinite(n) && n >= 0) out[key] = n;
  }
  return out;
}

/** An API error object's `error.type` and `error.message` (bounded), with fallbacks when missing. */
function readError(msg: Record<string, unknown>): { type: string; message: string } {
  const e = asObject(msg.error);
  return { type: text(e?.type, MAX_REASON_CHARS) ?? 'error', message: text(e?.message, MAX_ERROR_CHARS) ?? '' };
}

function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function parseObject(s: string): Record<string, unknown> | undefined {
  try {
    return asObject(JSON.parse(s));
  } catch {
    return undefined;
  }
}

function text(v: unknown, max: number): string | undefined {
  return typeof v === 'string' ? v.slice(0, max) : undefined;
}

function lastMatch(s: string, re: RegExp): string | undefined {
  let last: string | undefined;
  for (const m of s.matchAll(re)) last = m[1];
  return last;
}

/**
 * The JSON object that starts at the `{` ending the last match of `re` (a global regex) in `s`,
 * parsed; undefined when it is not complete or not valid. Braces inside strings are skipped.
 */
function lastObjectAfter(s: string, re: RegExp): unknown {
  let at = -1;
  for (const m of s.matchAll(re)) at = m.index + m[0].length - 1;
  if (at < 0) return undefined;
  let depth = 0;
  let inString = false;
  for (let i = at; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return parseObject(s.slice(at, i + 1));
  }
  return undefined;
}
