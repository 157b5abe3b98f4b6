import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { after, afterEach, beforeEach, describe, it, mock } from 'node:test';
import { DockerWatch, RECONNECT_MAX_MS } from '../../src/core/dockerEvents';
import { agentLabels } from '../../src/core/labels';
import { countingEngine } from './countingEngine';
import { testRuntime } from './runtimeFixture';
import { FakeDocker } from './fakeDocker';

const WS = 'ws-unit-watch';
const MINUTE = 60_000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Lets promise callbacks run (the fake's calls resolve in microtasks; mocked timers do not advance by themselves). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A long Runtime over a counting FakeDocker, and a DockerWatch refreshing its Pipeline, as the extension wires them. */
async function rig() {
  const fake = new FakeDocker();
  const { engine, calls } = countingEngine(fake);
  const { rt } = await testRuntime({ engine, workspaceId: WS, dirs });
  const watch = new DockerWatch({ engine, workspace: WS, refresh: (full) => (full ? rt.start().then(() => rt.pipeline.refresh()) : rt.pipeline.refresh()) });
  return { fake, calls, rt, watch };
}

describe('DockerWatch: live refresh only while someone looks', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'] }));
  afterEach(() => mock.timers.reset());

  it('idle with the views hidden: no Docker call in 10 minutes (the Scheduler safety timer included)', async () => {
    const r = await rig();
    await r.rt.start(); // activation's first refresh
    await settle();
    r.calls.length = 0;
    r.watch.setActive(false);
    for (let i = 0; i < 10; i++) {
      mock.timers.tick(MINUTE);
      await settle();
    }
    assert.deepEqual(r.calls, []);
    r.watch.dispose();
    await r.rt.shutdown('detach');
  });

  it('idle and visible: one stream and one full refresh when it opens, then nothing (≤ 1 call a minute)', async () => {
    const r = await rig();
    await r.rt.start();
    r.calls.length = 0;
    r.watch.setActive(true);
    await settle();
    assert.deepEqual(r.calls, ['events', 'list']);
    for (let i = 0; i < 10; i++) {
      mock.timers.tick(MINUTE);
      await settle();
    }
    assert.deepEqual(r.calls, ['events', 'list'], 'no polling while the stream is open');
    r.watch.setActive(false);
    await settle();
    assert.equal(r.fake.openEventStreams, 0, 'hidden again: the stream is closed');
    r.watch.dispose();
    await r.rt.shutdown('detach');
  });

  it('a burst of events is one refresh, after the debounce', async () => {
    const r = await rig();
    await r.rt.start();
    r.watch.setActive(true);
    await settle();
    r.calls.length = 0;
    const c = r.fake.add({ name: 'u-worker-0', status: 'running', labels: agentLabels('worker', WS) });
    for (const action of ['create', 'start', 'attach']) r.fake.emitEvent(c.info.id, action);
    await settle();
    assert.deepEqual(r.calls, [], 'nothing before the debounce');
    mock.timers.tick(200);
    await settle();
    assert.deepEqual(r.calls, ['list']);
    assert.deepEqual(
      r.rt.pipeline.containers.map((x) => x.name),
      ['u-worker-0'],
    );
    r.watch.dispose();
    await r.rt.shutdown('detach');
  });

  it('Docker goes away: one refresh shows it, reopen attempts back off 0.5 s doubling to 30 s, and it recovers with a full refresh', async () => {
    const r = await rig();
    await r.rt.start();
    const ups: boolean[] = [];
    r.watch.onDidChangeConnection((up) => ups.push(up));
    r.watch.setActive(true);
    await settle();
    r.calls.length = 0;
    r.fake.goDown();
    await settle();
    assert.ok(r.rt.pipeline.dockerError, 'the refresh after the loss set the Docker error');
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      delays.push(r.watch.nextDelayMs);
      r.calls.length = 0;
      mock.timers.tick(r.watch.nextDelayMs);
      await settle();
      assert.deepEqual(r.calls, ['events'], 'one reopen attempt per delay, no refresh while it stays down');
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.equal(RECONNECT_MAX_MS, 30_000);
    r.fake.down = false;
    r.calls.length = 0;
    mock.timers.tick(r.watch.nextDelayMs);
    await settle();
    assert.deepEqual(r.calls, ['events', 'list'], 'reconnected: one full refresh');
    assert.equal(r.rt.pipeline.dockerError, undefined, 'the views recover without a reload');
    assert.deepEqual(ups, [true, false, true]);
    assert.equal(r.watch.nextDelayMs, 500, 'the backoff is reset');
    r.watch.dispose();
    await r.rt.shutdown('detach');
  });

  it('reconnect() (an endpoint change) drops the stream and opens a new one at once', async () => {
    const r = await rig();
    await r.rt.start();
    r.watch.setActive(true);
    await settle();
    r.calls.length = 0;
    r.watch.reconnect();
    await settle();
    assert.deepEqual(r.calls, ['events', 'list']);
    assert.equal(r.fake.openEventStreams, 1, 'the old stream was closed');
    r.watch.dispose();
    await settle();
    assert.equal(r.fake.openEventStreams, 0);
    await r.rt.shutdown('detach');
  });
});
