import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { RefusedError } from '../../src/core/errors';
import {
  BLOCKED_ADVICE,
  budgetSettingOf,
  checkTaskVerb,
  isSkippedTest,
  nextAfter,
  notificationVerbs,
  progressWords,
  RUN_OUTCOMES,
  RunOutcome,
  TASK_VERBS,
  TaskVerb,
  taskVerbs,
} from '../../src/core/taskLife';
import { BlockedReason, Phase, Task, TASK_STATUSES, TaskStatus } from '../../src/core/taskStore';

/** A task in `status` with its worktree and branch made (as after its first dispatch) unless `bare`. */
function task(status: TaskStatus, bare = false): Task {
  return {
    id: 7,
    title: 'Add a flag',
    description: '',
    repo: '/repo',
    status,
    phase: 'impl',
    attempt: 1,
    maxAttempts: 3,
    lastError: null,
    worktree: bare ? null : '/wt/task-7',
    branch: bare ? null : 'borg/task-7',
    baseBranch: bare ? null : 'main',
    createdAt: 1,
    updatedAt: 2,
    dispatchedAt: null,
  } as Task;
}

/** The table as the issue and the UI before it stated it, written out independently of taskLife.ts. */
const EXPECTED: Record<TaskStatus, TaskVerb[]> = {
  backlog: ['show', 'diff', 'openWorktree', 'cancel', 'delete'],
  spec: ['show', 'diff', 'openWorktree', 'cancel', 'delete'],
  qa: ['show', 'diff', 'openWorktree', 'cancel', 'delete'],
  impl: ['show', 'diff', 'openWorktree', 'cancel', 'delete'],
  test: ['show', 'diff', 'openWorktree', 'cancel', 'delete'],
  retry: ['show', 'diff', 'openWorktree', 'cancel', 'retry', 'delete'],
  // A blocked task's reason here is unknown (`other`): Retry and Show Output (see BY_REASON below).
  blocked: ['show', 'diff', 'openWorktree', 'cancel', 'retry', 'showOutput', 'delete'],
  done: ['show', 'diff', 'openWorktree', 'merge', 'delete'],
  merged: ['show', 'diff', 'openWorktree', 'delete'],
  failed: ['show', 'diff', 'openWorktree', 'retry', 'delete'],
  cancelled: ['show', 'diff', 'openWorktree', 'retry', 'delete'],
};

describe('taskVerbs (status × verb)', () => {
  for (const status of TASK_STATUSES) {
    it(`${status} → ${EXPECTED[status].join(', ')}`, () => {
      assert.deepEqual(taskVerbs(task(status)), EXPECTED[status]);
    });
    it(`${status} without worktree or branch yet → no diff, worktree or merge`, () => {
      assert.deepEqual(
        taskVerbs(task(status, true)),
        EXPECTED[status].filter((v) => !['diff', 'openWorktree', 'merge'].includes(v)),
      );
    });
  }

  it('never offers cancel on a failed task (it runs nothing and is not queued)', () => {
    assert.ok(!taskVerbs(task('failed')).includes('cancel'));
  });
});

/** A blocked task's own actions by reason, written out as issue 12 states them. */
const BY_REASON: Record<BlockedReason, TaskVerb[]> = {
  auth: ['show', 'diff', 'openWorktree', 'cancel', 'retry', 'setApiKey', 'delete'],
  budget: ['show', 'diff', 'openWorktree', 'cancel', 'retry', 'raiseBudget', 'delete'],
  quota: ['show', 'diff', 'openWorktree', 'cancel', 'retry', 'showOutput', 'delete'],
  other: ['show', 'diff', 'openWorktree', 'cancel', 'retry', 'showOutput', 'delete'],
};

const blocked = (reason: BlockedReason, lastError: string | null = null): Task => ({ ...task('blocked'), blockedReason: reason, lastError });

