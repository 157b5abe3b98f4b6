import { InvalidInputError } from './errors';
import type { Store } from './store';

/**
 * Where a task is. `backlog → spec → qa → impl → test → done`; `retry` (a phase failed and
 * attempts remain: `phase` says which runs next), `blocked` (authentication or quota: waits for
 * a key or Retry, spends no attempt), `failed` (attempts exhausted), `cancelled`, `merged` (a
 * done task whose branch Merge merged into its base branch; nothing runs or merges again). The
 * column is plain TEXT (store.ts), so `merged` needed no migration; a build from before it shows
 * such a task with only Show and Delete (taskLife.ts falls back to them for a status it does not know).
 */
export type TaskStatus = 'backlog' | 'spec' | 'qa' | 'impl' | 'test' | 'done' | 'merged' | 'retry' | 'blocked' | 'failed' | 'cancelled';
export type Phase = 'spec' | 'qa' | 'impl' | 'test';

/**
 * Why a task is blocked: `auth` (no key, or the model refused it), `quota` (rate limit or
 * overload; `retryAt` says until when), `budget` (a cost cap of the gateway), `other` (no image,
 * a git error, … : the last error says).
 */
export type BlockedReason = 'auth' | 'quota' | 'budget' | 'other';

export const TASK_STATUSES: TaskStatus[] = ['backlog', 'spec', 'qa', 'impl', 'test', 'retry', 'blocked', 'done', 'merged', 'failed', 'cancelled'];

/**
 * Statuses the scheduler picks from, in dispatch order (then oldest first): retry > impl > qa >
 * spec > backlog, with `test` (only left by a crash mid-test; the host reruns it) after retry.
 */
export const DISPATCH_ORDER: TaskStatus[] = ['retry', 'test', 'impl', 'qa', 'spec', 'backlog'];

/** Longest title and description accepted (characters). */
export const MAX_TITLE = 200;
export const MAX_DESCRIPTION = 20_000;

export interface Task {
  id: number;
  title: string;
  description: string;
  /** Absolute path of the repository the task changes. */
  repo: string;
  baseBranch: string | null;
  branch: string | null;
  worktree: string | null;
  status: TaskStatus;
  /** The phase that runs next (for retry/blocked: the one to resume). */
  phase: Phase;
  attempt: number;
  maxAttempts: number;
  lastError: string | null;
  /** Set while blocked (see {@link BlockedReason}). */
  blockedReason: BlockedReason | null;
  /** For a quota block: when the upstream said to try again (ms since the epoch). */
  retryAt: number | null;
  createdAt: number;
  updatedAt: number;
  dispatchedAt: number | null;
}

/** One run of one phase of a task (an agent run, or the host's test command). */
export interface TaskRun {
  id: number;
  taskId: number;
  phase: Phase;
  attempt: number;
  agent: string | null;
  /** ok, failed, blocked, cancelled. */
  outcome: string;
  exitCode: number | null;
  durationMs: number | null;
  sessionId: string | null;
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  output: string | null;
  streamFile: string | null;
  error: string | null;
  commitSha: string | null;
  /** The Docker host or Swarm node the run's container ran on; null with one daemon. */
  host?: string | null;
  startedAt: number;
  finishedAt: number | null;
}

/**
 * Tasks and their runs in the Borg database. Titles and descriptions are stored as given
 * (parameters, never SQL text), after the length and emptiness checks of {@link validateTaskText}.
 */
export class TaskStore {
  constructor(readonly store: Store) {}

  /** @throws InvalidInputError for an empty or too long title or description. */
  add(t: { title: string; description: string; repo: string; maxAttempts: number; baseBranch?: string | null }): Task {
    const { title, description } = validateTaskText(t.title, t.description);
    const now = Date.now();
    const id = this.store.execute(
      `INSERT INTO tasks (title, description, repo, base_branch, status, phase, attempt, max_attempts, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'backlog', 'spec', 0, ?, ?, ?)`,
      [title, description, t.repo, t.baseBranch ?? null, t.maxAttempts, now, now],
    );
    this.store.addEvent('task-added', null, { taskId: id, title });
    return this.get(id)!;
  }

  get(id: number): Task | undefined {
    return this.store.query('SELECT * FROM tasks WHERE id = ?', [id]).map(toTask)[0];
  }

  list(): Task[] {
    return this.store.query('SELECT * FROM tasks ORDER BY id').map(toTask);
  }

  /** Updates the given fields (and updated_at). */
  update(
    id: number,
    fields: Partial<Pick<Task, 'status' | 'phase' | 'attempt' | 'maxAttempts' | 'lastError' | 'blockedReason' | 'retryAt' | 'branch' | 'worktree' | 'baseBranch' | 'dispatchedAt'>>,
  ): Task {
    const cols: Record<string, string> = {
      status: 'status',
      phase: 'phase',
      attempt: 'attempt',
      maxAttempts: 'max_attempts',
      lastError: 'last_error',
      blockedReason: 'blocked_reason',
      retryAt: 'retry_at',
      branch: 'branch',
      worktree: 'worktree',
      baseBranch: 'base_branch',
      dispatchedAt: 'dispatched_at',
    };
    const sets: string[] = [];
    const params: Array<string | number | null> = [];
    for (const [k, v] of Object.entries(fields)) {
      sets.push(`${cols[k]} = ?`);
      params.push(v as string | number | null);
    }
    sets.push('updated_at = ?');
    params.push(Date.now(), id);
    this.store.execute(`UPDATE tasks SET ${sets.join(', ')} WHERE id = ?`, params);
    return this.get(id)!;
  }

