import { RefusedError } from './errors';
import type { BlockedReason, Phase, Task, TaskRun, TaskStatus } from './taskStore';

/**
 * A task's life as two pure tables: which command fits which task ({@link taskVerbs},
 * {@link checkTaskVerb}), and the status a task moves to after a phase run's verdict
 * ({@link nextAfter}). The Scheduler, the Tasks view (`contextValue`, package.json menus), the
 * task detail panel's buttons, the commands' pickers and the CLI all read these, so they cannot
 * disagree.
 *
 * ## Which command fits which task
 *
 * | status                 | show | diff | openWorktree | merge | cancel | retry | setApiKey | raiseBudget | showOutput | delete |
 * |------------------------|------|------|--------------|-------|--------|-------|-----------|-------------|------------|--------|
 * | backlog                | yes  | ¹    | ²            | –     | yes    | –     | –         | –           | –          | yes    |
 * | spec, qa, impl, test   | yes  | ¹    | ²            | –     | yes    | –     | –         | –           | –          | yes    |
 * | retry                  | yes  | ¹    | ²            | –     | yes    | yes   | –         | –           | –          | yes    |
 * | blocked: auth          | yes  | ¹    | ²            | –     | yes    | yes   | yes       | –           | –          | yes    |
 * | blocked: budget        | yes  | ¹    | ²            | –     | yes    | yes   | –         | yes         | –          | yes    |
 * | blocked: quota, other  | yes  | ¹    | ²            | –     | yes    | yes   | –         | –           | yes        | yes    |
 * | done                   | yes  | ¹    | ²            | yes ¹ | –      | –     | –         | –           | –          | yes    |
 * | merged                 | yes  | ¹    | ²            | – ³   | –      | –     | –         | –           | –          | yes    |
 * | failed                 | yes  | ¹    | ²            | –     | –      | yes   | –         | –           | –          | yes    |
 * | cancelled              | yes  | ¹    | ²            | –     | –      | yes   | –         | –           | –          | yes    |
 *
 * ¹ once the task has its branch and base branch (made with the worktree). ² once it has a
 * worktree (the Open Worktree command also checks that the folder still exists). Cancel fits
 * what is queued, running, retrying or blocked; a failed task runs nothing and is not queued, so
 * there is nothing to cancel (Retry or Delete fit). Retry on a failed task starts its attempts
 * afresh; on a blocked, cancelled or retrying one it keeps them. ³ merging again is refused
 * ("already merged into main"): Merge marks the task `merged` once git merged its branch.
 *
 * A blocked task's own actions follow its reason ({@link BLOCKED_ACTIONS}): the key is the cure
 * of `auth` only (the gateway's 401/403), a raised cap of `budget` only (its own 400 refusal);
 * a quota, a git error, a missing image are not cured by either, so the log channel that says
 * what happened is offered with Retry.
 *
 * ## The next status after a phase run
 *
 * `attempt` counts failed runs; `maxAttempts` is the task's. "again" = the same phase runs on a
 * later dispatch.
 *
 * | outcome     | spec / qa / impl                                 | test                                         | attempt |
 * |-------------|--------------------------------------------------|----------------------------------------------|---------|
 * | ok          | next phase: spec → qa → impl → test               | done (lastError cleared)                     | kept    |
 * | failed      | retry, same phase (failed on the last attempt)    | retry, phase impl (failed on the last attempt) | +1     |
 * | blocked     | blocked, same phase, with its reason: auth, quota (+ retry time), budget, other | blocked, phase test | kept |
 * | cancelled   | cancelled                                        | cancelled                                    | kept    |
 * | interrupted | again: status = the phase                         | again: retry, phase test (`test` is no dispatch status) | kept |
 * | lost        | again, lastError says the container was removed  | again: retry, phase test, lastError says so  | kept    |
 * | altered     | failed at once, same phase (git metadata altered) | failed at once, phase test                   | kept    |
 *
 * `interrupted`: the agent was stopped by shutdown (detached or stopped), Stop Agent or Stop
 * All, or Docker became unreachable mid-run — not the task's fault. `lost`: its container was
 * removed outside Borg while the phase ran. Neither spends an attempt. `altered` never retries on
 * its own: the worktree waits for a person to look at it (SECURITY.md).
 */

