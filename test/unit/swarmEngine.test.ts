/** The Swarm engine's pure rules (core/swarmEngine.ts): task state → container state, the service spec, refusals. */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import type { CreateSpec } from '../../src/core/engine';
import { InvalidInputError, RefusedError } from '../../src/core/errors';
import { DEFAULT_HARDENING } from '../../src/core/hardening';
import {
  bindMount,
  checkPlacement,
  commandOf,
  FrameSplitter,
  INPUT_SECRET_FILE,
  inputSecretName,
  isTerminal,
  newestTask,
  serviceSpec,
  SwarmEngine,
  SwarmTask,
  TASK_SCRIPT,
  TASK_STATES,
  taskStatus,
} from '../../src/core/swarmEngine';

const task = (state: string, extra: Partial<SwarmTask> & { exitCode?: number } = {}): SwarmTask => ({
  ID: extra.ID ?? 't1',
  ServiceID: 's1',
  CreatedAt: extra.CreatedAt ?? '2026-01-01T00:00:00Z',
  Version: extra.Version ?? { Index: 1 },
  Status: { State: state, ...(extra.exitCode !== undefined ? { ContainerStatus: { ContainerID: 'c1', ExitCode: extra.exitCode } } : {}) },
});

describe('taskStatus (task state → container state)', () => {
  const rows: Array<{ when: string; task: SwarmTask | undefined; replicas: number; marker?: string; want: ReturnType<typeof taskStatus> }> = [
    { when: 'no task, Replicas 0 (created, never started)', task: undefined, replicas: 0, want: { status: 'created' } },
    { when: 'no task, Replicas 0, stopped by scaling to 0 (marker 143)', task: undefined, replicas: 0, marker: '143', want: { status: 'exited', exitCode: 143 } },
    { when: 'no task, a bad marker', task: undefined, replicas: 0, marker: 'x', want: { status: 'created' } },
    { when: 'no task yet, Replicas 1 (the orchestrator is making it)', task: undefined, replicas: 1, want: { status: 'running' } },
    ...['new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting'].map((s) => ({
      when: `a ${s} task (about to run: claim skips it)`,
      task: task(s),
      replicas: 1,
      want: { status: 'running' as const },
    })),
    { when: 'a running task', task: task('running', { exitCode: 0 }), replicas: 1, want: { status: 'running' } },
    { when: 'a complete task', task: task('complete', { exitCode: 0 }), replicas: 1, want: { status: 'exited', exitCode: 0 } },
    { when: 'a complete task without a container status', task: task('complete'), replicas: 1, want: { status: 'exited', exitCode: 0 } },
    { when: 'a failed task (exit 3)', task: task('failed', { exitCode: 3 }), replicas: 1, want: { status: 'exited', exitCode: 3 } },
    { when: 'a failed task with exit 0 (failed to start: never read as clean)', task: task('failed', { exitCode: 0 }), replicas: 1, want: { status: 'exited', exitCode: 1 } },
    { when: 'a rejected task (never ran)', task: task('rejected'), replicas: 1, want: { status: 'exited', exitCode: 1 } },
    { when: 'a shut-down task (137)', task: task('shutdown', { exitCode: 137 }), replicas: 1, want: { status: 'exited', exitCode: 137 } },
    { when: 'an orphaned task', task: task('orphaned'), replicas: 1, want: { status: 'exited', exitCode: 1 } },
    { when: 'a task being removed (143)', task: task('remove', { exitCode: 143 }), replicas: 0, want: { status: 'exited', exitCode: 143 } },
    { when: 'a state Swarm may add later (left alone)', task: task('hibernating'), replicas: 1, want: { status: 'running' } },
  ];
  for (const row of rows) {
    it(`${row.when} → ${row.want.status}${row.want.exitCode !== undefined ? ` ${row.want.exitCode}` : ''}`, () => {
      assert.deepEqual(taskStatus(row.task, row.replicas, row.marker), row.want);
    });
  }

  it('terminal states are exactly complete, failed, rejected, shutdown, orphaned, remove', () => {
    const terminal = Object.keys(TASK_STATES).filter((s) => isTerminal(task(s)));
    assert.deepEqual(terminal.sort(), ['complete', 'failed', 'orphaned', 'rejected', 'remove', 'shutdown']);
    assert.equal(isTerminal(undefined), false);
  });
});

describe('newestTask', () => {
  it('the latest CreatedAt, then the highest version; undefined for none', () => {
    const a = task('failed', { ID: 'a', CreatedAt: '2026-01-01T00:00:01Z' });
    const b = task('running', { ID: 'b', CreatedAt: '2026-01-01T00:00:02Z' });
    const c = task('running', { ID: 'c', CreatedAt: '2026-01-01T00:00:02Z', Version: { Index: 9 } });
    assert.equal(newestTask([a, b])?.ID, 'b');
    assert.equal(newestTask([b, a])?.ID, 'b');
    assert.equal(newestTask([a, c, b])?.ID, 'c');
    assert.equal(newestTask([]), undefined);
  });
});

