import { describe, it, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidInputError } from '../../src/core/errors';
import { phaseToRun } from '../../src/core/scheduler';
import { Store } from '../../src/core/store';
import { TaskStore, validateTaskText } from '../../src/core/taskStore';

describe('TaskStore', () => {
  let dir: string;
  let store: Store;
  let tasks: TaskStore;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-tasks-'));
    store = await Store.open(path.join(dir, 'borg.sqlite'));
    tasks = new TaskStore(store);
  });
  after(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('adds a task in backlog with the text as given', () => {
    const t = tasks.add({ title: `it's "quoted" $(x); DROP TABLE tasks;--`, description: 'multi\nline', repo: '/r', maxAttempts: 5 });
    assert.equal(t.status, 'backlog');
    assert.equal(t.phase, 'spec');
    assert.equal(t.title, `it's "quoted" $(x); DROP TABLE tasks;--`);
    assert.equal(tasks.get(t.id)?.description, 'multi\nline');
  });

  it('dispatches retry > impl > qa > spec > backlog, then oldest first', () => {
    for (const status of ['backlog', 'spec', 'qa', 'impl', 'retry', 'done', 'failed', 'blocked']) {
      const t = tasks.add({ title: status, description: '', repo: '/r', maxAttempts: 5 });
      tasks.update(t.id, { status: status as never });
    }
    const newer = tasks.add({ title: 'newer impl', description: '', repo: '/r', maxAttempts: 5 });
    tasks.update(newer.id, { status: 'impl' });
    const order = tasks.dispatchable().map((t) => t.title);
    assert.deepEqual(order.slice(0, 4), ['retry', 'impl', 'newer impl', 'qa']);
    assert.equal(order[0], 'retry');
    assert.deepEqual(
      order.filter((t) => t.includes('impl')),
      ['impl', 'newer impl'],
    );
    assert.ok(order.indexOf('qa') < order.indexOf('spec'));
    assert.ok(order.indexOf('spec') < order.indexOf('backlog'));
    for (const s of ['done', 'failed', 'blocked']) assert.ok(!order.includes(s), `${s} is not dispatched`);
  });

  it('records runs with their outcome', () => {
    const t = tasks.add({ title: 'runs', description: '', repo: '/r', maxAttempts: 5 });
    const id = tasks.startRun({ taskId: t.id, phase: 'spec', attempt: 0, agent: 'borg-manager-0' });
    tasks.finishRun(id, { outcome: 'ok', exitCode: 0, costUsd: 0.5 });
    const [run] = tasks.runs(t.id);
    assert.equal(run.outcome, 'ok');
    assert.equal(run.costUsd, 0.5);
    assert.equal(run.agent, 'borg-manager-0');
    assert.ok(run.finishedAt! >= run.startedAt);
  });
});

describe('validateTaskText', () => {
  it('folds the title to one line and keeps the description', () => {
    assert.deepEqual(validateTaskText('  a\nb  ', ' x\r\ny '), { title: 'a b', description: 'x\ny' });
  });

  it('refuses an empty or too long title with a message that says what to do', () => {
    assert.throws(
      () => validateTaskText('  ', ''),
      (e) => e instanceof InvalidInputError && /needs a title/.test(e.message),
    );
    assert.throws(() => validateTaskText('x'.repeat(201), ''), /keep it under 200/);
  });
});

describe('phaseToRun', () => {
  const base = {
    id: 1,
    title: 't',
    description: '',
    repo: '/r',
    baseBranch: null,
    branch: null,
    worktree: null,
    attempt: 0,
    maxAttempts: 5,
    lastError: null,
    blockedReason: null,
    retryAt: null,
    createdAt: 0,
    updatedAt: 0,
    dispatchedAt: null,
  };
  it('runs spec for a backlog task and the recorded phase for retry/blocked', () => {
    assert.equal(phaseToRun({ ...base, status: 'backlog', phase: 'spec' }), 'spec');
    assert.equal(phaseToRun({ ...base, status: 'retry', phase: 'impl' }), 'impl');
    assert.equal(phaseToRun({ ...base, status: 'blocked', phase: 'qa' }), 'qa');
    assert.equal(phaseToRun({ ...base, status: 'qa', phase: 'qa' }), 'qa');
  });
});
