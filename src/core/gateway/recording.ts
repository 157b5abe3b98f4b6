import * as fs from 'node:fs';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { RunRef, Upstream, UpstreamRequest, UpstreamResponse } from './upstream';

/*
 * Record and replay of model sessions.
 *
 * A recording is a JSON Lines file: line 1 is a {@link RecordingHeader}, every further line one
 * {@link RecordedExchange} (a request and the answer's chunks as they arrived). Request headers are
 * never written: they carry the key. `RecordingUpstream` writes one as the gateway forwards;
 * `ReplayUpstream` answers from one, handing each live run the next recorded run of its persona.
 */

/** The record file format version this code writes and reads. */
export const RECORDING_VERSION = 1;

/** Line 1 of a record file: `{"borgRecording":1,"createdAt":"2025-01-31T12:00:00.000Z","note":"..."}`. */
export interface RecordingHeader {
  borgRecording: number;
  /** ISO 8601 time the file was started. */
  createdAt: string;
  /** Free text: what was recorded, e.g. "demo: worker writes hello.txt". */
  note: string;
}

/**
 * `main`: a turn of the agent's conversation (the request JSON has a non-empty `tools` array).
 * `side`: anything else (titles, summaries, token counts), which the CLI may or may not send.
 */
export type ExchangeKind = 'main' | 'side';

/** One request and its answer, as one line of a record file. */
export interface RecordedExchange {
  /** The recorded run this exchange belongs to, e.g. `r1`: one id per run (one start of an agent container). */
  run: string;
  persona: string;
  /** The task phase of the run, e.g. `impl`; null when the run is not a task phase. */
  phase: string | null;
  kind: ExchangeKind;
  request: {
    method: string;
    /** Path and query, e.g. `/v1/messages?beta=true`. */
    path: string;
    /** The parsed JSON body, or the body as text when it is not JSON. */
    body: unknown;
  };
  response: {
    status: number;
    /** Lower-case names; only {@link keptResponseHeaders} survive. */
    headers: Record<string, string>;
    /** The body as UTF-8 text, one entry per chunk as it arrived (a character split across chunks goes with the later one). */
    chunks: string[];
  };
}

// ---------------------------------------------------------------------------------------------
// The file format: classify, filter, write, read.
// ---------------------------------------------------------------------------------------------

/** A request body as recorded: the parsed JSON, or the UTF-8 text when it is not JSON (empty body: `''`). */
export function parseBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The path without its query: `/v1/messages?beta=true` → `/v1/messages`. */
export function endpointOf(requestPath: string): string {
  const q = requestPath.indexOf('?');
  return q === -1 ? requestPath : requestPath.slice(0, q);
}

/**
 * `main` when `body` (parsed, see {@link parseBody}) has a non-empty `tools` array and the request
 * is not a token count (`/v1/messages/count_tokens` carries the tools too, but is no turn); else `side`.
 */
export function exchangeKind(requestPath: string, body: unknown): ExchangeKind {
  if (endpointOf(requestPath).endsWith('/count_tokens')) return 'side';
  const tools = typeof body === 'object' && body !== null ? (body as { tools?: unknown }).tools : undefined;
  return Array.isArray(tools) && tools.length > 0 ? 'main' : 'side';
}

/**
 * The response headers a recording keeps (lower-case names): `content-type`, `request-id`,
 * `retry-after` and `anthropic-ratelimit-*`. Everything else (cookies, organisation ids) is dropped.
 */
export function keptResponseHeaders(headers: Record<string, string>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    if (n === 'content-type' || n === 'request-id' || n === 'retry-after' || n.startsWith('anthropic-ratelimit-')) kept[n] = value;
  }
  return kept;
}

/**
 * Starts a record file at `file` holding only the header line: created (or emptied) with mode
 * 0600, its directory created when missing.
 */
export function createRecordingFile(file: string, note = ''): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const header: RecordingHeader = { borgRecording: RECORDING_VERSION, createdAt: new Date().toISOString(), note };
  fs.writeFileSync(file, JSON.stringify(header) + '\n', { mode: 0o600 });
  fs.chmodSync(file, 0o600); // writeFileSync's mode applies only when it creates the file
}

/**
 * Keeps recording into `file` when it already is a record file (a window reload, a second `borg
 * run`: nothing recorded is lost) and returns its run ids; otherwise starts it (see
 * {@link createRecordingFile}) — a file there that is not a recording is moved aside to
 * `<file>.not-a-recording-<ms>` first, never overwritten.
 */
