import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { after, describe, it } from 'node:test';
import { agentLabels, LABEL_PHASE, LABEL_TASK } from '../../src/core/labels';
import { FakeDocker } from './fakeDocker';
import { testRuntime } from './runtimeFixture';

const WS = 'ws-unit-runtime';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function runtime(kind: 'long' | 'oneShot' = 'long') {
  return testRuntime({ engine: new FakeDocker(), workspaceId: WS, dirs, kind });
}

describe('Runtime: one start, one shutdown', () => {
  it('start(): recovery first, orphaned test containers killed, a task left in test reruns its test phase, then dispatch opens', async () => {
    const r = await runtime();
    const t = r.rt.tasks.add({ title: 'Mid-test', description: '', repo: r.dir, maxAttempts: 5 });
    r.rt.tasks.update(t.id, { status: 'test', phase: 'test', attempt: 1 });
    const test = r.engine.add({ name: 'u-test-0', status: 'running', labels: agentLabels('test', WS, { [LABEL_TASK]: String(t.id), [LABEL_PHASE]: 'test' }) });
    r.rt.scheduler.pause(); // look at the state start() leaves, before anything is dispatched
    assert.equal(r.rt.scheduler.isStarted, false);
    const report = await r.rt.start();
    assert.deepEqual(report.adopted, ['u-test-0']);
    assert.deepEqual(report.retest, [t.id]);
    assert.deepEqual(test.stops, [0], 'the orphaned test container was stopped at once');
    assert.deepEqual(
      (({ status, phase, attempt }) => ({ status, phase, attempt }))(r.rt.tasks.get(t.id)!),
      { status: 'retry', phase: 'test', attempt: 1 },
      'the test phase runs again, no attempt spent',
    );
    assert.equal(r.rt.scheduler.isStarted, true);
    assert.equal(await r.rt.start(), report, 'a second start returns the first report');
    await r.rt.shutdown('detach');
    assert.equal(r.store.isDirty, false);
  });

  it('a task blocked on quota goes back in the queue once the retry time passed; budget and auth blocks wait for Retry', async () => {
    const r = await runtime();
    const add = (title: string) => r.rt.tasks.add({ title, description: '', repo: r.dir, maxAttempts: 5 });
    const due = add('Quota, retry time passed');
    const later = add('Quota, retry time ahead');
    const budget = add('Budget');
    r.rt.tasks.update(due.id, { status: 'blocked', phase: 'qa', blockedReason: 'quota', retryAt: Date.now() - 1 });
    r.rt.tasks.update(later.id, { status: 'blocked', phase: 'qa', blockedReason: 'quota', retryAt: Date.now() + 3_600_000 });
    r.rt.tasks.update(budget.id, { status: 'blocked', phase: 'qa', blockedReason: 'budget' });
    r.rt.scheduler.pause();
    await r.rt.start();
    r.rt.scheduler.resume(); // dispatches
    r.rt.scheduler.pause();
    await r.rt.scheduler.join();
    const resumed = r.store
      .listEvents()
      .filter((e) => e.kind === 'task-quota-resumed')
      .map((e) => (JSON.parse(e.detail ?? '{}') as { taskId: number }).taskId);
    assert.deepEqual(resumed, [due.id], 'only the task past its retry time went back in the queue');
    assert.notEqual(r.rt.tasks.get(due.id)!.blockedReason, 'quota', 'it was dispatched again (here it blocks on the folder being no repository)');
    assert.equal(r.rt.tasks.get(later.id)!.status, 'blocked');
    assert.equal(r.rt.tasks.get(budget.id)!.status, 'blocked');
    assert.equal(r.rt.scheduler.unblockAll(), 2, 'Set API Key unblocks the quota block and the other one, not the budget one');
    assert.equal(r.rt.tasks.get(budget.id)!.status, 'blocked');
    await r.rt.shutdown('detach');
  });

  it('a start that finds Docker down fails, dispatches nothing, and the next start tries again', async () => {
    const r = await runtime();
    r.engine.down = true;
    await assert.rejects(r.rt.start(), /not reachable/);
    assert.equal(r.rt.scheduler.isStarted, false);
    r.engine.down = false;
    r.rt.scheduler.pause();
    await r.rt.start();
    assert.equal(r.rt.scheduler.isStarted, true);
    await r.rt.shutdown('detach');
  });

  it('a one-shot runtime neither adopts nor dispatches; its launches do not wait for agents it did not start', async () => {
    const r = await runtime('oneShot');
    r.engine.add({ name: 'u-worker-0', status: 'running', labels: agentLabels('worker', WS) });
    await r.rt.start();
    assert.equal(r.rt.pipeline.agents.size, 0, 'nothing adopted');
    assert.equal(r.rt.scheduler.isStarted, false);
    const { name } = await r.rt.pipeline.launch('worker');
    assert.equal(name, 'u-worker-1');
    await r.rt.shutdown('detach');
    assert.equal(r.engine.get('u-worker-0').info.status, 'running');
  });

  it('shutdown is idempotent and closes the store', async () => {
    const r = await runtime();
    const a = r.rt.shutdown('stop');
    const b = r.rt.shutdown('detach');
    assert.equal(a, b);
    await a;
    assert.equal(r.rt.pipeline.isStopped, true);
  });
});
