/**
 * The Swarm engine (core/swarmEngine.ts) under a real Pipeline, on a single-node swarm made for
 * this file (`docker swarm init --advertise-addr 127.0.0.1`, left again in `after`). A daemon
 * already in a swarm is used only when it is a single-node manager (never left then); a worker
 * or a node of a bigger swarm skips the file. Every service, secret and network the tests make
 * is removed afterwards, also when a test failed.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import type { DockerEngine } from '../../src/core/engine';
import { DockerEngine as RealDockerEngine } from '../../src/core/engine';
import { LABEL_MANAGED } from '../../src/core/labels';
import type { PipelineSettings } from '../../src/core/pipeline';
import { SwarmEngine, LABEL_SWARM_SERVICE } from '../../src/core/swarmEngine';
import { cleanupAll, docker, harness, Harness, waitFor, withTimeout } from './helpers';

let createdSwarm = false;
let skip: string | false = false;
const manager = new RealDockerEngine();
const swarm = new SwarmEngine(manager);
const prefixes: string[] = [];

/** A harness whose Pipeline runs on the Swarm engine, with confinement small enough for a 2-CPU node (reservations equal limits). */
async function swarmHarness(settings: Partial<PipelineSettings> = {}): Promise<Harness> {
  const h = await harness({
    engine: swarm as unknown as DockerEngine,
    settings: { hardening: { pidsLimit: 64, memoryMb: 64, cpus: 0.05, network: 'none' }, ...settings },
  });
  prefixes.push(h.prefix);
  return h;
}

/** Removes every service (and its secrets, networks, containers) the tests made. Never throws. */
async function removeSwarmObjects(): Promise<void> {
  try {
    const services = await docker.listServices({ filters: { label: [`${LABEL_MANAGED}=true`] } } as object);
    for (const s of services as Array<{ ID: string; Spec?: { Name?: string } }>) {
      if (!prefixes.some((p) => s.Spec?.Name?.startsWith(`${p}-`))) continue;
      await swarm.remove(s.ID, { force: true }).catch((e: unknown) => console.error('[cleanup] service', e));
    }
    // Swarm removes a service's containers a moment after the service; the networks go once they are gone.
    await waitFor(
      async () => {
        const rows = await docker.listContainers({ all: true, filters: { label: ['com.docker.swarm.service.name'] } });
        return !rows.some((r) => prefixes.some((p) => (r.Labels['com.docker.swarm.service.name'] ?? '').startsWith(`${p}-`)));
      },
      20_000,
      'the services’ containers to go',
    ).catch((e: unknown) => console.error('[cleanup]', e));
    const secrets = (await docker.listSecrets({ filters: { label: [LABEL_SWARM_SERVICE] } } as object)) as Array<{ ID: string; Spec?: { Labels?: Record<string, string> } }>;
    for (const sec of secrets) {
      if (prefixes.some((p) => (sec.Spec?.Labels?.[LABEL_SWARM_SERVICE] ?? '').startsWith(`${p}-`)))
        await docker
          .getSecret(sec.ID)
          .remove()
          .catch(() => undefined);
    }
    const nets = (await docker.listNetworks({ filters: { label: [LABEL_SWARM_SERVICE] } })) as Array<{ Id: string; Labels?: Record<string, string> }>;
    for (const n of nets) {
      if (prefixes.some((p) => (n.Labels?.[LABEL_SWARM_SERVICE] ?? '').startsWith(`${p}-`)))
        await docker
          .getNetwork(n.Id)
          .remove()
          .catch(() => undefined);
    }
  } catch (e) {
    console.error('[cleanup] swarm', e);
  }
}

before(async () => {
  const info = (await docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; Nodes?: number } };
  const state = info.Swarm?.LocalNodeState;
  if (state === 'inactive') {
    execFileSync('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1'], { stdio: 'pipe' });
    createdSwarm = true;
  } else if (state !== 'active' || !info.Swarm?.ControlAvailable || (info.Swarm?.Nodes ?? 0) !== 1) {
    skip = `the daemon is in a swarm this test did not make (state ${state}, manager ${info.Swarm?.ControlAvailable}, nodes ${info.Swarm?.Nodes}); not touching it`;
  }
});

