import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { MAX_META_BYTES, readTar, TarEntry, TarEntryTooLargeError, TarFormatError } from '../../src/core/tarReader';
import { chunks, paxRecord, tar } from './tarBuilder';

async function all(buf: Buffer, opts: Parameters<typeof readTar>[1] = {}, chunk = 100): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (const e of readTar(chunks(buf, chunk), opts)) out.push(e);
  return out;
}

describe('readTar', () => {
  it('lists names, types, sizes and link targets from headers split across chunks', async () => {
    const buf = tar([
      { name: 'x/', flag: '5', mode: 0o755 },
      { name: 'x/a.txt', body: 'hello\n' },
      { name: 'x/l', flag: '2', linkname: '/etc/passwd' },
    ]);
    const got = (await all(buf, {}, 7)).map((e) => e.header);
    assert.deepEqual(
      got.map((h) => [h.name, h.type, h.size, h.linkTarget]),
      [
        ['x/', 'directory', 0, undefined],
        ['x/a.txt', 'file', 6, undefined],
        ['x/l', 'symlink', 0, '/etc/passwd'],
      ],
    );
    assert.equal(got[0].mode, 0o755);
    assert.equal(got[1].mtimeMs, 1_700_000_000_000);
  });

  it('keeps a body only when asked for it', async () => {
    const buf = tar([
      { name: 'a', body: 'AAA' },
      { name: 'b', body: 'BBBB' },
    ]);
    const got = await all(buf, { wantBody: (h) => h.name === 'b' });
    assert.equal(got[0].body, undefined);
    assert.equal(got[1].body?.toString(), 'BBBB');
  });

  it('applies PAX path and linkpath records (long names)', async () => {
    const long = `${'d'.repeat(150)}/file.txt`;
    const pax = paxRecord('path', long) + paxRecord('linkpath', '/t'.repeat(80));
    const buf = tar([
      { name: 'PaxHeader', flag: 'x', body: pax },
      { name: 'short', flag: '2' },
    ]);
    const [e] = await all(buf);
    assert.equal(e.header.name, long);
    assert.equal(e.header.linkTarget, '/t'.repeat(80));
  });

  it('refuses a metadata record larger than MAX_META_BYTES before reading it', async () => {
    const buf = tar([{ name: 'PaxHeader', flag: 'x', sizeField: 1024 * 1024 * 1024, omitBody: true }], { end: false });
    await assert.rejects(all(buf), (e: Error) => e instanceof TarFormatError && e.message.includes(String(MAX_META_BYTES)));
  });

  it('refuses a wanted body over the limit without reading it', async () => {
    const buf = tar([{ name: 'big', sizeField: 10 * 1024 * 1024 * 1024, omitBody: true }], { end: false });
    await assert.rejects(all(buf, { wantBody: () => true, maxBodyBytes: 1024 }), (e: Error) => e instanceof TarEntryTooLargeError && e.size === 10 * 1024 * 1024 * 1024);
  });

  it('rejects a header with a bad checksum', async () => {
    await assert.rejects(all(tar([{ name: 'a', body: 'x', badChecksum: true }])), TarFormatError);
  });

  it('rejects an archive cut in the middle of a body', async () => {
    const buf = tar([{ name: 'a', sizeField: 4096, body: 'x'.repeat(10) }], { end: false });
    await assert.rejects(all(buf, { wantBody: () => true }), TarFormatError);
    await assert.rejects(all(buf), TarFormatError);
  });

  it('stops pulling from the source when the caller stops iterating', async () => {
    const buf = tar([{ name: 'a', body: 'x' }, ...Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, body: 'y'.repeat(5000) }))]);
    let pulled = 0;
    async function* counting() {
      for await (const c of chunks(buf, 512)) {
        pulled += c.length;
        yield c;
      }
    }
    for await (const e of readTar(counting())) {
      assert.equal(e.header.name, 'a');
      break;
    }
    assert.ok(pulled <= 2048, `pulled ${pulled} bytes of ${buf.length}`);
  });

  it('ends at the end of the stream when the zero blocks are missing', async () => {
    const got = await all(tar([{ name: 'a', body: 'x' }], { end: false }));
    assert.deepEqual(
      got.map((e) => e.header.name),
      ['a'],
    );
  });
});
