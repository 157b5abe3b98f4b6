/**
 * Live refresh against the real dockerd: the engine's event stream (filtered on
 * `borg.managed=true` by the daemon) sees containers made and removed with the Docker CLI, and
 * the DockerWatch keeps a Pipeline's containers current from it — also after its stream was
 * destroyed (it reconnects and refreshes in full).
 */
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, afterEach, describe, it } from 'node:test';
import { DockerWatch } from '../../src/core/dockerEvents';
import type { LiveContainerEvent } from '../../src/core/engine';
import { cleanupAll, DEMO_IMAGE, harness, waitFor } from './helpers';

afterEach(cleanupAll);
after(cleanupAll);

/** `docker <args>` with the CLI, as a user would outside Borg. */
function cli(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

/** A `docker run -d` of the demo image with Borg's labels for `workspace` (and nothing else of Borg's). */
function runOutside(name: string, workspace: string): string {
  return cli(
    'run',
    '-d',
    '--name',
    name,
    '--label',
    'borg.managed=true',
    '--label',
    'borg.persona=worker',
    '--label',
    `borg.workspace=${workspace}`,
    '--network',
    'none',
    '--entrypoint',
    'sleep',
    DEMO_IMAGE,
    '60',
  );
}

describe('Docker events', () => {
  it("the stream sees a docker run and a docker rm of this workspace's container, and nothing of an unlabelled one or another workspace's", { timeout: 60_000 }, async () => {
    const h = await harness();
    const abort = new AbortController();
    const seen: LiveContainerEvent[] = [];
    const events = await h.engine.events(abort.signal, { workspace: h.workspaceId });
    const reading = (async () => {
      for await (const e of events) seen.push(e);
    })();
    const other = cli('create', '--name', `${h.prefix}-unlabelled`, DEMO_IMAGE);
    const elsewhere = cli('create', '--name', `${h.prefix}-elsewhere`, '--label', 'borg.managed=true', '--label', 'borg.workspace=another-workspace', DEMO_IMAGE);
    const id = runOutside(h.nameOf(0, 'worker'), h.workspaceId);
    await waitFor(() => seen.some((e) => e.id === id && e.action === 'start'), 20_000, 'the start event');
    cli('rm', '-f', id);
    await waitFor(() => seen.some((e) => e.id === id && e.action === 'destroy'), 20_000, 'the destroy event');
    cli('rm', '-f', other, elsewhere);
    abort.abort();
    await reading; // an abort ends the iteration, it does not throw
    assert.deepEqual(
      seen.filter((e) => e.id === other),
      [],
      'the daemon filters out containers without borg.managed=true',
    );
    assert.deepEqual(
      seen.filter((e) => e.id === elsewhere),
      [],
      "and another workspace's",
    );
    assert.ok(seen.some((e) => e.id === id && e.action === 'create'));
  });

  it('a Pipeline watched from the stream shows a docker run and a docker rm done outside Borg', { timeout: 60_000 }, async () => {
    const h = await harness();
    let refreshes = 0;
    const watch = new DockerWatch({
      engine: h.engine,
      workspace: h.workspaceId,
      refresh: async () => {
        refreshes++;
        await h.pipeline.refresh();
      },
    });
    h.defer(() => watch.dispose());
    watch.setActive(true);
    await waitFor(() => watch.connected && refreshes > 0, 20_000, 'the stream to open and the first refresh');
    const name = h.nameOf(0, 'worker');
    const t0 = Date.now();
    runOutside(name, h.workspaceId);
    await waitFor(() => h.pipeline.containers.some((c) => c.name === name && c.status === 'running'), 20_000, 'the container to show');
    const shownAfterMs = Date.now() - t0;
    cli('rm', '-f', name);
    await waitFor(() => !h.pipeline.containers.some((c) => c.name === name), 20_000, 'the container to go');
    console.log(`# docker run shown ${shownAfterMs} ms after the CLI returned`);
  });

  it('reconnects after its stream was destroyed, refreshes in full, and goes on showing changes', { timeout: 60_000 }, async () => {
    const h = await harness();
    const streams: AbortController[] = [];
    const fulls: number[] = [];
    const watch = new DockerWatch({
      // Each stream gets its own controller, so the test can destroy the connection under the watch.
      engine: {
        events: (signal, filter) => {
          const inner = new AbortController();
          signal.addEventListener('abort', () => inner.abort(), { once: true });
          streams.push(inner);
          return h.engine.events(inner.signal, filter);
        },
      },
      workspace: h.workspaceId,
      refresh: async (full) => {
        if (full) fulls.push(Date.now());
        await h.pipeline.refresh();
      },
    });
    h.defer(() => watch.dispose());
    const connections: boolean[] = [];
    watch.onDidChangeConnection((up) => connections.push(up));
    watch.setActive(true);
    await waitFor(() => watch.connected, 20_000, 'the first stream');
    streams[0].abort(); // the connection breaks (not the watch's own close)
    await waitFor(() => streams.length === 2 && watch.connected, 20_000, 'the second stream');
    assert.deepEqual(connections, [true, false, true]);
    await waitFor(() => fulls.length >= 3, 20_000, 'a full refresh on the loss and on the reconnect');
    const name = h.nameOf(1, 'worker');
    runOutside(name, h.workspaceId);
    await waitFor(() => h.pipeline.containers.some((c) => c.name === name), 20_000, 'the container to show through the new stream');
    cli('rm', '-f', name);
  });

  it('turned off, it closes its stream and opens none', { timeout: 60_000 }, async () => {
    const h = await harness();
    let opened = 0;
    const watch = new DockerWatch({
      engine: {
        events: (signal, filter) => {
          opened++;
          return h.engine.events(signal, filter);
        },
      },
      workspace: h.workspaceId,
      refresh: () => h.pipeline.refresh(),
    });
    h.defer(() => watch.dispose());
    watch.setActive(true);
    await waitFor(() => watch.connected, 20_000, 'the stream');
    watch.setActive(false);
    assert.equal(watch.connected, false);
    const name = h.nameOf(2, 'worker');
    runOutside(name, h.workspaceId);
    cli('rm', '-f', name);
    assert.equal(opened, 1);
  });
});
