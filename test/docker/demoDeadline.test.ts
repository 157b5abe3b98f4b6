/**
 * The demo agent image ends itself at the deadline Borg puts in its environment
 * (`BORG_DEADLINE_EPOCH`, whole seconds since the epoch), with no Borg process following it:
 * run straight through dockerode, it prints `[borg-agent] deadline reached` and exits 124.
 * The image is built from this checkout's script under a tag of its own, so the shared
 * `borg-agent-demo:latest` is left alone.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { buildDemoImage } from '../../src/core/demoImage';
import { DockerEngine } from '../../src/core/engine';
import { cleanupAll, docker, harness, Harness, withTimeout } from './helpers';

const TAG = `borg-agent-demo:deadline-test-${process.pid}`;

afterEach(cleanupAll);
after(cleanupAll);
after(async () => {
  await docker
    .getImage(TAG)
    .remove({ force: true })
    .catch(() => undefined);
});

let seq = 0;

/** Creates `<prefix>-raw-<n>` from the test image, sends `input` on stdin, awaits the exit; returns the code and the output. */
async function run(h: Harness, input: object, env: string[]): Promise<{ code: number; out: string }> {
  const c = await docker.createContainer({
    name: `${h.prefix}-raw-${seq++}`,
    Image: TAG,
    Env: env,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: { AutoRemove: false },
  });
  const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as NodeJS.ReadWriteStream & { destroy(): void };
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString('latin1')));
  stream.on('error', () => undefined);
  try {
    await c.start();
    stream.end(JSON.stringify(input) + '\n');
    // A bound on a broken run only (the script would sleep 60 s without the deadline); the assertion is on the exit code.
    const { StatusCode } = (await withTimeout(c.wait(), 45_000, 'the demo agent to end itself')) as { StatusCode: number };
    return { code: StatusCode, out };
  } finally {
    stream.destroy();
  }
}

describe('demo image: the deadline in its environment', () => {
  before(async () => {
    await buildDemoImage(new DockerEngine(), { tag: TAG, force: true });
  });

  it('asked to work 60 s with BORG_DEADLINE_EPOCH 2 s ahead, it prints "[borg-agent] deadline reached" and exits 124 by itself', { timeout: 60_000 }, async () => {
    const h = await harness();
    const deadline = Math.floor(Date.now() / 1000) + 2;
    const r = await run(h, { sleepSeconds: 60, deadline: new Date(deadline * 1000).toISOString() }, [`BORG_DEADLINE_EPOCH=${deadline}`, `BORG_DEADLINE=${new Date(deadline * 1000).toISOString()}`]);
    assert.equal(r.code, 124, r.out);
    assert.match(r.out, /\[borg-agent\] deadline reached/);
    assert.match(r.out, /"result":"deadline reached"/);
  });

  it('a deadline already past ends it before any work', { timeout: 60_000 }, async () => {
    const h = await harness();
    const r = await run(h, { sleepSeconds: 60 }, [`BORG_DEADLINE_EPOCH=${Math.floor(Date.now() / 1000) - 5}`]);
    assert.equal(r.code, 124, r.out);
    assert.doesNotMatch(r.out, /working 1\//);
  });

  it('a deadline far ahead, none, or an unreadable one changes nothing: the run ends with its own exit code', { timeout: 60_000 }, async () => {
    const h = await harness();
    for (const env of [[`BORG_DEADLINE_EPOCH=${Math.floor(Date.now() / 1000) + 3600}`], [], ['BORG_DEADLINE_EPOCH=tomorrow']]) {
      const r = await run(h, { sleepSeconds: 1, exitCode: 3 }, env);
      assert.equal(r.code, 3, `${env.join(' ')}: ${r.out}`);
      assert.doesNotMatch(r.out, /deadline reached/);
    }
  });
});