const spec = (extra: Partial<CreateSpec> = {}): CreateSpec => ({
  name: 'borg-worker-1',
  image: 'borg-agent-demo:latest',
  labels: { 'borg.managed': 'true', 'borg.workspace': 'ws' },
  env: ['BORG_PERSONA=worker'],
  binds: ['/state/borg-worker-1:/home/agent/state', '/gw:/run/borg-gateway:ro'],
  hardening: { ...DEFAULT_HARDENING, network: 'none' },
  user: '1000:1000',
  ...extra,
});

describe('serviceSpec', () => {
  it('Replicas 0, restart none, labels on the service and the container, confinement, placement, mounts', () => {
    const s = serviceSpec(spec({ workdir: '/workspace/repo' }), ['/bin/sh', '/agent'], { placement: ['node.role==worker'], networkId: 'net1' });
    assert.equal(s.Name, 'borg-worker-1');
    assert.deepEqual(s.Mode, { Replicated: { Replicas: 0 } });
    assert.deepEqual(s.TaskTemplate.RestartPolicy, { Condition: 'none' });
    assert.deepEqual(s.Labels, { 'borg.managed': 'true', 'borg.workspace': 'ws' });
    assert.deepEqual(s.TaskTemplate.ContainerSpec.Labels, s.Labels);
    assert.deepEqual(s.TaskTemplate.ContainerSpec.CapabilityDrop, ['ALL']);
    assert.equal(s.TaskTemplate.ContainerSpec.Init, true);
    assert.equal(s.TaskTemplate.ContainerSpec.User, '1000:1000');
    assert.equal(s.TaskTemplate.ContainerSpec.Dir, '/workspace/repo');
    assert.deepEqual(s.TaskTemplate.ContainerSpec.Env, ['BORG_PERSONA=worker']);
    assert.deepEqual(s.TaskTemplate.Resources, {
      Limits: { NanoCPUs: 2e9, MemoryBytes: 4096 * 1024 * 1024, Pids: 512 },
      Reservations: { NanoCPUs: 2e9, MemoryBytes: 4096 * 1024 * 1024 },
    });
    assert.deepEqual(s.TaskTemplate.Placement, { Constraints: ['node.role==worker'] });
    assert.deepEqual(s.TaskTemplate.Networks, [{ Target: 'net1' }]);
    assert.deepEqual(s.TaskTemplate.ContainerSpec.Mounts, [
      { Type: 'bind', Source: '/state/borg-worker-1', Target: '/home/agent/state', ReadOnly: false },
      { Type: 'bind', Source: '/gw', Target: '/run/borg-gateway', ReadOnly: true },
    ]);
    assert.deepEqual(s.TaskTemplate.ContainerSpec.Command, ['/bin/sh', '-c', TASK_SCRIPT, INPUT_SECRET_FILE, '/bin/sh', '/agent']);
  });

  it('memoryBytes overrides memoryMb in limits and reservations; bridge has no network of its own', () => {
    const s = serviceSpec(spec({ memoryBytes: 8 * 1024 * 1024, hardening: { ...DEFAULT_HARDENING, network: 'bridge' } }), ['x'], { placement: [] });
    assert.equal(s.TaskTemplate.Resources.Limits.MemoryBytes, 8 * 1024 * 1024);
    assert.equal(s.TaskTemplate.Resources.Reservations.MemoryBytes, 8 * 1024 * 1024);
    assert.equal(s.TaskTemplate.Networks, undefined);
  });

  it('refuses root, a non-numeric user, and no command', () => {
    assert.throws(() => serviceSpec(spec({ user: '0:0' }), ['x'], { placement: [] }), InvalidInputError);
    assert.throws(() => serviceSpec(spec({ user: 'root' }), ['x'], { placement: [] }), InvalidInputError);
    assert.throws(() => serviceSpec(spec({ user: 'agent' }), ['x'], { placement: [] }), InvalidInputError);
    assert.throws(() => serviceSpec(spec(), [], { placement: [] }), InvalidInputError);
  });

  it('refuses a bind option a service mount cannot apply, and a malformed bind', () => {
    assert.throws(() => serviceSpec(spec({ binds: ['/a:/b:z'] }), ['x'], { placement: [] }), RefusedError);
    assert.throws(() => bindMount('/a'), RefusedError);
    assert.throws(() => bindMount('/a:/b:ro:extra'), RefusedError);
    assert.deepEqual(bindMount('/a:/b:rw'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: false });
  });

  it('the task script runs the command under setpriv --no-new-privs, fails closed without it, and interpolates nothing', () => {
    assert.match(TASK_SCRIPT, /command -v setpriv .*\|\| \{.*exit 126; \}/);
    assert.equal((TASK_SCRIPT.match(/exec setpriv --no-new-privs "\$@"/g) ?? []).length, 2);
    assert.match(TASK_SCRIPT, /< \/run\/secrets\/borg-input/);
    assert.match(TASK_SCRIPT, /< \/dev\/null/);
    const hostile = serviceSpec(spec({ name: 'x;rm -rf /', env: ['A=$(id)'] }), ['"; id; "'], { placement: [] });
    assert.equal(hostile.TaskTemplate.ContainerSpec.Command[2], TASK_SCRIPT, 'the argv follows as "$@", never inside the script');
  });
});

