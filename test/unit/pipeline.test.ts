import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { BorgError, InterruptedError, RefusedError } from '../../src/core/errors';
import { agentLabels, LABEL_TIMEOUT } from '../../src/core/labels';
import { DEFAULT_SETTINGS, FINISHED_AGENTS_KEPT, Pipeline, PipelineSettings, SHUTDOWN_GRACE_SECONDS } from '../../src/core/pipeline';
import { StateDirs } from '../../src/core/stateDirs';
import { Store } from '../../src/core/store';
import { FakeDocker } from './fakeDocker';
import { verbsFor } from '../../src/core/verbs';
import { DEFAULT_GATEWAY_SETTINGS, Gateway } from '../../src/core/gateway/gateway';

const WS = 'ws-unit-pipeline';
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function rig(settings: Partial<PipelineSettings> = {}, o: { adopt?: boolean; workspace?: string } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-pipe-'));
  dirs.push(dir);
  const engine = new FakeDocker();
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const stateDirs = new StateDirs(path.join(dir, 'agents'));
  const s: PipelineSettings = { ...DEFAULT_SETTINGS, prefix: 'u', image: 'img', ...settings };
  const pipeline = new Pipeline({ engine, store, stateDirs, workspaceId: o.workspace ?? WS, settings: () => s, adoptBeforeLaunch: o.adopt });
  return { dir, engine, store, stateDirs, pipeline, settings: s };
}

/** A crashed container of this workspace with Borg's input record, as an earlier run leaves it. */
function crashed(r: Awaited<ReturnType<typeof rig>>, name: string, extra: Record<string, string> = {}) {
  const c = r.engine.add({ name, status: 'exited', exitCode: 3, labels: agentLabels('worker', WS, extra) });
  r.stateDirs.writeFile(name, 'input.json', JSON.stringify({ persona: 'worker', n: 1 }));
  return c;
}

describe('Pipeline over the Engine interface (seed 001 edge cases)', () => {
  it('a start that fails releases the slot, records it and leaves nothing to join', async () => {
    const r = await rig();
    r.engine.failNextStart = new Error('exec format error');
    await assert.rejects(r.pipeline.launch('worker'), (e: unknown) => e instanceof BorgError && /Starting u-worker-0 failed: exec format error/.test(e.message));
    assert.equal(r.pipeline.runningCount, 0);
    await r.pipeline.joinAgents();
    assert.equal(r.store.getContainer('u-worker-0')?.state, 'start-failed');
  });

  it('a crash ends the agent as crashed; joining nothing, or twice, resolves', async () => {
    const r = await rig();
    await r.pipeline.joinAgents();
    const { agent, name } = await r.pipeline.launch('worker');
    const joins = [r.pipeline.joinAgents(), r.pipeline.joinAgents()];
    r.engine.exit(name, 3);
    await Promise.all(joins);
    assert.equal(agent.state, 'crashed');
    assert.equal(agent.exitCode, 3);
  });

  it('one slot: the second launch waits, then starts when the first exits (no deadlock)', async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    const second = r.pipeline.launch('worker');
    await until(() => r.pipeline.queuedCount === 1);
    r.engine.exit(a.name, 0);
    const b = await second;
    assert.equal(b.agent.state, 'running');
    r.engine.exit(b.name, 0);
    await r.pipeline.joinAgents();
  });

  it('OOMKilled with exit code 0 (a child OOM-killed) is oom-killed, not a clean exit', async () => {
    const r = await rig();
    const { agent, name } = await r.pipeline.launch('worker');
    r.engine.exit(name, 0, { oom: true });
    await agent.done;
    assert.equal(agent.state, 'oom-killed');
  });

  it('a cancelled launch waiting for a slot is abandoned at once and gives up its place', async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    const ac = new AbortController();
    const queued = r.pipeline.launch('qa', { signal: ac.signal });
    await until(() => r.pipeline.queuedCount === 1);
    ac.abort();
    await assert.rejects(queued, InterruptedError);
    assert.equal(r.pipeline.queuedCount, 0);
    assert.equal(r.pipeline.queued.length, 0);
    r.engine.exit(a.name, 0);
    await r.pipeline.joinAgents();
    assert.equal([...r.engine.containers.values()].filter((c) => c.info.name.startsWith('u-qa-')).length, 0, 'no container for the cancelled launch');
  });
});

