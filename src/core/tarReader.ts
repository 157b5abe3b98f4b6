import { BorgError } from './errors';

/**
 * A streaming reader of tar archives (POSIX ustar, PAX `x` records, GNU `L`/`K` long names,
 * base-256 sizes) as Docker's `GET /containers/{id}/archive` writes them (Go's archive/tar).
 *
 * Written for hostile input: the archive of an agent's container holds names and contents the
 * agent chose. Only 512-byte blocks and the bodies asked for are ever held in memory; every other
 * body is skipped as it streams by; a PAX or long-name record larger than {@link MAX_META_BYTES}
 * is refused (no header can make the reader buffer more); a body is kept only when the caller
 * asks for it and only up to `maxBodyBytes`. Names are returned as written (normalising them is
 * the caller's business: see containerFiles.ts `entryPath`).
 */

/** Largest PAX extended header or GNU long name/link record read (bytes): Linux paths are < 4 KiB, xattrs < 64 KiB. */
export const MAX_META_BYTES = 64 * 1024;

/** What an entry is, from its type flag. */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

/** One entry's header, with PAX and GNU long names applied. */
export interface TarHeader {
  /** The path as written in the archive (may be absolute, contain `..`, anything). */
  name: string;
  type: TarEntryType;
  /** Body size in bytes (0 for anything but a regular file). */
  size: number;
  /** Permission bits (`0o7777` at most). */
  mode: number;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
  /** The target of a symlink or hard link, as written. */
  linkTarget?: string;
}

/** One entry as {@link readTar} yields it; `body` only when the caller's `wantBody` said yes. */
export interface TarEntry {
  header: TarHeader;
  body?: Buffer;
}

/** The archive is not a tar, is cut short, or breaks a bound. */
export class TarFormatError extends BorgError {}

/** An entry's body is larger than the caller allows. */
export class TarEntryTooLargeError extends BorgError {
  constructor(
    readonly entry: string,
    readonly size: number,
    readonly limit: number,
  ) {
    super(`${entry} is ${size} bytes, more than the ${limit} bytes Borg reads from a container.`);
  }
}

export interface ReadTarOptions {
  /** Return true to have an entry's body read and yielded (default: no body is kept). */
  wantBody?: (h: TarHeader) => boolean;
  /** Largest body kept (bytes); a larger wanted one throws {@link TarEntryTooLargeError} before it is read. */
  maxBodyBytes?: number;
}

/**
 * Yields the entries of the tar read from `source`, in archive order. Stop iterating (break,
 * return) to stop reading: the rest of the archive is never pulled from `source` (destroying the
 * underlying stream is the caller's job). Ends at the two zero blocks or at the end of `source`.
 * @throws TarFormatError for a bad checksum, a truncated entry or an oversize metadata record;
 *   TarEntryTooLargeError for a wanted body over `maxBodyBytes`.
 */
export async function* readTar(source: AsyncIterable<Buffer | string>, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  const maxBody = opts.maxBodyBytes ?? Number.MAX_SAFE_INTEGER;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await r.read(512);
    if (!block) return; // the end of the stream with no end-of-archive blocks: what was read stands
    if (block.every((b) => b === 0)) return;
    if (!checksumOk(block)) throw new TarFormatError('The container archive is not a valid tar (header checksum mismatch).');
    const flag = String.fromCharCode(block[156] || 0x30);
    const size = parseNumber(block.subarray(124, 136));
    const padded = Math.ceil(size / 512) * 512;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META_BYTES) throw new TarFormatError(`The container archive has a ${size}-byte metadata record; Borg reads at most ${MAX_META_BYTES}.`);
      const data = await r.need(size, 'metadata record');
      await r.skip(padded - size);
      if (flag === 'x') pax = parsePax(data);
      else if (flag === 'L') longName = cString(data);
      else if (flag === 'K') longLink = cString(data);
      continue; // a global header ('g') changes nothing Borg reads
    }
    // POSIX ustar ("ustar\0") has a name prefix at 345; GNU ("ustar  ") keeps other fields there.
    const posix = block.subarray(257, 262).toString('latin1') === 'ustar' && block[262] === 0;
    const prefix = posix ? cString(block.subarray(345, 500)) : '';
    const shortName = cString(block.subarray(0, 100));
    const name = pax.path ?? longName ?? (prefix ? `${prefix}/${shortName}` : shortName);
    const link = pax.linkpath ?? longLink ?? cString(block.subarray(157, 257));
    const paxSize = pax.size !== undefined && /^\d+$/.test(pax.size) ? Number(pax.size) : undefined;
    const bodySize = paxSize ?? size;
    const bodyPadded = Math.ceil(bodySize / 512) * 512;
    const mtime = pax.mtime !== undefined && Number.isFinite(Number(pax.mtime)) ? Number(pax.mtime) * 1000 : parseNumber(block.subarray(136, 148)) * 1000;
    const type = typeOf(flag, name);
    const header: TarHeader = { name, type, size: type === 'file' ? bodySize : 0, mode: parseNumber(block.subarray(100, 108)) & 0o7777, mtimeMs: mtime };
    if ((type === 'symlink' || type === 'hardlink') && link) header.linkTarget = link;
    pax = {};
    longName = longLink = undefined;
    if (opts.wantBody?.(header)) {
      if (bodySize > maxBody) throw new TarEntryTooLargeError(name, bodySize, maxBody);
      const body = await r.need(bodySize, name);
      await r.skip(bodyPadded - bodySize);
      yield { header, body };
    } else {
      yield { header };
      await r.skip(bodyPadded);
    }
  }
}

