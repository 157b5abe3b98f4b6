/**
 * Recovery on restart (issue "Agents that are always joined … recovery on restart"): a new
 * Pipeline on the same database, state dirs, prefix and workspace adopts the containers an
 * earlier one left running, collects the ones that exited meanwhile and marks vanished ones
 * lost; plus Stop All and the `queued` list. Real dockerd, demo image.
 */
import { describe, it, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { DockerEngine } from '../../src/core/engine';
import { InterruptedError } from '../../src/core/errors';
import { LaunchResult, Pipeline } from '../../src/core/pipeline';
import { Store } from '../../src/core/store';
import { cleanupAll, containerNames, DEMO_IMAGE, docker, eventKinds, harness, Harness, inspectOrUndefined, lastEventDetail, preexisting, sleep, waitFor, withTimeout } from './helpers';

afterEach(cleanupAll);
after(cleanupAll);

/** The compiled core modules the child process of the kill -9 test requires. */
const CORE_OUT = path.resolve(__dirname, '../../src/core');

/** Launches `inputs` on the harness's first pipeline, then shuts it down with 'detach' (the containers keep running). */
async function launchAndDetach(h: Harness, inputs: Array<Record<string, unknown>>, opts: { timeoutSeconds?: number } = {}): Promise<LaunchResult[]> {
  const rs = await withTimeout(Promise.all(inputs.map((input) => h.pipeline.launch('worker', { input, ...opts }))), 15_000, 'launches');
  await withTimeout(h.pipeline.shutdown('detach'), 10_000, "shutdown('detach')");
  for (const r of rs) assert.equal(h.store.getContainer(r.name)?.state, 'detached', `${r.name} detached by the earlier pipeline`);
  return rs;
}

/** Waits until Docker reports the container as not running; returns its inspect. */
async function waitExited(id: string, ms = 15_000) {
  await waitFor(async () => (await docker.getContainer(id).inspect()).State.Running === false, ms, `${id.slice(0, 12)} to exit`);
  return docker.getContainer(id).inspect();
}

function count<T>(xs: T[], x: T): number {
  return xs.filter((y) => y === x).length;
}

describe('recover(): adopt', () => {
  it('adopts a running container left by a detached earlier pipeline: agents map, runningCount, output, exit recorded', async () => {
    const h = await harness();
    const [r] = await launchAndDetach(h, [{ sleepSeconds: 3 }]);
    assert.equal((await docker.getContainer(r.id).inspect()).State.Running, true, 'still running after detach');

    const p2 = h.newPipeline();
    const lines: Array<{ agent: string; line: string }> = [];
    p2.onDidOutput((e) => lines.push(e));
    const report = await withTimeout(p2.recover(), 10_000, 'recover');
    assert.deepEqual(report, { adopted: [r.name], collected: [], lost: [], removed: [], killed: [] });

    const agent = p2.agents.get(r.name);
    assert.ok(agent, 'the new pipeline follows the adopted agent');
    assert.equal(agent.state, 'running');
    assert.equal(agent.id, r.id);
    assert.equal(agent.persona, 'worker');
    assert.equal(p2.runningCount, 1);
    assert.equal(h.store.getContainer(r.name)?.state, 'running', 'row back to running while adopted');
    assert.equal(lastEventDetail(h.store, r.name, 'adopted')?.id, r.id);

    await withTimeout(agent.done, 15_000, 'the adopted agent to exit');
    assert.equal(agent.state, 'exited');
    assert.equal(agent.exitCode, 0);
    assert.equal(p2.runningCount, 0, 'the adopted agent released its slot');

    const mine = lines.filter((l) => l.agent === r.name).map((l) => l.line);
    assert.ok(
      mine.some((l) => /working \d+\/3/.test(l)),
      `progress lines after adoption, got ${JSON.stringify(mine)}`,
    );
    assert.ok(
      mine.some((l) => l.includes('"result":"done"')),
      `the final result line arrived, got ${JSON.stringify(mine)}`,
    );
    assert.ok(lines.every((l) => l.agent === r.name));

    const row = h.store.getContainer(r.name);
    assert.equal(row?.state, 'exited');
    assert.equal(row?.exitCode, 0);
    assert.equal(row?.id, r.id);
    const kinds = eventKinds(h.store, r.name);
    assert.equal(count(kinds, 'adopted'), 1, kinds.join(','));
    assert.ok(kinds.indexOf('detached') < kinds.indexOf('adopted') && kinds.indexOf('adopted') < kinds.lastIndexOf('exited'), kinds.join(','));
  });

  it("the adopted agent's watchdog counts from Docker's StartedAt, not from adoption, with the budget on its label", async () => {
    const h = await harness();
    // The budget travels with the container (borg.timeout): the adopting pipeline's own setting (600 s) does not apply.
    const [r] = await launchAndDetach(h, [{ mode: 'ignore-term', sleepSeconds: 60 }], { timeoutSeconds: 4 });
    await sleep(2_000);

    // Its own engine, so the moment the watchdog calls stop can be recorded.
    const engine = new DockerEngine();
    const stopCalls: number[] = [];
    const realStop = engine.stop.bind(engine);
    engine.stop = (id: string, grace: number) => {
      stopCalls.push(Date.now());
      return realStop(id, grace);
    };
    const p2 = h.newPipeline({ engine, settings: { agentTimeoutSeconds: 600, stopGraceSeconds: 1 } });
    const t0 = Date.now();
    const report = await withTimeout(p2.recover(), 10_000, 'recover');
    assert.deepEqual(report.adopted, [r.name]);
    const agent = p2.agents.get(r.name)!;
    const started = Date.parse((await docker.getContainer(r.id).inspect()).State.StartedAt);
    assert.equal(agent.startedAt, started, "agent.startedAt is Docker's StartedAt");
    assert.ok(t0 - agent.startedAt >= 1_900, `started ${t0 - agent.startedAt} ms before adoption`);

    await withTimeout(agent.done, 10_000, 'the watchdog to end the adopted agent');
    const elapsed = agent.finishedAt! - t0;
    assert.equal(agent.state, 'timed-out');
    assert.equal(agent.exitCode, 137, 'ignores SIGTERM: killed after the grace');
    assert.equal(stopCalls.length, 1, 'the watchdog stopped it once');
    const firedAfterStart = stopCalls[0] - agent.startedAt;
    const firedAfterAdoption = stopCalls[0] - t0;
    assert.ok(firedAfterStart >= 3_950 && firedAfterStart < 4_600, `the watchdog fired ${firedAfterStart} ms after StartedAt (budget 4000)`);
    assert.ok(firedAfterAdoption < 2_600, `the watchdog fired ${firedAfterAdoption} ms after adoption; counting from adoption would be ≥ 4000`);
    // timeout 4 s + grace 1 s from adoption would end it ≥ 5 s after adoption.
    assert.ok(elapsed < 4_300, `ended ${elapsed} ms after adoption; counting from adoption would take ≥ 5000`);

    const info = await docker.getContainer(r.id).inspect();
    const lived = Date.parse(info.State.FinishedAt) - Date.parse(info.State.StartedAt);
    assert.ok(lived >= 4_500, `lived ${lived} ms: the watchdog (4 s) + grace (1 s) must not fire early`);
    assert.equal(h.store.getContainer(r.name)?.state, 'timed-out');
    assert.equal(h.store.getContainer(r.name)?.exitCode, 137);
  });

  it('stopAll() stops an adopted agent too', async () => {
    const h = await harness();
    const [r] = await launchAndDetach(h, [{ sleepSeconds: 20 }]);
    const p2 = h.newPipeline();
    assert.deepEqual((await withTimeout(p2.recover(), 10_000, 'recover')).adopted, [r.name]);
    await withTimeout(p2.stopAll(), 10_000, 'stopAll');
    assert.equal(p2.agents.get(r.name)?.state, 'stopped');
    assert.equal(p2.runningCount, 0);
    assert.equal((await docker.getContainer(r.id).inspect()).State.Running, false);
    assert.equal(h.store.getContainer(r.name)?.state, 'stopped');
  });
});

describe('recover(): collect', () => {
  it('records containers that exited while nobody followed them: exit 3 → crashed, exit 0 → exited', async () => {
    const h = await harness();
    const [bad, good] = await launchAndDetach(h, [
      { sleepSeconds: 2, exitCode: 3 },
      { sleepSeconds: 2, exitCode: 0 },
    ]);
    assert.equal((await waitExited(bad.id)).State.ExitCode, 3);
    assert.equal((await waitExited(good.id)).State.ExitCode, 0);
    assert.equal(h.store.getContainer(bad.name)?.state, 'detached', 'nobody recorded the exit yet');

    const p2 = h.newPipeline();
    const report = await withTimeout(p2.recover(), 10_000, 'recover');
    assert.deepEqual(report.adopted, []);
    assert.deepEqual(report.lost, []);
    assert.deepEqual([...report.collected].sort(), [bad.name, good.name].sort());
    assert.equal(p2.runningCount, 0);
    assert.equal(p2.agents.size, 0, 'exited containers are not followed');

    const b = h.store.getContainer(bad.name);
    assert.equal(b?.state, 'crashed');
    assert.equal(b?.exitCode, 3);
    assert.equal(b?.oomKilled, false);
    const g = h.store.getContainer(good.name);
    assert.equal(g?.state, 'exited');
    assert.equal(g?.exitCode, 0);
    assert.equal(lastEventDetail(h.store, bad.name, 'collected')?.exitCode, 3);
    assert.equal(lastEventDetail(h.store, good.name, 'collected')?.exitCode, 0);
  });
});

describe('recover(): lost', () => {
  it("marks a detached row whose container was removed lost; leaves another workspace's rows alone", async () => {
    const h = await harness();
    const [r] = await launchAndDetach(h, [{ sleepSeconds: 30 }]);
    await docker.getContainer(r.id).remove({ force: true });

    const otherWs = `${h.workspaceId}-other`;
    const theirs = [
      { name: `${h.prefix}-worker-90`, state: 'detached' },
      { name: `${h.prefix}-worker-91`, state: 'running' },
    ];
    for (const t of theirs) {
      h.store.upsertContainer({ name: t.name, id: 'f'.repeat(64), persona: 'worker', state: t.state, exitCode: null, oomKilled: false, workspace: otherWs });
    }
    // A row from before schema v2 (no workspace) counts as this workspace's.
    const legacy = `${h.prefix}-worker-92`;
    h.store.upsertContainer({ name: legacy, id: 'e'.repeat(64), persona: 'worker', state: 'running', exitCode: null, oomKilled: false, workspace: null });

    const p2 = h.newPipeline();
    const report = await withTimeout(p2.recover(), 10_000, 'recover');
    assert.deepEqual(report.adopted, []);
    assert.deepEqual(report.collected, []);
    assert.deepEqual([...report.lost].sort(), [r.name, legacy].sort());

    const row = h.store.getContainer(r.name);
    assert.equal(row?.state, 'lost');
    assert.equal(row?.exitCode, null);
    assert.equal(lastEventDetail(h.store, r.name, 'lost')?.id, r.id);
    assert.equal(lastEventDetail(h.store, r.name, 'lost')?.replacedBy, null);
    assert.equal(h.store.getContainer(legacy)?.state, 'lost');

    for (const t of theirs) {
      const other = h.store.getContainer(t.name);
      assert.equal(other?.state, t.state, `${t.name} of another workspace untouched`);
      assert.equal(other?.workspace, otherWs);
      assert.deepEqual(eventKinds(h.store, t.name), [], `no events for ${t.name}`);
    }
  });

  it('marks a row lost when its name now holds another (exited) container, and names the replacement', async () => {
    const h = await harness();
    const [r] = await launchAndDetach(h, [{ sleepSeconds: 30 }]);
    const n = Number(r.name.slice(r.name.lastIndexOf('-') + 1));
    await docker.getContainer(r.id).remove({ force: true });
    const replacement = await preexisting(h, { n, labels: 'ours', script: 'exit 0', state: 'exited' });
    assert.equal(replacement.name, r.name);

    const p2 = h.newPipeline();
    const report = await withTimeout(p2.recover(), 10_000, 'recover');
    assert.deepEqual(report, { adopted: [], collected: [], lost: [r.name], removed: [], killed: [] });
    assert.equal(h.store.getContainer(r.name)?.state, 'lost');
    assert.equal(lastEventDetail(h.store, r.name, 'lost')?.replacedBy, replacement.id);
  });
});

describe('recover(): once, before launches', () => {
  it('is idempotent and a launch right after it queues behind the adopted agent (maxParallelAgents 1)', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    const [a] = await launchAndDetach(h, [{ sleepSeconds: 3 }]);

    const p2 = h.newPipeline();
    const first = p2.recover();
    const launching = p2.launch('qa', { input: { sleepSeconds: 0 } });
    let launched = false;
    const outcome = launching.then(
      (r) => {
        launched = true;
        return r;
      },
      (e: unknown) => e,
    );
    const second = p2.recover();
    assert.equal(second, first, 'a call while recovering joins the same run');

    const report = await withTimeout(first, 10_000, 'recover');
    assert.deepEqual(report, { adopted: [a.name], collected: [], lost: [], removed: [], killed: [] });
    await waitFor(() => p2.queuedCount === 1, 5_000, 'the launch to queue for the slot');
    assert.deepEqual(
      p2.queued.map((q) => q.persona),
      ['qa'],
    );
    assert.equal(p2.runningCount, 1, 'only the adopted agent holds a slot');
    assert.equal(launched, false);

    const again = await withTimeout(p2.recover(), 1_000, 'recover again');
    assert.deepEqual(again, report);
    assert.equal(count(eventKinds(h.store, a.name), 'adopted'), 1, 'adopted once');
    assert.equal(p2.runningCount, 1);

    const b = await withTimeout(outcome, 15_000, 'the queued launch');
    assert.ok(!(b instanceof Error), `launch failed: ${String(b)}`);
    const adopted = p2.agents.get(a.name)!;
    assert.equal(adopted.state, 'exited', 'the launch got its slot only after the adopted agent exited');
    const [ia, ib] = await Promise.all([a.id, (b as LaunchResult).id].map((id) => docker.getContainer(id).inspect()));
    assert.ok(Date.parse(ib.State.StartedAt) >= Date.parse(ia.State.FinishedAt), `B started ${ib.State.StartedAt}, A finished ${ia.State.FinishedAt}`);
    assert.deepEqual(p2.queued, []);

    await withTimeout(p2.joinAgents(), 10_000, 'joinAgents');
    assert.deepEqual(await withTimeout(p2.recover(), 1_000, 'recover after all exited'), report);
    assert.equal(count(eventKinds(h.store, a.name), 'adopted'), 1, 'still adopted once');
  });

  it('with adoptBeforeLaunch, a launch issued before recover() in the same tick still waits for the adoption (maxParallelAgents 1)', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    const [a] = await launchAndDetach(h, [{ sleepSeconds: 3 }]);

    const p2 = h.newPipeline({ adoptBeforeLaunch: true });
    const launching = p2.launch('qa', { input: { sleepSeconds: 1 } });
    const outcome = launching.then(
      (r) => r,
      (e: unknown) => e,
    );
    let maxRunning = 0;
    p2.onDidChange(() => {
      maxRunning = Math.max(maxRunning, p2.runningCount);
    });
    const report = await withTimeout(p2.recover(), 10_000, 'recover');
    assert.deepEqual(report.adopted, [a.name]);
    const b = await withTimeout(outcome, 15_000, 'the launch');
    assert.ok(!(b instanceof Error), `launch failed: ${String(b)}`);
    await withTimeout(p2.joinAgents(), 10_000, 'joinAgents');
    assert.ok(maxRunning <= 1, `${maxRunning} agents held slots at once with maxParallelAgents 1`);
    const [ia, ib] = await Promise.all([a.id, (b as LaunchResult).id].map((id) => docker.getContainer(id).inspect()));
    assert.ok(Date.parse(ib.State.StartedAt) >= Date.parse(ia.State.FinishedAt), `B started ${ib.State.StartedAt}, A finished ${ia.State.FinishedAt}`);
  });
});

