import { describe, it, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { agentLabels } from '../../src/core/labels';
import { PipelineStoppedError } from '../../src/core/errors';
import { LaunchResult } from '../../src/core/pipeline';
import { Store } from '../../src/core/store';
import { cleanupAll, containerNames, docker, harness, preexisting, waitFor, withTimeout } from './helpers';

afterEach(cleanupAll);
after(cleanupAll);

async function runningNames(prefix: string): Promise<string[]> {
  const rows = await docker.listContainers({ filters: { name: [`^/${prefix}-`], status: ['running'] } });
  return rows.map((r) => r.Names[0].slice(1)).sort();
}

describe('agent slots', () => {
  it('maxParallelAgents 2: of 3 launches 2 run and 1 queues; all three finish after joinAgents()', async () => {
    const h = await harness({ settings: { maxParallelAgents: 2 } });
    const settled: boolean[] = [false, false, false];
    const launches = [0, 1, 2].map((i) =>
      h.pipeline.launch('worker', { input: { sleepSeconds: 2 } }).finally(() => {
        settled[i] = true;
      }),
    );
    const firstTwo = await withTimeout(Promise.all(launches.slice(0, 2)), 10_000, 'first two launches');
    assert.equal(h.pipeline.maxParallel, 2);
    assert.equal(h.pipeline.runningCount, 2);
    assert.equal(h.pipeline.queuedCount, 1);
    assert.equal(settled[2], false, 'the third launch waits for a slot');
    assert.deepEqual(await runningNames(h.prefix), firstTwo.map((r) => r.name).sort());
    // The queued launch makes its container ahead (created, never started): only its start waits for the slot.
    await waitFor(async () => (await containerNames(h.prefix)).length === 3, 10_000, 'the queued launch to create its container');
    const ahead = (await containerNames(h.prefix)).find((n) => !firstTwo.some((r) => r.name === n))!;
    assert.equal((await docker.getContainer(ahead).inspect()).State.Status, 'created', 'made ahead, not started');
    assert.equal(settled[2], false, 'the third launch still waits for a slot');

    const third = await withTimeout(launches[2], 15_000, 'third launch');
    assert.equal(h.pipeline.queuedCount, 0);
    assert.ok(h.pipeline.runningCount <= 2);

    await withTimeout(h.pipeline.joinAgents(), 15_000, 'joinAgents');
    const all: LaunchResult[] = [...firstTwo, third];
    assert.equal(new Set(all.map((r) => r.name)).size, 3);
    for (const r of all) assert.equal(h.pipeline.agents.get(r.name)?.state, 'exited', r.name);
    assert.equal(h.pipeline.runningCount, 0);
    assert.equal(h.pipeline.queuedCount, 0);

    // Never three at once: the third started only after one of the first two had finished.
    const [a, b, c] = await Promise.all(all.map((r) => docker.getContainer(r.id).inspect()));
    const firstFinish = Math.min(Date.parse(a.State.FinishedAt), Date.parse(b.State.FinishedAt));
    assert.ok(Date.parse(c.State.StartedAt) >= firstFinish, `third started ${c.State.StartedAt}, first finish ${new Date(firstFinish).toISOString()}`);
  });
});

describe('agent slots (live setting)', () => {
  it('a raised maxParallelAgents applies at the next launch without a restart', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    const a = await h.pipeline.launch('worker', { input: { sleepSeconds: 3 } });
    h.settings.maxParallelAgents = 2;
    const b = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 1 } }), 10_000, 'second launch');
    assert.equal(h.pipeline.agents.get(a.name)?.state, 'running', 'the second launch did not wait for the first agent');
    assert.equal(h.pipeline.maxParallel, 2);
    assert.equal(h.pipeline.runningCount, 2);
    assert.deepEqual(await runningNames(h.prefix), [a.name, b.name].sort());
    await withTimeout(h.pipeline.joinAgents(), 15_000, 'joinAgents');
  });
});