afterEach(async () => {
  await cleanupAll();
  await removeSwarmObjects();
});

after(async () => {
  await cleanupAll();
  await removeSwarmObjects();
  if (createdSwarm) execFileSync('docker', ['swarm', 'leave', '--force'], { stdio: 'pipe' });
});

/** Tasks of a service, newest first. */
async function tasksOf(serviceId: string): Promise<Array<{ ID: string; CreatedAt: string; Status: { State: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } } }>> {
  const ts = (await docker.listTasks({ filters: { service: [serviceId] } })) as Array<{ ID: string; CreatedAt: string; Status: { State: string } }>;
  return ts.sort((a, b) => Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt)) as never;
}

describe('Swarm engine: launch', () => {
  it('an agent is a service (Replicas 1, restart none, labels, limits and reservations); its output is followed and exit 0 recorded; the node is its host', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const r = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 1 } }), 30_000, 'launch');
    const agent = r.agent;
    await withTimeout(agent.done, 30_000, 'the agent to end');
    assert.equal(agent.state, 'exited', agent.error);
    assert.equal(agent.exitCode, 0);
    assert.match(agent.output, /"subtype":"init"/);
    assert.match(agent.output, /working 1\/1/, 'the input (sleepSeconds 1) reached the agent through its input secret');
    assert.match(agent.output, /"result":"done"/);
    assert.equal(h.store.getContainer(r.name)?.state, 'exited');
    assert.equal(h.store.getContainer(r.name)?.exitCode, 0);

    const svc = (await docker.getService(r.id).inspect()) as {
      Spec: {
        Name: string;
        Labels: Record<string, string>;
        Mode: { Replicated: { Replicas: number } };
        TaskTemplate: Record<string, never> & { ContainerSpec: Record<string, unknown>; Resources: Record<string, Record<string, number>>; RestartPolicy: { Condition: string } };
      };
    };
    assert.equal(svc.Spec.Name, r.name);
    assert.equal(svc.Spec.Mode.Replicated.Replicas, 1);
    assert.equal(svc.Spec.TaskTemplate.RestartPolicy.Condition, 'none');
    assert.equal(svc.Spec.Labels['borg.workspace'], h.workspaceId);
    assert.equal((svc.Spec.TaskTemplate.ContainerSpec.Labels as Record<string, string>)['borg.workspace'], h.workspaceId);
    assert.deepEqual(svc.Spec.TaskTemplate.ContainerSpec.CapabilityDrop, ['ALL']);
    assert.equal(svc.Spec.TaskTemplate.Resources.Limits.Pids, 64);
    assert.equal(svc.Spec.TaskTemplate.Resources.Limits.MemoryBytes, 64 * 1024 * 1024);
    assert.equal(svc.Spec.TaskTemplate.Resources.Reservations.MemoryBytes, 64 * 1024 * 1024);
    assert.equal(svc.Spec.TaskTemplate.Resources.Reservations.NanoCPUs, 0.05e9);

    const info = await swarm.inspect(r.name);
    assert.equal(info?.id, r.id);
    assert.equal(info?.status, 'exited');
    assert.equal(info?.exitCode, 0);
    assert.equal(info?.oomKilled, false);
    const node = (await docker.getNode(((await tasksOf(r.id))[0] as unknown as { NodeID: string }).NodeID).inspect()) as { Description: { Hostname: string } };
    assert.equal(info?.host, node.Description.Hostname);
    assert.equal(info?.host, os.hostname(), 'single node: this machine');
    const [row] = await swarm.list({ workspace: h.workspaceId });
    assert.equal(row.name, r.name);
    assert.equal(row.host, node.Description.Hostname);
    // The task's container carries Borg's labels too (the views' event stream sees it).
    const cid = (await tasksOf(r.id))[0].Status.ContainerStatus?.ContainerID;
    assert.equal((await docker.getContainer(cid!).inspect()).Config.Labels['borg.workspace'], h.workspaceId);
  });

  it('confinement: no capabilities, no-new-privileges (setpriv), its own internal network (no route out), the input on stdin, not root', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const script =
      'IFS= read -r line; echo "input=$line"; grep -E "^(NoNewPrivs|CapEff)" /proc/self/status; echo "routes=$(tail -n +2 /proc/net/route | awk \'$2=="00000000"\' | wc -l)"; ls /sys/class/net | tr "\\n" " "; echo; id -u';
    const r = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 0 }, entrypoint: ['/bin/sh', '-c', script] }), 30_000, 'launch');
    await withTimeout(r.agent.done, 30_000, 'the agent to end');
    const out = r.agent.output;
    assert.equal(r.agent.state, 'exited', out);
    assert.match(out, /input=\{.*"persona":"worker"/);
    assert.match(out, /NoNewPrivs:\s+1/);
    assert.match(out, /CapEff:\s+0000000000000000/);
    assert.match(out, /routes=0/, 'no default route: nothing outside is reachable');
    assert.doesNotMatch(out, /^0$/m, 'not uid 0');
  });
});

