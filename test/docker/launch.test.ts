import { describe, it, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { DockerEngine } from '../../src/core/engine';
import { DockerUnreachableError, ImageMissingError, InvalidInputError } from '../../src/core/errors';
import { LABEL_MANAGED, LABEL_PERSONA, LABEL_WORKSPACE } from '../../src/core/labels';
import { STATE_MOUNT } from '../../src/core/stateDirs';
import { cleanupAll, containerNames, countDockerCalls, docker, eventKinds, fileLines, harness, lastEventDetail, withTimeout } from './helpers';

afterEach(cleanupAll);
after(cleanupAll);

describe('launch on real Docker', () => {
  it("creates a running, labelled <prefix>-worker-0 with the state dir mounted and Borg's own input.json written outside it", async () => {
    const h = await harness();
    const lines: Array<{ agent: string; line: string }> = [];
    h.pipeline.onDidOutput((e) => lines.push(e));

    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 2 } });

    assert.equal(r.name, `${h.prefix}-worker-0`);
    assert.equal(r.reclaimed, false);
    assert.deepEqual(r.skipped, []);
    assert.equal(r.stateDir, path.join(h.stateRoot, r.name));

    const info = await docker.getContainer(r.id).inspect();
    assert.equal(info.Name, `/${r.name}`);
    assert.equal(info.State.Running, true, 'launch resolves once the container runs');
    assert.equal(info.Config.Labels[LABEL_MANAGED], 'true');
    assert.equal(info.Config.Labels[LABEL_PERSONA], 'worker');
    assert.equal(info.Config.Labels[LABEL_WORKSPACE], h.workspaceId);
    assert.equal(info.HostConfig.AutoRemove, false);
    assert.ok(info.Config.Env.includes('BORG_PERSONA=worker'), `env: ${info.Config.Env.join(' ')}`);
    const mount = info.Mounts.find((m) => m.Destination === STATE_MOUNT);
    assert.ok(mount, `no mount at ${STATE_MOUNT}: ${JSON.stringify(info.Mounts)}`);
    assert.equal(mount.Source, r.stateDir);
    assert.equal(mount.RW, true);

    const input = JSON.parse(fs.readFileSync(h.stateDirs.hostFile(r.name, 'input.json'), 'utf8'));
    assert.equal(fs.existsSync(path.join(r.stateDir, 'input.json')), false, "nothing of Borg's in the agent-writable state dir");
    assert.deepEqual(input, { persona: 'worker', sleepSeconds: 2 });
    assert.equal(fs.statSync(r.stateDir).mode & 0o777, 0o700);

    const agent = h.pipeline.agents.get(r.name);
    assert.ok(agent);
    assert.equal(agent.id, r.id);
    assert.equal(h.store.getContainer(r.name)?.state, 'running');
    assert.equal(h.store.getContainer(r.name)?.id, r.id);

    await withTimeout(h.pipeline.joinAgents(), 15_000, 'joinAgents');

    assert.equal(agent.state, 'exited');
    assert.equal(agent.exitCode, 0);
    assert.equal(agent.oomKilled, false);
    assert.equal(agent.lastLine, 'done');

    // The agent wrote to the mounted state dir from inside the container.
    const runs = fileLines(h, r.name, 'runs.log');
    assert.equal(runs.length, 1, `runs.log: ${runs.join(' | ')}`);
    assert.match(runs[0], / start worker$/);

    // stdin carried sleepSeconds 2: exactly two progress lines (the default would be 60).
    const log = fileLines(h, r.name, 'agent.log');
    assert.deepEqual(
      log.filter((l) => l.includes('"working ')).map((l) => /working (\d+\/\d+)/.exec(l)?.[1]),
      ['1/2', '2/2'],
    );
    assert.ok(log.some((l) => l.includes('"subtype":"init"') && l.includes('"persona":"worker"')));
    assert.ok(lines.length >= 4 && lines.every((l) => l.agent === r.name), `output events: ${lines.length}`);

    const row = h.store.getContainer(r.name);
    assert.equal(row?.state, 'exited');
    assert.equal(row?.exitCode, 0);
    assert.deepEqual(eventKinds(h.store, r.name), ['launched', 'exited']);

    const after = await docker.getContainer(r.id).inspect();
    assert.equal(after.State.Status, 'exited', 'AutoRemove off: the container stays for diagnosis');
    assert.equal(after.State.ExitCode, 0);
  });

  it('passes exitCode on stdin: exit 3 ends the agent as crashed and is recorded in the row and an event', async () => {
    const h = await harness();
    const t0 = Date.now();
    const r = await h.pipeline.launch('worker', { input: { sleepSeconds: 1, exitCode: 3 } });
    const agent = h.pipeline.agents.get(r.name)!;
    await withTimeout(h.pipeline.joinAgents(), 15_000, 'joinAgents');
    assert.ok(Date.now() - t0 < 10_000, 'sleepSeconds 1 was received (the default sleep is 60 s)');

    assert.equal(agent.state, 'crashed');
    assert.equal(agent.exitCode, 3);
    assert.equal(agent.oomKilled, false);
    assert.equal(agent.lastLine, 'failed with 3', 'the stderr result line is followed too');

    const info = await docker.getContainer(r.id).inspect();
    assert.equal(info.State.ExitCode, 3);

    const row = h.store.getContainer(r.name);
    assert.equal(row?.state, 'crashed');
    assert.equal(row?.exitCode, 3);
    assert.equal(row?.oomKilled, false);
    const detail = lastEventDetail(h.store, r.name, 'crashed');
    assert.ok(detail, `events: ${eventKinds(h.store, r.name).join(', ')}`);
    assert.equal(detail.exitCode, 3);
    assert.equal(detail.oomKilled, false);
    assert.equal(typeof detail.durationMs, 'number');
  });

  it('rejects a bad container prefix with InvalidInputError before any Docker call', async () => {
    for (const prefix of ['bad prefix', '-borg', 'borg/evil', '', 'x'.repeat(60)]) {
      const h = await harness({ settings: {} });
      h.settings.prefix = prefix;
      const calls = countDockerCalls(h.engine);
      await assert.rejects(h.pipeline.launch('worker', { input: { sleepSeconds: 1 } }), (e: unknown) => {
        assert.ok(e instanceof InvalidInputError, `prefix ${JSON.stringify(prefix)}: got ${String(e)}`);
        assert.match(e.message, prefix.length > 40 ? /63/ : /borg\.containerPrefix/);
        return true;
      });
      assert.equal(calls.count, 0, `prefix ${JSON.stringify(prefix)}: Docker calls ${calls.paths.join(', ')}`);
      assert.equal(h.pipeline.runningCount, 0);
      assert.equal(h.pipeline.queuedCount, 0);
      assert.deepEqual(h.store.listContainers(), []);
      assert.equal(fs.existsSync(h.stateRoot), false, 'no state dir created');
      assert.throws(() => h.pipeline.containerName('worker'), InvalidInputError);
    }
  });

  it('rejects a bad persona with InvalidInputError before any Docker call', async () => {
    const h = await harness();
    const calls = countDockerCalls(h.engine);
    await assert.rejects(h.pipeline.launch('bad persona', { input: { sleepSeconds: 1 } }), InvalidInputError);
    assert.equal(calls.count, 0);
    assert.deepEqual(await containerNames(h.prefix), []);
  });

  it('a missing image rejects with ImageMissingError naming it and releases the slot', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    const image = 'borg-no-such-image:latest';
    await assert.rejects(h.pipeline.launch('worker', { image, input: { sleepSeconds: 1 } }), (e: unknown) => {
      assert.ok(e instanceof ImageMissingError, String(e));
      assert.equal(e.image, image);
      assert.ok(e.message.includes(`"${image}"`), e.message);
      return true;
    });
    assert.equal(h.pipeline.runningCount, 0);
    assert.equal(h.pipeline.queuedCount, 0);
    assert.deepEqual(await containerNames(h.prefix), []);
    assert.deepEqual(h.store.listContainers(), []);

    // The single slot is free again: the next launch starts at once.
    const r = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 1 } }), 10_000, 'launch after a missing image');
    assert.equal(h.pipeline.runningCount, 1);
    assert.equal(r.name, `${h.prefix}-worker-0`, 'the failed launch took no name');
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
    assert.equal(h.pipeline.runningCount, 0);
  });

  it('the image setting is used when no per-launch image is given', async () => {
    const h = await harness({ settings: { image: 'borg-no-such-image:latest' } });
    await assert.rejects(h.pipeline.launch('worker'), (e: unknown) => e instanceof ImageMissingError && e.image === 'borg-no-such-image:latest');
    assert.equal(h.pipeline.runningCount, 0);
  });

  it('daemon unreachable: launch rejects with DockerUnreachableError, nothing is created, refresh sets dockerError', async () => {
    const endpoint = 'unix:///nonexistent.sock';
    const h = await harness({ engine: new DockerEngine(endpoint) });
    assert.equal(h.engine.endpoint, endpoint);

    await assert.rejects(withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 1 } }), 10_000, 'launch'), (e: unknown) => {
      assert.ok(e instanceof DockerUnreachableError, String(e));
      assert.ok(e.message.startsWith(`Docker is not reachable at ${endpoint}`), e.message);
      assert.equal(e.endpoint, endpoint);
      return true;
    });
    assert.equal(h.pipeline.runningCount, 0);
    assert.equal(h.pipeline.queuedCount, 0);
    assert.equal(h.pipeline.agents.size, 0);
    assert.deepEqual(h.store.listContainers(), []);
    assert.equal(fs.existsSync(h.stateRoot), false, 'no state dir created');
    assert.deepEqual(await containerNames(h.prefix), [], 'nothing created on the real daemon');

    let changes = 0;
    h.pipeline.onDidChange(() => changes++);
    await assert.rejects(withTimeout(h.pipeline.refresh(), 10_000, 'refresh'), DockerUnreachableError);
    assert.ok(h.pipeline.dockerError instanceof DockerUnreachableError);
    assert.ok(h.pipeline.dockerError.message.startsWith(`Docker is not reachable at ${endpoint}`), h.pipeline.dockerError.message);
    assert.deepEqual(h.pipeline.containers, []);
    assert.ok(changes >= 1, 'onDidChange fired');

    // Pointing the engine at the real daemon clears the error on the next refresh.
    h.engine.connect(undefined);
    await withTimeout(h.pipeline.refresh(), 10_000, 'refresh');
    assert.equal(h.pipeline.dockerError, undefined);
  });
});