describe("the Agents view's facts: stops Borg made, exit times, queued launches, output", () => {
  it('Stop Agent is recorded by Borg: after a reload (a new Pipeline on the same database) the container reads stopped and offers reclaim', async () => {
    const r = await rig();
    const { name, id } = await r.pipeline.launch('worker');
    await r.pipeline.stopAgent(name);
    await r.pipeline.refresh();
    assert.equal(r.pipeline.containers.find((c) => c.id === id)?.endedBy, 'stopped');
    const reloaded = new Pipeline({ engine: r.engine, store: r.store, stateDirs: r.stateDirs, workspaceId: WS, settings: () => r.settings });
    await reloaded.refresh();
    const c = reloaded.containers.find((x) => x.id === id)!;
    assert.equal(c.exitCode, 143);
    assert.equal(c.endedBy, 'stopped');
    assert.deepEqual(verbsFor(c), ['reclaim', 'remove', 'logs']);
    assert.equal((await reloaded.inspect(name))?.endedBy, 'stopped');
    const again = await reloaded.reclaim(name);
    assert.equal(again.reclaimed, true);
    r.engine.exit(name, 0);
    await reloaded.joinAgents();
  });

  it('an agent that exits 143 by itself is not recorded as stopped: it stays a crash with hardline', async () => {
    const r = await rig();
    const { name, id, agent } = await r.pipeline.launch('worker');
    r.engine.exit(name, 143);
    await agent.done;
    await r.pipeline.refresh();
    const c = r.pipeline.containers.find((x) => x.id === id)!;
    assert.equal(c.endedBy, undefined);
    assert.deepEqual(verbsFor(c), ['hardline', 'remove', 'logs']);
  });

  it('a stop of a container no Pipeline follows is recorded too (Borg made it)', async () => {
    const r = await rig();
    const c = r.engine.add({ name: 'u-worker-7', status: 'running', labels: agentLabels('worker', WS) });
    await r.pipeline.stopAgent('u-worker-7');
    assert.equal(r.store.getContainer('u-worker-7')?.state, 'stopped');
    await r.pipeline.refresh();
    assert.equal(r.pipeline.containers.find((x) => x.id === c.info.id)?.endedBy, 'stopped');
  });

  it('a watchdog stop reads timed-out, not stopped', async () => {
    const r = await rig();
    const { id, agent } = await r.pipeline.launch('worker', { timeoutSeconds: 0.001 });
    await agent.done;
    assert.equal(agent.state, 'timed-out');
    await r.pipeline.refresh();
    const c = r.pipeline.containers.find((x) => x.id === id)!;
    assert.equal(c.endedBy, 'timed-out');
    assert.deepEqual(verbsFor(c), ['hardline', 'remove', 'logs']);
  });

  it("a listed exited container carries Docker's FinishedAt, inspected once per exit, not per refresh", async () => {
    const r = await rig();
    const { name, id, agent } = await r.pipeline.launch('worker');
    r.engine.exit(name, 0);
    await agent.done;
    let inspects = 0;
    const inspect = r.engine.inspect.bind(r.engine);
    r.engine.inspect = (x: string) => (inspects++, inspect(x));
    await r.pipeline.refresh();
    await r.pipeline.refresh();
    await r.pipeline.refresh();
    const c = r.pipeline.containers.find((x) => x.id === id)!;
    assert.equal(c.finishedAt, r.engine.get(name).info.finishedAt);
    assert.ok(c.finishedAt && Date.parse(c.finishedAt) >= agent.startedAt);
    assert.ok(inspects <= 1, `inspected ${inspects} times over three refreshes`);
  });

  it('one queued launch is cancelled by its id: it rejects as cancelled, the others keep their places', async () => {
    const r = await rig({ maxParallelAgents: 1 });
    const a = await r.pipeline.launch('worker');
    const first = r.pipeline.launch('qa');
    const second = r.pipeline.launch('manager', { labels: { 'borg.task': '12', 'borg.phase': 'spec' } });
    await until(() => r.pipeline.queued.length === 2);
    const [q1, q2] = r.pipeline.queued;
    assert.deepEqual([q1.persona, q1.task, q2.persona, q2.task, q2.phase], ['qa', undefined, 'manager', '12', 'spec']);
    assert.notEqual(q1.id, q2.id);
    assert.equal(r.pipeline.cancelQueued(q1.id), true);
    await assert.rejects(first, (e: unknown) => e instanceof InterruptedError && /Cancelled before it started/.test(e.message));
    assert.equal(r.pipeline.cancelQueued(q1.id), false, 'no longer queued');
    assert.deepEqual(
      r.pipeline.queued.map((q) => q.id),
      [q2.id],
    );
    r.engine.exit(a.name, 0);
    const b = await second;
    assert.equal(b.agent.state, 'running');
    r.engine.exit(b.name, 0);
    await r.pipeline.joinAgents();
  });

  it("output lines fire onDidOutput, not onDidChange (a chatty agent does not repaint the views' state)", async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    await r.pipeline.refresh();
    let changes = 0;
    let lines = 0;
    const subs = [r.pipeline.onDidChange(() => changes++), r.pipeline.onDidOutput(() => lines++)];
    r.engine.output(name, ...Array.from({ length: 200 }, (_, i) => `line ${i}`));
    await until(() => lines === 200);
    assert.equal(agent.lastLine, 'line 199');
    assert.equal(changes, 0);
    for (const s of subs) s.dispose();
    r.engine.exit(name, 0);
    await r.pipeline.joinAgents();
  });
});

