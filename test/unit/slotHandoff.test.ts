/**
 * How a slot passes from one agent to the next (P3): a queued launch creates and attaches its
 * container while it waits, so a freed slot only waits for a start; the slot is freed as soon as
 * Docker reports the exit, before the exit is inspected and recorded. And what a hostile agent
 * cannot do with that: agents that exit at once, over and over, never get more than
 * `maxParallelAgents` containers running, nor more than as many again waiting created.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { ContainerInfo, CreateSpec } from '../../src/core/engine';
import { ImageMissingError, InterruptedError, PipelineStoppedError } from '../../src/core/errors';
import { DEFAULT_SETTINGS, Pipeline, PipelineSettings } from '../../src/core/pipeline';
import { StateDirs } from '../../src/core/stateDirs';
import { Store } from '../../src/core/store';
import { FakeDocker, gate } from './fakeDocker';

const WS = 'ws-unit-handoff';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * A FakeDocker that can hold the inspect Docker answers after an exit (the agent's post-exit
 * bookkeeping), report images missing, and count what runs and what waits created.
 */
class HandoffDocker extends FakeDocker {
  /** While set, an inspect of an exited container waits for it. */
  holdExitInspect: Promise<void> | undefined;
  /** Resolves when an exited container's inspect is being held. */
  exitInspectHeld = gate();
  missingImages = new Set<string>();
  /** Every container exits with 0 right after its start (a hostile agent that ends at once). */
  exitAtOnce = false;
  maxRunning = 0;
  maxCreatedWaiting = 0;
  readonly order: string[] = [];

  override async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    const info = await super.inspect(nameOrId);
    if (info?.status === 'exited' && this.holdExitInspect) {
      this.exitInspectHeld.open();
      await this.holdExitInspect;
    }
    return info;
  }

  override async image(ref = ''): Promise<{ labels: Record<string, string>; user: string } | undefined> {
    return this.missingImages.has(ref) ? undefined : super.image();
  }

  override async create(spec: CreateSpec): Promise<string> {
    const id = await super.create(spec);
    this.order.push(`create ${spec.name}`);
    this.count();
    return id;
  }

  override async start(id: string): Promise<void> {
    await super.start(id);
    const c = this.containers.get(id)!;
    this.order.push(`start ${c.info.name}`);
    this.count();
    if (this.exitAtOnce) setImmediate(() => c.exit?.(0));
  }

  private count(): void {
    const all = [...this.containers.values()];
    this.maxRunning = Math.max(this.maxRunning, all.filter((c) => c.info.status === 'running').length);
    this.maxCreatedWaiting = Math.max(this.maxCreatedWaiting, all.filter((c) => c.info.status === 'created').length);
  }
}

async function rig(settings: Partial<PipelineSettings> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-handoff-'));
  dirs.push(dir);
  const engine = new HandoffDocker();
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const s: PipelineSettings = { ...DEFAULT_SETTINGS, prefix: 'u', image: 'img', ...settings };
  const pipeline = new Pipeline({ engine, store, stateDirs: new StateDirs(path.join(dir, 'agents')), workspaceId: WS, settings: () => s });
  return { engine, store, pipeline };
}

