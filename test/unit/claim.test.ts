import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { claimName, ClaimOptions, INSPECT_BATCH, judge, MAX_CLAIM_CANDIDATES, PROBE_CANDIDATES, Verdict } from '../../src/core/claim';
import type { ContainerInfo, ContainerStatus } from '../../src/core/engine';
import { BorgError, DockerUnreachableError, ImageMissingError, NameConflictError } from '../../src/core/errors';
import { ContainerSeq, containerName } from '../../src/core/names';
import { container, FakeEngine, inState, WS } from './fakeEngine';

const PREFIX = 'borg-dev-';
const n = (i: number) => `${PREFIX}${i}`;

describe('judge (the claim table)', () => {
  const rows: Array<{ when: string; info: ContainerInfo; verdict: Verdict }> = [
    { when: 'a container without borg.managed=true (even exited 0)', info: container(n(0), { managed: false }), verdict: { action: 'skip', reason: 'foreign' } },
    { when: 'a foreign container that is running', info: inState(n(0), 'running', { managed: false }), verdict: { action: 'skip', reason: 'foreign' } },
    { when: "another workspace's container (even exited 0)", info: container(n(0), { workspace: 'ws-other' }), verdict: { action: 'skip', reason: 'other-workspace' } },
    { when: 'a managed container with no workspace label', info: container(n(0), { workspace: undefined }), verdict: { action: 'skip', reason: 'other-workspace' } },
    ...(['running', 'paused', 'restarting', 'removing'] as ContainerStatus[]).map((status) => ({
      when: `a ${status} container`,
      info: inState(n(0), status),
      verdict: { action: 'skip', reason: 'live' } as Verdict,
    })),
    { when: 'a created (never started) container over a minute old', info: inState(n(0), 'created'), verdict: { action: 'reclaim' } },
    { when: 'a container created moments ago (another launch is about to start it)', info: inState(n(0), 'created', { createdAt: Date.now() - 1000 }), verdict: { action: 'skip', reason: 'live' } },
    { when: 'exited 0', info: container(n(0), { exitCode: 0, oomKilled: false }), verdict: { action: 'reclaim' } },
    { when: 'exited 0 with OOMKilled (a child was OOM-killed, the main process exited 0)', info: container(n(0), { exitCode: 0, oomKilled: true }), verdict: { action: 'skip', reason: 'oom-killed' } },
    {
      when: 'exited 0 with OOMKilled unknown (from a list, never reclaimed on a guess)',
      info: container(n(0), { exitCode: 0, oomKilled: undefined, inspected: false }),
      verdict: { action: 'skip', reason: 'oom-unknown' },
    },
    { when: 'exited 137 with OOMKilled', info: container(n(0), { exitCode: 137, oomKilled: true }), verdict: { action: 'skip', reason: 'oom-killed' } },
    { when: 'exited 137 without OOMKilled (killed)', info: container(n(0), { exitCode: 137, oomKilled: false }), verdict: { action: 'skip', reason: 'crashed' } },
    { when: 'exited 137 with OOM unknown (from a list)', info: container(n(0), { exitCode: 137, oomKilled: undefined }), verdict: { action: 'skip', reason: 'crashed' } },
    { when: 'exited 1', info: container(n(0), { exitCode: 1 }), verdict: { action: 'skip', reason: 'crashed' } },
    { when: 'exited 1 with OOMKilled (OOM counts with any exit code)', info: container(n(0), { exitCode: 1, oomKilled: true }), verdict: { action: 'skip', reason: 'oom-killed' } },
    { when: 'exited -1', info: container(n(0), { exitCode: -1 }), verdict: { action: 'skip', reason: 'crashed' } },
    { when: 'a dead container (even with exit code 0)', info: inState(n(0), 'dead', { exitCode: 0 }), verdict: { action: 'skip', reason: 'dead' } },
    { when: 'a state Docker may add later', info: container(n(0), { status: 'hibernating' as ContainerStatus }), verdict: { action: 'skip', reason: 'live' } },
  ];
  for (const row of rows) {
    const expected = row.verdict.action === 'reclaim' ? 'reclaims' : `skips (${row.verdict.reason})`;
    it(`${expected} ${row.when}`, () => {
      assert.deepEqual(judge(row.info, WS), row.verdict);
    });
  }
});

