import * as fs from 'node:fs';
import * as path from 'node:path';
import { BorgError } from './errors';
import { chownTree, Owner } from './ownership';

/** Where an agent's state dir is mounted inside its container. */
export const STATE_MOUNT = '/home/agent/state';

/** Sub-folder of the root holding Borg's own files per name; never mounted (no container name starts with a dot). */
const HOST_FOLDER = '.host';

/**
 * Per-name folders under `root`:
 * - `<root>/<name>/` — the **state dir**, mode 0700, mounted writable at /home/agent/state, so
 *   an agent's credentials and history survive a reclaim. Everything in it is written by the
 *   agent: Borg never reads, writes or follows anything inside it (it only creates, chowns
 *   without following links, and deletes it).
 * - `<root>/.host/<name>/` — Borg's own records of that name (`input.json`, `agent.log`), mode
 *   0700, files 0600, never mounted into any container, so an agent can neither rewrite what
 *   Borg sends again on a hardline nor plant a symbolic link that makes Borg write elsewhere.
 */
export class StateDirs {
  /** @param root absolute folder holding one dir per container name. */
  constructor(readonly root: string) {}

  /** The state dir of `name` (not created). @throws BorgError when `name` is no container name. */
  dir(name: string): string {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new BorgError(`"${name}" is not a container name.`);
    return path.join(this.root, name);
  }

  /** Borg's own folder for `name` (not created, never mounted). */
  hostDir(name: string): string {
    return path.join(this.root, HOST_FOLDER, path.basename(this.dir(name)));
  }

  /**
   * Creates the state dir of `name` if needed (0700) and returns it; with `owner`, hands it and
   * everything in it to that uid:gid (links are not followed), so an agent running as another
   * uid than the host's can use it.
   * @throws BorgError when it cannot be created.
   */
  ensure(name: string, owner?: Owner): string {
    const dir = this.dir(name);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = fs.lstatSync(dir);
      if (!st.isDirectory()) throw new Error('it is not a folder');
      fs.chmodSync(dir, 0o700);
      if (owner) chownTree(dir, owner);
    } catch (e) {
      throw new BorgError(`Cannot create the state folder ${dir}: ${(e as Error).message}`, { cause: e });
    }
    return dir;
  }

  exists(name: string): boolean {
    return fs.existsSync(this.dir(name));
  }

  /** Writes Borg's own `file` for `name` with mode 0600, atomically (temp file + rename). */
  writeFile(name: string, file: string, data: string): void {
    const target = path.join(this.ensureHost(name), file);
    const tmp = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data, { mode: 0o600 });
    fs.renameSync(tmp, target);
  }

  /** Reads Borg's own `file` for `name`, or undefined when it does not exist. */
  readFile(name: string, file: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.hostDir(name), file), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Opens Borg's own `file` for `name` for appending (0600). */
  appendStream(name: string, file: string): fs.WriteStream {
    return fs.createWriteStream(path.join(this.ensureHost(name), file), { flags: 'a', mode: 0o600 });
  }

  /** The path of Borg's own `file` for `name` (e.g. agent.log, for the task's run record). */
  hostFile(name: string, file: string): string {
    return path.join(this.hostDir(name), file);
  }

  /** Deletes the state dir of `name` and Borg's own files for it (links inside are removed, not followed). */
  remove(name: string): void {
    fs.rmSync(this.dir(name), { recursive: true, force: true });
    fs.rmSync(this.hostDir(name), { recursive: true, force: true });
  }

  private ensureHost(name: string): string {
    const dir = this.hostDir(name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }
}
