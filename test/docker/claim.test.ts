import { describe, it, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DockerEngine } from '../../src/core/engine';
import { asideName } from '../../src/core/claim';
import { agentLabels } from '../../src/core/labels';
import { cleanupAll, containerNames, DEMO_IMAGE, docker, eventKinds, fileLines, harness, inspectOrUndefined, preexisting, withTimeout } from './helpers';

afterEach(cleanupAll);
after(cleanupAll);

const OOM_BYTES = 8 * 1024 * 1024;
/** busybox sh: doubles a string until the memory limit's OOM killer ends the shell. */
const GROW = 'x=a; while :; do x=$x$x; done';

/**
 * A container of this harness's workspace made with dockerode directly (as an earlier window's
 * agent), limited to 8 MiB with no swap, running `script` with `/bin/sh -c`; waits for its exit.
 */
async function limited(h: Awaited<ReturnType<typeof harness>>, n: number, script: string, binds: string[] = []) {
  const c = await docker.createContainer({
    name: h.nameOf(n),
    Image: DEMO_IMAGE,
    Entrypoint: ['/bin/sh', '-c', script],
    Labels: agentLabels('worker', h.workspaceId),
    HostConfig: { Memory: OOM_BYTES, MemorySwap: OOM_BYTES, Binds: binds, AutoRemove: false },
  });
  await c.start();
  await c.wait();
  return c;
}