describe('shutdown joins every start path', () => {
  it('shutdown during a launch (held between attach and start) detaches the agent it hands over, then flushes', async () => {
    const r = await rig();
    const hold = r.engine.holdStarts();
    const launching = r.pipeline.launch('worker');
    await hold.reached;
    const down = r.pipeline.shutdown('detach');
    hold.release();
    const { agent } = await launching;
    await down;
    assert.equal(agent.state, 'detached');
    assert.equal(r.store.isDirty, false, 'flushed after the join');
  });

  it('shutdown during a hardline detaches the restarted agent instead of waiting for it', async () => {
    const r = await rig();
    crashed(r, 'u-worker-7');
    const hold = r.engine.holdStarts();
    const hardline = r.pipeline.hardline('u-worker-7');
    await hold.reached;
    const down = r.pipeline.shutdown('detach');
    hold.release();
    const agent = await hardline;
    await down; // before the fix: waits for the agent (up to its watchdog) and never flushes
    assert.equal(agent.state, 'detached');
    assert.equal(r.engine.get('u-worker-7').info.status, 'running', 'detached, so still running');
  });

  it('shutdown during a reclaim detaches the fresh agent', async () => {
    const r = await rig();
    r.engine.add({ name: 'u-worker-8', status: 'exited', exitCode: 0, labels: agentLabels('worker', WS) });
    const hold = r.engine.holdStarts();
    const reclaim = r.pipeline.reclaim('u-worker-8');
    await hold.reached;
    const down = r.pipeline.shutdown('detach');
    hold.release();
    const res = await reclaim;
    await down;
    assert.equal(res.agent.state, 'detached');
  });

  it(`shutdown in stop mode caps the grace at ${SHUTDOWN_GRACE_SECONDS} s (VS Code allows ~5 s)`, async () => {
    const r = await rig({ stopGraceSeconds: 10 });
    const { name, agent } = await r.pipeline.launch('worker');
    await r.pipeline.shutdown('stop');
    assert.deepEqual(r.engine.get(name).stops, [SHUTDOWN_GRACE_SECONDS]);
    assert.equal(agent.state, 'stopped');
  });
});

