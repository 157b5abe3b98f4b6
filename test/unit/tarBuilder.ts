/**
 * Hand-made tar archives for the tests of tarReader.ts and containerFiles.ts: ordinary ones in
 * Docker's shape, and hostile ones (names with `..`, absolute names, huge metadata records,
 * bad checksums) that no real tar writer would make.
 */

export interface RawEntry {
  name: string;
  /** Type flag: '0' file (default), '5' directory, '2' symlink, 'x' PAX record, 'L' GNU long name. */
  flag?: string;
  body?: Buffer | string;
  linkname?: string;
  mode?: number;
  /** Written into the size field instead of the body's length (a lying header). */
  sizeField?: number;
  /** Breaks the checksum. */
  badChecksum?: boolean;
  /** Writes no body bytes (a truncated archive). */
  omitBody?: boolean;
}

/** One 512-byte ustar header. */
export function header(e: RawEntry): Buffer {
  const b = Buffer.alloc(512);
  b.write(e.name.slice(0, 100), 0, 'utf8');
  const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  b.write(octal(e.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(0, 8), 108, 'latin1');
  b.write(octal(0, 8), 116, 'latin1');
  b.write(octal(e.sizeField ?? body.length, 12), 124, 'latin1');
  b.write(octal(1_700_000_000, 12), 136, 'latin1');
  b.write(e.flag ?? '0', 156, 'latin1');
  if (e.linkname) b.write(e.linkname, 157, 'utf8');
  b.write('ustar\u000000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i];
  b.write(octal(e.badChecksum ? sum + 1 : sum, 7) + ' ', 148, 'latin1');
  return b;
}

/** A whole archive: each entry's header and padded body, then the two zero blocks. */
export function tar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(header(e));
    const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
    if (e.omitBody) continue;
    parts.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A PAX record `<len> key=value\n`. */
export function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return `${len}${rest}`;
}

/** Chunks of `buf`, `size` bytes each, as a readable source. */
export async function* chunks(buf: Buffer, size = 100): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}