function continueOrCreate(file: string, note?: string): Set<string> {
  if (fs.existsSync(file)) {
    try {
      const ids = new Set(readRecording(file).exchanges.map((e) => e.run));
      fs.chmodSync(file, 0o600);
      return ids;
    } catch {
      fs.renameSync(file, `${file}.not-a-recording-${Date.now()}`);
    }
  }
  createRecordingFile(file, note);
  return new Set();
}

/** Appends one exchange as one line (one write: a crash keeps every line written before). */
export function appendExchange(file: string, exchange: RecordedExchange): void {
  fs.appendFileSync(file, JSON.stringify(exchange) + '\n', { mode: 0o600 });
}

/**
 * Reads and checks a record file. Blank lines are skipped.
 * @returns the header and the exchanges in file order.
 * @throws Error naming the file (and the line) when it is missing, empty, of another version or
 *   holds a line that is not an exchange: "line 3 of demo.jsonl is not a recorded exchange (...)".
 */
export function readRecording(file: string): { header: RecordingHeader; exchanges: RecordedExchange[] } {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist: record one with borg.gatewayRecord`);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const header = parseLine(lines[0] ?? '');
  if (!isHeader(header)) throw new Error(lines[0]?.trim() ? `line 1 of ${file} is not a borg recording header` : `${file} is empty: not a borg recording`);
  if (header.borgRecording !== RECORDING_VERSION) throw new Error(`${file} is a version ${header.borgRecording} recording; this Borg reads version ${RECORDING_VERSION}`);
  const exchanges: RecordedExchange[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    const value = parseLine(lines[i]);
    const problem = value === undefined ? 'not JSON' : exchangeProblem(value);
    if (problem) throw new Error(`line ${i + 1} of ${file} is not a recorded exchange (${problem})`);
    exchanges.push(value as RecordedExchange);
  }
  return { header, exchanges };
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

function isHeader(v: unknown): v is RecordingHeader {
  return isObject(v) && typeof v.borgRecording === 'number' && typeof v.createdAt === 'string';
}

/** What is wrong with `v` as an exchange, or undefined when nothing is. */
function exchangeProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object';
  if (typeof v.run !== 'string' || typeof v.persona !== 'string') return 'no run or persona';
  if (v.phase !== null && typeof v.phase !== 'string') return 'phase is neither a string nor null';
  if (v.kind !== 'main' && v.kind !== 'side') return 'kind is neither main nor side';
  const req = v.request;
  if (!isObject(req) || typeof req.method !== 'string' || typeof req.path !== 'string') return 'no request method and path';
  const res = v.response;
  if (!isObject(res) || !Number.isInteger(res.status)) return 'no response status';
  if (!isObject(res.headers) || !Object.values(res.headers).every((h) => typeof h === 'string')) return 'response headers are not strings';
  if (!Array.isArray(res.chunks) || !res.chunks.every((c) => typeof c === 'string')) return 'response chunks are not strings';
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// The answers' wire format: Server-Sent Events and plain JSON messages.
// ---------------------------------------------------------------------------------------------

/** A content block of an answer: text, or a tool call with its whole input. */
export type AnswerBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

/** One whole assistant message, to be sent as SSE ({@link sseChunks}) or JSON ({@link messageJson}). */
export interface AnswerMessage {
  /** e.g. `msg_borg_1`. */
  id: string;
  model: string;
  content: AnswerBlock[];
  stopReason: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence';
  /** Token counts as the API reports them. */
  usage: { inputTokens: number; outputTokens: number };
}

/**
 * The message as the Messages API streams it, one SSE event per string (`event: <type>\ndata:
 * <json>\n\n`): `message_start` (empty content, `output_tokens` 1), per block `content_block_start`
 * (tool_use with input `{}`, or empty text), one `content_block_delta` (`input_json_delta` with
 * the whole input as `partial_json`, or `text_delta`), `content_block_stop`; then `message_delta`
 * (stop reason, `output_tokens`) and `message_stop`.
 */
export function sseChunks(m: AnswerMessage): string[] {
  const events: Array<{ type: string } & Record<string, unknown>> = [
    {
      type: 'message_start',
      message: {
        id: m.id,
        type: 'message',
        role: 'assistant',
        model: m.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: m.usage.inputTokens, output_tokens: 1 },
      },
    },
  ];
  m.content.forEach((block, index) => {
    if (block.type === 'tool_use') {
      events.push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
    } else {
      events.push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      events.push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: block.text } });
    }
    events.push({ type: 'content_block_stop', index });
  });
  events.push({ type: 'message_delta', delta: { stop_reason: m.stopReason, stop_sequence: null }, usage: { output_tokens: m.usage.outputTokens } });
  events.push({ type: 'message_stop' });
  return events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
}

/** The message as the Messages API answers a request without `stream: true`. */
export function messageJson(m: AnswerMessage): Record<string, unknown> {
  return {
    id: m.id,
    type: 'message',
    role: 'assistant',
    model: m.model,
    content: m.content,
    stop_reason: m.stopReason,
    stop_sequence: null,
    usage: { input_tokens: m.usage.inputTokens, output_tokens: m.usage.outputTokens },
  };
}

/** The content type of a streamed answer. */
export const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8';

// ---------------------------------------------------------------------------------------------
// Recording.
// ---------------------------------------------------------------------------------------------

/** How a run is told apart from other runs (and other starts of the same container). */
function runKey(run: RunRef): string {
  return `${run.agent}@${run.startedAt}`;
}

/**
 * Forwards every request to `inner` and records it to `file` (created anew, mode 0600, at
 * construction). Answers pass through chunk by chunk, unchanged and unbuffered; an exchange is
 * appended once its body ended. An answer whose body failed or was left unread is not written
 * (the CLI sends that request again, and the retry is recorded). Each run (agent and start time)
 * gets its own id, `r1`, `r2`, … in the order of its first request.
 */
export class RecordingUpstream implements Upstream {
  readonly replay: boolean;
  private readonly runIds = new Map<string, string>();
  private readonly onWriteError: ((e: unknown) => void) | undefined;

  /**
   * @param opts.note the header's note.
   * @param opts.onWriteError told when appending an exchange failed (disk full); without it the
   *   failure ends the answer's body with the error, after every chunk was passed on.
   */
  constructor(
    private readonly inner: Upstream,
    readonly file: string,
    opts: { note?: string; onWriteError?: (e: unknown) => void } = {},
  ) {
    this.replay = inner.replay;
    this.onWriteError = opts.onWriteError;
    this.taken = continueOrCreate(file, opts.note);
  }

  /** Run ids already in the file (a recording continued after a window reload): new runs get the next free ones. */
  private readonly taken: Set<string>;

  get label(): string {
    return recordingLabel(this.inner.label, this.file);
  }

  async send(req: UpstreamRequest, signal: AbortSignal): Promise<UpstreamResponse> {
    const run = this.runId(req.run); // before the await: ids follow the order of first requests
    const res = await this.inner.send(req, signal);
    const body = parseBody(req.body);
    const record = (chunks: string[]) =>
      this.write({
        run,
        persona: req.run.persona,
        phase: req.run.phase ?? null,
        kind: exchangeKind(req.path, body),
        request: { method: req.method, path: req.path, body },
        response: { status: res.status, headers: keptResponseHeaders(res.headers), chunks },
      });
    return { status: res.status, headers: res.headers, body: passThrough(res.body, record) };
  }

  dispose(): void {
    this.inner.dispose?.();
  }

  private runId(run: RunRef): string {
    const key = runKey(run);
    let id = this.runIds.get(key);
    if (!id) {
      let n = this.runIds.size + this.taken.size + 1;
      while (this.taken.has(`r${n}`)) n++;
      this.runIds.set(key, (id = `r${n}`));
    }
    return id;
  }

  private write(exchange: RecordedExchange): void {
    try {
      appendExchange(this.file, exchange);
    } catch (e) {
      if (!this.onWriteError) throw e;
      this.onWriteError(e);
    }
  }
}

/** The label of an upstream recorded to `file`: `https://api.anthropic.com (recording to session.jsonl)`. */
export function recordingLabel(innerLabel: string, file: string): string {
  return `${innerLabel} (recording to ${path.basename(file)})`;
}

/** The label of a replay of `file`: `replay of demo.jsonl`. */
export function replayLabel(file: string): string {
  return `replay of ${path.basename(file)}`;
}

/** Yields `body`'s chunks as they arrive and, once it ended, hands `done` their UTF-8 text. */
async function* passThrough(body: AsyncIterable<Buffer>, done: (chunks: string[]) => void): AsyncGenerator<Buffer> {
  const decoder = new StringDecoder('utf8');
  const chunks: string[] = [];
  for await (const chunk of body) {
    const text = decoder.write(chunk);
    if (text) chunks.push(text);
    yield chunk;
  }
  const rest = decoder.end();
  if (rest) chunks.push(rest);
  done(chunks);
}

// ---------------------------------------------------------------------------------------------
// Replay.
// ---------------------------------------------------------------------------------------------

/** The exchanges of one recorded run, split by kind, in file order. */
interface RecordedRun {
  id: string;
  persona: string;
  phase: string | null;
  main: RecordedExchange[];
  side: RecordedExchange[];
  taken: boolean;
}

/** A live run and what it has used of the recorded run it was given (none when none was left). */
interface LiveRun {
  persona: string;
  recorded: RecordedRun | undefined;
  mainUsed: number;
  sideUsed: Set<RecordedExchange>;
}

/** The short text a side call without a recorded answer gets. */
export const REPLAY_SIDE_TEXT = 'Replayed session';

/**
 * Answers from the record file `file` (read whole at construction), never from a model.
 *
 * The first request of a live run (agent and start time) takes the first recorded run not yet
 * taken with the same persona, and the same phase when both have one. Within it each `main`
 * request gets the next `main` exchange, whatever it asks; a `side` request gets the next unused
 * `side` exchange of that run to the same endpoint, else a short built-in answer (side calls
 * come and go, so a replay never depends on them). A `main` request with nothing left to answer
 * gets status 400 with an `invalid_request_error` saying so.
 */
export class ReplayUpstream implements Upstream {
  readonly replay = true;
  readonly label: string;
  private readonly runs: RecordedRun[] = [];
  private readonly live = new Map<string, LiveRun>();
  private builtInAnswers = 0;

  /** @throws Error naming the file and line when it is missing or not a recording (see {@link readRecording}). */
  constructor(readonly file: string) {
    this.label = replayLabel(file);
    const byId = new Map<string, RecordedRun>();
    for (const ex of readRecording(file).exchanges) {
      let run = byId.get(ex.run);
      if (!run) {
        run = { id: ex.run, persona: ex.persona, phase: ex.phase, main: [], side: [], taken: false };
        byId.set(ex.run, run);
        this.runs.push(run);
      }
      run[ex.kind].push(ex);
    }
  }

  async send(req: UpstreamRequest, signal: AbortSignal): Promise<UpstreamResponse> {
    signal.throwIfAborted();
    const live = this.liveRun(req.run);
    const body = parseBody(req.body);
    if (exchangeKind(req.path, body) === 'side') return this.answerSide(live, req.path, body, signal);
    const exchange = live.recorded?.main[live.mainUsed];
    if (!exchange) return this.exhausted(live);
    live.mainUsed++;
    return replayed(exchange, signal);
  }

  private liveRun(run: RunRef): LiveRun {
    const key = runKey(run);
    let live = this.live.get(key);
    if (!live) {
      const phase = run.phase ?? null;
      const recorded = this.runs.find((r) => !r.taken && r.persona === run.persona && (r.phase === null || phase === null || r.phase === phase));
      if (recorded) recorded.taken = true;
      live = { persona: run.persona, recorded, mainUsed: 0, sideUsed: new Set() };
      this.live.set(key, live);
    }
    return live;
  }

  private answerSide(live: LiveRun, requestPath: string, body: unknown, signal: AbortSignal): UpstreamResponse {
    const endpoint = endpointOf(requestPath);
    const exchange = live.recorded?.side.find((ex) => !live.sideUsed.has(ex) && endpointOf(ex.request.path) === endpoint);
    if (exchange) {
      live.sideUsed.add(exchange);
      return replayed(exchange, signal);
    }
    if (endpoint.endsWith('/count_tokens')) return jsonAnswer(200, { input_tokens: 0 });
    const message: AnswerMessage = {
      id: `msg_borg_side_${++this.builtInAnswers}`,
      model: typeof (body as { model?: unknown })?.model === 'string' ? (body as { model: string }).model : 'replay',
      content: [{ type: 'text', text: REPLAY_SIDE_TEXT }],
      stopReason: 'end_turn',
      usage: { inputTokens: 0, outputTokens: 1 },
    };
    const streamed = (body as { stream?: unknown })?.stream === true;
    return streamed ? { status: 200, headers: { 'content-type': SSE_CONTENT_TYPE }, body: yieldChunks(sseChunks(message), signal) } : jsonAnswer(200, messageJson(message));
  }

  private exhausted(live: LiveRun): UpstreamResponse {
    const message = `borg replay: ${path.basename(this.file)} has no more recorded answers for the ${live.persona} run (${live.mainUsed} used)`;
    return jsonAnswer(400, { type: 'error', error: { type: 'invalid_request_error', message } });
  }
}

/** A recorded exchange's answer, its chunks yielded one by one. */
function replayed(exchange: RecordedExchange, signal: AbortSignal): UpstreamResponse {
  return { status: exchange.response.status, headers: { ...exchange.response.headers }, body: yieldChunks(exchange.response.chunks, signal) };
}

function jsonAnswer(status: number, value: unknown): UpstreamResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: yieldChunks([JSON.stringify(value)]) };
}

/** Yields each string as one UTF-8 chunk; stops with the abort reason once `signal` aborted. */
async function* yieldChunks(chunks: string[], signal?: AbortSignal): AsyncGenerator<Buffer> {
  for (const chunk of chunks) {
    signal?.throwIfAborted();
    yield Buffer.from(chunk, 'utf8');
  }
}