describe('Swarm engine: claim', () => {
  it('a launch skips a running service, reclaims an exited-0 one under its name, keeps a failed one for hardline', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const running = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 60 } }), 30_000, 'launch 0');
    const clean = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 0 } }), 30_000, 'launch 1');
    const failed = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 0, exitCode: 3 } }), 30_000, 'launch 2');
    await withTimeout(Promise.all([clean.agent.done, failed.agent.done]), 30_000, 'two agents to end');
    assert.deepEqual([running.name, clean.name, failed.name], [h.nameOf(0), h.nameOf(1), h.nameOf(2)]);
    assert.equal(clean.agent.state, 'exited');
    assert.equal(failed.agent.state, 'crashed');
    assert.equal(failed.agent.exitCode, 3);

    const second = h.newPipeline(); // its names start at 0 again
    const r = await withTimeout(second.launch('worker', { input: { sleepSeconds: 0 } }), 30_000, 'reclaiming launch');
    assert.equal(r.name, h.nameOf(1));
    assert.equal(r.reclaimed, true);
    assert.notEqual(r.id, clean.id, 'a new service under the same name');
    assert.deepEqual(r.skipped, [{ name: h.nameOf(0), reason: 'live' }]);
    await withTimeout(r.agent.done, 30_000, 'the reclaimed agent to end');
    assert.equal(r.agent.state, 'exited');
    assert.equal(await swarm.inspect(clean.id), undefined, 'the old service is gone');

    const third = h.newPipeline();
    const next = await withTimeout(third.launch('worker', { input: { sleepSeconds: 0 } }), 30_000, 'third launch');
    // -1 exited 0 again and is reclaimed once more; the failed -2 is kept for hardline.
    assert.equal(next.name, h.nameOf(1));
    assert.deepEqual(next.skipped, [{ name: h.nameOf(0), reason: 'live' }]);
    await withTimeout(next.agent.done, 30_000, 'the agent to end');
    const fourth = h.newPipeline();
    const held = await withTimeout(fourth.launch('worker', { input: { sleepSeconds: 30 } }), 30_000, 'fourth launch');
    const fifth = h.newPipeline();
    const last = await withTimeout(fifth.launch('worker', { input: { sleepSeconds: 0 } }), 30_000, 'fifth launch');
    assert.equal(held.name, h.nameOf(1));
    assert.equal(last.name, h.nameOf(3));
    assert.deepEqual(last.skipped, [
      { name: h.nameOf(0), reason: 'live' },
      { name: h.nameOf(1), reason: 'live' },
      { name: h.nameOf(2), reason: 'crashed' },
    ]);
    assert.equal((await swarm.inspect(failed.id))?.exitCode, 3, 'the failed service is untouched');
  });
});

