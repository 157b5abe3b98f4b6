import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ArchiveStat } from '../../src/core/engine';
import { ContainerFiles, ContainerFileTooLargeError, ContainerPathNotFoundError, containerPath, entryPath, kindOfMode } from '../../src/core/containerFiles';
import { InvalidInputError } from '../../src/core/errors';
import { FakeDocker } from './fakeDocker';
import { RawEntry, tar } from './tarBuilder';

const DIR = 2 ** 31 + 0o755;
const LINK = 2 ** 27 + 0o777;

function stat(name: string, mode: number, size = 0, linkTarget = ''): ArchiveStat {
  return { name, size, mode, mtime: '2026-12-01T21:47:38.741602786Z', linkTarget };
}

async function rig(): Promise<{ docker: FakeDocker; files: ContainerFiles; id: string; set: (path: string, a: { stat?: ArchiveStat; entries?: RawEntry[]; tar?: Buffer }) => void }> {
  const docker = new FakeDocker();
  const id = await docker.create({ name: 'borg-worker-7', image: 'img', labels: {}, hardening: {} as never, user: '1000:1000' });
  const files = new ContainerFiles(docker, { maxFileBytes: 1024, maxListEntries: 100, maxListArchiveBytes: 64 * 1024 });
  const set = (path: string, a: { stat?: ArchiveStat; entries?: RawEntry[]; tar?: Buffer }) =>
    docker.archives.set(`${id}:${path}`, { stat: a.stat, tar: a.tar ?? (a.entries ? tar(a.entries) : undefined) });
  return { docker, files, id, set };
}

describe('containerFiles: paths and modes', () => {
  it('normalises container paths and refuses relative ones', () => {
    assert.equal(containerPath('/tmp/x/../y/'), '/tmp/y');
    assert.equal(containerPath('/'), '/');
    assert.equal(containerPath('/../../etc'), '/etc');
    assert.throws(() => containerPath('tmp/x'), InvalidInputError);
    assert.throws(() => containerPath('/a\0b'), InvalidInputError);
  });

  it('reads entry names below the archived folder and drops hostile ones', () => {
    assert.deepEqual(entryPath('x/', 'x'), []);
    assert.deepEqual(entryPath('x/a/b.txt', 'x'), ['a', 'b.txt']);
    assert.deepEqual(entryPath('/bin/', ''), ['bin']);
    assert.equal(entryPath('x/../../etc/passwd', 'x'), undefined);
    assert.equal(entryPath('/etc/passwd', 'x'), undefined);
    assert.equal(entryPath('y/a', 'x'), undefined);
    assert.equal(entryPath('xy/a', 'x'), undefined);
    assert.equal(entryPath('x//a', 'x'), undefined);
    assert.equal(entryPath('x/./a', 'x'), undefined);
    assert.equal(entryPath('x/a\0b', 'x'), undefined);
    assert.equal(entryPath('bin', ''), undefined);
  });

  it('reads Go file modes as Docker sends them', () => {
    assert.equal(kindOfMode(DIR), 'directory');
    assert.equal(kindOfMode(LINK), 'symlink');
    assert.equal(kindOfMode(0o644), 'file');
    assert.equal(kindOfMode(2 ** 26 + 2 ** 21 + 0o600), 'other'); // char device
    assert.equal(kindOfMode(2 ** 25 + 0o600), 'other'); // FIFO
  });
});