  delete(id: number): void {
    this.store.execute('DELETE FROM task_runs WHERE task_id = ?', [id]);
    this.store.execute('DELETE FROM tasks WHERE id = ?', [id]);
  }

  /** Tasks ready to run, in dispatch order: retry > impl > qa > spec > backlog, then oldest first. */
  dispatchable(): Task[] {
    const rank = (s: TaskStatus) => DISPATCH_ORDER.indexOf(s);
    return this.list()
      .filter((t) => rank(t.status) >= 0)
      .sort((a, b) => rank(a.status) - rank(b.status) || a.createdAt - b.createdAt || a.id - b.id);
  }

  startRun(r: { taskId: number; phase: Phase; attempt: number; agent?: string | null }): number {
    return this.store.execute(`INSERT INTO task_runs (task_id, phase, attempt, agent, outcome, started_at) VALUES (?, ?, ?, ?, 'running', ?)`, [
      r.taskId,
      r.phase,
      r.attempt,
      r.agent ?? null,
      Date.now(),
    ]);
  }

  finishRun(id: number, r: Partial<Omit<TaskRun, 'id' | 'taskId' | 'phase' | 'attempt' | 'startedAt'>>): void {
    const cols: Record<string, string> = {
      agent: 'agent',
      outcome: 'outcome',
      exitCode: 'exit_code',
      durationMs: 'duration_ms',
      sessionId: 'session_id',
      costUsd: 'cost_usd',
      inputTokens: 'input_tokens',
      outputTokens: 'output_tokens',
      output: 'output',
      streamFile: 'stream_file',
      error: 'error',
      commitSha: 'commit_sha',
      host: 'host',
      finishedAt: 'finished_at',
    };
    const sets: string[] = [];
    const params: Array<string | number | null> = [];
    for (const [k, v] of Object.entries({ finishedAt: Date.now(), ...r })) {
      sets.push(`${cols[k]} = ?`);
      params.push((v ?? null) as string | number | null);
    }
    params.push(id);
    this.store.execute(`UPDATE task_runs SET ${sets.join(', ')} WHERE id = ?`, params);
  }

  runs(taskId: number): TaskRun[] {
    return this.store.query('SELECT * FROM task_runs WHERE task_id = ? ORDER BY id', [taskId]).map(toRun);
  }
}

/**
 * Trims a title (one line) and description and checks them.
 * @throws InvalidInputError when the title is empty or either is too long.
 */
export function validateTaskText(title: string, description: string): { title: string; description: string } {
  const t = String(title ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  const d = String(description ?? '')
    .replace(/\r\n/g, '\n')
    .trim();
  if (!t) throw new InvalidInputError('A task needs a title: say in a few words what should change.');
  if (t.length > MAX_TITLE) throw new InvalidInputError(`The title is ${t.length} characters; keep it under ${MAX_TITLE} and put details in the description.`);
  if (d.length > MAX_DESCRIPTION) throw new InvalidInputError(`The description is ${d.length} characters; the limit is ${MAX_DESCRIPTION}.`);
  return { title: t, description: d };
}

function toTask(r: Record<string, unknown>): Task {
  return {
    id: Number(r.id),
    title: String(r.title),
    description: String(r.description),
    repo: String(r.repo),
    baseBranch: (r.base_branch as string) ?? null,
    branch: (r.branch as string) ?? null,
    worktree: (r.worktree as string) ?? null,
    status: r.status as TaskStatus,
    phase: r.phase as Phase,
    attempt: Number(r.attempt),
    maxAttempts: Number(r.max_attempts),
    lastError: (r.last_error as string) ?? null,
    blockedReason: (r.blocked_reason as BlockedReason) ?? null,
    retryAt: r.retry_at === null || r.retry_at === undefined ? null : Number(r.retry_at),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    dispatchedAt: r.dispatched_at === null || r.dispatched_at === undefined ? null : Number(r.dispatched_at),
  };
}

function toRun(r: Record<string, unknown>): TaskRun {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: Number(r.id),
    taskId: Number(r.task_id),
    phase: r.phase as Phase,
    attempt: Number(r.attempt),
    agent: (r.agent as string) ?? null,
    outcome: String(r.outcome),
    exitCode: num(r.exit_code),
    durationMs: num(r.duration_ms),
    sessionId: (r.session_id as string) ?? null,
    costUsd: num(r.cost_usd),
    inputTokens: num(r.input_tokens),
    outputTokens: num(r.output_tokens),
    output: (r.output as string) ?? null,
    streamFile: (r.stream_file as string) ?? null,
    error: (r.error as string) ?? null,
    commitSha: (r.commit_sha as string) ?? null,
    host: (r.host as string) ?? null,
    startedAt: Number(r.started_at),
    finishedAt: num(r.finished_at),
  };
}