describe('joinAgents', () => {
  it('resolves with nothing running, twice at once, again afterwards, and after a failed launch', async () => {
    const h = await harness();
    await withTimeout(h.pipeline.joinAgents(), 1_000, 'joinAgents on an idle pipeline');

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    const agent = h.pipeline.agents.get(r.name)!;
    assert.equal(agent.state, 'running');
    await withTimeout(Promise.all([h.pipeline.joinAgents(), h.pipeline.joinAgents()]), 10_000, 'two joinAgents at once');
    assert.equal(agent.state, 'exited');
    const t0 = Date.now();
    await withTimeout(h.pipeline.joinAgents(), 1_000, 'joinAgents again');
    assert.ok(Date.now() - t0 < 500);

    await assert.rejects(h.pipeline.launch('worker', { image: 'borg-no-such-image:latest' }));
    await withTimeout(h.pipeline.joinAgents(), 1_000, 'joinAgents after a failed launch');
  });

  it('awaits a launch still in flight (queued for a slot)', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    void h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    void h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    await withTimeout(h.pipeline.joinAgents(), 15_000, 'joinAgents');
    const states = [...h.pipeline.agents.values()].map((a) => a.state);
    assert.deepEqual(states, ['exited', 'exited']);
    assert.equal(h.pipeline.runningCount, 0);
  });
});

describe('shutdown', () => {
  it("'detach' resolves fast, agents end detached, containers keep running, the DB file holds 'detached'", async () => {
    const h = await harness();
    const rs = await Promise.all([1, 2].map(() => h.pipeline.launch('worker', { input: { sleepSeconds: 30 } })));
    const t0 = Date.now();
    await withTimeout(h.pipeline.shutdown('detach'), 10_000, "shutdown('detach')");
    const took = Date.now() - t0;
    assert.ok(took < 3_000, `shutdown('detach') took ${took} ms`);

    for (const r of rs) {
      assert.equal(h.pipeline.agents.get(r.name)?.state, 'detached', r.name);
      const info = await docker.getContainer(r.id).inspect();
      assert.equal(info.State.Running, true, `${r.name} still runs`);
    }
    assert.equal(h.pipeline.isStopped, true);
    await assert.rejects(h.pipeline.launch('worker'), PipelineStoppedError);

    assert.ok(fs.existsSync(h.dbFile), 'the DB file was written');
    const reread = await Store.open(h.dbFile);
    assert.equal(reread.recoveredFrom, undefined);
    for (const r of rs) {
      const row = reread.getContainer(r.name);
      assert.equal(row?.state, 'detached', r.name);
      assert.equal(row?.id, r.id);
      assert.ok(reread.listEvents(r.name).some((e) => e.kind === 'detached'));
    }
  });

  it("'stop' stops the containers (SIGTERM within the grace) and agents end stopped", async () => {
    const h = await harness({ settings: { stopGraceSeconds: 2 } });
    const rs = await Promise.all([1, 2].map(() => h.pipeline.launch('worker', { input: { sleepSeconds: 30 } })));
    // The demo agent installs its TERM trap after reading stdin; as PID 1 it ignores TERM before that.
    await waitFor(() => rs.every((r) => /^working /.test(h.pipeline.agents.get(r.name)?.lastLine ?? '')), 10_000, 'both agents working');
    const t0 = Date.now();
    await withTimeout(h.pipeline.shutdown('stop'), 15_000, "shutdown('stop')");
    const took = Date.now() - t0;
    assert.ok(took < 5_000, `shutdown('stop') took ${took} ms`);

    for (const r of rs) {
      const agent = h.pipeline.agents.get(r.name)!;
      assert.equal(agent.state, 'stopped', r.name);
      assert.equal(agent.exitCode, 143, 'the demo agent traps TERM and exits 143');
      const info = await docker.getContainer(r.id).inspect();
      assert.equal(info.State.Running, false);
      assert.equal(info.State.ExitCode, 143);
    }
    const reread = await Store.open(h.dbFile);
    for (const r of rs) assert.equal(reread.getContainer(r.name)?.state, 'stopped', r.name);
  });

  it('rejects launches still queued for a slot with PipelineStoppedError', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    const first = await h.pipeline.launch('worker', { input: { sleepSeconds: 30 } });
    const queued = h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    await waitFor(() => h.pipeline.queuedCount === 1, 2_000, 'the second launch to queue');
    const done = withTimeout(h.pipeline.shutdown('stop'), 15_000, "shutdown('stop')");
    await assert.rejects(queued, PipelineStoppedError);
    await done;
    assert.equal(h.pipeline.agents.get(first.name)?.state, 'stopped');
    assert.deepEqual(await containerNames(h.prefix), [first.name]);
  });
});

