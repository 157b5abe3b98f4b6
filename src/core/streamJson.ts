/**
 * Reading an agent's NDJSON output, in the shape of Claude Code's `--output-format stream-json`:
 * `{"type":"system","subtype":"init","session_id":...}`, `assistant`/`user` messages, and a
 * final `{"type":"result","is_error":...,"result":...,"total_cost_usd":...,"usage":{...}}`.
 */

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
  };
  /** Error codes or texts seen on assistant messages (e.g. "authentication_failed"). */
  errors: string[];
}

export function emptySummary(): StreamSummary {
  return { errors: [] };
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
  if (typeof msg.error === 'string') s.errors.push(msg.error);
  if (msg.type === 'result') {
    const usage = (msg.usage ?? {}) as Record<string, unknown>;
    s.result = {
      isError: msg.is_error === true,
      text: typeof msg.result === 'string' ? msg.result : JSON.stringify(msg.result ?? ''),
      subtype: typeof msg.subtype === 'string' ? msg.subtype : undefined,
      costUsd: typeof msg.total_cost_usd === 'number' ? msg.total_cost_usd : undefined,
      inputTokens: typeof usage.input_tokens === 'number' ? usage.input_tokens : undefined,
      outputTokens: typeof usage.output_tokens === 'number' ? usage.output_tokens : undefined,
    };
  }
}

/**
 * An authentication or quota failure, which no retry of the same run can fix: the CLI's
 * `authentication_failed` / "Not logged in", HTTP 401/403/429, "invalid api key", rate or
 * usage limits. Returns the reason, or undefined.
 */
export function blockingReason(s: StreamSummary): string | undefined {
  const texts = [s.result?.isError ? s.result.text : '', ...s.errors].filter(Boolean);
  const pattern = /authentication_failed|not logged in|invalid api key|\b(401|403|429)\b|rate[_ ]limit|usage limit|quota|billing|overloaded_error/i;
  const hits = [...new Set(texts.filter((t) => pattern.test(t)))];
  if (!hits.length) return undefined;
  return `The agent could not authenticate or hit a quota: ${hits.join('; ')}. Set an API key (Borg: Set API Key) or wait for the quota, then Retry.`;
}
