/**
 * Several Docker hosts behind one engine (HostsEngine) and the Pipeline's per-host slots: each
 * launch goes to the least loaded host that is up, never more agents on a host than its slots,
 * calls about a container go to its host, a host that goes away is left out (its agents end lost)
 * while the others keep working. Two in-memory daemons here; test/docker/hosts.test.ts does the
 * same with two real dockerd instances.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { CreateSpec } from '../../src/core/engine';
import { DockerUnreachableError, InvalidInputError } from '../../src/core/errors';
import { HostsEngine } from '../../src/core/hostsEngine';
import { DEFAULT_SETTINGS, Pipeline, PipelineSettings } from '../../src/core/pipeline';
import { Slots } from '../../src/core/slots';
import { StateDirs } from '../../src/core/stateDirs';
import { Store } from '../../src/core/store';
import { FakeDocker } from './fakeDocker';

const WS = 'ws-unit-hosts';
const dirs: string[] = [];
const rigs: Array<{ pipeline: Pipeline; store: Store }> = [];
after(async () => {
  for (const r of rigs) {
    await r.pipeline.shutdown('detach');
    r.pipeline.dispose();
    await r.store.close().catch(() => undefined);
  }
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A fake daemon that records the most containers it ran at once. */
class Host extends FakeDocker {
  maxRunning = 0;
  created: string[] = [];
  constructor(readonly label: string) {
    super();
    this.idPrefix = `${label}x`;
  }
  override async create(spec: CreateSpec): Promise<string> {
    const id = await super.create(spec);
    this.created.push(spec.name);
    return id;
  }
  override async start(id: string): Promise<void> {
    await super.start(id);
    this.maxRunning = Math.max(this.maxRunning, this.running().length);
  }
  running(): string[] {
    return [...this.containers.values()].filter((c) => c.info.status === 'running').map((c) => c.info.name);
  }
}

async function rig(slots: [number, number], settings: Partial<PipelineSettings> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-hosts-'));
  dirs.push(dir);
  const a = new Host('a');
  const b = new Host('b');
  const engine = new HostsEngine([
    { name: 'a', engine: a, slots: slots[0] },
    { name: 'b', engine: b, slots: slots[1] },
  ]);
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const s: PipelineSettings = { ...DEFAULT_SETTINGS, prefix: 'h', image: 'img', maxParallelAgents: 1, ...settings };
  const pipeline = new Pipeline({ engine, store, stateDirs: new StateDirs(path.join(dir, 'agents')), workspaceId: WS, settings: () => s });
  rigs.push({ pipeline, store });
  return { a, b, engine, store, pipeline };
}

/** Waits for `cond`, yielding to the event loop between checks (no timing: it only polls state). */
async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 20_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), `${what} never held`);
}