/** Every command that acts on one task. */
export type TaskVerb = 'show' | 'diff' | 'openWorktree' | 'merge' | 'cancel' | 'retry' | 'setApiKey' | 'raiseBudget' | 'showOutput' | 'delete';

/** Every task verb, in the order menus and `contextValue`s list them. */
export const TASK_VERBS: readonly TaskVerb[] = ['show', 'diff', 'openWorktree', 'merge', 'cancel', 'retry', 'setApiKey', 'raiseBudget', 'showOutput', 'delete'];

/** How a phase run ended, as the Scheduler judges it (see the module's table). */
export type RunOutcome = 'ok' | 'failed' | 'blocked' | 'cancelled' | 'interrupted' | 'lost' | 'altered';

/** Every run outcome. */
export const RUN_OUTCOMES: readonly RunOutcome[] = ['ok', 'failed', 'blocked', 'cancelled', 'interrupted', 'lost', 'altered'];

const ALWAYS: TaskVerb[] = ['show', 'diff', 'openWorktree', 'delete'];

/** The status half of the table: verbs a status allows (diff, openWorktree and merge also need the fields in {@link NEEDS}). */
const BY_STATUS: Record<TaskStatus, readonly TaskVerb[]> = {
  backlog: [...ALWAYS, 'cancel'],
  spec: [...ALWAYS, 'cancel'],
  qa: [...ALWAYS, 'cancel'],
  impl: [...ALWAYS, 'cancel'],
  test: [...ALWAYS, 'cancel'],
  retry: [...ALWAYS, 'cancel', 'retry'],
  blocked: [...ALWAYS, 'cancel', 'retry', 'setApiKey', 'raiseBudget', 'showOutput'],
  done: [...ALWAYS, 'merge'],
  merged: ALWAYS,
  failed: [...ALWAYS, 'retry'],
  cancelled: [...ALWAYS, 'retry'],
};

type TaskFacts = Pick<Task, 'id' | 'status' | 'branch' | 'baseBranch' | 'worktree'> & Partial<Pick<Task, 'blockedReason'>>;

/** The verbs that cure a block, by its reason (the module's table); the other reasons' cures are not offered. */
export const BLOCKED_ACTIONS: Record<BlockedReason, readonly TaskVerb[]> = {
  auth: ['setApiKey', 'retry'],
  budget: ['raiseBudget', 'retry'],
  quota: ['retry', 'showOutput'],
  other: ['retry', 'showOutput'],
};

/** Verbs only some blocked tasks get (by {@link BLOCKED_ACTIONS}). */
const BY_REASON: ReadonlySet<TaskVerb> = new Set(['setApiKey', 'raiseBudget', 'showOutput']);

/** The fields a verb needs besides the status, and what to say when they are missing. */
const NEEDS: Partial<Record<TaskVerb, { has: (t: TaskFacts) => boolean; missing: string }>> = {
  diff: { has: (t) => !!t.branch && !!t.baseBranch, missing: 'has no branch yet: it is made when its first phase starts' },
  openWorktree: { has: (t) => !!t.worktree, missing: 'has no worktree yet: it is made when its first phase starts' },
  merge: { has: (t) => !!t.branch && !!t.baseBranch, missing: 'has no branch to merge' },
};

/** The verbs that fit task `t`, in {@link TASK_VERBS} order (pure: reads only the task's fields, never the disk). */
export function taskVerbs(t: TaskFacts): TaskVerb[] {
  const allowed = BY_STATUS[t.status] ?? ['show', 'delete'];
  const cures = BLOCKED_ACTIONS[t.blockedReason ?? 'other'] ?? BLOCKED_ACTIONS.other;
  return TASK_VERBS.filter((v) => allowed.includes(v) && (!BY_REASON.has(v) || cures.includes(v)) && (NEEDS[v]?.has(t) ?? true));
}