describe('Swarm engine: reclaim', () => {
  it('Reclaim of an exited-0 service removes it and runs a new service under the same name', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const r = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 0 } }), 30_000, 'launch');
    await withTimeout(r.agent.done, 30_000, 'the agent to end');
    const again = await withTimeout(h.pipeline.reclaim(r.name, { input: { sleepSeconds: 1 } }), 30_000, 'reclaim');
    assert.equal(again.name, r.name);
    assert.notEqual(again.id, r.id);
    await withTimeout(again.agent.done, 30_000, 'the reclaimed agent to end');
    assert.equal(again.agent.state, 'exited');
    assert.match(again.agent.output, /working 1\/1/);
    assert.equal(await swarm.inspect(r.id), undefined);
  });
});

describe('Swarm engine: recovery', () => {
  it('a detached running service is adopted by the next Pipeline and followed to its exit', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const r = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 4 } }), 30_000, 'launch');
    await withTimeout(h.pipeline.shutdown('detach'), 10_000, "shutdown('detach')");
    const p2 = h.newPipeline();
    const report = await withTimeout(p2.recover(), 15_000, 'recover');
    assert.deepEqual(report.adopted, [r.name]);
    const agent = p2.agents.get(r.name)!;
    await withTimeout(agent.done, 30_000, 'the adopted agent to end');
    assert.equal(agent.state, 'exited', agent.error);
    assert.match(agent.output, /"result":"done"/, 'output after the adoption, to the end');
  });
});

describe('Swarm engine: hardline', () => {
  it('hardline of a failed service makes a new task and the agent follows its output to the new exit', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const r = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 1, exitCode: 3 } }), 30_000, 'launch');
    await withTimeout(r.agent.done, 30_000, 'the agent to end');
    assert.equal(r.agent.state, 'crashed');
    const firstSession = r.agent.stream.sessionId;
    const [firstTask] = await tasksOf(r.id);

    const again = await withTimeout(h.pipeline.hardline(r.name), 30_000, 'hardline');
    assert.equal(again.id, r.id, 'the same service');
    await withTimeout(again.done, 30_000, 'the hardlined agent to end');
    assert.equal(again.state, 'crashed');
    assert.equal(again.exitCode, 3);
    assert.match(again.output, /working 1\/1/, 'the input was sent again (its secret re-made)');
    assert.match(again.output, /failed with 3/);
    assert.ok(again.stream.sessionId && again.stream.sessionId !== firstSession, `a new task (its container's own hostname): ${again.stream.sessionId} vs ${firstSession}`);
    const tasks = await tasksOf(r.id);
    assert.equal(tasks.length, 2);
    assert.notEqual(tasks[0].ID, firstTask.ID);
    assert.equal(tasks[0].Status.State, 'failed');
    // One input secret at a time: the first start's was removed.
    const secrets = (await docker.listSecrets({ filters: { label: [`${LABEL_SWARM_SERVICE}=${r.name}`] } } as object)) as unknown[];
    assert.equal(secrets.length, 1);
  });
});

describe('Swarm engine: OOM', () => {
  it('an agent over its memory limit ends oom-killed (the task container on this node says so) and is kept for hardline', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const r = await withTimeout(h.pipeline.launch('worker', { input: { mode: 'oom' }, memoryBytes: 16 * 1024 * 1024 }), 30_000, 'launch');
    await withTimeout(r.agent.done, 60_000, 'the agent to be OOM-killed');
    assert.equal(r.agent.state, 'oom-killed', r.agent.output);
    assert.equal(r.agent.oomKilled, true);
    const info = await swarm.inspect(r.id);
    assert.equal(info?.oomKilled, true);
    assert.equal(info?.status, 'exited');
  });
});

