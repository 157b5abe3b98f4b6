/**
 * Two Docker hosts (issue 14): two dockerd instances this test starts itself
 * (test/support/dockerDaemons.ts: each in its own network namespace with its own data-root and
 * socket), 2 slots each, behind one HostsEngine, with a real Runtime (Pipeline, Scheduler, the
 * gateway: agents run with network none and their gateway socket bind-mounted from this host).
 * (a) Launches spread over both hosts, never more at once on a host than its slots — counted from
 * Docker's own StartedAt/FinishedAt on each daemon, not from timing — and each run's host is
 * recorded (ContainerInfo.host, the store's events). (b) One host's dockerd SIGKILLed while its
 * agents run: they end lost (Docker gone), their task phases are requeued on the other host and
 * every task ends done; nothing is lost.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { DEMO_IMAGE } from '../../src/core/demoImage';
import { Git } from '../../src/core/git';
import { HostsEngine } from '../../src/core/hostsEngine';
import { DEFAULT_SETTINGS, PipelineSettings } from '../../src/core/pipeline';
import { Prompts } from '../../src/core/prompts';
import { Runtime } from '../../src/core/runtime';
import { DEFAULT_TASK_SETTINGS, TaskSettings } from '../../src/core/scheduler';
import { StateDirs } from '../../src/core/stateDirs';
import { Store } from '../../src/core/store';
import type { Task, TaskStatus } from '../../src/core/taskStore';
import { DockerDaemons } from '../support/dockerDaemons';
import { finishedRuns, maxOverlap } from '../support/dockerRecords';
import { makeRepo, waitFor, withTimeout } from './helpers';

const PROMPTS = path.join(__dirname, '..', '..', '..', 'media', 'prompts');
const SLOTS = 2;

interface Rig {
  daemons: DockerDaemons;
  engine: HostsEngine;
  rt: Runtime;
  store: Store;
  prefix: string;
  dir: string;
  repo: string;
  settled(id: number, statuses: TaskStatus[], ms?: number): Promise<Task>;
}

const cleanups: Array<() => Promise<void>> = [];
async function cleanUp(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await withTimeout(fn(), 30_000, 'hosts test clean-up');
    } catch (e) {
      console.error('[cleanup]', e);
    }
  }
}
afterEach(cleanUp);
after(cleanUp);

let rigs = 0;

/**
 * Two fresh daemons h1 and h2 (2 slots each) and a long Runtime over them. `before(daemons)`
 * runs once both answer, before the Runtime starts (to change what a host runs).
 */
async function rig(opts: { before?: (d: DockerDaemons) => Promise<void> } = {}): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-hosts-'));
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  const daemons = await DockerDaemons.start(2);
  cleanups.push(() => daemons.dispose());
  await opts.before?.(daemons);
  const engine = new HostsEngine(daemons.daemons.map((d) => ({ name: d.name, engine: d.engine, slots: SLOTS })));
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  cleanups.push(() => store.close().catch(() => undefined));
  const prefix = `bh${process.pid}x${++rigs}`;
  const settings: PipelineSettings = { ...DEFAULT_SETTINGS, prefix, image: DEMO_IMAGE, stopGraceSeconds: 1 };
  const task: TaskSettings = { ...DEFAULT_TASK_SETTINGS, testCommand: 'sh run-tests.sh', testTimeoutSeconds: 60 };
  const rt = new Runtime({
    kind: 'long',
    engine,
    store,
    stateDirs: new StateDirs(path.join(dir, 'agents')),
    workspaceId: `ws${process.pid}x${rigs}`,
    settings: () => settings,
    taskSettings: () => task,
    gatewayRoot: path.join(dir, 'gateway'),
    git: new Git(),
    prompts: new Prompts(PROMPTS),
    worktreeRoot: path.join(dir, 'worktrees'),
  });
  cleanups.push(() => rt.shutdown('stop'));
  await rt.start();
  const repo = makeRepo(path.join(dir, 'repo'));
  return {
    daemons,
    engine,
    rt,
    store,
    prefix,
    dir,
    repo,
    settled: async (id, statuses, ms = 120_000) => {
      await waitFor(() => statuses.includes(rt.tasks.get(id)!.status) && !rt.scheduler.activeIds.includes(id), ms, `task ${id} to be ${statuses.join(' or ')} (now ${rt.tasks.get(id)?.status})`);
      return rt.tasks.get(id)!;
    },
  };
}

