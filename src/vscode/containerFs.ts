import * as vscode from 'vscode';
import { ContainerFiles, ContainerFileTooLargeError, ContainerPathNotFoundError, ContainerStat, EntryKind } from '../core/containerFiles';
import { InvalidInputError, RefusedError } from '../core/errors';

/** URI scheme of a container's files: `borg-container://<container name>/<absolute path>`. */
export const CONTAINER_SCHEME = 'borg-container';

/** The URI of `path` (absolute, in the container) in container `name`. */
export function containerUri(name: string, path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: CONTAINER_SCHEME, authority: name, path });
}

/**
 * A read-only `FileSystemProvider` over a Borg agent container's filesystem, through Docker's
 * archive endpoints (core/containerFiles.ts): it works on exited and crashed containers, where
 * no exec is possible. Registered with `isReadonly`, so editors open its files read-only; every
 * write throws `NoPermissions` anyway. Links are shown as links (`stat` says SymbolicLink, the
 * file reads `symbolic link to <target>`), never followed. `readFile` holds at most
 * `MAX_FILE_BYTES` (50 MiB): the file's size is checked on Docker's stat before any transfer,
 * only that one tar entry is kept, and the transfer is cut after it. Containers without the
 * `borg.managed` label are refused.
 */
export class ContainerFileSystem implements vscode.FileSystemProvider {
  private readonly changed = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  /** Never fires: an exited container's files do not change (a running one's are read again on each open). */
  readonly onDidChangeFile = this.changed.event;

  constructor(
    readonly files: ContainerFiles,
    private readonly onPartial: (message: string) => void = () => undefined,
  ) {}

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const s = await this.call(uri, () => this.files.stat(uri.authority, uri.path || '/'));
    return { type: fileType(s), ctime: s.mtimeMs, mtime: s.mtimeMs, size: s.size, permissions: vscode.FilePermission.Readonly };
  }

  async readDirectory(uri: vscode.Uri): Promise<[string, vscode.FileType][]> {
    const l = await this.call(uri, () => this.files.list(uri.authority, uri.path || '/'));
    if (l.partial) this.onPartial(`${uri.authority}: ${l.partial}.`);
    return l.entries.map((e) => [e.name, fileType(e)]);
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    return this.call(uri, () => this.files.read(uri.authority, uri.path || '/'));
  }

  writeFile(uri: vscode.Uri): never {
    throw readOnly(uri);
  }

  createDirectory(uri: vscode.Uri): never {
    throw readOnly(uri);
  }

  delete(uri: vscode.Uri): never {
    throw readOnly(uri);
  }

  rename(uri: vscode.Uri): never {
    throw readOnly(uri);
  }

  dispose(): void {
    this.changed.dispose();
  }

  /** Runs `fn`, turning core errors into the `FileSystemError`s VS Code understands. */
  private async call<T>(uri: vscode.Uri, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ContainerPathNotFoundError) throw vscode.FileSystemError.FileNotFound(uri);
      if (e instanceof InvalidInputError && /is a directory/.test(e.message)) throw vscode.FileSystemError.FileIsADirectory(uri);
      if (e instanceof RefusedError || e instanceof InvalidInputError) throw vscode.FileSystemError.NoPermissions(e.message);
      if (e instanceof ContainerFileTooLargeError) throw vscode.FileSystemError.Unavailable(e.message);
      throw vscode.FileSystemError.Unavailable(e instanceof Error ? e.message : String(e));
    }
  }
}

/** A container path's kind as a VS Code `FileType` (a link is `SymbolicLink` with `File`: it opens as its "symbolic link to" text). */
export function fileType(s: Pick<ContainerStat, 'kind'> | { kind: EntryKind }): vscode.FileType {
  switch (s.kind) {
    case 'directory':
      return vscode.FileType.Directory;
    case 'symlink':
      return vscode.FileType.SymbolicLink | vscode.FileType.File;
    case 'file':
      return vscode.FileType.File;
    default:
      return vscode.FileType.Unknown;
  }
}

function readOnly(uri: vscode.Uri): vscode.FileSystemError {
  return vscode.FileSystemError.NoPermissions(`${uri.authority}${uri.path} is a file of an agent container, shown read-only; Borg never writes into containers.`);
}