describe('a blocked task offers the cure of its reason', () => {
  for (const reason of Object.keys(BY_REASON) as BlockedReason[]) {
    it(`blocked by ${reason} → ${BY_REASON[reason].join(', ')}`, () => {
      assert.deepEqual(taskVerbs(blocked(reason)), BY_REASON[reason]);
    });
  }

  it('a git error (reason other) offers Retry and Show Output, never Set API Key', () => {
    const t = blocked('other', 'git worktree failed in /repo: fatal: invalid reference: HEAD');
    assert.ok(!taskVerbs(t).includes('setApiKey'));
    assert.throws(
      () => checkTaskVerb('setApiKey', t),
      /^RefusedError: Task 7 is blocked by an error outside the agent \(see the last error\); fix what the last error names \(Show Output has the whole log\), then Retry\.$/,
    );
  });

  it('Raise Budget is refused on an auth block, with what to do instead', () => {
    assert.throws(() => checkTaskVerb('raiseBudget', blocked('auth')), /Task 7 is blocked by the model's refusal of the API key \(or no key\); set the API key/);
  });

  it('has advice for every reason (the CLI prints it)', () => {
    for (const reason of Object.keys(BY_REASON) as BlockedReason[]) assert.match(BLOCKED_ADVICE[reason], /Retry\.$/);
  });

  it("Raise Budget opens the cap the gateway's refusal named", () => {
    const task7 = 'task 7 reached its budget: $5.0100 spent of $5 (borg.maxCostUsdPerTask). Raise the cap, then Retry the task.';
    const day = "today's budget is spent: $50.0100 of $50 (borg.maxCostUsdPerDay). Raise the cap and Retry, or wait until midnight.";
    assert.equal(budgetSettingOf({ lastError: task7 }), 'maxCostUsdPerTask');
    assert.equal(budgetSettingOf({ lastError: day }), 'maxCostUsdPerDay');
    assert.equal(budgetSettingOf({ lastError: null }), 'maxCostUsdPerTask');
    assert.equal(budgetSettingOf({ lastError: 'Raise the cap (borg.maxCostUsdPerTask / borg.maxCostUsdPerDay), then Retry.' }), 'maxCostUsdPerTask');
  });
});

describe('a merged task', () => {
  it('refuses a second merge, saying it is merged already', () => {
    assert.throws(() => checkTaskVerb('merge', task('merged')), /^RefusedError: Task 7 is already merged into main; there is nothing left to merge\.$/);
  });

  it('reads "merged into main", a done one "done", others their phase and attempt', () => {
    assert.equal(progressWords(task('merged')), 'merged into main');
    assert.equal(progressWords(task('done')), 'done');
    assert.equal(progressWords(task('impl')), 'impl · attempt 2/3');
  });

  it('runs nothing and cannot be retried or cancelled', () => {
    for (const v of ['retry', 'cancel', 'merge'] as TaskVerb[]) assert.ok(!taskVerbs(task('merged')).includes(v), v);
  });
});

describe('notificationVerbs (the buttons of a task-ended notification)', () => {
  it('done → Show Diff, Details; failed → Retry, Details', () => {
    assert.deepEqual(notificationVerbs(task('done')), ['diff', 'show']);
    assert.deepEqual(notificationVerbs(task('failed')), ['retry', 'show']);
  });

  it("blocked → its reason's cures, then Details", () => {
    assert.deepEqual(notificationVerbs(blocked('auth')), ['setApiKey', 'retry', 'show']);
    assert.deepEqual(notificationVerbs(blocked('budget')), ['raiseBudget', 'retry', 'show']);
    assert.deepEqual(notificationVerbs(blocked('other')), ['retry', 'showOutput', 'show']);
  });

  it('nothing for statuses that are not announced (cancelled by the user, merged, running)', () => {
    for (const s of ['cancelled', 'merged', 'impl', 'retry', 'backlog'] as TaskStatus[]) assert.deepEqual(notificationVerbs(task(s)), [], s);
  });

  it('no Show Diff for a done task without a branch', () => {
    assert.deepEqual(notificationVerbs(task('done', true)), ['show']);
  });
});

describe('isSkippedTest', () => {
  it('is the test run with no container that passed (borg.testCommand empty), nothing else', () => {
    assert.equal(isSkippedTest({ phase: 'test', agent: null, outcome: 'ok' }), true);
    assert.equal(isSkippedTest({ phase: 'test', agent: 'borg-test-3', outcome: 'ok' }), false);
    assert.equal(isSkippedTest({ phase: 'test', agent: null, outcome: 'blocked' }), false);
    assert.equal(isSkippedTest({ phase: 'impl', agent: null, outcome: 'ok' }), false);
  });
});

describe('checkTaskVerb agrees with taskVerbs', () => {
  for (const status of TASK_STATUSES) {
    for (const bare of [false, true]) {
      for (const verb of TASK_VERBS) {
        const t = task(status, bare);
        const fits = taskVerbs(t).includes(verb);
        it(`${verb} on a ${status} task${bare ? ' without branch' : ''}: ${fits ? 'allowed' : 'refused'}`, () => {
          if (fits) checkTaskVerb(verb, t);
          else
            assert.throws(
              () => checkTaskVerb(verb, t),
              (e: unknown) => e instanceof RefusedError && e.message.startsWith('Task 7 '),
            );
        });
      }
    }
  }

  it('says which statuses fit', () => {
    assert.throws(
      () => checkTaskVerb('cancel', task('failed')),
      /^RefusedError: Task 7 is failed; you can cancel a task that is backlog, spec, qa, impl, test, retry or blocked\. There is nothing to cancel\.$/,
    );
    assert.throws(() => checkTaskVerb('merge', task('impl')), /Task 7 is impl; you can merge a task that is done\./);
    assert.throws(() => checkTaskVerb('retry', task('done')), /you can retry a task that is retry, blocked, failed or cancelled/);
  });

  it('says what is missing when the status fits but the branch is not made yet', () => {
    assert.throws(() => checkTaskVerb('diff', task('backlog', true)), /Task 7 has no branch yet/);
  });
});

const PHASES: Phase[] = ['spec', 'qa', 'impl', 'test'];
const NEXT: Record<Phase, Partial<Task>> = {
  spec: { status: 'qa', phase: 'qa' },
  qa: { status: 'impl', phase: 'impl' },
  impl: { status: 'test', phase: 'test' },
  test: { status: 'done', lastError: null },
};

/** The verdict table, written out: Scheduler.apply() as it was, plus interrupted and lost. */
function expected(attempt: number, maxAttempts: number, phase: Phase, outcome: RunOutcome): Partial<Task> {
  const retryPhase: Phase = phase === 'test' ? 'impl' : phase;
  switch (outcome) {
    case 'ok':
      return NEXT[phase];
    case 'cancelled':
      return { status: 'cancelled' };
    case 'interrupted':
      return phase === 'test' ? { status: 'retry', phase: 'test', lastError: 'E' } : { status: phase, lastError: 'E' };
    case 'lost':
      return phase === 'test' ? { status: 'retry', phase: 'test', lastError: 'E' } : { status: phase, phase, lastError: 'E' };
    case 'blocked':
      return { status: 'blocked', phase, lastError: 'E', blockedReason: 'other', retryAt: null };
    case 'altered':
      return { status: 'failed', phase, lastError: 'E' };
    case 'failed':
      return attempt + 1 >= maxAttempts ? { status: 'failed', phase: retryPhase, attempt: attempt + 1, lastError: 'E' } : { status: 'retry', phase: retryPhase, attempt: attempt + 1, lastError: 'E' };
  }
}

describe('nextAfter (phase × outcome)', () => {
  for (const phase of PHASES) {
    for (const outcome of RUN_OUTCOMES) {
      for (const [attempt, label] of [
        [0, 'first attempt'],
        [2, 'last attempt'],
      ] as const) {
        it(`${phase} ${outcome} on the ${label}`, () => {
          assert.deepEqual(nextAfter({ attempt, maxAttempts: 3 }, phase, outcome, 'E'), expected(attempt, 3, phase, outcome));
        });
      }
    }
  }

  it("blocked keeps its reason and the upstream's retry time", () => {
    assert.deepEqual(nextAfter({ attempt: 0, maxAttempts: 5 }, 'impl', 'blocked', 'B', { reason: 'budget' }), {
      status: 'blocked',
      phase: 'impl',
      lastError: 'B',
      blockedReason: 'budget',
      retryAt: null,
    });
    assert.deepEqual(nextAfter({ attempt: 0, maxAttempts: 5 }, 'spec', 'blocked', 'Q', { reason: 'quota', retryAt: 42 }), {
      status: 'blocked',
      phase: 'spec',
      lastError: 'Q',
      blockedReason: 'quota',
      retryAt: 42,
    });
  });

  it('a failed test sends the task back to impl, spending an attempt', () => {
    assert.deepEqual(nextAfter({ attempt: 0, maxAttempts: 5 }, 'test', 'failed', 'boom'), { status: 'retry', phase: 'impl', attempt: 1, lastError: 'boom' });
  });

  it('a failed run on the last attempt fails the task at the phase Retry resumes', () => {
    assert.deepEqual(nextAfter({ attempt: 4, maxAttempts: 5 }, 'qa', 'failed', 'boom'), { status: 'failed', phase: 'qa', attempt: 5, lastError: 'boom' });
  });

  it('interrupted and lost spend no attempt, on the last attempt too, and the phase runs again', () => {
    for (const phase of PHASES) {
      for (const outcome of ['interrupted', 'lost'] as const) {
        const next = nextAfter({ attempt: 2, maxAttempts: 3 }, phase, outcome);
        assert.equal(next.attempt, undefined, `${phase} ${outcome}`);
        assert.notEqual(next.status, 'failed', `${phase} ${outcome}`);
        assert.equal(next.status, phase === 'test' ? 'retry' : phase, `${phase} ${outcome}`);
      }
    }
  });

  it('lost says in lastError that the container was removed outside Borg', () => {
    assert.match(String(nextAfter({ attempt: 0, maxAttempts: 3 }, 'impl', 'lost').lastError), /container was removed outside Borg.*no attempt spent/);
  });

  it('altered fails the task at once, even with attempts left', () => {
    assert.deepEqual(nextAfter({ attempt: 0, maxAttempts: 5 }, 'impl', 'altered', 'x'), { status: 'failed', phase: 'impl', lastError: 'x' });
  });
});

describe("package.json's Tasks menus read the task table", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    contributes: { menus: Record<string, Array<{ command: string; when: string; group?: string }>> };
  };
  const items = pkg.contributes.menus['view/item/context'].filter((m) => m.when.startsWith('view == borg.tasks'));
  const VERB_OF: Record<string, TaskVerb> = {
    'borg.showTask': 'show',
    'borg.showDiff': 'diff',
    'borg.openWorktree': 'openWorktree',
    'borg.mergeTask': 'merge',
    'borg.cancelTask': 'cancel',
    'borg.retryTask': 'retry',
    'borg.setApiKey': 'setApiKey',
    'borg.raiseBudget': 'raiseBudget',
    'borg.showOutput': 'showOutput',
    'borg.deleteTask': 'delete',
  };

  it('shows each command only where its verb is in the contextValue (Show Diff inline only beside Merge)', () => {
    for (const m of items) {
      const verb = m.command === 'borg.showDiff' && m.group?.startsWith('inline') ? 'merge' : VERB_OF[m.command];
      assert.equal(m.when, `view == borg.tasks && viewItem =~ /;${verb};/`, `${m.command} (${m.group})`);
    }
    assert.deepEqual(new Set(items.map((m) => VERB_OF[m.command])), new Set(TASK_VERBS));
  });
});
