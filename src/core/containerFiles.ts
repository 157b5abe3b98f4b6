import * as posix from 'node:path/posix';
import type { Readable } from 'node:stream';
import type { ArchiveStat, ContainerInfo, Engine } from './engine';
import { BorgError, InvalidInputError, RefusedError } from './errors';
import { readTar, TarEntryTooLargeError, TarHeader } from './tarReader';

/**
 * Reading the files of a container in any state — running, exited, crashed — through Docker's
 * archive endpoints (`HEAD`/`GET /containers/{id}/archive`): the daemon mounts the container's
 * filesystem for the call and no process runs in it, so this works where `docker exec` (and
 * the Docker extension's file view, which is built on exec) cannot.
 *
 * Everything here is read from a container an agent controlled: names, sizes, link targets and
 * contents are attacker-chosen. Rules:
 * - a link is reported as a link (its target as text), never followed: the only bytes read are
 *   the container's own archive, so nothing on the host is ever opened;
 * - entry names that are absolute after the archive's top folder, contain `..`, `.`, empty
 *   segments or NUL, or lie outside the folder asked for, are dropped ({@link entryPath});
 * - memory is bounded: a listing keeps only headers (bodies are skipped as they stream), at most
 *   {@link MAX_LIST_ENTRIES} entries from at most {@link MAX_LIST_ARCHIVE_BYTES} of archive,
 *   after which the transfer is cut and the listing says it is partial; a file is read only when
 *   Docker's stat and the tar header both say it is at most {@link MAX_FILE_BYTES}, and only that
 *   entry's bytes are kept; metadata records are capped by tarReader.ts.
 */

/** Largest file read from a container (bytes): 50 MiB. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;
/** Most entries one directory listing reads from its archive. */
export const MAX_LIST_ENTRIES = 100_000;
/** Most archive bytes one directory listing pulls from Docker (bodies are skipped, but they still stream by): 128 MiB. */
export const MAX_LIST_ARCHIVE_BYTES = 128 * 1024 * 1024;

/** What a container path is. `other`: a device, FIFO, socket — listed, never read. */
export type EntryKind = 'file' | 'directory' | 'symlink' | 'other';

/** A path's stat, from Docker's `X-Docker-Container-Path-Stat`. */
export interface ContainerStat {
  kind: EntryKind;
  /** Bytes (a directory's size is what the filesystem says, e.g. 4096). */
  size: number;
  /** Modification time, ms since the epoch (0 when Docker's time cannot be read). */
  mtimeMs: number;
  /** A symlink's target, as written in the link (never resolved on the host). */
  linkTarget?: string;
}

/** One child of a listed directory. */
export interface ContainerEntry extends ContainerStat {
  /** One path segment (no `/`). */
  name: string;
}

/** A directory's children, sorted by name; `partial` says why the listing stopped early. */
export interface Listing {
  entries: ContainerEntry[];
  partial?: string;
}

/** The path does not exist in the container, or the container does not. */
export class ContainerPathNotFoundError extends BorgError {}

/** A file is larger than {@link MAX_FILE_BYTES} (or the caller's limit). */
export class ContainerFileTooLargeError extends BorgError {}

/** The engine calls this module makes. */
export type ArchiveEngine = Pick<Engine, 'inspect' | 'archiveStat' | 'archive'>;

export interface ContainerFilesOptions {
  /** Refuse containers without Borg's `borg.managed` label (the extension's provider shows only agents). */
  onlyManaged?: boolean;
  maxFileBytes?: number;
  maxListEntries?: number;
  maxListArchiveBytes?: number;
}

/**
 * Stat, list and read paths of a container by name or id. Holds no cache: each call asks
 * Docker (a listing is one archive transfer of the directory; a read is one stat and one
 * archive of the file).
 */
export class ContainerFiles {
  private readonly maxFileBytes: number;
  private readonly maxListEntries: number;
  private readonly maxListArchiveBytes: number;
  private readonly onlyManaged: boolean;

  constructor(
    private readonly engine: ArchiveEngine,
    opts: ContainerFilesOptions = {},
  ) {
    this.onlyManaged = opts.onlyManaged ?? false;
    this.maxFileBytes = opts.maxFileBytes ?? MAX_FILE_BYTES;
    this.maxListEntries = opts.maxListEntries ?? MAX_LIST_ENTRIES;
    this.maxListArchiveBytes = opts.maxListArchiveBytes ?? MAX_LIST_ARCHIVE_BYTES;
  }