describe('Swarm engine: watchdog', () => {
  it('an agent ignoring SIGTERM past its timeout ends timed-out, its exit recorded, and the over-time service is removed', async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness({ stopGraceSeconds: 1 });
    const r = await withTimeout(h.pipeline.launch('worker', { input: { mode: 'ignore-term', sleepSeconds: 60 }, timeoutSeconds: 4 }), 30_000, 'launch');
    await withTimeout(r.agent.done, 30_000, 'the watchdog to end the agent');
    assert.equal(r.agent.state, 'timed-out');
    // 137: SIGKILL after the grace (the agent ignores TERM once its trap is set); 143 when the
    // TERM came before the agent set it (the watchdog counts from Borg's start call, and a Swarm
    // task takes a moment longer than a container to start).
    assert.ok([137, 143].includes(r.agent.exitCode!), `exit ${r.agent.exitCode}`);
    await withTimeout(h.pipeline.joinAgents(), 30_000, 'the removal joined');
    const ended = h.store.query('SELECT kind FROM events WHERE container = ? ORDER BY id', [r.name]).map((row) => String(row.kind));
    assert.ok(ended.indexOf('timed-out') >= 0 && ended.indexOf('timed-out') < ended.indexOf('removed-timed-out'), ended.join(', '));
    assert.equal(h.store.getContainer(r.name)?.state, 'removed', 'its row follows the removal');
    assert.equal(await swarm.inspect(r.id), undefined, 'the over-time service is gone');
    const removed = h.store.query("SELECT detail FROM events WHERE kind = 'removed-timed-out'").map((row) => JSON.parse(String(row.detail)) as { id: string });
    assert.deepEqual(
      removed.map((d) => d.id),
      [r.id],
    );
  });
});

describe('Swarm engine: a task on another node', () => {
  it('stop scales the service to 0 (Swarm deletes the task): the agent ends stopped, the service reads exited 143', async (t) => {
    if (skip) return t.skip(skip);
    // As if the task ran on a worker: the manager's daemon does not have its container.
    const remote = new SwarmEngine(manager);
    (remote as unknown as { localContainerOf: () => Promise<undefined> }).localContainerOf = async () => undefined;
    const h = await swarmHarness({ stopGraceSeconds: 1 });
    const p = h.newPipeline({ engine: remote as unknown as DockerEngine });
    const r = await withTimeout(p.launch('worker', { input: { sleepSeconds: 60 } }), 30_000, 'launch');
    await waitFor(() => /^working /.test(r.agent.lastLine ?? ''), 20_000, 'the agent working');
    await withTimeout(p.stopAgent(r.name), 30_000, 'stopAgent');
    assert.equal(r.agent.state, 'stopped');
    assert.equal(r.agent.exitCode, 143);
    // Swarm deletes the scaled-down task a moment later; the stop marker still tells how it ended.
    await waitFor(async () => (await tasksOf(r.id)).length === 0, 30_000, 'Swarm to delete the task');
    const info = await remote.inspect(r.id);
    assert.equal(info?.status, 'exited');
    assert.equal(info?.exitCode, 143);
    assert.equal(info?.oomKilled, false);
  });
});

describe('Swarm engine: shutdown', () => {
  it("'stop' stops the services' tasks (SIGTERM) and joins the agents: stopped, 143", async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness({ stopGraceSeconds: 2 });
    const rs = await Promise.all([0, 1].map(() => withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 60 } }), 30_000, 'launch')));
    await waitFor(() => rs.every((r) => /^working /.test(h.pipeline.agents.get(r.name)?.lastLine ?? '')), 20_000, 'both agents working');
    await withTimeout(h.pipeline.shutdown('stop'), 20_000, "shutdown('stop')");
    for (const r of rs) {
      assert.equal(r.agent.state, 'stopped', r.name);
      assert.equal(r.agent.exitCode, 143);
      assert.equal((await swarm.inspect(r.id))?.status, 'exited');
    }
  });

  it("'detach' joins the agents at once: detached, the services' tasks keep running", async (t) => {
    if (skip) return t.skip(skip);
    const h = await swarmHarness();
    const rs = await Promise.all([0, 1].map(() => withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 60 } }), 30_000, 'launch')));
    await withTimeout(h.pipeline.shutdown('detach'), 10_000, "shutdown('detach')");
    for (const r of rs) {
      assert.equal(r.agent.state, 'detached', r.name);
      assert.equal((await swarm.inspect(r.id))?.status, 'running');
    }
  });
});
