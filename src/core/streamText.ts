/**
 * Agent output as a person reads it: Claude Code's `--output-format stream-json` lines (shapes
 * in streamJson.ts) rendered as text — the assistant's text, each tool call on one line
 * (`▸ Bash: npm test`, `▸ Edit src/x.js`), tool results shortened to one line, the result with
 * its time, turns and cost (`✔ done in 12.3 s · 4 turns · $0.0312`) — and any other line as it
 * is. Used by Show Logs (logsDocument.ts) and the Hardline terminal (hardlineTerminal.ts).
 *
 * Every string here is the agent's: it is rendered as inert text. {@link plainText} removes
 * terminal escape sequences (CSI, OSC, other ESC), C0/C1 control characters and bidirectional
 * overrides, so no agent line can move the cursor, retitle the terminal, write a hyperlink or
 * reorder what the user sees; the only colours in the Hardline terminal are the ones it adds.
 */

/** What a rendered line is, so a terminal can colour it (a document shows only the text). */
export type RenderedKind = 'text' | 'tool' | 'toolResult' | 'result' | 'error' | 'system' | 'raw';

/** One display line: never contains a newline or a control character. */
export interface RenderedLine {
  kind: RenderedKind;
  text: string;
}

/** Longest tool-call or tool-result line kept (characters), before `…`. */
export const TOOL_LINE_MAX = 160;

/**
 * The display lines of one output line: none for stream-json lines that carry nothing to read
 * (a user message with no tool result, a rate-limit event that allows), several for an
 * assistant message with text and tool calls. Lines that are not stream-json (not a JSON object
 * with a string `type`) are shown as they are, made plain.
 */
export function renderLine(line: string): RenderedLine[] {
  try {
    return renderMessage(line).map((r) => (r.text.length > LINE_MAX ? { ...r, text: `${r.text.slice(0, LINE_MAX - 1)}…` } : r));
  } catch {
    return textLines('raw', line.length > LINE_MAX ? `${line.slice(0, LINE_MAX - 1)}…` : line); // an agent's line built to break the renderer (a date past the range, nesting past the stack) is shown as it is
  }
}

/** Longest display line (characters) before `…`: an agent's megabyte-long line does not become a megabyte-long document line. */
export const LINE_MAX = 64 * 1024;

function renderMessage(line: string): RenderedLine[] {
  const msg = parseObject(line);
  if (!msg || typeof msg.type !== 'string') return textLines('raw', line);
  switch (msg.type) {
    case 'assistant':
      return renderAssistant(msg);
    case 'user':
      return renderToolResults(msg);
    case 'result':
      return [renderResult(msg)];
    case 'system':
      return renderSystem(msg);
    case 'rate_limit_event': {
      const info = (msg.rate_limit_info ?? {}) as Record<string, unknown>;
      if (info.status !== 'rejected') return [];
      const resets = typeof info.resetsAt === 'number' ? new Date(info.resetsAt * 1000) : undefined;
      const at = resets && Number.isFinite(resets.getTime()) ? ` until ${resets.toISOString()}` : '';
      return [{ kind: 'error', text: `✖ usage limit reached${at}` }];
    }
    default:
      return textLines('raw', line);
  }
}

