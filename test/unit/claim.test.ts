import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { AsideRemoval, asideName, claimName, ClaimOptions, isAsideOf, INSPECT_BATCH, judge, MAX_CLAIM_CANDIDATES, PROBE_CANDIDATES, Verdict } from '../../src/core/claim';
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
  const removals: Array<Promise<AsideRemoval>> = [];
  const promise = claimName<string>({
    adoptRemoval: (r) => removals.push(r),
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
  return { promise, candidates, creates, removals };
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

  it('skips a never-started container whose remove failed ("remove-failed") and claims the next candidate', async () => {
    const engine = new FakeEngine(inState(n(0), 'created'));
    engine.failRemove.set(`id-${n(0)}`, Object.assign(new Error('container is starting'), { statusCode: 409 }));
    const { result, creates } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.equal(result.reclaimed, false);
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'remove-failed' }]);
    assert.deepEqual(creates, [{ name: n(1), reclaimed: false }]);
    assert.deepEqual(engine.callsOf('rename'), [], 'a never-started container is removed in place, never moved aside');
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

describe('claimName: a reclaimed container is moved aside and removed off the critical path', () => {
  const aside0 = asideName(n(0), `id-${n(0)}`);

  it('renames the exited-0 container aside, hands over its removal, then creates under the name', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    const order: string[] = [];
    const c = await claim(engine, {
      create: async (name) => {
        order.push(`create ${name} (${c.removals.length} removal adopted)`);
        return name;
      },
    });
    const result = await c.promise;
    assert.equal(result.name, n(0));
    assert.equal(result.reclaimed, true);
    assert.deepEqual(engine.callsOf('rename'), [{ op: 'rename', id: `id-${n(0)}`, name: aside0 }]);
    assert.deepEqual(order, [`create ${n(0)} (1 removal adopted)`]);
    assert.equal(c.removals.length, 1);
    assert.deepEqual(await c.removals[0], { name: n(0), aside: aside0, id: `id-${n(0)}` });
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(0)}`, force: false }], 'removed by id, never forced');
    assert.ok(!engine.containers.has(aside0));
  });

  it('the create does not wait for the removal', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    let releaseRemove!: () => void;
    const held = new Promise<void>((r) => (releaseRemove = r));
    const remove = engine.remove.bind(engine);
    engine.remove = async (id, o) => {
      await held;
      return remove(id, o);
    };
    const c = await claim(engine);
    const result = await c.promise; // resolves while the remove is still held
    assert.equal(result.name, n(0));
    assert.ok(engine.containers.has(aside0), 'still there, under its aside name');
    releaseRemove();
    assert.equal((await c.removals[0]).error, undefined);
    assert.ok(!engine.containers.has(aside0));
  });

  it('a failed rename passes the name over ("remove-failed"): nothing removed, nothing created under it', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    engine.failRename.set(`id-${n(0)}`, Object.assign(new Error('server error'), { statusCode: 500 }));
    const { result, creates, removals } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.equal(result.reclaimed, false);
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'remove-failed' }]);
    assert.deepEqual(creates, [{ name: n(1), reclaimed: false }]);
    assert.deepEqual(engine.callsOf('remove'), []);
    assert.deepEqual(removals, []);
    assert.equal(engine.containers.get(n(0))?.id, `id-${n(0)}`, 'untouched, under its own name');
  });

  it('an aside name already taken (409) passes the name over as "conflict" and touches nothing', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }), container(aside0, { id: 'id-squatter', exitCode: 0 }));
    const { result, removals } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'conflict' }]);
    assert.deepEqual(engine.callsOf('remove'), []);
    assert.deepEqual(removals, []);
    assert.equal(engine.containers.get(aside0)?.id, 'id-squatter');
  });

  it('a container gone by the rename (404) leaves its name free: reclaimed without a removal', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    const rename = engine.rename.bind(engine);
    engine.rename = async (id, name) => {
      engine.containers.delete(n(0)); // removed by someone else between the inspect and the rename
      return rename(id, name);
    };
    const { result, removals, creates } = await claimOk(engine);
    assert.equal(result.name, n(0));
    assert.equal(result.reclaimed, true);
    assert.deepEqual(removals, []);
    assert.deepEqual(creates, [{ name: n(0), reclaimed: true }]);
  });

  it('a removal that fails (started again meanwhile) is reported, never forced: the container stays aside', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    const refused = Object.assign(new Error('You cannot remove a running container'), { statusCode: 409 });
    engine.failRemove.set(`id-${n(0)}`, refused);
    const { result, removals } = await claimOk(engine);
    assert.equal(result.name, n(0));
    const outcome = await removals[0];
    assert.equal(outcome.error, refused);
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(0)}`, force: false }]);
    assert.equal(engine.containers.get(aside0)?.id, `id-${n(0)}`);
  });

  it('a create that loses the name (409) after the rename moves on; the removal is still handed over', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    const { result, removals } = await claimOk(engine, {
      create: async (name) => {
        if (name === n(0)) throw new NameConflictError(`The name ${name} is already in use.`);
        return name;
      },
    });
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'conflict' }]);
    assert.equal(removals.length, 1);
    assert.equal((await removals[0]).error, undefined);
  });

  it('two claims racing on the same exited-0 name: one reclaims it, the other passes it over; it is removed once', async () => {
    const engine = new FakeEngine(container(n(0), { exitCode: 0 }));
    // Both inspect -0 before either renames it (the rename waits for both inspects).
    let inspected = 0;
    let bothInspected!: () => void;
    const both = new Promise<void>((r) => (bothInspected = r));
    const inspect = engine.inspect.bind(engine);
    engine.inspect = async (name) => {
      const info = await inspect(name);
      if (name === n(0) && ++inspected === 2) bothInspected();
      return info;
    };
    const rename = engine.rename.bind(engine);
    engine.rename = async (id, name) => {
      await both;
      return rename(id, name);
    };
    const created = new Set<string>();
    const create = async (name: string) => {
      if (created.has(name)) throw new NameConflictError(`The name ${name} is already in use.`);
      created.add(name);
      return name;
    };
    const a = await claim(engine, { create });
    const b = await claim(engine, { create });
    const [ra, rb] = await Promise.all([a.promise, b.promise]);
    assert.notEqual(ra.name, rb.name);
    assert.deepEqual([ra.reclaimed, rb.reclaimed].sort(), [false, true]);
    const loser = ra.reclaimed ? rb : ra;
    assert.deepEqual(loser.skipped, [{ name: n(0), reason: 'conflict' }], 'its rename met the aside name the winner took');
    const outcomes = await Promise.all([...a.removals, ...b.removals]);
    assert.equal(outcomes.length, 1, 'one removal, owned by the winner');
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(0)}`, force: false }]);
  });

  it('an inspect failing mid-batch rejects the claim when it reaches that name: nothing renamed, removed or created', async () => {
    const engine = new FakeEngine(inState(n(0), 'running'), inState(n(1), 'running'), container(n(3), { exitCode: 0 }));
    const broken = new Error('inspect failed: server error');
    const inspect = engine.inspect.bind(engine);
    engine.inspect = async (name) => {
      if (name === n(2)) throw broken;
      return inspect(name);
    };
    const { promise, creates, removals } = await claim(engine);
    await assert.rejects(promise, (e) => e === broken);
    assert.deepEqual(creates, []);
    assert.deepEqual(removals, []);
    assert.deepEqual(engine.callsOf('rename'), []);
    assert.ok(engine.containers.has(n(3)), 'the clean -3 beyond it is untouched');
  });

  it('an inspect failing mid-batch beyond the name claimed is never read (and never thrown unhandled)', async () => {
    const engine = new FakeEngine(inState(n(0), 'running'), container(n(1), { exitCode: 0 }));
    const inspect = engine.inspect.bind(engine);
    engine.inspect = async (name) => {
      if (name === n(4)) throw new Error('never awaited');
      return inspect(name);
    };
    const { result, removals } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.equal(result.reclaimed, true);
    assert.equal((await removals[0]).error, undefined);
  });

  it('a never-started container over a minute old is removed before the create, not moved aside', async () => {
    const engine = new FakeEngine(inState(n(0), 'created'));
    const { result, removals } = await claimOk(engine);
    assert.equal(result.reclaimed, true);
    assert.deepEqual(engine.callsOf('rename'), []);
    assert.deepEqual(removals, []);
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(0)}`, force: false }]);
  });

  it('isAsideOf: an aside name names its own container', () => {
    const id = 'abcdef0123456789abcdef';
    assert.equal(isAsideOf(asideName('borg-worker-3', id), id), true);
    assert.equal(isAsideOf(asideName('borg-worker-3', id), 'ffffff0123456789'), false, 'another container under that name was not moved aside by a claim');
    assert.equal(isAsideOf('borg-worker-3', id), false);
  });
});