describe('two Docker hosts, each its own dockerd in its own network namespace', () => {
  it('spreads launches over both hosts, never more at once on one than its slots, and records the host of each run', { timeout: 180_000 }, async () => {
    const r = await rig();
    const launches = await Promise.all(Array.from({ length: 8 }, () => r.rt.pipeline.launch('worker', { input: { sleepSeconds: 1 } })));
    await r.rt.pipeline.joinAgents();
    for (const l of launches) assert.equal(l.agent.state, 'exited', `${l.name}: ${l.agent.error ?? ''}`);

    let total = 0;
    for (const d of r.daemons.daemons) {
      const runs = await finishedRuns(d.docker, r.prefix);
      total += runs.length;
      assert.ok(runs.length > 0, `${d.name} ran some of them`);
      const most = maxOverlap(runs);
      assert.ok(most >= 1 && most <= SLOTS, `${d.name} ran ${most} at once by Docker's own records (slots ${SLOTS})`);
      for (const run of runs) {
        const info = await r.engine.inspect(run.id);
        assert.equal(info?.host, d.name, `${run.name} is reported on the host that holds it`);
        const started = r.store.listEvents(run.name).find((e) => e.kind === 'launched');
        assert.ok(started?.detail, `${run.name} has a launched event`);
        assert.equal((JSON.parse(started.detail) as { host?: string }).host, d.name, `${run.name}'s launched event names its host`);
      }
    }
    assert.equal(total, 8, 'each launch ran exactly once, on one of the hosts');
    const listed = await r.engine.list({ namePrefix: `${r.prefix}-` });
    assert.deepEqual(listed.map((c) => c.host).sort(), [...launches.map((l) => l.agent.host)].sort(), 'the list and the agents agree on the hosts');
  });

  it('a host whose dockerd is SIGKILLed while its agents run: they end lost, their phases are requeued on the other host, every task ends done', { timeout: 240_000 }, async () => {
    // On h1 the agent image never ends by itself, so its agents are running when h1 goes:
    // the only way its phases can finish is on h2.
    const r = await rig({
      before: async (d) => {
        const h1 = d.get(1).docker;
        const c = await h1.createContainer({ Image: DEMO_IMAGE, Entrypoint: ['/bin/sh', '-c', 'true'] });
        const [repo, tag] = DEMO_IMAGE.split(':');
        await c.commit({ repo, tag, changes: 'ENTRYPOINT ["/bin/sh", "-c", "exec sleep 600"]' });
        await c.remove({ force: true });
      },
    });
    const tasks = Array.from({ length: 4 }, (_, i) => r.rt.tasks.add({ title: `hosts task ${i}`, description: `Task ${i} across two hosts.`, repo: r.repo, maxAttempts: 1 }));
    r.rt.scheduler.dispatch();
    const onH1 = () => [...r.rt.pipeline.agents.values()].filter((a) => a.host === 'h1' && a.state === 'running');
    await waitFor(
      async () => onH1().length === SLOTS && (await r.daemons.get(1).docker.listContainers({ filters: { status: ['running'], name: [`^/${r.prefix}-`] } })).length === SLOTS,
      60_000,
      'both of h1’s slots to hold a running agent',
    );
    const doomed = onH1();
    const doomedNames = doomed.map((a) => a.name);

    await r.daemons.stop(1, 'kill');
    await Promise.all(doomed.map((a) => withTimeout(a.done, 30_000, `${a.name} to end`)));
    for (const a of doomed) {
      assert.equal(a.state, 'lost', `${a.name} ended lost`);
      assert.equal(a.lostReason, 'docker', `${a.name} was lost with its Docker host`);
    }
    const ended = await Promise.all(tasks.map((t) => r.settled(t.id, ['done', 'failed', 'blocked', 'cancelled'])));
    for (const t of ended) assert.equal(t.status, 'done', `task ${t.id} is done (${t.lastError ?? ''})`);
    assert.equal(r.engine.hosts.find((h) => h.name === 'h1')?.up, false, 'h1 is marked down');

    const runs = tasks.flatMap((t) => r.rt.tasks.runs(t.id));
    const cut = runs.filter((run) => run.agent && doomedNames.includes(run.agent));
    assert.equal(cut.length, SLOTS, "one task run for each of h1's agents");
    for (const run of cut) {
      assert.notEqual(run.outcome, 'ok', `${run.agent}'s run did not finish`);
      const again = runs.find((x) => x.taskId === run.taskId && x.phase === run.phase && x.id > run.id && x.outcome === 'ok');
      assert.ok(again, `task ${run.taskId}'s ${run.phase} phase ran again and finished`);
      assert.equal(again.host, 'h2', `task ${run.taskId}'s ${run.phase} phase finished on h2`);
    }
    assert.ok(
      runs.filter((x) => x.outcome === 'ok').every((x) => x.host === 'h2'),
      'every phase that finished ran on h2',
    );
    for (const t of ended) assert.equal(t.attempt, 0, `task ${t.id} spent no attempt on the lost host`);
  });
});