describe('HostsEngine: agents over several Docker hosts', () => {
  it('spreads launches over the hosts by their slots, never more at once on a host than it has, and the total is the slots added up', async () => {
    const r = await rig([2, 3]);
    assert.equal(r.pipeline.maxParallel, 5, 'the slots of all hosts, not maxParallelAgents');
    const launches = Array.from({ length: 15 }, () => r.pipeline.launch('worker'));
    await until(() => r.a.running().length + r.b.running().length === 5, 'five running');
    assert.equal(r.a.running().length, 2);
    assert.equal(r.b.running().length, 3);
    // End runs one at a time, always on host a first: its freed slot goes to a launch placed on a.
    for (let done = 0; done < 15;) {
      const host = r.a.running().length > 0 ? r.a : r.b;
      const name = host.running()[0];
      if (!name) {
        await until(() => r.a.running().length + r.b.running().length > 0, 'a next run');
        continue;
      }
      host.exit(name, 0);
      done++;
      await new Promise((res) => setImmediate(res));
    }
    const results = await Promise.all(launches);
    await r.pipeline.joinAgents();
    assert.ok(r.a.maxRunning <= 2, `host a ran ${r.a.maxRunning} at once`);
    assert.ok(r.b.maxRunning <= 3, `host b ran ${r.b.maxRunning} at once`);
    assert.ok(r.a.created.length > 0 && r.b.created.length > 0, 'both hosts ran agents');
    assert.equal(r.a.created.length + r.b.created.length, 15);
    assert.deepEqual(new Set(results.map((x) => x.agent.host)), new Set(['a', 'b']));
    const launched = r.store.query("SELECT detail FROM events WHERE kind = 'launched'").map((row) => JSON.parse(String(row.detail)) as { host?: string });
    assert.equal(launched.length, 15);
    assert.ok(
      launched.every((d) => d.host === 'a' || d.host === 'b'),
      'each run records its host',
    );
    await r.pipeline.refresh();
    assert.ok(
      r.pipeline.containers.every((c) => c.host === (r.a.created.includes(c.name) ? 'a' : 'b')),
      'the view knows each container host',
    );
  });

  it('routes every call about a container to the host that holds it, also for an id it has not seen yet', async () => {
    const r = await rig([1, 1]);
    r.b.add({ name: 'h-worker-77', status: 'exited', exitCode: 0, labels: { 'borg.managed': 'true', 'borg.workspace': WS, 'borg.persona': 'worker' } });
    const fresh = new HostsEngine([
      { name: 'a', engine: r.a, slots: 1 },
      { name: 'b', engine: r.b, slots: 1 },
    ]);
    const info = await fresh.inspect('h-worker-77');
    assert.equal(info?.host, 'b');
    await fresh.remove(info!.id);
    assert.equal(await r.b.inspect('h-worker-77'), undefined, 'removed on b');
    assert.equal(await fresh.inspect('h-worker-77'), undefined, 'not found on either');
  });

  it('a host that goes away is marked down: its agents end lost, new launches go to the other host, lists show what still answers', async () => {
    const r = await rig([2, 2]);
    const first = await Promise.all([r.pipeline.launch('worker'), r.pipeline.launch('worker'), r.pipeline.launch('worker'), r.pipeline.launch('worker')]);
    const onA = first.filter((x) => x.agent.host === 'a');
    assert.equal(onA.length, 2);
    r.a.goDown();
    await Promise.all(onA.map((x) => x.agent.done));
    for (const x of onA) {
      assert.equal(x.agent.state, 'lost');
      assert.equal(x.agent.lostReason, 'docker');
    }
    assert.equal(r.engine.hosts.find((h) => h.name === 'a')?.up, false);
    assert.equal(r.engine.hosts.find((h) => h.name === 'b')?.up, true);
    const listed = await r.engine.list({ workspace: WS });
    assert.ok(listed.length >= 2 && listed.every((c) => c.host === 'b'));
    await r.engine.ping(); // one host answers: Docker is up
    // b has 2 running in 2 slots; the next launch waits for b, never for a, which is down.
    const next = r.pipeline.launch('qa');
    await until(() => r.b.created.some((n) => n.startsWith('h-qa-')), 'the next launch made on b');
    const bRunning = r.b.running();
    r.b.exit(bRunning[0], 0);
    const launched = await next;
    assert.equal(launched.agent.host, 'b');
    for (const n of r.b.running()) r.b.exit(n, 0);
    await r.pipeline.joinAgents();
  });

  it('recovery while a host is down gives up none of its rows (its containers are missing from the list, not gone); once it answers they are adopted', async () => {
    const r = await rig([1, 1]);
    const both = await Promise.all([r.pipeline.launch('worker'), r.pipeline.launch('worker')]);
    const onA = both.find((x) => x.agent.host === 'a')!;
    await r.pipeline.shutdown('detach');
    r.a.down = true; // unreachable, its container still running
    const s: PipelineSettings = { ...DEFAULT_SETTINGS, prefix: 'h', image: 'img', maxParallelAgents: 1 };
    const again = new Pipeline({ engine: r.engine, store: r.store, stateDirs: new StateDirs(fs.mkdtempSync(path.join(os.tmpdir(), 'borg-hosts-sd-'))), workspaceId: WS, settings: () => s });
    const report = await again.recover();
    assert.deepEqual(report.lost, [], 'nothing given up while a is down');
    assert.equal(r.store.getContainer(onA.name)?.state, 'detached');
    r.a.down = false;
    await r.engine.ping();
    const later = await new Pipeline({
      engine: r.engine,
      store: r.store,
      stateDirs: new StateDirs(fs.mkdtempSync(path.join(os.tmpdir(), 'borg-hosts-sd-'))),
      workspaceId: WS,
      settings: () => s,
    }).recover();
    assert.ok(later.adopted.includes(onA.name), 'adopted once a answers');
    for (const h of [r.a, r.b]) for (const n of h.running()) h.exit(n, 0);
  });

  it('an agent given up as lost while its host was gone, found running again, is killed at recovery, never adopted (its phase ran elsewhere)', async () => {
    const r = await rig([1, 1]);
    const both = await Promise.all([r.pipeline.launch('worker'), r.pipeline.launch('worker')]);
    const onA = both.find((x) => x.agent.host === 'a')!;
    r.a.goDown();
    await onA.agent.done;
    assert.equal(r.store.getContainer(onA.name)?.state, 'lost');
    // Its dockerd comes back and the container was never really stopped (a crash leaves it running).
    r.a.down = false;
    r.a.get(onA.name).info.status = 'running';
    const report = await r.pipeline.recover();
    assert.deepEqual(report.killed, [onA.name]);
    assert.deepEqual(report.adopted, []);
    assert.notEqual(r.a.get(onA.name).info.status, 'running', 'killed');
    assert.equal(r.pipeline.agents.get(onA.name)?.state, 'lost', 'not followed again');
    for (const n of r.b.running()) r.b.exit(n, 0);
    await r.pipeline.joinAgents();
  });

  it('fails only when no host answers, naming each', async () => {
    const r = await rig([1, 1]);
    r.a.goDown();
    r.b.goDown();
    await assert.rejects(
      () => r.engine.list(),
      (e: unknown) => e instanceof DockerUnreachableError && /a: .*; b: /.test(e.message),
    );
    await assert.rejects(() => r.engine.ping(), DockerUnreachableError);
  });

  it('refuses no hosts, a name given twice and a slot count below 1', () => {
    assert.throws(() => new HostsEngine([]), InvalidInputError);
    const e = new FakeDocker();
    assert.throws(
      () =>
        new HostsEngine([
          { name: 'x', engine: e, slots: 1 },
          { name: 'x', engine: e, slots: 1 },
        ]),
      /named x/,
    );
    assert.throws(() => new HostsEngine([{ name: 'x', engine: e, slots: 0 }]), /at least 1/);
  });

  it('an image counts as present only when every host that answers has it', async () => {
    const r = await rig([1, 1]);
    r.b.image = async () => undefined;
    assert.equal(await r.engine.image('img'), undefined);
  });
});