describe('the watchdog survives detach', () => {
  it('the budget is on the container (label, env) and the deadline in its input', async () => {
    const r = await rig({ agentTimeoutSeconds: 90 });
    const before = Date.now();
    const { name } = await r.pipeline.launch('worker');
    const c = r.engine.get(name);
    assert.equal(c.spec.labels[LABEL_TIMEOUT], '90');
    assert.ok(c.spec.env?.includes('BORG_TIMEOUT_SECONDS=90'));
    const input = JSON.parse(c.stdin) as { deadline: string; timeoutSeconds: number };
    assert.equal(input.timeoutSeconds, 90);
    const deadline = Date.parse(input.deadline);
    assert.ok(deadline >= before + 90_000 && deadline <= Date.now() + 90_000, input.deadline);
    await r.pipeline.shutdown('detach');
  });

  it('an agent found past its deadline at recovery is stopped at once, whatever the settings say', async () => {
    const r = await rig({ agentTimeoutSeconds: 0 }, { adopt: true });
    const c = r.engine.add({ name: 'u-worker-3', status: 'running', labels: agentLabels('worker', WS, { [LABEL_TIMEOUT]: '5' }) });
    c.info.startedAt = new Date(Date.now() - 60_000).toISOString();
    const report = await r.pipeline.recover();
    assert.deepEqual(report.adopted, ['u-worker-3']);
    const agent = r.pipeline.agents.get('u-worker-3')!;
    await agent.done;
    assert.equal(agent.state, 'timed-out');
    assert.equal(c.stops.length, 1);
  });

  it('recovery removes a container whose launch died between create and start', async () => {
    const r = await rig({}, { adopt: true });
    r.engine.add({ name: 'u-worker-4', status: 'created', labels: agentLabels('worker', WS) });
    const report = await r.pipeline.recover();
    assert.deepEqual(report.removed, ['u-worker-4']);
    assert.equal(r.engine.containers.size, 0);
  });
});

describe('how runs end', () => {
  it('Stop Agent ends a followed agent as stopped (an interruption, not a crash)', async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    await r.pipeline.stopAgent(name);
    assert.equal(agent.state, 'stopped');
  });

  it('an agent that exits 143 by itself (no kill event from Docker) is a crash: it cannot pass for an interruption', async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    r.engine.exit(name, 143);
    await agent.done;
    assert.equal(agent.state, 'crashed');
  });

  it('a stop from outside Borg (Docker records a kill it did not send) ends the agent as lost (killed)', async () => {
    const r = await rig();
    const { id, agent } = await r.pipeline.launch('worker');
    await r.engine.stop(id, 10); // as `docker stop` or a stopping daemon would
    await agent.done;
    assert.equal(agent.state, 'lost');
    assert.equal(agent.lostReason, 'killed');
  });

  it('Docker going away mid-run ends the agent as lost (docker), not crashed', async () => {
    const r = await rig();
    const { agent } = await r.pipeline.launch('worker');
    r.engine.goDown();
    await agent.done;
    assert.equal(agent.state, 'lost');
    assert.equal(agent.lostReason, 'docker');
  });

  it('a container removed outside Borg mid-run is lost (removed), not "exited with 137"', async () => {
    const r = await rig();
    const { agent, id } = await r.pipeline.launch('worker');
    await r.engine.remove(id, { force: true });
    await agent.done;
    assert.equal(agent.state, 'lost');
    assert.equal(agent.lostReason, 'removed');
    assert.match(agent.error ?? '', /removed outside Borg/);
  });

  it('Agent.done resolves (state failed) when its log cannot even be opened', async () => {
    const r = await rig();
    fs.writeFileSync(path.join(r.dir, 'agents-file'), 'not a folder');
    const broken = new Pipeline({ engine: r.engine, store: r.store, stateDirs: new StateDirs(path.join(r.dir, 'agents-file')), workspaceId: WS, settings: () => r.settings });
    const launched: unknown = await broken.launch('worker').catch((e: unknown) => e);
    // Either the state folder is refused before the container exists, or the agent ends failed: never a rejected done.
    if (launched instanceof Error) assert.ok(launched instanceof BorgError, String(launched));
    else await (launched as { agent: { done: Promise<void> } }).agent.done;
    await broken.joinAgents();
  });

  it(`keeps at most ${FINISHED_AGENTS_KEPT} finished agents (memory does not grow with every run)`, async () => {
    const r = await rig();
    for (let i = 0; i < FINISHED_AGENTS_KEPT + 5; i++) {
      const { name, agent } = await r.pipeline.launch('worker');
      r.engine.exit(name, 0);
      await agent.done;
      await until(() => !r.pipeline.agents.has(name) || r.pipeline.agents.get(name)!.state !== 'running');
    }
    await until(() => r.pipeline.agents.size <= FINISHED_AGENTS_KEPT);
    assert.equal(r.pipeline.agents.size, FINISHED_AGENTS_KEPT);
  });
});