/** True when `verb` fits task `t` (see {@link taskVerbs}). */
export function fitsTask(verb: TaskVerb, t: TaskFacts): boolean {
  return taskVerbs(t).includes(verb);
}

/**
 * Refuses `verb` unless {@link taskVerbs} lists it for `t`.
 * @throws RefusedError saying the task's status, why the verb does not fit and which statuses it fits.
 */
export function checkTaskVerb(verb: TaskVerb, t: TaskFacts): void {
  if (fitsTask(verb, t)) return;
  if (verb === 'merge' && t.status === 'merged') throw new RefusedError(`Task ${t.id} is already merged into ${t.baseBranch ?? 'its base branch'}; there is nothing left to merge.`);
  if (t.status === 'blocked' && BY_REASON.has(verb)) {
    const reason = t.blockedReason ?? 'other';
    throw new RefusedError(`Task ${t.id} is blocked by ${REASON_WORDS[reason]}; ${BLOCKED_ADVICE[reason]}`);
  }
  const need = NEEDS[verb];
  if ((BY_STATUS[t.status] ?? []).includes(verb) && need) throw new RefusedError(`Task ${t.id} ${need.missing}.`);
  const statuses = (Object.keys(BY_STATUS) as TaskStatus[]).filter((s) => BY_STATUS[s].includes(verb));
  const what: Record<TaskVerb, string> = {
    show: 'show',
    diff: 'show the diff of',
    openWorktree: 'open the worktree of',
    merge: 'merge',
    cancel: 'cancel',
    retry: 'retry',
    setApiKey: 'set the API key for',
    raiseBudget: 'raise the budget of',
    showOutput: 'show the output of',
    delete: 'delete',
  };
  const hint = verb === 'cancel' ? ' There is nothing to cancel.' : '';
  throw new RefusedError(`Task ${t.id} is ${t.status}; you can ${what[verb]} a task that is ${orList(statuses)}.${hint}`);
}

/** A block's reason in words: "blocked by the model's refusal of the key". */
export const REASON_WORDS: Record<BlockedReason, string> = {
  auth: "the model's refusal of the API key (or no key)",
  quota: 'a rate limit or quota of the model',
  budget: 'a cost cap of the gateway',
  other: 'an error outside the agent (see the last error)',
};

/** What to do about a block, by its reason (the CLI prints it; the UI offers the same as buttons). */
export const BLOCKED_ADVICE: Record<BlockedReason, string> = {
  auth: 'set the API key (Borg: Set Anthropic API Key…), then Retry.',
  budget: 'raise the cap (Borg: Raise Budget…, or borg.maxCostUsdPerTask / borg.maxCostUsdPerDay; the CLI: --max-cost-usd-per-task / --max-cost-usd-per-day), then Retry.',
  quota: 'wait for the rate limit or quota to reset (a retry time resumes the task by itself; Show Output says more), or Retry.',
  other: 'fix what the last error names (Show Output has the whole log), then Retry.',
};

/**
 * Which cap blocked a budget-blocked task: `maxCostUsdPerDay` when its error names that setting
 * (the gateway's refusal says "today's budget is spent … (borg.maxCostUsdPerDay)"), else
 * `maxCostUsdPerTask`. The error is the gateway's own text (the host's, not the agent's).
 */
export function budgetSettingOf(t: Pick<Task, 'lastError'>): 'maxCostUsdPerTask' | 'maxCostUsdPerDay' {
  return /\(borg\.maxCostUsdPerDay\)/.test(t.lastError ?? '') ? 'maxCostUsdPerDay' : 'maxCostUsdPerTask';
}

/** Statuses that need the user (the view's badge counts them): blocked, failed, and done but not merged yet. */
export const NEEDS_ATTENTION: readonly TaskStatus[] = ['blocked', 'failed', 'done'];

/** Statuses a task reaches by itself that a notification announces (a user's Cancel and Merge are not announced). */
export const ANNOUNCED: readonly TaskStatus[] = ['done', 'failed', 'blocked'];

