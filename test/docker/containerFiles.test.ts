import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { ContainerFiles, ContainerFileTooLargeError, ContainerPathNotFoundError } from '../../src/core/containerFiles';
import { DockerEngine } from '../../src/core/engine';
import { countDockerCalls, DEMO_IMAGE, docker, removeContainersWithPrefix } from './helpers';

const PREFIX = `bcf${process.pid}`;
const NAME = `${PREFIX}-crashed-0`;

/**
 * A crashed agent's files, read through Docker's archive endpoints only: a container from the
 * demo image writes a file, a link to a host-looking path and a large file, then exits 3.
 */
describe('ContainerFiles on a real exited container (no exec)', () => {
  const engine = new DockerEngine();
  const files = new ContainerFiles(engine, { maxFileBytes: 1024 * 1024 });
  const calls = countDockerCalls(engine);

  before(async () => {
    const script = [
      'mkdir -p /tmp/out/sub',
      "printf 'crash report\\nline 2\\n' > /tmp/out/report.txt",
      'echo deep > /tmp/out/sub/deep.txt',
      'ln -s /etc/shadow /tmp/out/link',
      'dd if=/dev/zero of=/tmp/out/big bs=1024 count=2048 2>/dev/null',
      'exit 3',
    ].join(' && ');
    const c = await docker.createContainer({ name: NAME, Image: DEMO_IMAGE, Entrypoint: ['/bin/sh', '-c', script], User: '1000:1000' });
    await c.start();
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    assert.equal(StatusCode, 3);
    assert.equal((await c.inspect()).State.Status, 'exited');
  });

  after(() => removeContainersWithPrefix(PREFIX));

  it('reads a file the crashed agent wrote', async () => {
    assert.equal((await files.read(NAME, '/tmp/out/report.txt')).toString(), 'crash report\nline 2\n');
    const s = await files.stat(NAME, '/tmp/out/report.txt');
    assert.deepEqual([s.kind, s.size], ['file', 20]);
    assert.ok(s.mtimeMs > Date.now() - 3_600_000);
  });

  it('lists a directory from the tar headers, links as links', async () => {
    const l = await files.list(NAME, '/tmp/out');
    assert.equal(l.partial, undefined);
    assert.deepEqual(
      l.entries.map((e) => [e.name, e.kind, e.kind === 'file' ? e.size : 0, e.linkTarget]),
      [
        ['big', 'file', 2 * 1024 * 1024, undefined],
        ['link', 'symlink', 0, '/etc/shadow'],
        ['report.txt', 'file', 20, undefined],
        ['sub', 'directory', 0, undefined],
      ],
    );
    assert.deepEqual(
      (await files.list(NAME, '/')).entries.filter((e) => e.name === 'tmp' || e.name === 'bin').map((e) => [e.name, e.kind]),
      [
        ['bin', 'directory'],
        ['tmp', 'directory'],
      ],
    );
  });

  it('shows a link as its target, never what it points to', async () => {
    assert.equal((await files.stat(NAME, '/tmp/out/link')).linkTarget, '/etc/shadow');
    assert.equal((await files.read(NAME, '/tmp/out/link')).toString(), 'symbolic link to /etc/shadow\n');
  });

  it('refuses a file over the limit before transferring it', async () => {
    const before = calls.paths.length;
    await assert.rejects(files.read(NAME, '/tmp/out/big'), ContainerFileTooLargeError);
    assert.equal(calls.paths.slice(before).filter((p) => /archive/.test(p)).length, 1, 'only the stat (HEAD), no transfer');
  });

  it('says what is missing', async () => {
    await assert.rejects(files.read(NAME, '/tmp/out/nope'), (e: Error) => e instanceof ContainerPathNotFoundError && e.message === `/tmp/out/nope does not exist in ${NAME}.`);
  });

  it('made no exec call', () => {
    assert.ok(calls.paths.length > 0);
    assert.deepEqual(
      calls.paths.filter((p) => /exec/.test(p)),
      [],
    );
    assert.ok(
      calls.paths.every((p) => /\/containers\/[^/]+\/(json|archive)/.test(p)),
      calls.paths.join('\n'),
    );
  });
});