describe('the model gateway and the Docker endpoint', () => {
  /** A Pipeline with a real Gateway (its sockets in the rig's folder) over the fake engine. */
  async function withGateway(network: 'gateway' | 'bridge' | 'none') {
    const r = await rig({ hardening: { ...DEFAULT_SETTINGS.hardening, network } });
    const gateway = new Gateway({ store: r.store, root: path.join(r.dir, 'gw'), settings: () => DEFAULT_GATEWAY_SETTINGS, apiKey: async () => 'sk-ant-never-sent' });
    const p = new Pipeline({ engine: r.engine, store: r.store, stateDirs: r.stateDirs, workspaceId: WS, settings: () => r.settings, gateway });
    return { ...r, gateway, p };
  }

  it('gives a gateway agent its folder read-only, the socket env, network none and a run token on stdin — never the key', async () => {
    const r = await withGateway('gateway');
    const { name, agent } = await r.p.launch('worker');
    const c = r.engine.get(name);
    assert.equal(c.spec.hardening?.network, 'gateway');
    assert.ok(
      c.spec.binds?.some((b) => b.endsWith(':/run/borg-gateway:ro')),
      c.spec.binds?.join(' '),
    );
    assert.ok(c.spec.env?.includes('BORG_GATEWAY_SOCKET=/run/borg-gateway/gateway.sock'));
    assert.equal(c.spec.labels?.['borg.gateway'], 'true');
    const stdin = JSON.parse(c.stdin) as { gateway?: { token?: string } };
    assert.match(stdin.gateway?.token ?? '', /^borg-gw-[A-Za-z0-9_-]{43}$/);
    assert.doesNotMatch(c.stdin + JSON.stringify(c.spec), /sk-ant-never-sent/);
    assert.doesNotMatch(r.stateDirs.readFile(name, 'input.json') ?? '', /borg-gw-/, 'the token is not recorded');
    assert.equal(r.gateway.runOf(name)?.startedAt, agent.gatewayRun?.startedAt);
    r.engine.exit(name, 0);
    await agent.done;
    assert.equal(r.gateway.runOf(name), undefined, 'the token is revoked when the run ends');
    await r.p.shutdown('detach');
    await r.gateway.close();
  });

  it('a none agent gets no gateway; a remote Docker refuses gateway and bridge agents', async () => {
    const none = await withGateway('none');
    const { name } = await none.p.launch('worker');
    assert.equal(none.engine.get(name).spec.labels?.['borg.gateway'], 'false');
    assert.ok(!none.engine.get(name).spec.binds?.some((b) => b.includes('/run/borg-gateway')));
    await none.p.shutdown('detach');
    await none.gateway.close();
    for (const network of ['gateway', 'bridge'] as const) {
      const r = await withGateway(network);
      Object.defineProperty(r.engine, 'endpoint', { value: 'tcp://10.0.0.5:2376' });
      await assert.rejects(r.p.launch('worker'), (e: unknown) => e instanceof RefusedError && /not on this machine/.test(e.message));
      await r.p.shutdown('detach');
      await r.gateway.close();
    }
  });
});