function typeOf(flag: string, name: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return name.endsWith('/') ? 'directory' : 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    default:
      return 'other'; // devices, FIFOs, sparse files: listed, never read
  }
}

/** The header checksum: the sum of its bytes with the checksum field read as spaces (POSIX). */
function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return parseNumber(block.subarray(148, 156)) === sum;
}

/** An octal field, or GNU's base-256 (first byte has 0x80 set) for large values; at most 2^53. */
function parseNumber(field: Buffer): number {
  if (field[0] & 0x80) {
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) {
      n = n * 256 + field[i];
      if (n > Number.MAX_SAFE_INTEGER) throw new TarFormatError('The container archive has a number field too large to read.');
    }
    return n;
  }
  const s = cString(field).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`The container archive has a bad number field (${JSON.stringify(s.slice(0, 20))}).`);
  return parseInt(s, 8);
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end === -1 ? b.length : end).toString('utf8');
}

/** PAX records, `<length> <key>=<value>\n` each; malformed ones end the parse. */
function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const len = Number(data.subarray(i, space).toString('latin1'));
    if (!Number.isInteger(len) || len <= space - i || i + len > data.length) break;
    const record = data.subarray(space + 1, i + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Exact reads and skips over an async iterator of chunks, holding only what a read asked for. */
class ByteReader {
  private chunks: Buffer[] = [];
  private held = 0;
  private ended = false;

  constructor(private readonly it: AsyncIterator<Buffer | string>) {}

  /** Exactly `n` bytes, or undefined when the stream ended first. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.held < n && !this.ended) await this.pull();
    if (this.held < n) return undefined;
    return this.take(n);
  }

  /** Exactly `n` bytes. @throws TarFormatError when the stream ends first. */
  async need(n: number, what: string): Promise<Buffer> {
    const b = await this.read(n);
    if (!b) throw new TarFormatError(`The container archive ends in the middle of ${what}.`);
    return b;
  }

  /** Discards `n` bytes as they arrive (never holding them). */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.held === 0) {
        if (this.ended) throw new TarFormatError('The container archive ends in the middle of an entry.');
        await this.pull();
        continue;
      }
      const first = this.chunks[0];
      const k = Math.min(n, first.length);
      if (k === first.length) this.chunks.shift();
      else this.chunks[0] = first.subarray(k);
      this.held -= k;
      n -= k;
    }
  }

  private async pull(): Promise<void> {
    const next = await this.it.next();
    if (next.done) {
      this.ended = true;
      return;
    }
    const b = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    if (b.length) {
      this.chunks.push(b);
      this.held += b.length;
    }
  }

  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const first = this.chunks[0];
      if (first.length <= left) {
        parts.push(first);
        this.chunks.shift();
        left -= first.length;
      } else {
        parts.push(first.subarray(0, left));
        this.chunks[0] = first.subarray(left);
        left = 0;
      }
    }
    this.held -= n;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }
}