describe('ContainerFiles', () => {
  it('lists the direct children of a directory, links as links', async () => {
    const { files, set } = await rig();
    set('/tmp/x', {
      entries: [
        { name: 'x/', flag: '5' },
        { name: 'x/a.txt', body: 'hi\n' },
        { name: 'x/l', flag: '2', linkname: '/etc/passwd' },
        { name: 'x/sub/', flag: '5' },
        { name: 'x/sub/deep.txt', body: 'deep' },
      ],
    });
    const l = await files.list('borg-worker-7', '/tmp/x/');
    assert.equal(l.partial, undefined);
    assert.deepEqual(
      l.entries.map((e) => [e.name, e.kind, e.size, e.linkTarget]),
      [
        ['a.txt', 'file', 3, undefined],
        ['l', 'symlink', 0, '/etc/passwd'],
        ['sub', 'directory', 0, undefined],
      ],
    );
  });

  it('drops traversal, absolute and foreign names from a listing', async () => {
    const { files, set } = await rig();
    set('/tmp/x', {
      entries: [
        { name: 'x/', flag: '5' },
        { name: 'x/../../../etc/passwd', body: 'root' },
        { name: '/etc/shadow', body: 'root' },
        { name: 'other/a', body: 'a' },
        { name: 'x/ok', body: 'ok' },
        { name: 'x/..', flag: '5' },
      ],
    });
    const l = await files.list('borg-worker-7', '/tmp/x');
    assert.deepEqual(
      l.entries.map((e) => e.name),
      ['ok'],
    );
  });

  it('says a listing is partial past the entry cap (a tar bomb of names)', async () => {
    const { files, set } = await rig();
    set('/tmp/x', { entries: [{ name: 'x/', flag: '5' }, ...Array.from({ length: 500 }, (_, i) => ({ name: `x/f${String(i).padStart(3, '0')}`, body: '' }))] });
    const l = await files.list('borg-worker-7', '/tmp/x');
    assert.match(l.partial ?? '', /more than 100 entries/);
    assert.equal(l.entries.length, 99);
  });

  it('cuts the transfer past the byte cap and lists what it saw (a tar bomb of contents)', async () => {
    const { docker, files, set, id } = await rig();
    const big = Buffer.alloc(200 * 1024, 0x61);
    set('/tmp/x', {
      entries: [
        { name: 'x/', flag: '5' },
        { name: 'x/a', body: 'a' },
        { name: 'x/big', body: big },
        { name: 'x/z', body: 'z' },
      ],
    });
    const l = await files.list('borg-worker-7', '/tmp/x');
    assert.match(l.partial ?? '', /larger than 65536 bytes/);
    assert.deepEqual(
      l.entries.map((e) => e.name),
      ['a', 'big'],
    );
    assert.ok((docker.archiveBytesRead.get(`${id}:/tmp/x`) ?? 0) <= 96 * 1024); // the cap and one stream buffer, not the 200 KiB body
  });

  it('reads one file, only its own entry', async () => {
    const { files, set } = await rig();
    set('/tmp/x/a.txt', { stat: stat('a.txt', 0o644, 3), entries: [{ name: 'a.txt', body: 'hi\n' }] });
    assert.equal((await files.read('borg-worker-7', '/tmp/x/a.txt')).toString(), 'hi\n');
  });

  it('refuses a file over the limit from its stat, before any transfer', async () => {
    const { docker, files, set, id } = await rig();
    set('/big', { stat: stat('big', 0o644, 5000), entries: [{ name: 'big', body: Buffer.alloc(5000) }] });
    await assert.rejects(files.read('borg-worker-7', '/big'), (e: Error) => e instanceof ContainerFileTooLargeError && /docker cp borg-worker-7:\/big/.test(e.message));
    assert.equal(docker.archiveBytesRead.get(`${id}:/big`), undefined);
  });

  it('refuses a file whose tar header is larger than its stat said (it grew)', async () => {
    const { files, set } = await rig();
    set('/grew', { stat: stat('grew', 0o644, 10), entries: [{ name: 'grew', sizeField: 1_000_000, omitBody: true }] });
    await assert.rejects(files.read('borg-worker-7', '/grew'), ContainerFileTooLargeError);
  });

  it('shows a symlink as a link and never reads its target', async () => {
    const { docker, files, set, id } = await rig();
    set('/tmp/l', { stat: stat('l', LINK, 11, '/etc/passwd'), entries: [{ name: 'l', flag: '2', linkname: '/etc/passwd' }] });
    assert.equal((await files.read('borg-worker-7', '/tmp/l')).toString(), 'symbolic link to /etc/passwd\n');
    assert.equal(docker.archiveBytesRead.get(`${id}:/etc/passwd`), undefined);
  });

  it('stats paths and says what is missing', async () => {
    const { files, set } = await rig();
    set('/tmp', { stat: stat('tmp', DIR, 4096) });
    assert.equal((await files.stat('borg-worker-7', '/tmp')).kind, 'directory');
    await assert.rejects(files.stat('borg-worker-7', '/nope'), (e: Error) => e instanceof ContainerPathNotFoundError && e.message === '/nope does not exist in borg-worker-7.');
    await assert.rejects(files.stat('borg-gone-1', '/tmp'), (e: Error) => e instanceof ContainerPathNotFoundError && /removed/.test(e.message));
  });

  it('refuses to read a directory or a device', async () => {
    const { files, set } = await rig();
    set('/tmp', { stat: stat('tmp', DIR, 4096) });
    set('/dev/null', { stat: stat('null', 2 ** 26 + 2 ** 21 + 0o666) });
    await assert.rejects(files.read('borg-worker-7', '/tmp'), /is a directory/);
    await assert.rejects(files.read('borg-worker-7', '/dev/null'), /not a regular file/);
  });
});

describe('ContainerFiles with onlyManaged', () => {
  it("refuses a container that is not Borg's", async () => {
    const docker = new FakeDocker();
    await docker.create({ name: 'postgres', image: 'img', labels: {}, hardening: {} as never, user: '1000:1000' });
    const files = new ContainerFiles(docker, { onlyManaged: true });
    await assert.rejects(files.stat('postgres', '/etc'), /not a Borg agent container/);
  });
});