/** Every line of `text` rendered with {@link renderLine}, joined with "\n" (and ending with one when there was anything). */
export function renderText(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    for (const r of renderLine(line)) out.push(r.text);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/**
 * Docker's `logs` with `timestamps: true` (each line `2026-12-01T21:45:02.123456789Z <line>`)
 * for a document: `rendered` shows each line as {@link renderLine} does, after its time as
 * `21:45:02.123` (UTC); `raw` keeps the NDJSON as written. Either way no control character
 * reaches the document ({@link visibleControls} in raw mode).
 */
export function renderTimedLog(text: string, mode: 'rendered' | 'raw'): string {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    const { at, line } = splitTimestamp(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    const stamp = at ? `${shortTime(at)} ` : '';
    if (mode === 'raw') {
      out.push(`${stamp}${visibleControls(line)}`);
      continue;
    }
    const pad = ' '.repeat(stamp.length);
    renderLine(line).forEach((r, i) => out.push(`${i === 0 ? stamp : pad}${r.text}`));
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** `21:45:02.123` of an RFC 3339 UTC time (Docker trims the fraction's trailing zeros: it is padded back to milliseconds). */
function shortTime(at: string): string {
  const m = /T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(at);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}` : at;
}

/** The colour a terminal gives each kind of rendered line (SGR codes: the only escape sequences {@link terminalText} writes). */
const COLOURS: Record<RenderedKind, string> = {
  text: '',
  raw: '',
  tool: '\x1b[36m',
  toolResult: '\x1b[2m',
  system: '\x1b[2m',
  result: '\x1b[32m',
  error: '\x1b[31m',
};

/**
 * What the Hardline terminal writes for one agent output line, with "\n" after each display
 * line: the line rendered as text ({@link renderLine}) and coloured by kind, or with `raw` the
 * line as written with its control characters shown as `\xNN`. Either way no escape sequence of
 * the agent's reaches the terminal.
 */
export function terminalText(line: string, raw: boolean): string {
  if (raw) return `${visibleControls(line)}\n`;
  return renderLine(line)
    .map((r) => (COLOURS[r.kind] ? `${COLOURS[r.kind]}${r.text}\x1b[0m\n` : `${r.text}\n`))
    .join('');
}

/** A Docker log timestamp (RFC 3339 with nanoseconds, then one space) split off `line`. */
export function splitTimestamp(line: string): { at?: string; line: string } {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /.exec(line);
  return m ? { at: m[1], line: line.slice(m[0].length) } : { line };
}

// CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC (ESC P|X|^|_ … ST), other two-byte ESC sequences.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[@-Z\\-~]?|\x9b[0-?]*[ -/]*[@-~]/g;
/** C0 but tab and newline, DEL, C1. */
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;

/**
 * `s` with terminal escape sequences removed, other control characters (C0 but tab, DEL, C1)
 * and bidirectional controls dropped, tabs made spaces, newlines kept.
 */
export function plainText(s: string): string {
  return s.replace(ESCAPES, '').replace(CONTROLS, '').replace(BIDI, '').replace(/\t/g, '  ');
}

/** `s` with each control character (and bidirectional control) written as `\xNN` / `\uNNNN`, so raw output shows what it holds and does nothing. */
export function visibleControls(s: string): string {
  return s.replace(CONTROLS, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).replace(BIDI, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function renderAssistant(msg: Record<string, unknown>): RenderedLine[] {
  const out: RenderedLine[] = [];
  if (typeof msg.error === 'string') {
    const status = typeof msg.api_error_status === 'number' ? ` (HTTP ${msg.api_error_status})` : '';
    const text = contentText((msg.message as Record<string, unknown> | undefined)?.content);
    return [{ kind: 'error', text: oneLine(`✖ ${msg.error}${status}${text ? `: ${text}` : ''}`, TOOL_LINE_MAX * 2) }];
  }
  const content = (msg.message as { content?: unknown } | undefined)?.content;
  if (!Array.isArray(content)) return out;
  for (const c of content) {
    if (!c || typeof c !== 'object') continue;
    const block = c as Record<string, unknown>;
    if (block.type === 'text' && typeof block.text === 'string') out.push(...textLines('text', block.text));
    else if (block.type === 'tool_use') out.push({ kind: 'tool', text: oneLine(`▸ ${toolCall(String(block.name ?? 'tool'), block.input)}`, TOOL_LINE_MAX) });
    // thinking blocks and anything else: not shown
  }
  return out;
}

/** The argument a person needs to see of a tool call: the command, the file, the pattern. */
function toolCall(name: string, input: unknown): string {
  const i = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const s = (k: string) => (typeof i[k] === 'string' ? (i[k] as string) : undefined);
  switch (name) {
    case 'Bash':
      return `Bash: ${s('command') ?? ''}`;
    case 'Read':
    case 'Write':
    case 'Edit':
    case 'MultiEdit':
    case 'NotebookEdit':
      return `${name} ${s('file_path') ?? s('notebook_path') ?? ''}`;
    case 'Glob':
    case 'Grep':
      return `${name} ${s('pattern') ?? ''}${s('path') ? ` in ${s('path')}` : ''}`;
    case 'WebFetch':
      return `WebFetch ${s('url') ?? ''}`;
    case 'WebSearch':
      return `WebSearch ${s('query') ?? ''}`;
    case 'Task':
      return `Task: ${s('description') ?? ''}`;
    case 'TodoWrite':
      return `TodoWrite (${Array.isArray(i.todos) ? i.todos.length : 0} items)`;
    default: {
      const json = JSON.stringify(input ?? {});
      return `${name} ${json === '{}' ? '' : json}`.trimEnd();
    }
  }
}

function renderToolResults(msg: Record<string, unknown>): RenderedLine[] {
  const content = (msg.message as { content?: unknown } | undefined)?.content;
  if (!Array.isArray(content)) return [];
  const out: RenderedLine[] = [];
  for (const c of content) {
    if (!c || typeof c !== 'object' || (c as { type?: unknown }).type !== 'tool_result') continue;
    const block = c as Record<string, unknown>;
    const text = typeof block.content === 'string' ? block.content : (contentText(block.content) ?? '');
    const lines = plainText(text)
      .split('\n')
      .filter((l) => l.trim() !== '');
    const more = lines.length > 1 ? ` (+${lines.length - 1} line${lines.length === 2 ? '' : 's'})` : '';
    const head = lines[0]?.trim() ?? '(no output)';
    out.push({ kind: block.is_error === true ? 'error' : 'toolResult', text: `  ${block.is_error === true ? '✖' : '↳'} ${oneLine(head, TOOL_LINE_MAX)}${more}` });
  }
  return out;
}

function renderResult(msg: Record<string, unknown>): RenderedLine {
  const parts: string[] = [];
  if (typeof msg.duration_ms === 'number' && Number.isFinite(msg.duration_ms)) parts.push(`in ${(msg.duration_ms / 1000).toFixed(1)} s`);
  if (typeof msg.num_turns === 'number') parts.push(`${msg.num_turns} turn${msg.num_turns === 1 ? '' : 's'}`);
  if (typeof msg.total_cost_usd === 'number' && Number.isFinite(msg.total_cost_usd)) parts.push(`$${msg.total_cost_usd.toFixed(4)}`);
  const tail = parts.join(' · ');
  if (msg.is_error === true) {
    const why = typeof msg.result === 'string' ? msg.result : typeof msg.subtype === 'string' ? msg.subtype : 'error';
    return { kind: 'error', text: oneLine(`✖ failed${tail ? ` ${tail}` : ''}: ${why}`, TOOL_LINE_MAX * 2) };
  }
  return { kind: 'result', text: `✔ done${tail ? ` ${tail}` : ''}` };
}

function renderSystem(msg: Record<string, unknown>): RenderedLine[] {
  if (msg.subtype === 'init') {
    const model = typeof msg.model === 'string' ? ` · model ${msg.model}` : '';
    const tools = Array.isArray(msg.tools) ? ` · ${msg.tools.length} tools` : '';
    return [{ kind: 'system', text: oneLine(`● session started${model}${tools}`, TOOL_LINE_MAX) }];
  }
  if (msg.subtype === 'api_retry') {
    const what = [msg.error_status, msg.error].filter((v) => typeof v === 'string' || typeof v === 'number').join(' ');
    return [{ kind: 'system', text: oneLine(`… retrying the model request${what ? ` (${what})` : ''}`, TOOL_LINE_MAX) }];
  }
  return [];
}

/** Text lines of `s`, made plain; blank lines kept inside, none at the ends. */
function textLines(kind: RenderedKind, s: string): RenderedLine[] {
  const lines = plainText(s).split('\n');
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  while (lines.length && lines[0].trim() === '') lines.shift();
  return lines.map((text) => ({ kind, text }));
}

/** The text blocks of a content array, joined with spaces; undefined when there are none. */
function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const t = content
    .map((c) => (c && typeof c === 'object' && (c as { type?: unknown }).type === 'text' && typeof (c as { text?: unknown }).text === 'string' ? (c as { text: string }).text : ''))
    .filter(Boolean)
    .join(' ');
  return t || undefined;
}

/** `s` made plain, on one line, at most `max` characters (ending in `…` when cut). */
function oneLine(s: string, max: number): string {
  const flat = plainText(s).replace(/\s*\n\s*/g, ' ⏎ ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function parseObject(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