describe('watchdog', () => {
  it('an agent that ignores SIGTERM past agentTimeoutSeconds is killed: timed-out, exit 137', async () => {
    const h = await harness({ settings: { agentTimeoutSeconds: 1, stopGraceSeconds: 1 } });
    // A monotonic clock: Date.now() can step back (clock sync) and read a shorter life than the agent had.
    const t0 = performance.now();
    const r = await h.pipeline.launch('worker', { input: { mode: 'ignore-term', sleepSeconds: 30 } });
    const agent = h.pipeline.agents.get(r.name)!;
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
    const took = Math.round(performance.now() - t0);
    assert.ok(took >= 1_900, `ended after ${took} ms: before timeout + grace`);
    assert.ok(took < 8_000, `ended after ${took} ms`);

    assert.equal(agent.state, 'timed-out');
    assert.equal(agent.exitCode, 137);
    assert.equal(agent.oomKilled, false);
    const info = await docker.getContainer(r.id).inspect();
    assert.equal(info.State.Status, 'exited');
    assert.equal(info.State.ExitCode, 137);
    assert.equal(info.State.OOMKilled, false);
    assert.equal(h.store.getContainer(r.name)?.state, 'timed-out');
    assert.equal(h.store.getContainer(r.name)?.exitCode, 137);
  });

  it('agentTimeoutSeconds 0 turns the watchdog off', async () => {
    const h = await harness({ settings: { agentTimeoutSeconds: 0, stopGraceSeconds: 1 } });
    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 2 } });
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
    assert.equal(h.pipeline.agents.get(r.name)?.state, 'exited');
  });
});

describe('refresh', () => {
  it("lists this workspace's containers only", async () => {
    const h = await harness();
    const other = await harness();
    const mine = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    const theirs = await other.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    const sameprefixOtherWs = await preexisting(h, { n: 7, labels: agentLabels('worker', other.workspaceId), script: 'exit 0', state: 'exited' });
    const foreign = await preexisting(h, { n: 8, labels: 'none', script: 'exit 0', state: 'exited' });

    await withTimeout(h.pipeline.refresh(), 10_000, 'refresh');

    const names = h.pipeline.containers.map((c) => c.name);
    assert.deepEqual(names, [mine.name]);
    const c = h.pipeline.containers[0];
    assert.equal(c.id, mine.id);
    assert.equal(c.workspace, h.workspaceId);
    assert.equal(c.managed, true);
    assert.equal(c.persona, 'worker');
    assert.ok(!names.includes(theirs.name));
    assert.ok(!names.includes(sameprefixOtherWs.name));
    assert.ok(!names.includes(foreign.name));
    assert.equal(h.pipeline.dockerError, undefined);

    await withTimeout(other.pipeline.refresh(), 10_000, 'refresh other');
    assert.deepEqual(other.pipeline.containers.map((x) => x.name).sort(), [sameprefixOtherWs.name, theirs.name].sort());

    await withTimeout(Promise.all([h.pipeline.joinAgents(), other.pipeline.joinAgents()]), 10_000, 'joinAgents');
    await withTimeout(h.pipeline.refresh(), 10_000, 'refresh after exit');
    assert.equal(h.pipeline.containers.find((x) => x.name === mine.name)?.status, 'exited');
    assert.equal(h.pipeline.containers.find((x) => x.name === mine.name)?.exitCode, 0);
  });
});