describe('recover() after kill -9', () => {
  it('a pipeline process killed mid-flush leaves a readable DB; a new pipeline adopts both running agents', async () => {
    const h = await harness();
    const dbFile = path.join(h.dir, 'child.sqlite');
    const script = path.join(h.dir, 'child.js');
    fs.writeFileSync(
      script,
      `'use strict';
const { Store } = require(${JSON.stringify(path.join(CORE_OUT, 'store.js'))});
const { Pipeline, DEFAULT_SETTINGS } = require(${JSON.stringify(path.join(CORE_OUT, 'pipeline.js'))});
const { DockerEngine } = require(${JSON.stringify(path.join(CORE_OUT, 'engine.js'))});
const { StateDirs } = require(${JSON.stringify(path.join(CORE_OUT, 'stateDirs.js'))});
(async () => {
  const cfg = JSON.parse(process.argv[2]);
  const store = await Store.open(cfg.dbFile);
  const pipeline = new Pipeline({
    engine: new DockerEngine(),
    store,
    stateDirs: new StateDirs(cfg.stateRoot),
    workspaceId: cfg.workspaceId,
    settings: () => ({ ...DEFAULT_SETTINGS, prefix: cfg.prefix, image: cfg.image, stopGraceSeconds: 1 }),
  });
  const rs = await Promise.all([0, 1].map(() => pipeline.launch('worker', { input: { sleepSeconds: 20 } })));
  await store.flush();
  process.stdout.write(JSON.stringify({ launched: rs.map((r) => ({ name: r.name, id: r.id })) }) + '\\n');
  for (let i = 0; ; i++) {
    for (let j = 0; j < 50; j++) store.addEvent('tick', null, { i, j, pad: 'x'.repeat(200) });
    await store.flush();
    process.stdout.write('flushed ' + i + '\\n');
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
`,
    );
    const cfg = { dbFile, stateRoot: h.stateRoot, workspaceId: h.workspaceId, prefix: h.prefix, image: DEMO_IMAGE };
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, [script, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    h.defer(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let launched: Array<{ name: string; id: string }> | undefined;
    let flushes = 0;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{')) launched = (JSON.parse(line) as { launched: Array<{ name: string; id: string }> }).launched;
      else if (line.startsWith('flushed ')) flushes++;
    });
    await waitFor(() => launched !== undefined || child.exitCode !== null, 15_000, 'the child to launch two agents');
    assert.ok(launched, `the child launched nothing; stderr: ${stderr}`);
    await waitFor(() => flushes >= 3 || child.exitCode !== null, 10_000, 'the child to be flushing in a loop');
    await sleep(Math.max(200, 1_500 - (Date.now() - spawnedAt)));
    child.kill('SIGKILL');
    const end = await withTimeout(exited, 5_000, 'the child to die');
    assert.equal(end.signal, 'SIGKILL', `the child died of SIGKILL, not by itself (code ${end.code}); stderr: ${stderr}`);

    for (const l of launched) assert.equal((await docker.getContainer(l.id).inspect()).State.Running, true, `${l.name} survives its pipeline's death`);
    const leftovers = fs.readdirSync(h.dir).filter((f) => f.startsWith('child.sqlite.tmp-'));
    // A leftover temp file of a torn write must not matter: add a garbage one for certain.
    fs.writeFileSync(`${dbFile}.tmp-999999`, 'torn write garbage');

    const store2 = await Store.open(dbFile);
    h.defer(() => store2.close());
    assert.equal(store2.recoveredFrom, undefined, `the DB file was never torn (temp leftovers: ${leftovers.join(', ') || 'none'})`);
    assert.deepEqual(
      fs.readdirSync(h.dir).filter((f) => f.includes('.corrupt-')),
      [],
    );
    assert.ok(store2.listEvents().filter((e) => e.kind === 'tick').length >= 50, 'a flush from the loop made it to disk');
    for (const l of launched) {
      const row = store2.getContainer(l.name);
      assert.equal(row?.state, 'running', `${l.name}: the killed pipeline never recorded an end`);
      assert.equal(row?.id, l.id);
      assert.equal(row?.workspace, h.workspaceId);
    }

    const p3: Pipeline = h.newPipeline({ store: store2 });
    const report = await withTimeout(p3.recover(), 10_000, 'recover');
    assert.deepEqual([...report.adopted].sort(), launched.map((l) => l.name).sort());
    assert.deepEqual(report.collected, []);
    assert.deepEqual(report.lost, []);
    assert.equal(p3.runningCount, 2);
    for (const l of launched) {
      assert.equal(p3.agents.get(l.name)?.state, 'running', l.name);
      assert.equal(p3.agents.get(l.name)?.id, l.id);
      assert.equal(count(eventKinds(store2, l.name), 'adopted'), 1);
    }
  });
});

describe('stopAll', () => {
  it('rejects the queued launch, stops the running ones, resolves; the pipeline still launches afterwards', async () => {
    const h = await harness({ settings: { maxParallelAgents: 2 } });
    const launches = [0, 1, 2].map(() => h.pipeline.launch('worker', { input: { sleepSeconds: 20 } }));
    const outcomes = launches.map((p) =>
      p.then(
        (r) => r,
        (e: unknown) => e,
      ),
    );
    const running = (await withTimeout(Promise.all(launches.slice(0, 2)), 15_000, 'first two launches')) as LaunchResult[];
    await waitFor(() => h.pipeline.queuedCount === 1, 5_000, 'the third launch to queue');
    assert.equal(h.pipeline.runningCount, 2);

    const t0 = Date.now();
    await withTimeout(h.pipeline.stopAll(), 15_000, 'stopAll');
    const took = Date.now() - t0;
    assert.ok(took < 6_000, `stopAll took ${took} ms`);

    const third = await withTimeout(outcomes[2], 1_000, 'the queued launch to settle');
    assert.ok(third instanceof InterruptedError, `the queued launch was interrupted (not a failure), got ${String(third)}`);
    for (const r of running) {
      const agent = h.pipeline.agents.get(r.name)!;
      assert.equal(agent.state, 'stopped', r.name);
      assert.equal(agent.exitCode, 143);
      assert.equal((await docker.getContainer(r.id).inspect()).State.Running, false);
      assert.equal(h.store.getContainer(r.name)?.state, 'stopped');
    }
    assert.equal(h.pipeline.runningCount, 0);
    assert.equal(h.pipeline.queuedCount, 0);
    assert.deepEqual(h.pipeline.queued, []);
    assert.deepEqual(await containerNames(h.prefix), running.map((r) => r.name).sort(), 'the refused launch created nothing');
    assert.equal(h.pipeline.isStopped, false);

    const next = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 0 } }), 10_000, 'a launch after stopAll');
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
    assert.equal(h.pipeline.agents.get(next.name)?.state, 'exited');
    assert.ok(await inspectOrUndefined(next.id));
  });
});