/** Runs claimName against `engine` with candidates borg-dev-0, borg-dev-1, ... and a recording create. */
async function claim(engine: FakeEngine, extra: Partial<ClaimOptions<string>> = {}) {
  const seq = new ContainerSeq();
  const candidates: string[] = [];
  const creates: Array<{ name: string; reclaimed: boolean }> = [];
  const promise = claimName<string>({
    engine,
    namePrefix: PREFIX,
    workspaceId: WS,
    nextCandidate: () => {
      const name = containerName('borg', 'dev', seq.next());
      candidates.push(name);
      return name;
    },
    create: async (name, reclaimed) => {
      creates.push({ name, reclaimed });
      return `new-${name}`;
    },
    ...extra,
  });
  return { promise, candidates, creates };
}

/** Running containers on the first PROBE_CANDIDATES names, so the claim reaches its list. */
function probeWindow(): ContainerInfo[] {
  return Array.from({ length: PROBE_CANDIDATES }, (_, i) => inState(n(i), 'running'));
}

async function claimOk(engine: FakeEngine, extra: Partial<ClaimOptions<string>> = {}) {
  const c = await claim(engine, extra);
  return { ...c, result: await c.promise };
}

describe('claimName', () => {
  it('claims -0 when no container holds it', async () => {
    const engine = new FakeEngine();
    const { result, creates } = await claimOk(engine);
    assert.deepEqual(result, { name: n(0), reclaimed: false, created: `new-${n(0)}`, skipped: [] });
    assert.deepEqual(creates, [{ name: n(0), reclaimed: false }]);
  });

  it('a free first candidate costs one inspect and nothing else', async () => {
    const engine = new FakeEngine();
    await claimOk(engine);
    assert.deepEqual(engine.calls, [{ op: 'inspect', nameOrId: n(0) }]);
  });

  it(`when the first candidate is taken, inspects the next ${PROBE_CANDIDATES - 1} at once and lists nothing while they suffice`, async () => {
    const engine = new FakeEngine(inState(n(0), 'running'), inState(n(1), 'running'));
    let inFlight = 0;
    let most = 0;
    const asked: string[] = [];
    const inspect = engine.inspect.bind(engine);
    engine.inspect = async (name) => {
      asked.push(name);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return inspect(name);
    };
    const { result, candidates } = await claimOk(engine);
    assert.equal(result.name, n(2));
    assert.deepEqual(candidates, [n(0), n(1), n(2)], 'candidates are never taken ahead');
    assert.deepEqual(
      asked,
      Array.from({ length: PROBE_CANDIDATES }, (_, i) => n(i)),
    );
    assert.deepEqual(engine.callsOf('list'), []);
    assert.equal(most, PROBE_CANDIDATES - 1);
  });

  it('inspects a candidate itself when its name is not the guessed one', async () => {
    const engine = new FakeEngine(inState(n(0), 'running'), inState('borg-dev-x', 'running'));
    const names = [n(0), 'borg-dev-x', n(9)];
    const { result } = await claimOk(engine, { nextCandidate: () => names.shift()! });
    assert.equal(result.name, n(9));
    assert.deepEqual(
      result.skipped.map((s) => s.reason),
      ['live', 'live'],
    );
    assert.ok(engine.callsOf('inspect').some((c) => c.nameOrId === 'borg-dev-x'));
  });

  it(`lists once, filtered by the name prefix, after ${PROBE_CANDIDATES} taken candidates`, async () => {
    const engine = new FakeEngine(...Array.from({ length: PROBE_CANDIDATES + 3 }, (_, i) => inState(n(i), 'running')));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(PROBE_CANDIDATES + 3));
    assert.deepEqual(engine.callsOf('list'), [{ op: 'list', filter: { namePrefix: PREFIX } }]);
    assert.equal(engine.callsOf('inspect').length, PROBE_CANDIDATES, 'no inspect of running containers after the list');
  });

  it('skips -0 while it runs and claims -1', async () => {
    const engine = new FakeEngine(inState(n(0), 'running'));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.equal(result.reclaimed, false);
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'live' }]);
    assert.deepEqual(engine.callsOf('remove'), []);
  });

  it('removes a cleanly exited -0 and reclaims its name', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    const { result, creates } = await claimOk(engine);
    assert.equal(result.name, n(0));
    assert.equal(result.reclaimed, true);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(0)}`, force: false }]);
    assert.deepEqual(creates, [{ name: n(0), reclaimed: true }]);
  });

  it('removes the old container before creating the new one under its name', async () => {
    const engine = new FakeEngine(inState(n(0), 'created'));
    const order: string[] = [];
    const remove = engine.remove.bind(engine);
    engine.remove = async (id, opts) => {
      order.push(`remove ${id}`);
      await remove(id, opts);
    };
    await claimOk(engine, {
      create: async (name) => {
        order.push(`create ${name}`);
        return name;
      },
    });
    assert.deepEqual(order, [`remove id-${n(0)}`, `create ${n(0)}`]);
  });

  it('keeps a crashed -0 (exit 1) for hardline: skipped, never removed', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 1 }));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'crashed' }]);
    assert.deepEqual(engine.callsOf('remove'), []);
    assert.ok(engine.containers.has(n(0)));
  });

  it('keeps an OOM-killed container (known from inspect) for hardline', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 137, oomKilled: true }));
    engine.listHidesExitCode.add(n(0));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'oom-killed' }]);
    assert.deepEqual(engine.callsOf('remove'), []);
  });

  it('passes a crashed -0 and reclaims a clean -1', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 1 }), container(n(1), { exitCode: 0 }));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.equal(result.reclaimed, true);
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'crashed' }]);
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(1)}`, force: false }]);
    assert.ok(engine.containers.has(n(0)));
  });

  it('records every passed-over name with its reason, in order', async () => {
    const engine = new FakeEngine(inState(n(0), 'running'), container(n(1), { exitCode: 2 }), container(n(2), { managed: false }), container(n(3), { workspace: 'ws-other' }), inState(n(4), 'dead'));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(5));
    assert.deepEqual(result.skipped, [
      { name: n(0), reason: 'live' },
      { name: n(1), reason: 'crashed' },
      { name: n(2), reason: 'foreign' },
      { name: n(3), reason: 'other-workspace' },
      { name: n(4), reason: 'dead' },
    ]);
  });

  it("never removes someone else's container that holds the name", async () => {
    const engine = new FakeEngine(container(n(0), { managed: false, exitCode: 0 }));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'foreign' }]);
    assert.deepEqual(engine.callsOf('remove'), []);
  });

  it('does not inspect a listed foreign container, even when the list hides its exit code', async () => {
    const engine = new FakeEngine(...probeWindow(), container(n(PROBE_CANDIDATES), { managed: false, exitCode: 0 }));
    engine.listHidesExitCode.add(n(PROBE_CANDIDATES));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(PROBE_CANDIDATES + 1));
    assert.ok(!engine.callsOf('inspect').some((c) => c.nameOrId === n(PROBE_CANDIDATES)));
    assert.deepEqual(result.skipped.at(-1), { name: n(PROBE_CANDIDATES), reason: 'foreign' });
  });

  it("never removes another workspace's cleanly exited container", async () => {
    const engine = new FakeEngine(container(n(0), { workspace: 'ws-other', exitCode: 0 }));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'other-workspace' }]);
    assert.deepEqual(engine.callsOf('remove'), []);
  });

  it('rejects with the engine error when the list fails, and never creates', async () => {
    const engine = new FakeEngine(...probeWindow());
    const down = new DockerUnreachableError('unix:///var/run/docker.sock', 'connect ECONNREFUSED');
    engine.failList = down;
    const { promise, creates, candidates } = await claim(engine);
    await assert.rejects(promise, (e) => e === down);
    assert.deepEqual(creates, []);
    assert.equal(candidates.length, PROBE_CANDIDATES + 1);
  });

  it('keeps a container whose child was OOM-killed while it exited 0: skipped as oom-killed, never removed', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0, oomKilled: true }));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'oom-killed' }]);
    assert.deepEqual(engine.callsOf('remove'), []);
    assert.ok(engine.containers.has(n(0)));
  });

  it('inspects a listed exited-0 container before reclaiming it: OOM-killed → kept, never removed', async () => {
    const k = PROBE_CANDIDATES;
    const engine = new FakeEngine(...probeWindow(), container(n(k), { exitCode: 0, oomKilled: true }), container(n(k + 1), { exitCode: 0, oomKilled: false }));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(k + 1));
    assert.equal(result.reclaimed, true);
    assert.deepEqual(result.skipped.at(-1), { name: n(k), reason: 'oom-killed' });
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(k + 1)}`, force: false }]);
  });

  it('inspects a listed exited entry without an exit code, and judges the inspect', async () => {
    const k = PROBE_CANDIDATES;
    const engine = new FakeEngine(...probeWindow(), container(n(k), { exitCode: 0 }));
    engine.listHidesExitCode.add(n(k));
    const { result } = await claimOk(engine);
    assert.deepEqual(engine.callsOf('inspect').at(-1), { op: 'inspect', nameOrId: n(k) });
    assert.equal(result.name, n(k));
    assert.equal(result.reclaimed, true);
  });

  it('skips a listed entry whose inspect shows a non-zero exit code', async () => {
    const k = PROBE_CANDIDATES;
    const engine = new FakeEngine(...probeWindow(), container(n(k), { exitCode: 3 }));
    engine.listHidesExitCode.add(n(k));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(k + 1));
    assert.deepEqual(result.skipped.at(-1), { name: n(k), reason: 'crashed' });
  });

  it('after the list, inspects only exited containers of ours whose flag decides or names the cause (exit 0, 137), never running, created, foreign, another workspace or other exit codes', async () => {
    const k = PROBE_CANDIDATES;
    const engine = new FakeEngine(
      ...probeWindow(),
      inState(n(k), 'running'),
      inState(n(k + 1), 'created', { createdAt: Date.now() }),
      container(n(k + 2), { managed: false, exitCode: 0 }),
      container(n(k + 3), { workspace: 'ws-other', exitCode: 0 }),
      inState(n(k + 4), 'dead'),
      container(n(k + 5), { exitCode: 1 }),
      container(n(k + 6), { exitCode: 137, oomKilled: true }),
      container(n(k + 7), { exitCode: 0, oomKilled: true }),
    );
    const { result } = await claimOk(engine);
    const afterList = engine.calls.slice(engine.calls.findIndex((c) => c.op === 'list') + 1);
    assert.deepEqual(
      afterList.filter((c) => c.op === 'inspect'),
      [n(k + 6), n(k + 7)].map((nameOrId) => ({ op: 'inspect', nameOrId })),
    );
    assert.deepEqual(result.skipped.slice(-3), [
      { name: n(k + 5), reason: 'crashed' },
      { name: n(k + 6), reason: 'oom-killed' },
      { name: n(k + 7), reason: 'oom-killed' },
    ]);
  });

  it(`inspects listed containers ${INSPECT_BATCH} at a time, in the order of their numbers, and only as far as the claim reaches`, async () => {
    const k = PROBE_CANDIDATES;
    const free = k + INSPECT_BATCH + 2; // the claim stops in the second batch
    const crashed = Array.from({ length: 3 * INSPECT_BATCH }, (_, i) => container(n(k + i), { exitCode: 0, oomKilled: true })).filter((c) => c.name !== n(free));
    const engine = new FakeEngine(...probeWindow(), ...[...crashed].reverse()); // Docker lists newest first
    let inFlight = 0;
    let most = 0;
    const asked: string[] = [];
    const inspect = engine.inspect.bind(engine);
    engine.inspect = async (name) => {
      asked.push(name);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return inspect(name);
    };
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(free));
    assert.equal(most, INSPECT_BATCH);
    assert.deepEqual(
      asked.slice(k),
      Array.from({ length: 2 * INSPECT_BATCH + 1 }, (_, i) => n(k + i)).filter((x) => x !== n(free)),
    );
  });

  it('creates directly (not reclaimed) when the inspected container is gone meanwhile', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    engine.listHidesExitCode.add(n(0));
    const inspect = engine.inspect.bind(engine);
    engine.inspect = async (name) => {
      await inspect(name);
      return undefined; // 404: removed between list and inspect
    };
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(0));
    assert.equal(result.reclaimed, false);
    assert.deepEqual(engine.callsOf('remove'), []);
  });

  it('rejects with the engine error when an inspect fails (never read as "not found")', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    engine.listHidesExitCode.add(n(0));
    const down = new DockerUnreachableError('tcp://127.0.0.1:2375', 'socket hang up');
    engine.failInspect = down;
    const { promise, creates } = await claim(engine);
    await assert.rejects(promise, (e) => e === down);
    assert.deepEqual(creates, []);
  });

  it('moves on with reason "conflict" when create answers NameConflictError', async () => {
    const engine = new FakeEngine();
    const { result } = await claimOk(engine, {
      create: async (name) => {
        if (name === n(0)) throw new NameConflictError(`The name ${name} is already in use.`);
        return `new-${name}`;
      },
    });
    assert.equal(result.name, n(1));
    assert.equal(result.created, `new-${n(1)}`);
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'conflict' }]);
  });

  it('does not count a name as reclaimed when its create lost the race after the remove', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    const seen: Array<{ name: string; reclaimed: boolean }> = [];
    const { result } = await claimOk(engine, {
      create: async (name, reclaimed) => {
        seen.push({ name, reclaimed });
        if (name === n(0)) throw new NameConflictError('taken');
        return name;
      },
    });
    assert.deepEqual(seen, [
      { name: n(0), reclaimed: true },
      { name: n(1), reclaimed: false },
    ]);
    assert.equal(result.reclaimed, false);
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'conflict' }]);
  });

  it('skips a name whose remove failed ("remove-failed") and claims the next candidate', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    engine.failRemove.set(`id-${n(0)}`, Object.assign(new Error('container is restarting'), { statusCode: 409 }));
    const { result, creates } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.equal(result.reclaimed, false);
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'remove-failed' }]);
    assert.deepEqual(creates, [{ name: n(1), reclaimed: false }]);
  });

  it('propagates any other create error without trying more names', async () => {
    const engine = new FakeEngine();
    const missing = new ImageMissingError('borg-agent-demo:latest');
    const { promise, candidates } = await claim(engine, {
      create: async () => {
        throw missing;
      },
    });
    await assert.rejects(promise, (e) => e === missing);
    assert.deepEqual(candidates, [n(0)]);
  });

  it('gives up with a BorgError naming the count after maxCandidates taken names', async () => {
    const engine = new FakeEngine(...Array.from({ length: 10 }, (_, i) => inState(n(i), 'running')));
    const { promise, creates, candidates } = await claim(engine, { maxCandidates: 5 });
    await assert.rejects(promise, (e: unknown) => e instanceof BorgError && /after 5 candidates/.test(e.message) && e.message.includes(PREFIX));
    assert.equal(candidates.length, 5);
    assert.deepEqual(creates, []);
  });

  it(`tries at most ${MAX_CLAIM_CANDIDATES} names by default`, async () => {
    const engine = new FakeEngine(...Array.from({ length: MAX_CLAIM_CANDIDATES + 5 }, (_, i) => container(n(i), { exitCode: 1 })));
    const { promise, candidates } = await claim(engine);
    await assert.rejects(promise, (e: unknown) => e instanceof BorgError && e.message.includes(`after ${MAX_CLAIM_CANDIDATES} candidates`));
    assert.equal(candidates.length, MAX_CLAIM_CANDIDATES);
    assert.deepEqual(engine.callsOf('remove'), []);
  });

  it('claims the last allowed candidate when the ones before it are taken', async () => {
    const engine = new FakeEngine(...Array.from({ length: 4 }, (_, i) => inState(n(i), 'paused')));
    const { result } = await claimOk(engine, { maxCandidates: 5 });
    assert.equal(result.name, n(4));
    assert.equal(result.skipped.length, 4);
  });
});
