/** `borg tasks show` in words (cli/tasks.ts `describeTask`): a blocked task's reason, the spend, each run's tokens and cost. */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { describeTask } from '../../src/cli/tasks';
import type { Task, TaskRun } from '../../src/core/taskStore';

const T0 = Date.UTC(2025, 5, 14, 12, 0, 0);

function task(fields: Partial<Task> = {}): Task {
  return {
    id: 7,
    title: 'Fix it',
    description: '',
    repo: '/repo',
    baseBranch: 'main',
    branch: 'borg/task-7',
    worktree: '/wt/task-7',
    status: 'impl',
    phase: 'impl',
    attempt: 1,
    maxAttempts: 3,
    lastError: null,
    blockedReason: null,
    retryAt: null,
    createdAt: T0,
    updatedAt: T0,
    dispatchedAt: null,
    ...fields,
  };
}

function run(fields: Partial<TaskRun>): TaskRun {
  return {
    id: 1,
    taskId: 7,
    phase: 'spec',
    attempt: 0,
    agent: 'borg-manager-1',
    outcome: 'ok',
    exitCode: 0,
    durationMs: 1500,
    sessionId: null,
    costUsd: null,
    inputTokens: null,
    outputTokens: null,
    output: null,
    streamFile: null,
    error: null,
    commitSha: null,
    startedAt: T0,
    finishedAt: T0 + 1500,
    ...fields,
  };
}

describe('describeTask', () => {
  it('gives each run its tokens and cost, and the total of the runs', () => {
    const text = describeTask(
      task(),
      [
        run({ inputTokens: 1234, outputTokens: 567, costUsd: 0.0123 }),
        run({ id: 2, phase: 'test', agent: 'borg-test-2', costUsd: null }),
        run({ id: 3, phase: 'qa', inputTokens: 10_000, outputTokens: 33, costUsd: 0.05 }),
      ],
      0.0623,
    );
    assert.match(text, /\n {2}spent {5}\$0\.0623 on the model \(all runs\)\n/);
    assert.match(text, /\n {2}STARTED .* COMMIT +USAGE +ERROR\n/);
    assert.match(text, /spec +0 +borg-manager-1 +ok +0 +1\.5 s +- +in 1,234 · out 567 tok · \$0\.0123\n/);
    assert.match(text, /test +0 +borg-test-2 +ok +0 +1\.5 s +- +-\n/, 'a run without metering shows a dash');
    assert.match(text, /\n {2}total {5}in 11,234 · out 600 tok · \$0\.0623 \(2 runs\)$/);
    assert.doesNotMatch(text, /blocked/);
  });

  it('says why a blocked task waits and until when', () => {
    const text = describeTask(task({ status: 'blocked', blockedReason: 'quota', retryAt: Date.UTC(2025, 5, 14, 14, 5, 0) }), []);
    assert.match(
      text,
      /\n {2}status {4}blocked \(phase impl\), attempt 1\/3\n {2}blocked {3}quota, retry after 2025-06-14 14:05:00Z\n {2}to do {5}wait for the rate limit[^\n]*\n {2}spent {5}\$0\.00 on the model/,
    );
    assert.match(describeTask(task({ status: 'blocked', blockedReason: 'budget' }), []), /\n {2}blocked {3}budget\n {2}to do {5}raise the cap \(Borg: Raise Budget…, or borg\.maxCostUsdPerTask/);
    assert.match(describeTask(task({ status: 'blocked' }), []), /\n {2}blocked {3}other\n {2}to do {5}fix what the last error names/);
    assert.match(describeTask(task(), []), /runs: none yet$/);
  });

  it('reads "tests skipped" for a test phase that ran no test command', () => {
    const text = describeTask(task({ status: 'done' }), [run({ id: 2, phase: 'test', agent: null, exitCode: null, durationMs: 0 })]);
    assert.match(text, /test +0 +- +tests skipped +- /);
    assert.doesNotMatch(text, / ok /);
  });

  it('says "done" and "merged into main" instead of the last phase and attempt', () => {
    assert.match(describeTask(task({ status: 'done', phase: 'test' }), []), /\n {2}status {4}done\n/);
    assert.match(describeTask(task({ status: 'merged', phase: 'test' }), []), /\n {2}status {4}merged into main\n/);
  });
});