describe('start failure', () => {
  const repo = `borg-test-noentry-${process.pid}`;
  const image = `${repo}:latest`;
  after(async () => {
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
  });

  it('a container that cannot start: launch rejects, row "failed" + start-failed event, slot released, no agent', async () => {
    const h = await harness({ settings: { maxParallelAgents: 1 } });
    const pack = tar.pack();
    pack.entry({ name: 'tmp', type: 'directory', mode: 0o1777 });
    pack.finalize();
    await h.engine.importImage(pack as never, repo, 'latest', ['ENTRYPOINT ["/no-such-binary"]']);
    // docker-init (Init: true) starts even when the entrypoint is missing; a bind of a file over the
    // image's /tmp folder fails in the runtime, at start.
    const file = path.join(h.dir, 'a-file');
    fs.writeFileSync(file, 'x');

    await assert.rejects(withTimeout(h.pipeline.launch('worker', { image, input: { sleepSeconds: 1 }, binds: [`${file}:/tmp`] }), 15_000, 'launch'));

    const name = h.nameOf(0);
    const row = h.store.getContainer(name);
    assert.equal(row?.state, 'start-failed');
    assert.ok(row?.id);
    assert.deepEqual(eventKinds(h.store, name), ['start-failed']);
    assert.ok(lastEventDetail(h.store, name, 'start-failed')?.error);
    assert.equal(h.pipeline.agents.size, 0);
    assert.equal(h.pipeline.runningCount, 0);
    assert.equal((await docker.getContainer(row.id).inspect()).State.Running, false);

    // The single slot is free: the next launch (demo image) starts at once.
    const r = await withTimeout(h.pipeline.launch('worker', { input: { sleepSeconds: 1 } }), 10_000, 'launch after a failed start');
    assert.equal(h.pipeline.runningCount, 1);
    await withTimeout(h.pipeline.joinAgents(), 10_000, 'joinAgents');
    assert.equal(h.pipeline.agents.get(r.name)?.state, 'exited');
  });
});