describe('Slots per host', () => {
  it('places on the least loaded host that is up, counting holders and placed waiters; admits a placed waiter past an unplaced one', async () => {
    const hosts = [
      { name: 'a', slots: 1, up: true },
      { name: 'b', slots: 2, up: true },
    ];
    const slots = new Slots(1, () => hosts);
    assert.equal(slots.limit, 3);
    assert.equal(slots.place(), 'a', 'ties go to the first');
    const r1 = await slots.acquire(undefined, undefined, () => 'a');
    assert.equal(slots.place(), 'b');
    const unplacedOn: { host?: string } = {};
    const unplaced = slots.acquire(undefined, undefined, () => unplacedOn.host);
    let placedGot = false;
    const placed = slots
      .acquire(undefined, undefined, () => 'b')
      .then((rel) => {
        placedGot = true;
        return rel;
      });
    await until(() => placedGot, 'placed waiter admitted');
    assert.equal(slots.runningOn('b'), 1);
    hosts[1].up = false;
    assert.equal(slots.place(), 'a', 'b is down: a, although a is full');
    unplacedOn.host = 'b';
    slots.admitPlaced();
    const r3 = await unplaced;
    assert.equal(slots.runningOn('b'), 2);
    r1();
    (await placed)();
    r3();
    assert.equal(slots.running, 0);
  });
});
