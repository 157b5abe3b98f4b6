import type { Store } from '../store';
import type { TokenUsage } from './pricing';
import type { RunRef } from './upstream';

/**
 * Why the gateway ended a run's request without (or despite) the model: `auth` (no key, or the
 * upstream answered 401/403), `quota` (429 or 529), `budget` (a cost cap was reached: the gateway
 * answered itself), `unreachable` (no answer started), `refused` (not the Messages API).
 */
export type Refusal = 'auth' | 'quota' | 'budget' | 'unreachable' | 'refused';

/** One model request of one run, as the gateway metered it. Times in ms since the epoch; cost in USD. */
export interface UsageEntry {
  at: number;
  run: RunRef;
  model?: string;
  /** The HTTP status the agent got. */
  status: number;
  usage: TokenUsage;
  costUsd: number;
  refusal?: Refusal;
  /** For `quota`: when the upstream said to try again. */
  retryAt?: number;
  /** What the agent was told (refusals), for the task's last error. */
  message?: string;
}

/** A run's metered totals: requests, tokens, cost (USD). */
export interface RunUsage {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** The last refusal of a run (see {@link Ledger.lastRefusal}). */
export interface RunRefusal {
  refusal: Refusal;
  status: number;
  message: string;
  retryAt?: number;
}

/** One run holding a gateway token: only the token's SHA-256 is kept. */
export interface GatewayRunRow extends RunRef {
  tokenSha256: string;
}

/**
 * The gateway's records in the Borg database (schema v4): `model_usage` (one row per request) and
 * `gateway_runs` (who holds a token). Sums are computed from the rows, so what a budget counts
 * survives a reload and is the same in the extension and `borg run`. Never stores a key, a token
 * (only its hash) or a request body.
 */
export class Ledger {
  constructor(private readonly store: Store) {}

  /** Records one metered request. */
  add(e: UsageEntry): void {
    this.store.execute(
      `INSERT INTO model_usage (at, agent, run_started_at, task_id, phase, model, status, input_tokens, output_tokens,
         cache_creation_tokens, cache_read_tokens, cost_usd, refusal, retry_at, message)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        e.at,
        e.run.agent,
        e.run.startedAt,
        e.run.taskId ?? null,
        e.run.phase ?? null,
        e.model ?? null,
        e.status,
        e.usage.inputTokens,
        e.usage.outputTokens,
        e.usage.cacheCreationInputTokens,
        e.usage.cacheReadInputTokens,
        e.costUsd,
        e.refusal ?? null,
        e.retryAt ?? null,
        e.message ?? null,
      ],
    );
  }

  /** USD spent by a task's runs, all attempts. */
  spentByTask(taskId: number): number {
    return Number(this.store.query('SELECT COALESCE(SUM(cost_usd), 0) AS s FROM model_usage WHERE task_id = ?', [taskId])[0]?.s ?? 0);
  }

  /** USD spent by every run since `sinceMs` (the local day's start for the daily cap). */
  spentSince(sinceMs: number): number {
    return Number(this.store.query('SELECT COALESCE(SUM(cost_usd), 0) AS s FROM model_usage WHERE at >= ?', [sinceMs])[0]?.s ?? 0);
  }

  /** The totals of one run (an agent's start at `startedAt`). */
  usageOfRun(agent: string, startedAt: number): RunUsage {
    const r = this.store.query(
      `SELECT COUNT(*) AS n, COALESCE(SUM(input_tokens + cache_creation_tokens + cache_read_tokens), 0) AS i,
              COALESCE(SUM(output_tokens), 0) AS o, COALESCE(SUM(cost_usd), 0) AS c
         FROM model_usage WHERE agent = ? AND run_started_at = ?`,
      [agent, startedAt],
    )[0];
    return { requests: Number(r?.n ?? 0), inputTokens: Number(r?.i ?? 0), outputTokens: Number(r?.o ?? 0), costUsd: Number(r?.c ?? 0) };
  }

  /** The run's last request, when the gateway refused it or the upstream failed it (see {@link Refusal}). */
  lastRefusal(agent: string, startedAt: number): RunRefusal | undefined {
    const r = this.store.query('SELECT refusal, status, message, retry_at FROM model_usage WHERE agent = ? AND run_started_at = ? ORDER BY id DESC LIMIT 1', [agent, startedAt])[0];
    if (!r || r.refusal === null || r.refusal === undefined) return undefined;
    return { refusal: r.refusal as Refusal, status: Number(r.status), message: String(r.message ?? ''), retryAt: r.retry_at === null ? undefined : Number(r.retry_at) };
  }

  /** Records that `run` holds the token whose SHA-256 is `tokenSha256` (replacing the agent's earlier run). */
  addRun(run: RunRef, tokenSha256: string): void {
    this.store.execute('DELETE FROM gateway_runs WHERE agent = ?', [run.agent]);
    this.store.execute('INSERT INTO gateway_runs (agent, token_sha256, persona, task_id, phase, started_at) VALUES (?, ?, ?, ?, ?, ?)', [
      run.agent,
      tokenSha256,
      run.persona,
      run.taskId ?? null,
      run.phase ?? null,
      run.startedAt,
    ]);
  }

  removeRun(agent: string): void {
    this.store.execute('DELETE FROM gateway_runs WHERE agent = ?', [agent]);
  }

  /** Every run holding a token (a new gateway serves them again after a reload). */
  runs(): GatewayRunRow[] {
    return this.store.query('SELECT * FROM gateway_runs ORDER BY agent').map((r) => ({
      agent: String(r.agent),
      tokenSha256: String(r.token_sha256),
      persona: String(r.persona),
      taskId: r.task_id === null ? undefined : Number(r.task_id),
      phase: r.phase === null ? undefined : String(r.phase),
      startedAt: Number(r.started_at),
    }));
  }
}

/** Local midnight of the day holding `now` (ms since the epoch): where the daily cap starts counting. */
export function startOfLocalDay(now: number): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}