/**
 * The buttons of a task-ended notification, in order, from the verb table: done → Show Diff,
 * Details; failed → Retry, Details; blocked → its reason's cures ({@link BLOCKED_ACTIONS}),
 * Details. `show` is "Details". Empty for a status that is not announced.
 */
export function notificationVerbs(t: TaskFacts): TaskVerb[] {
  const fits = new Set(taskVerbs(t));
  const wanted: TaskVerb[] =
    t.status === 'done' ? ['diff', 'show'] : t.status === 'failed' ? ['retry', 'show'] : t.status === 'blocked' ? [...BLOCKED_ACTIONS[t.blockedReason ?? 'other'], 'show'] : [];
  return wanted.filter((v) => fits.has(v));
}

/**
 * Where a task stands, in words, for rows, panels, pickers and the CLI: `impl · attempt 2/3`
 * while it works or waits; a finished task says so instead of its last phase (`done`,
 * `merged into main`).
 */
export function progressWords(t: Pick<Task, 'status' | 'phase' | 'attempt' | 'maxAttempts' | 'baseBranch'>): string {
  if (t.status === 'done') return 'done';
  if (t.status === 'merged') return `merged into ${t.baseBranch ?? 'its base branch'}`;
  return `${t.phase} · attempt ${Math.min(t.attempt + 1, t.maxAttempts)}/${t.maxAttempts}`;
}

/**
 * True for the test phase's run when `borg.testCommand` is empty: it ran nothing (no test
 * container, so no agent) and passed. Shown as "tests skipped", never as a 0.0 s success.
 */
export function isSkippedTest(r: Pick<TaskRun, 'phase' | 'agent' | 'outcome'>): boolean {
  return r.phase === 'test' && !r.agent && r.outcome === 'ok';
}

const NEXT_PHASE: Record<Exclude<Phase, 'test'>, Phase> = { spec: 'qa', qa: 'impl', impl: 'test' };

/**
 * The task's changes after a run of `phase` ended with `outcome` (the module's second table;
 * the Scheduler applies them with `TaskStore.update`). `error` becomes `lastError` where the
 * table keeps one. Pure.
 */
export function nextAfter(t: Pick<Task, 'attempt' | 'maxAttempts'>, phase: Phase, outcome: RunOutcome, error?: string, blocked?: { reason: BlockedReason; retryAt?: number }): Partial<Task> {
  switch (outcome) {
    case 'ok':
      return phase === 'test' ? { status: 'done', lastError: null } : { status: NEXT_PHASE[phase], phase: NEXT_PHASE[phase] };
    case 'cancelled':
      return { status: 'cancelled' };
    case 'interrupted': {
      // `test` is no dispatch status: resume it through `retry`, spending no attempt. An error (the model upstream unreachable) is kept.
      const why = error ? { lastError: error } : {};
      return phase === 'test' ? { status: 'retry', phase: 'test', ...why } : { status: phase, ...why };
    }
    case 'lost': {
      const lastError = error ?? `The ${phase} phase's container was removed outside Borg while it ran; the phase runs again (no attempt spent).`;
      return phase === 'test' ? { status: 'retry', phase: 'test', lastError } : { status: phase, phase, lastError };
    }
    case 'blocked':
      return { status: 'blocked', phase, lastError: error ?? null, blockedReason: blocked?.reason ?? 'other', retryAt: blocked?.retryAt ?? null };
    case 'altered':
      // A hostile or broken agent: no retry runs in that worktree until the user looked at it.
      return { status: 'failed', phase, lastError: error ?? null };
    case 'failed': {
      const attempt = t.attempt + 1;
      const retryPhase: Phase = phase === 'test' ? 'impl' : phase;
      return attempt >= t.maxAttempts
        ? { status: 'failed', phase: retryPhase, attempt, lastError: error ?? null } // Retry resumes at retryPhase
        : { status: 'retry', phase: retryPhase, attempt, lastError: error ?? null };
    }
  }
}

/** "a", "a or b", "a, b or c". */
function orList(xs: string[]): string {
  return xs.length <= 1 ? (xs[0] ?? 'nothing') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`;
}