/** Waits for `cond`, yielding to the event loop between checks (no timing: it only polls state). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition never held');
}

describe('a slot passes to the next launch', () => {
  it('a queued launch creates and attaches its container while it waits, and starts it only once a slot is free', async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    const second = r.pipeline.launch('qa');
    await until(() => [...r.engine.containers.values()].some((c) => c.info.name === 'u-qa-1' && c.stream !== undefined));
    const b = r.engine.get('u-qa-1');
    assert.equal(b.info.status, 'created');
    assert.equal(b.starts, 0, 'no start while the slot is held');
    assert.equal(r.pipeline.queuedCount, 1, 'still listed as queued');
    r.engine.exit(a.name, 0);
    const launched = await second;
    assert.equal(launched.name, 'u-qa-1');
    assert.equal(b.starts, 1);
    assert.deepEqual(r.engine.order, ['create u-worker-0', 'start u-worker-0', 'create u-qa-1', 'start u-qa-1']);
    r.engine.exit(launched.name, 0);
    await r.pipeline.joinAgents();
  });

  it('a container made ahead is not in the view of containers: it is the queued launch, not an agent that exited (Remove Exited would take it)', async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    const second = r.pipeline.launch('qa');
    await until(() => [...r.engine.containers.values()].some((c) => c.info.name === 'u-qa-1' && c.stream !== undefined));
    await r.pipeline.refresh();
    assert.deepEqual(
      r.pipeline.containers.map((c) => c.name),
      [a.name],
    );
    assert.equal(r.pipeline.queuedCount, 1);
    r.engine.exit(a.name, 0);
    const b = await second;
    await r.pipeline.refresh();
    assert.deepEqual(r.pipeline.containers.map((c) => c.name).sort(), [a.name, b.name].sort(), 'once started it is an agent like any other');
    r.engine.exit(b.name, 0);
    await r.pipeline.joinAgents();
  });

  it("the next launch starts as soon as Docker reports the exit, before the previous agent's exit is inspected and recorded", async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    const second = r.pipeline.launch('qa');
    await until(() => r.engine.order.includes('create u-qa-1'));
    const held = gate();
    r.engine.holdExitInspect = held.opened;
    r.engine.exit(a.name, 0);
    await r.engine.exitInspectHeld.opened;
    await until(() => r.engine.order.includes('start u-qa-1')); // the slot was freed while the inspect is held
    const b = await second;
    assert.equal(b.agent.state, 'running');
    assert.equal(a.agent.state, 'running', "the first agent's end is not judged yet");
    assert.equal(r.store.getContainer(a.name)?.state, 'running', 'nor recorded');
    r.engine.holdExitInspect = undefined;
    held.open();
    await a.agent.done;
    assert.equal(a.agent.state, 'exited');
    r.engine.exit(b.name, 0);
    await r.pipeline.joinAgents();
    assert.equal(r.store.getContainer(a.name)?.state, 'exited');
  });

  it('agents that exit at once, 200 times, never have more than maxParallelAgents running nor as many more waiting created', async () => {
    const r = await rig({ maxParallelAgents: 3 });
    r.engine.exitAtOnce = true;
    const launches = Array.from({ length: 200 }, () => r.pipeline.launch('worker'));
    await Promise.all(launches);
    await r.pipeline.joinAgents();
    assert.equal(r.engine.order.filter((o) => o.startsWith('start')).length, 200);
    assert.ok(r.engine.maxRunning <= 3, `${r.engine.maxRunning} ran at once`);
    assert.ok(r.engine.maxRunning >= 1);
    assert.ok(r.engine.maxCreatedWaiting <= 6, `${r.engine.maxCreatedWaiting} waited created at once`);
    assert.equal(r.pipeline.runningCount, 0);
  });

  it('shutdown and cancel remove the containers made ahead for queued launches; nothing of them starts', async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    const ac = new AbortController();
    const cancelled = r.pipeline.launch('qa', { signal: ac.signal });
    await until(() => r.engine.order.includes('create u-qa-1'));
    ac.abort();
    await assert.rejects(cancelled, InterruptedError);
    assert.equal([...r.engine.containers.values()].filter((c) => c.info.name.startsWith('u-qa-')).length, 0, 'the cancelled launch left no container');
    const queued = r.pipeline.launch('manager');
    await until(() => r.engine.order.some((o) => o.startsWith('create u-manager-')));
    await r.pipeline.shutdown('detach');
    await assert.rejects(queued, PipelineStoppedError);
    assert.deepEqual(
      [...r.engine.containers.values()].map((c) => c.info.name),
      [a.name],
      'only the running agent is left',
    );
    assert.equal(r.engine.order.filter((o) => o.startsWith('start')).length, 1);
  });

  it('a launch whose image is missing fails while it waits, without waiting for a slot', async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    r.engine.missingImages.add('gone:latest');
    const launch = r.pipeline.launch('qa', { image: 'gone:latest' });
    let error: unknown;
    launch.catch((e: unknown) => (error = e));
    await until(() => error !== undefined); // the slot stays held meanwhile
    assert.ok(error instanceof ImageMissingError, String(error));
    assert.equal(a.agent.state, 'running', 'the slot was never freed');
    assert.equal(r.pipeline.queuedCount, 0);
    r.engine.exit(a.name, 0);
    await r.pipeline.joinAgents();
  });
});