  /**
   * The container, inspected.
   * @throws ContainerPathNotFoundError when there is no such container; RefusedError for one
   *   that is not Borg's when `onlyManaged`.
   */
  async container(nameOrId: string): Promise<ContainerInfo> {
    const info = await this.engine.inspect(nameOrId);
    if (!info) throw new ContainerPathNotFoundError(`There is no container ${nameOrId} (it was removed).`);
    if (this.onlyManaged && !info.managed) throw new RefusedError(`${info.name} is not a Borg agent container; Borg shows the files of its own agents only (use docker cp for others).`);
    return info;
  }

  /**
   * What `path` is in the container.
   * @throws InvalidInputError for a relative path; ContainerPathNotFoundError.
   */
  async stat(nameOrId: string, path: string): Promise<ContainerStat> {
    const p = containerPath(path);
    const info = await this.container(nameOrId);
    const s = await this.engine.archiveStat(info.id, p);
    if (!s) throw new ContainerPathNotFoundError(`${p} does not exist in ${info.name}.`);
    return statOf(s);
  }

  /**
   * The children of directory `path`, read from the tar headers of its archive (bodies are
   * skipped, never kept). Entries with names that cannot be children of `path` are dropped.
   * @throws InvalidInputError; ContainerPathNotFoundError; TarFormatError for a broken archive.
   */
  async list(nameOrId: string, path: string): Promise<Listing> {
    const p = containerPath(path);
    const info = await this.container(nameOrId);
    const abort = new AbortController();
    const stream = await this.open(info, p, abort.signal);
    const top = p === '/' ? '' : posix.basename(p);
    const children = new Map<string, ContainerEntry>();
    let partial: string | undefined;
    let seen = 0;
    const counted = countBytes(stream, this.maxListArchiveBytes, () => {
      partial = `the archive of ${p} is larger than ${this.maxListArchiveBytes} bytes; only the children seen in that part are listed`;
    });
    try {
      for await (const { header } of readTar(counted)) {
        if (++seen > this.maxListEntries) {
          partial = `${p} holds more than ${this.maxListEntries} entries; only the children among the first ones are listed`;
          break;
        }
        const rel = entryPath(header.name, top);
        if (!rel || rel.length === 0) continue;
        const name = rel[0];
        if (rel.length === 1) children.set(name, { name, ...statOfHeader(header) });
        else if (!children.has(name)) children.set(name, { name, kind: 'directory', size: 0, mtimeMs: 0 }); // its own header was dropped or comes later
      }
    } catch (e) {
      if (!partial) throw e; // cut at the byte cap: the entry in flight is incomplete, the listing stands
    } finally {
      abort.abort();
      stream.destroy();
    }
    const entries = [...children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return partial ? { entries, partial } : { entries };
  }

  /**
   * The bytes of file `path`. Only that one archive entry is read and kept; nothing past it is
   * pulled from Docker. A symlink is not followed: its bytes are `symbolic link to <target>\n`.
   * @throws ContainerFileTooLargeError over the size limit (checked on Docker's stat, before any
   *   transfer, and again on the tar header); ContainerPathNotFoundError; InvalidInputError
   *   for a directory or a special file.
   */
  async read(nameOrId: string, path: string): Promise<Buffer> {
    const p = containerPath(path);
    const info = await this.container(nameOrId);
    const s = await this.engine.archiveStat(info.id, p);
    if (!s) throw new ContainerPathNotFoundError(`${p} does not exist in ${info.name}.`);
    const st = statOf(s);
    if (st.kind === 'symlink') return Buffer.from(`symbolic link to ${st.linkTarget ?? '?'}\n`);
    if (st.kind === 'directory') throw new InvalidInputError(`${p} in ${info.name} is a directory; open a file.`);
    if (st.kind !== 'file') throw new InvalidInputError(`${p} in ${info.name} is not a regular file (a device, FIFO or socket); Borg does not read those.`);
    if (st.size > this.maxFileBytes) throw this.tooLarge(info, p, st.size);
    const abort = new AbortController();
    const stream = await this.open(info, p, abort.signal);
    try {
      for await (const e of readTar(stream, { wantBody: (h) => h.type === 'file', maxBodyBytes: this.maxFileBytes })) {
        if (e.header.type === 'symlink') return Buffer.from(`symbolic link to ${e.header.linkTarget ?? '?'}\n`);
        if (e.body) return e.body; // the first entry is the file (named by its base name)
        break;
      }
    } catch (e) {
      if (e instanceof TarEntryTooLargeError) throw this.tooLarge(info, p, e.size);
      throw e;
    } finally {
      abort.abort();
      stream.destroy();
    }
    throw new ContainerPathNotFoundError(`Docker's archive of ${p} in ${info.name} holds no file.`);
  }

  private async open(info: ContainerInfo, p: string, signal: AbortSignal): Promise<Readable> {
    try {
      return await this.engine.archive(info.id, p, signal);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) throw new ContainerPathNotFoundError(`${p} does not exist in ${info.name}.`, { cause: e });
      throw e;
    }
  }