describe('commandOf (Docker: an entrypoint given drops the image CMD)', () => {
  const image = { Entrypoint: ['/bin/sh', '/agent'], Cmd: ['--flag'] };
  it('the image entrypoint and cmd', () => assert.deepEqual(commandOf({}, image), ['/bin/sh', '/agent', '--flag']));
  it('a cmd given replaces the image cmd', () => assert.deepEqual(commandOf({ cmd: ['x'] }, image), ['/bin/sh', '/agent', 'x']));
  it('an entrypoint given drops the image cmd', () => assert.deepEqual(commandOf({ entrypoint: ['/bin/sh', '-c', 'true'] }, image), ['/bin/sh', '-c', 'true']));
  it('a shell-form CMD string', () => assert.deepEqual(commandOf({}, { Cmd: 'echo hi' }), ['/bin/sh', '-c', 'echo hi']));
  it('nothing at all', () => assert.deepEqual(commandOf({}, { Entrypoint: null, Cmd: null }), []));
});

describe('checkPlacement', () => {
  it('accepts == and != constraints, trimmed', () => {
    assert.deepEqual(checkPlacement([' node.role==worker ', 'node.labels.borg != no']), ['node.role==worker', 'node.labels.borg != no']);
  });
  it('refuses anything else', () => {
    for (const bad of ['node.role', 'node.role=worker', '==x', 'a==b c', '']) assert.throws(() => checkPlacement([bad]), InvalidInputError, bad);
  });
});

describe('inputSecretName', () => {
  it('fits Swarm’s 64-character limit for any service id and start count', () => {
    const name = inputSecretName('x'.repeat(25), 4_294_967_295);
    assert.ok(name.length <= 64, name);
    assert.match(name, /^borg-in-x{25}-4294967295-[0-9a-f]{8}$/);
    assert.notEqual(inputSecretName('s', 1), inputSecretName('s', 1), 'a failed start never blocks the next with a name conflict');
  });
});

describe('FrameSplitter', () => {
  it('returns whole frames only, across chunk boundaries', () => {
    const frame = (type: number, text: string) => {
      const body = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = type;
      head.writeUInt32BE(body.length, 4);
      return Buffer.concat([head, body]);
    };
    const all = Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]);
    const s = new FrameSplitter();
    assert.deepEqual(s.push(all.subarray(0, 5)), []);
    const first = s.push(all.subarray(5, 14));
    assert.deepEqual(
      first.map((f) => [f.type, f.raw.subarray(8).toString()]),
      [[1, 'out\n']],
    );
    const rest = s.push(all.subarray(14));
    assert.deepEqual(
      rest.map((f) => [f.type, f.raw.subarray(8).toString()]),
      [[2, 'err\n']],
    );
  });
});

describe('SwarmEngine contract flags', () => {
  it('takes the input before start, cannot rename, places tasks itself (no hosts)', async () => {
    const e = new SwarmEngine({ endpoint: 'unix:///var/run/docker.sock' } as never);
    assert.equal(e.startTakesInput, true);
    assert.equal(e.canRename, false);
    assert.equal((e as { hosts?: unknown }).hosts, undefined);
    assert.equal(e.endpoint, 'swarm at unix:///var/run/docker.sock');
    await assert.rejects(e.rename('id', 'n'), RefusedError);
    assert.equal(e.removesTimedOut, true, 'the watchdog removes an over-time service');
  });

  it("is the manager's daemon for the gateway's rule while tasks stay on its node; with placement, nodes Borg cannot vouch for", () => {
    let placement: string[] = [];
    const e = new SwarmEngine({ endpoint: 'unix:///var/run/docker.sock' } as never, { placement: () => placement });
    assert.deepEqual(e.daemonAddresses, ['unix:///var/run/docker.sock']);
    placement = ['node.role==worker'];
    assert.equal(e.daemonAddresses.length, 1);
    assert.ok(!e.daemonAddresses[0].startsWith('unix://'), 'refused by the gateway rule (pipeline.ts usesGateway)');
    assert.match(e.daemonAddresses[0], /node\.role==worker/);
  });
});