describe('verbs resolve the real container and its workspace', () => {
  it('reclaim by id prefix reuses the real name (never one named after the prefix)', async () => {
    const r = await rig();
    const old = r.engine.add({ name: 'u-worker-5', status: 'exited', exitCode: 0, labels: agentLabels('worker', WS) });
    const res = await r.pipeline.reclaim(old.info.id.slice(0, 5));
    assert.equal(res.name, 'u-worker-5');
    assert.deepEqual(
      [...r.engine.containers.values()].map((c) => c.info.name),
      ['u-worker-5'],
    );
    await r.pipeline.shutdown('detach');
  });

  it('rm by id removes that container and its own state dir', async () => {
    const r = await rig();
    const c = r.engine.add({ name: 'u-worker-6', status: 'exited', exitCode: 1, labels: agentLabels('worker', WS) });
    r.stateDirs.ensure('u-worker-6');
    await r.pipeline.removeAgent(c.info.id, { keepState: false });
    assert.equal(r.stateDirs.exists('u-worker-6'), false);
    assert.equal(r.engine.containers.size, 0);
  });

  it("refuses to stop, remove, reclaim or hardline another workspace's agent", async () => {
    const r = await rig();
    r.engine.add({ name: 'u-worker-9', status: 'exited', exitCode: 0, labels: agentLabels('worker', 'ws-other') });
    r.engine.add({ name: 'u-worker-10', status: 'exited', exitCode: 2, labels: agentLabels('worker', 'ws-other') });
    r.engine.add({ name: 'u-worker-11', status: 'running', labels: agentLabels('worker', 'ws-other') });
    const other = /belongs to another workspace.*--workspace/;
    await assert.rejects(r.pipeline.reclaim('u-worker-9'), (e: unknown) => e instanceof RefusedError && other.test(e.message));
    await assert.rejects(r.pipeline.removeAgent('u-worker-9', { keepState: false }), other);
    await assert.rejects(r.pipeline.hardline('u-worker-10'), other);
    await assert.rejects(r.pipeline.stopAgent('u-worker-11'), other);
    assert.equal(r.engine.containers.size, 3);
  });

  it("hardline resumes the session of that container's own last run, not the last one in a shared agent.log", async () => {
    const r = await rig();
    const { name, agent } = await r.pipeline.launch('worker');
    r.engine.exit(name, 1, { lines: ['{"type":"system","subtype":"init","session_id":"mine"}'] });
    await agent.done;
    // A later run under the same name wrote another session into the name's agent.log.
    fs.appendFileSync(r.stateDirs.hostFile(name, 'agent.log'), '{"type":"system","session_id":"someone-else"}\n');
    const again = await r.pipeline.hardline(name);
    const stdin = r.engine.get(name).stdin.trim().split('\n').pop()!;
    assert.equal((JSON.parse(stdin) as { resumeSessionId?: string }).resumeSessionId, 'mine');
    r.engine.exit(name, 0);
    await again.done;
  });
});

/** Waits for `cond`, yielding to the event loop between checks (no timing: it only polls state). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition never held');
}

describe('a launch that reclaims a name: the old container is moved aside and its removal is owned by the Pipeline', () => {
  it('joinAgents waits for the removal; one that fails is recorded and the container left aside, never forced', async () => {
    const r = await rig();
    const old = r.engine.add({ name: 'u-worker-0', status: 'exited', exitCode: 0, oomKilled: false, labels: agentLabels('worker', WS) });
    let release!: () => void;
    const held = new Promise<void>((res) => (release = res));
    const forced: boolean[] = [];
    const remove = r.engine.remove.bind(r.engine);
    r.engine.remove = async (id, o) => {
      if (id !== old.info.id) return remove(id, o);
      forced.push(o?.force ?? false);
      await held;
      throw Object.assign(new Error('You cannot remove a running container'), { statusCode: 409 });
    };
    const launched = await r.pipeline.launch('worker');
    assert.equal(launched.name, 'u-worker-0');
    assert.equal(launched.reclaimed, true);
    r.engine.exit(launched.name, 0);
    let joined = false;
    const join = r.pipeline.joinAgents().then(() => (joined = true));
    await launched.agent.done;
    await new Promise((res) => setImmediate(res));
    assert.equal(joined, false, 'the removal is still held');
    release();
    await join;
    assert.deepEqual(forced, [false]);
    assert.equal(old.info.name, 'u-worker-0.reclaimed-' + old.info.id.slice(0, 12));
    assert.ok(r.engine.containers.has(old.info.id), 'left aside, untouched');
    const failed = r.store.listEvents(old.info.name).filter((e) => e.kind === 'reclaim-remove-failed');
    assert.equal(failed.length, 1);
  });
});