describe('claimName on an engine that cannot rename (Swarm services: canRename false)', () => {
  class NoRenameEngine extends FakeEngine {
    readonly canRename = false;
  }

  it('removes the exited-0 one in place (never renamed, no removal handed over), then creates under the name', async () => {
    const engine = new NoRenameEngine(container(n(0), { exitCode: 0 }));
    const order: string[] = [];
    const remove = engine.remove.bind(engine);
    engine.remove = async (id, o) => {
      order.push(`remove ${id}`);
      return remove(id, o);
    };
    const c = await claim(engine, {
      create: async (name) => {
        order.push(`create ${name}`);
        return name;
      },
    });
    const result = await c.promise;
    assert.equal(result.name, n(0));
    assert.equal(result.reclaimed, true);
    assert.deepEqual(engine.callsOf('rename'), []);
    assert.deepEqual(c.removals, []);
    assert.deepEqual(order, [`remove id-${n(0)}`, `create ${n(0)}`]);
    assert.deepEqual(engine.callsOf('remove'), [{ op: 'remove', id: `id-${n(0)}`, force: false }], 'never forced');
  });

  it('a failed removal passes the name over ("remove-failed") and creates nothing under it', async () => {
    const engine = new NoRenameEngine(container(n(0), { exitCode: 0 }));
    engine.failRemove.set(`id-${n(0)}`, Object.assign(new Error('server error'), { statusCode: 500 }));
    const { result, creates } = await claimOk(engine);
    assert.equal(result.name, n(1));
    assert.deepEqual(result.skipped, [{ name: n(0), reason: 'remove-failed' }]);
    assert.deepEqual(creates, [{ name: n(1), reclaimed: false }]);
    assert.equal(engine.containers.get(n(0))?.id, `id-${n(0)}`, 'untouched');
  });

  it('still keeps a crashed one and an OOM-killed exit 0 for hardline', async () => {
    const engine = new NoRenameEngine(container(n(0), { exitCode: 3 }), container(n(1), { exitCode: 0, oomKilled: true }));
    const { result } = await claimOk(engine);
    assert.equal(result.name, n(2));
    assert.deepEqual(engine.callsOf('remove'), []);
  });
});