describe('claim on real Docker', () => {
  it('-0 running: the launch takes -1 and leaves -0 running', async () => {
    const h = await harness();
    const zero = await preexisting(h, { n: 0, script: 'sleep 30', state: 'running' });

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });

    assert.equal(r.name, h.nameOf(1));
    assert.equal(r.reclaimed, false);
    assert.deepEqual(r.skipped, [{ name: zero.name, reason: 'live' }]);
    const z = await docker.getContainer(zero.name).inspect();
    assert.equal(z.Id, zero.id);
    assert.equal(z.State.Running, true);
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
    assert.equal(h.pipeline.agents.get(r.name)?.state, 'exited');
  });

  it('-0 exited 0 (earlier window): removed and -0 reclaimed with the same state dir', async () => {
    const h = await harness();
    const first = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    assert.equal(first.name, h.nameOf(0));
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'first run');
    assert.equal(h.pipeline.agents.get(first.name)?.state, 'exited');
    assert.equal(fileLines(h, first.name, 'runs.log').length, 1);

    const window2 = h.newPipeline(); // containerSeq starts at 0 again
    const second = await window2.launch('worker', { input: { sleepSeconds: 1, note: 'second' } });

    assert.equal(second.name, h.nameOf(0));
    assert.equal(second.reclaimed, true);
    assert.deepEqual(second.skipped, []);
    assert.notEqual(second.id, first.id);
    assert.equal(second.stateDir, first.stateDir);

    await withTimeout(window2.joinAgents(), 10_000, 'second run'); // joins the old container's removal too
    assert.equal(await inspectOrUndefined(first.id), undefined, 'the old container was removed');
    assert.equal(window2.agents.get(second.name)?.state, 'exited');
    const runs = fileLines(h, second.name, 'runs.log');
    assert.equal(runs.length, 2, `runs.log: ${runs.join(' | ')}`);
    assert.ok(runs.every((l) => / start worker$/.test(l)));
    assert.equal(JSON.parse(h.stateDirs.readFile(second.name, 'input.json') ?? '{}').note, 'second', 'input.json rewritten');
    assert.equal(fileLines(h, second.name, 'agent.log').filter((l) => l.includes('"subtype":"init"')).length, 2, 'agent.log appended across runs');
    assert.deepEqual(await containerNames(h.prefix), [h.nameOf(0)]);

    const row = h.store.getContainer(second.name);
    assert.equal(row?.id, second.id);
    assert.equal(row?.state, 'exited');
    assert.deepEqual(eventKinds(h.store, second.name), ['launched', 'exited', 'reclaimed', 'exited']);
  });

  it('-0 created moments ago (another launch about to start it): skipped and untouched', async () => {
    const h = await harness();
    const zero = await preexisting(h, { n: 0, script: 'exit 0', state: 'created' });
    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });
    assert.equal(r.name, h.nameOf(1));
    assert.deepEqual(r.skipped, [{ name: zero.name, reason: 'live' }]);
    assert.ok(await inspectOrUndefined(zero.id), '-0 is still there');
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
  });

  it('-0 exited 1: skipped and kept for hardline', async () => {
    const h = await harness();
    const zero = await preexisting(h, { n: 0, script: 'exit 1', state: 'exited' });

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });

    assert.equal(r.name, h.nameOf(1));
    assert.equal(r.reclaimed, false);
    assert.deepEqual(r.skipped, [{ name: zero.name, reason: 'crashed' }]);
    const z = await inspectOrUndefined(zero.name);
    assert.ok(z, '-0 still exists');
    assert.equal(z.Id, zero.id);
    assert.equal(z.State.Status, 'exited');
    assert.equal(z.State.ExitCode, 1);
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
  });

  it('mixed: -0 crashed, -1 exited 0 → -0 skipped, -1 reclaimed', async () => {
    const h = await harness();
    const zero = await preexisting(h, { n: 0, script: 'exit 1', state: 'exited' });
    const one = await preexisting(h, { n: 1, script: 'exit 0', state: 'exited' });

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });

    assert.equal(r.name, one.name);
    assert.equal(r.reclaimed, true);
    assert.deepEqual(r.skipped, [{ name: zero.name, reason: 'crashed' }]);
    assert.notEqual(r.id, one.id);
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents'); // joins the old -1's removal too
    assert.equal(await inspectOrUndefined(one.id), undefined, 'old -1 removed');
    assert.equal((await inspectOrUndefined(zero.name))?.Id, zero.id, '-0 untouched');
    assert.deepEqual(await containerNames(h.prefix), [zero.name, one.name]);
    assert.equal(h.pipeline.agents.get(r.name)?.state, 'exited');
  });

  it('OOM-killed agent: oom-killed, exit 137, oomKilled in store and refresh; the next launch skips it', async () => {
    const h = await harness();
    const r = await h.pipeline.launch('worker', { memoryBytes: OOM_BYTES, input: { mode: 'oom', sleepSeconds: 1 } });
    const agent = h.pipeline.agents.get(r.name)!;
    await withTimeout(h.pipeline.joinAgents(), 20_000, 'joinAgents');

    assert.equal(agent.state, 'oom-killed', `lastLine: ${agent.lastLine}`);
    assert.equal(agent.exitCode, 137);
    assert.equal(agent.oomKilled, true);
    const info = await docker.getContainer(r.id).inspect();
    assert.equal(info.HostConfig.Memory, OOM_BYTES);
    assert.equal(info.State.OOMKilled, true);
    assert.equal(info.State.ExitCode, 137);

    const row = h.store.getContainer(r.name);
    assert.equal(row?.state, 'oom-killed');
    assert.equal(row?.exitCode, 137);
    assert.equal(row?.oomKilled, true);

    await withTimeout(h.pipeline.refresh(), 10_000, 'refresh');
    const listed = h.pipeline.containers.find((c) => c.name === r.name);
    assert.ok(listed, 'listed by refresh');
    assert.equal(listed.exitCode, 137);
    assert.equal(listed.oomKilled, true);

    const window2 = h.newPipeline();
    const next = await window2.launch('worker', { input: { sleepSeconds: 1 } });
    assert.equal(next.name, h.nameOf(1));
    assert.equal(next.reclaimed, false);
    assert.deepEqual(
      next.skipped.map((s) => s.name),
      [r.name],
    );
    assert.equal((await inspectOrUndefined(r.name))?.Id, r.id, 'the OOM-killed container is kept');
    await withTimeout(window2.joinAgents(), 10_000, 'joinAgents');
  });

  it('OOM-killed -0 is skipped with reason "oom-killed"', async () => {
    const h = await harness();
    const r = await h.pipeline.launch('worker', { memoryBytes: OOM_BYTES, input: { mode: 'oom', sleepSeconds: 1 } });
    await withTimeout(h.pipeline.joinAgents(), 20_000, 'joinAgents');
    assert.equal(h.pipeline.agents.get(r.name)?.state, 'oom-killed');
    const next = await h.newPipeline().launch('worker', { input: { sleepSeconds: 1 } });
    assert.deepEqual(next.skipped, [{ name: r.name, reason: 'oom-killed' }]);
  });

  it('foreign same-name container without our label (even exited 0): skipped and untouched', async () => {
    const h = await harness();
    const foreign = await preexisting(h, { n: 0, labels: 'none', script: 'exit 0', state: 'exited' });

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });

    assert.equal(r.name, h.nameOf(1));
    assert.equal(r.reclaimed, false);
    assert.deepEqual(r.skipped, [{ name: foreign.name, reason: 'foreign' }]);
    const f = await inspectOrUndefined(foreign.name);
    assert.ok(f, 'the foreign container still exists');
    assert.equal(f.Id, foreign.id);
    assert.equal(f.State.Status, 'exited');
    assert.equal(f.Config.Labels['borg.managed'], undefined);
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
  });

  it("another workspace's exited-0 container of the same name: skipped and untouched", async () => {
    const h = await harness();
    const other = await preexisting(h, { n: 0, labels: agentLabels('worker', 'some-other-workspace'), script: 'exit 0', state: 'exited' });

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });

    assert.equal(r.name, h.nameOf(1));
    assert.deepEqual(r.skipped, [{ name: other.name, reason: 'other-workspace' }]);
    assert.equal((await inspectOrUndefined(other.name))?.Id, other.id);
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
  });

  it('three launches racing in one pipeline get distinct names without error', async () => {
    const h = await harness();
    const results = await Promise.all([1, 2, 3].map(() => h.pipeline.launch('worker', { input: { sleepSeconds: 1 } })));
    const names = results.map((r) => r.name);
    assert.equal(new Set(names).size, 3, names.join(', '));
    assert.equal(new Set(results.map((r) => r.id)).size, 3);
    assert.deepEqual(await containerNames(h.prefix), [...names].sort());
    await withTimeout(h.pipeline.joinAgents(), 15_000, 'joinAgents');
    for (const n of names) assert.equal(h.pipeline.agents.get(n)?.state, 'exited', n);
  });

  it('a second window does not reclaim a name the first window created and is about to start', async () => {
    const h = await harness();
    // Window A's engine pauses before attach, i.e. right after its create: the window every launch has.
    const slow = new DockerEngine();
    let reachedAttach!: () => void;
    const atAttach = new Promise<void>((r) => (reachedAttach = r));
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const attach = slow.attach.bind(slow);
    slow.attach = async (id, o) => {
      reachedAttach();
      await gate;
      return attach(id, o);
    };
    const a = h.newPipeline({ engine: slow });
    const b = h.newPipeline();
    const launchA = a.launch('worker', { input: { sleepSeconds: 1 } });
    launchA.catch(() => undefined);
    try {
      await withTimeout(atAttach, 10_000, 'window A to create its container');
      assert.equal((await inspectOrUndefined(h.nameOf(0)))?.State.Status, 'created');
      const rb = await b.launch('worker', { input: { sleepSeconds: 1 } });
      openGate();
      const ra = await launchA;
      assert.notEqual(ra.name, rb.name);
      assert.deepEqual(await containerNames(h.prefix), [ra.name, rb.name].sort());
    } finally {
      openGate();
    }
    await withTimeout(Promise.all([a.joinAgents(), b.joinAgents()]), 10_000, 'joinAgents');
  });

  it("a launch that loses the name to another window (409) leaves that window's input.json alone", async () => {
    const h = await harness();
    const a = await h.pipeline.launch('worker', { input: { sleepSeconds: 2, note: 'window A' } });
    assert.equal(a.name, h.nameOf(0));
    // Window B looked just before A created -0: its inspect (or list) did not show -0, so it tries to create it and gets 409.
    const stale = new DockerEngine();
    const list = stale.list.bind(stale);
    stale.list = async (f) => (await list(f)).filter((c) => c.name !== a.name);
    const inspect = stale.inspect.bind(stale);
    stale.inspect = async (nameOrId) => (nameOrId === a.name ? undefined : inspect(nameOrId));
    const b = await h.newPipeline({ engine: stale }).launch('worker', { input: { sleepSeconds: 1, note: 'window B' } });
    assert.equal(b.name, h.nameOf(1));
    assert.deepEqual(b.skipped, [{ name: a.name, reason: 'conflict' }]);
    assert.equal(JSON.parse(h.stateDirs.readFile(a.name, 'input.json') ?? '{}').note, 'window A');
  });

  it('two windows (same prefix and workspace, both starting at -0) racing get distinct names without error', async () => {
    const h = await harness();
    const a = h.pipeline;
    const b = h.newPipeline();
    const settled = await Promise.allSettled([a, b, a, b].map((p) => p.launch('worker', { input: { sleepSeconds: 2 } })));
    const errors = settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason));
    assert.deepEqual(errors, []);
    const results = settled.map((s) => (s as PromiseFulfilledResult<{ name: string; id: string }>).value);
    const names = results.map((r) => r.name);
    assert.equal(new Set(names).size, 4, names.join(', '));
    assert.deepEqual(await containerNames(h.prefix), [...names].sort());
    await withTimeout(Promise.all([a.joinAgents(), b.joinAgents()]), 15_000, 'joinAgents');
    for (const r of results) {
      const agent = a.agents.get(r.name) ?? b.agents.get(r.name);
      assert.equal(agent?.state, 'exited', r.name);
      assert.equal(agent?.id, r.id);
    }
  });

  it('exited 0 with OOMKilled (a child was OOM-killed, the main process exited 0): skipped as oom-killed, never removed', async () => {
    const h = await harness();
    const c = await limited(h, 0, `(${GROW}); exit 0`);
    const before = await c.inspect();
    assert.equal(before.State.ExitCode, 0, 'the main process exited 0');
    assert.equal(before.State.OOMKilled, true, 'Docker reports the child OOM kill');

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });

    assert.equal(r.name, h.nameOf(1));
    assert.equal(r.reclaimed, false);
    assert.deepEqual(r.skipped, [{ name: h.nameOf(0), reason: 'oom-killed' }]);
    assert.equal((await inspectOrUndefined(h.nameOf(0)))?.Id, c.id, 'kept for hardline');
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
  });

  it('the same, past the candidates the claim probes one by one (judged from its list, inspected first)', async () => {
    const h = await harness();
    const probed = 8; // PROBE_CANDIDATES: the claim lists the names after these
    await Promise.all(Array.from({ length: probed }, (_, n) => preexisting(h, { n, script: 'sleep 60', state: 'running' })));
    const c = await limited(h, probed, `(${GROW}); exit 0`);
    assert.equal((await c.inspect()).State.OOMKilled, true);

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1 } });

    assert.equal(r.name, h.nameOf(probed + 1));
    assert.deepEqual(r.skipped.at(-1), { name: h.nameOf(probed), reason: 'oom-killed' });
    assert.equal((await inspectOrUndefined(h.nameOf(probed)))?.Id, c.id, 'kept for hardline');
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
  });

  it('OOM-killed (137), then started again and exited 0: OOMKilled is reset, so the name is reclaimed', async () => {
    const h = await harness();
    const marks = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-oom-once-'));
    h.defer(() => fs.rmSync(marks, { recursive: true, force: true }));
    fs.chmodSync(marks, 0o777); // whatever uid the image runs as writes the marker
    // OOM-killed on its first run only: the marker in the bind-mounted folder says it ran before.
    const c = await limited(h, 0, `if [ -e /marks/ran ]; then exit 0; fi; touch /marks/ran; ${GROW}`, [`${marks}:/marks`]);
    const first = await c.inspect();
    assert.equal(first.State.ExitCode, 137);
    assert.equal(first.State.OOMKilled, true);
    const skipped = await h.newPipeline().launch('worker', { input: { sleepSeconds: 1 } });
    assert.deepEqual(skipped.skipped, [{ name: h.nameOf(0), reason: 'oom-killed' }], 'kept while OOM-killed');

    await c.start();
    await c.wait();
    const second = await c.inspect();
    assert.equal(second.State.ExitCode, 0);
    assert.equal(second.State.OOMKilled, false, 'Docker resets OOMKilled when the container starts again');

    const window3 = h.newPipeline();
    const r = await window3.launch('worker', { input: { sleepSeconds: 1 } });
    assert.equal(r.name, h.nameOf(0));
    assert.equal(r.reclaimed, true);
    await withTimeout(window3.joinAgents(), 10_000, 'joinAgents');
    assert.equal(await inspectOrUndefined(c.id), undefined, 'the old container was removed');
  });

  it('a reclaimed container is renamed aside, the new one created under its name before the old is removed, and shutdown joins the removal', async () => {
    const h = await harness();
    const old = await preexisting(h, { n: 0, script: 'exit 0', state: 'exited' });
    // Hold the removal (the engine's remove of the old container) until the new one exists.
    const engine = new DockerEngine();
    let removeCalled!: () => void;
    const removeReached = new Promise<void>((r) => (removeCalled = r));
    let releaseRemove!: () => void;
    const held = new Promise<void>((r) => (releaseRemove = r));
    const remove = engine.remove.bind(engine);
    engine.remove = async (id, o) => {
      if (id === old.id) {
        removeCalled();
        await held;
      }
      return remove(id, o);
    };
    const p = h.newPipeline({ engine });
    try {
      const r = await p.launch('worker', { input: { sleepSeconds: 1 } });
      assert.equal(r.name, old.name);
      assert.equal(r.reclaimed, true);
      await withTimeout(removeReached, 10_000, 'the removal to start');
      const aside = await inspectOrUndefined(old.id);
      assert.equal(aside?.Name, `/${asideName(old.name, old.id)}`, 'the old container waits under its aside name');
      assert.equal(aside?.State.Status, 'exited');
      assert.equal((await inspectOrUndefined(old.name))?.Id, r.id, 'the name holds the new container');
      let shutDown = false;
      const shutdown = p.shutdown('detach').then(() => (shutDown = true));
      await new Promise((res) => setTimeout(res, 50)); // give shutdown a chance to (wrongly) finish first
      assert.equal(shutDown, false, 'shutdown waits for the removal');
      releaseRemove();
      await withTimeout(shutdown, 15_000, 'shutdown');
      assert.equal(await inspectOrUndefined(old.id), undefined, 'removed before shutdown resolved');
    } finally {
      releaseRemove();
    }
  });

  it('recovery removes a container a claim moved aside but did not remove (the process ended first); a running one under such a name is kept', async () => {
    const h = await harness();
    const left = await preexisting(h, { n: 0, script: 'exit 0', state: 'exited' });
    await docker.getContainer(left.id).rename({ name: asideName(left.name, left.id) });
    const live = await preexisting(h, { n: 1, script: 'sleep 60', state: 'running' });
    await docker.getContainer(live.id).rename({ name: asideName(live.name, live.id) });

    const report = await h.newPipeline().recover();

    assert.ok(report.removed.includes(asideName(left.name, left.id)), JSON.stringify(report));
    assert.equal(await inspectOrUndefined(left.id), undefined);
    assert.equal((await inspectOrUndefined(live.id))?.State.Running, true, 'a running container is never removed');
  });
});
