import { RefusedError } from './errors';
import type { BlockedReason, Phase, Task, TaskStatus } from './taskStore';

/**
 * A task's life as two pure tables: which command fits which task ({@link taskVerbs},
 * {@link checkTaskVerb}), and the status a task moves to after a phase run's verdict
 * ({@link nextAfter}). The Scheduler, the Tasks view (`contextValue`, package.json menus), the
 * task detail panel's buttons, the commands' pickers and the CLI all read these, so they cannot
 * disagree.
 *
 * ## Which command fits which task
 *
 * | status                 | show | diff | openWorktree | merge | cancel | retry | setApiKey | delete |
 * |------------------------|------|------|--------------|-------|--------|-------|-----------|--------|
 * | backlog                | yes  | ¹    | ²            | –     | yes    | –     | –         | yes    |
 * | spec, qa, impl, test   | yes  | ¹    | ²            | –     | yes    | –     | –         | yes    |
 * | retry                  | yes  | ¹    | ²            | –     | yes    | yes   | –         | yes    |
 * | blocked                | yes  | ¹    | ²            | –     | yes    | yes   | yes       | yes    |
 * | done                   | yes  | ¹    | ²            | yes ¹ | –      | –     | –         | yes    |
 * | failed                 | yes  | ¹    | ²            | –     | –      | yes   | –         | yes    |
 * | cancelled              | yes  | ¹    | ²            | –     | –      | yes   | –         | yes    |
 *
 * ¹ once the task has its branch and base branch (made with the worktree). ² once it has a
 * worktree (the Open Worktree command also checks that the folder still exists). Cancel fits
 * what is queued, running, retrying or blocked; a failed task runs nothing and is not queued, so
 * there is nothing to cancel (Retry or Delete fit). Retry on a failed task starts its attempts
 * afresh; on a blocked, cancelled or retrying one it keeps them.
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
export type TaskVerb = 'show' | 'diff' | 'openWorktree' | 'merge' | 'cancel' | 'retry' | 'setApiKey' | 'delete';

/** Every task verb, in the order menus and `contextValue`s list them. */
export const TASK_VERBS: readonly TaskVerb[] = ['show', 'diff', 'openWorktree', 'merge', 'cancel', 'retry', 'setApiKey', 'delete'];

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
  blocked: [...ALWAYS, 'cancel', 'retry', 'setApiKey'],
  done: [...ALWAYS, 'merge'],
  failed: [...ALWAYS, 'retry'],
  cancelled: [...ALWAYS, 'retry'],
};

type TaskFacts = Pick<Task, 'id' | 'status' | 'branch' | 'baseBranch' | 'worktree'>;

/** The fields a verb needs besides the status, and what to say when they are missing. */
const NEEDS: Partial<Record<TaskVerb, { has: (t: TaskFacts) => boolean; missing: string }>> = {
  diff: { has: (t) => !!t.branch && !!t.baseBranch, missing: 'has no branch yet: it is made when its first phase starts' },
  openWorktree: { has: (t) => !!t.worktree, missing: 'has no worktree yet: it is made when its first phase starts' },
  merge: { has: (t) => !!t.branch && !!t.baseBranch, missing: 'has no branch to merge' },
};

/** The verbs that fit task `t`, in {@link TASK_VERBS} order (pure: reads only the task's fields, never the disk). */
export function taskVerbs(t: TaskFacts): TaskVerb[] {
  const allowed = BY_STATUS[t.status] ?? ['show', 'delete'];
  return TASK_VERBS.filter((v) => allowed.includes(v) && (NEEDS[v]?.has(t) ?? true));
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
    setApiKey: 'unblock',
    delete: 'delete',
  };
  const hint = verb === 'cancel' ? ' There is nothing to cancel.' : '';
  throw new RefusedError(`Task ${t.id} is ${t.status}; you can ${what[verb]} a task that is ${orList(statuses)}.${hint}`);
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