describe('stopAll during recovery', () => {
  it('stopAll() issued while recover() runs stops the adopted agent and refuses the launch waiting for recovery', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    const [a] = await launchAndDetach(h, [{ sleepSeconds: 3 }]);
    const p2 = h.newPipeline();
    const recovering = p2.recover();
    const outcome = p2.launch('qa', { input: { sleepSeconds: 10 } }).then(
      (r) => r,
      (e: unknown) => e,
    );
    const t0 = Date.now();
    await withTimeout(p2.stopAll(), 15_000, 'stopAll');
    const took = Date.now() - t0;
    assert.deepEqual((await recovering).adopted, [a.name]);
    const launched = await withTimeout(outcome, 1_000, 'the launch to settle');
    assert.ok(launched instanceof InterruptedError, `the launch waiting for recovery was interrupted, got ${launched instanceof Error ? launched.message : JSON.stringify(launched)}`);
    assert.equal(p2.agents.get(a.name)?.state, 'stopped', 'the adopted agent was stopped');
    assert.ok(took < 2_500, `stopAll took ${took} ms (the adopted agent would have run ~3 s)`);
  });
});

describe('queued', () => {
  it('lists waiting launches with their persona, oldest first, while they wait; empty after', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    assert.equal(h.pipeline.queued.length, 0);
    const first = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 1 } }), 10_000, 'first launch');
    const before = Date.now();
    const qa = h.pipeline.launch('qa', { input: { sleepSeconds: 1 } });
    await sleep(5);
    const manager = h.pipeline.launch('manager', { input: { sleepSeconds: 0 } });
    await waitFor(() => h.pipeline.queuedCount === 2, 5_000, 'two launches to queue');

    const q = h.pipeline.queued;
    assert.deepEqual(
      q.map((x) => x.persona),
      ['qa', 'manager'],
    );
    assert.ok(q[0].queuedAt >= before && q[0].queuedAt <= q[1].queuedAt && q[1].queuedAt <= Date.now(), JSON.stringify(q));
    q.pop();
    assert.equal(h.pipeline.queued.length, 2, 'queued is a copy');

    const qaResult = await withTimeout(qa, 15_000, 'the qa launch');
    assert.equal(h.pipeline.agents.get(first.name)?.state, 'exited');
    assert.deepEqual(
      h.pipeline.queued.map((x) => x.persona),
      ['manager'],
    );
    await withTimeout(manager, 15_000, 'the manager launch');
    assert.deepEqual(h.pipeline.queued, []);
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
    assert.deepEqual(h.pipeline.queued, []);
    assert.equal(h.pipeline.agents.get(qaResult.name)?.state, 'exited');
  });
});
