import { appendExchange, createRecordingFile, SSE_CONTENT_TYPE, sseChunks, type AnswerBlock, type AnswerMessage, type RecordedExchange } from './recording';

/*
 * Recordings the project writes itself: a script of model turns (call these tools, then say
 * this) becomes the exchanges a `ReplayUpstream` answers with, as if a model had said them. The
 * demo and the tests use it; nothing here talks to a model.
 */

/** One tool call of a scripted turn: the tool's name as the CLI knows it (`Write`, `Bash`) and its input. */
export interface ScriptToolCall {
  tool: string;
  input: Record<string, unknown>;
}

/**
 * One turn of the model: one tool call, several at once, or a text answer (which ends the run's
 * conversation, stop reason `end_turn`). `usage` (tokens) defaults to {@link DEFAULT_SCRIPT_USAGE},
 * `model` to the run's.
 */
export type ScriptStep = (ScriptToolCall | { tools: ScriptToolCall[] } | { text: string }) & {
  usage?: { inputTokens: number; outputTokens: number };
  model?: string;
};

/** The model a scripted answer names unless the run or the step says otherwise. */
export const DEFAULT_SCRIPT_MODEL = 'claude-sonnet-4-5-20250929';

/** The token counts a scripted answer reports unless its step says otherwise. */
export const DEFAULT_SCRIPT_USAGE: Readonly<{ inputTokens: number; outputTokens: number }> = { inputTokens: 100, outputTokens: 50 };

/** The `run` of exchanges from {@link scriptedRun}; {@link writeRecording} gives each run its id. */
export const SCRIPTED_RUN = 'scripted';

/**
 * The `main` exchanges of one run of `persona` that answers with `steps` in order, each a
 * streamed answer of realistic SSE chunks (one chunk per event, see `sseChunks`). Deterministic:
 * step n (from 1) is message `msg_borg_<n>`, and the run's tool calls are `toolu_borg_1`,
 * `toolu_borg_2`, … in order. The recorded request is a stand-in naming the step (replay does
 * not compare requests).
 * @param opts.phase the run's task phase (null in the file when absent); opts.model the model named.
 */
export function scriptedRun(persona: string, steps: ScriptStep[], opts: { phase?: string; model?: string } = {}): RecordedExchange[] {
  let toolCalls = 0;
  return steps.map((step, i): RecordedExchange => {
    const model = step.model ?? opts.model ?? DEFAULT_SCRIPT_MODEL;
    const calls = 'tools' in step ? step.tools : 'tool' in step ? [{ tool: step.tool, input: step.input }] : [];
    const content: AnswerBlock[] = 'text' in step ? [{ type: 'text', text: step.text }] : calls.map((c) => ({ type: 'tool_use', id: `toolu_borg_${++toolCalls}`, name: c.tool, input: c.input }));
    const message: AnswerMessage = {
      id: `msg_borg_${i + 1}`,
      model,
      content,
      stopReason: 'text' in step ? 'end_turn' : 'tool_use',
      usage: { ...(step.usage ?? DEFAULT_SCRIPT_USAGE) },
    };
    return {
      run: SCRIPTED_RUN,
      persona,
      phase: opts.phase ?? null,
      kind: 'main',
      request: { method: 'POST', path: '/v1/messages?beta=true', body: { model, stream: true, borgScriptStep: i + 1 } },
      response: { status: 200, headers: { 'content-type': SSE_CONTENT_TYPE }, chunks: sseChunks(message) },
    };
  });
}

/**
 * Writes a record file (mode 0600, replacing `file`) holding `runs` in order: the exchanges of
 * `runs[k]` get run id `r<k+1>`, whatever their `run` said.
 */
export function writeRecording(file: string, runs: RecordedExchange[][], note = ''): void {
  createRecordingFile(file, note);
  runs.forEach((exchanges, k) => {
    for (const exchange of exchanges) appendExchange(file, { ...exchange, run: `r${k + 1}` });
  });
}