  private tooLarge(info: ContainerInfo, p: string, size: number): ContainerFileTooLargeError {
    return new ContainerFileTooLargeError(
      `${p} in ${info.name} is ${size} bytes; Borg opens files of at most ${this.maxFileBytes} bytes from a container. Copy it out with \`docker cp ${info.name}:${p} .\` to look at it.`,
    );
  }
}

/**
 * A container path, normalised: absolute, POSIX, no `.`/`..` left, no trailing slash.
 * @throws InvalidInputError for a relative path or one with NUL.
 */
export function containerPath(p: string): string {
  if (!p.startsWith('/') || p.includes('\0')) throw new InvalidInputError(`A container path must be absolute (got ${JSON.stringify(p)}).`);
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * The segments of tar entry `raw` below the archive's top folder `top` (the archived
 * directory's base name; '' for `/`, whose entries Docker names `/`, `/bin/`, …); [] for the top
 * folder itself; undefined when the name cannot be below it: outside `top`, or with an empty,
 * `.`, `..` or NUL segment after it (the archive comes from Docker, but its names come from the
 * agent: never trust them).
 */
export function entryPath(raw: string, top: string): string[] | undefined {
  if (raw.includes('\0')) return undefined;
  let rest: string;
  if (top === '') {
    if (!raw.startsWith('/')) return undefined;
    rest = raw.slice(1);
  } else {
    if (raw === top || raw === `${top}/`) return [];
    if (!raw.startsWith(`${top}/`)) return undefined;
    rest = raw.slice(top.length + 1);
  }
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  if (rest === '') return [];
  const parts = rest.split('/');
  if (parts.some((s) => s === '' || s === '.' || s === '..')) return undefined;
  return parts;
}

/**
 * The kind of Go `os.FileMode` `mode` (what Docker's stat header carries): ModeDir is bit 31,
 * ModeSymlink bit 27; ModeDevice 26, ModeNamedPipe 25, ModeSocket 24, ModeCharDevice 21 and
 * ModeIrregular 19 make `other`; none of these: a regular file.
 */
export function kindOfMode(mode: number): EntryKind {
  const bit = (n: number) => Math.floor(mode / 2 ** n) % 2 === 1;
  if (bit(31)) return 'directory';
  if (bit(27)) return 'symlink';
  if ([26, 25, 24, 21, 19].some(bit)) return 'other';
  return 'file';
}

function statOf(s: ArchiveStat): ContainerStat {
  const kind = kindOfMode(s.mode);
  const t = Date.parse(s.mtime);
  const out: ContainerStat = { kind, size: Number.isFinite(s.size) && s.size >= 0 ? s.size : 0, mtimeMs: Number.isFinite(t) ? t : 0 };
  if (kind === 'symlink') out.linkTarget = s.linkTarget;
  return out;
}

function statOfHeader(h: TarHeader): ContainerStat {
  const kind: EntryKind = h.type === 'hardlink' ? 'file' : h.type;
  const out: ContainerStat = { kind, size: h.size, mtimeMs: h.mtimeMs };
  if (h.type === 'symlink') out.linkTarget = h.linkTarget ?? '';
  return out;
}

/** Passes `stream`'s chunks through until `max` bytes went by, then calls `cut` and ends. */
async function* countBytes(stream: Readable, max: number, cut: () => void): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (n + b.length > max) {
      cut();
      return;
    }
    n += b.length;
    yield b;
  }
}
