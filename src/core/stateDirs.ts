import * as fs from 'node:fs';
import * as path from 'node:path';
import { BorgError } from './errors';

/** Where an agent's state dir is mounted inside its container. */
export const STATE_MOUNT = '/home/agent/state';

/**
 * Per-name state dirs: `<root>/<name>/`, mode 0700, files 0600. A name's dir is created on
 * claim and mounted again on reclaim, so an agent's credentials and history survive.
 */
export class StateDirs {
  /** @param root absolute folder holding one dir per container name. */
  constructor(readonly root: string) {}

  /** The dir of `name` (not created). */
  dir(name: string): string {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new BorgError(`"${name}" is not a container name.`);
    return path.join(this.root, name);
  }

  /** Creates the dir of `name` if needed (0700) and returns it. @throws BorgError when it cannot be created. */
  ensure(name: string): string {
    const dir = this.dir(name);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.chmodSync(dir, 0o700);
    } catch (e) {
      throw new BorgError(`Cannot create the state folder ${dir}: ${(e as Error).message}`, { cause: e });
    }
    return dir;
  }

  exists(name: string): boolean {
    return fs.existsSync(this.dir(name));
  }

  /** Writes `file` in the dir of `name` with mode 0600 (atomically: temp file + rename). */
  writeFile(name: string, file: string, data: string): void {
    const target = path.join(this.ensure(name), file);
    const tmp = `${target}.tmp`;
    fs.writeFileSync(tmp, data, { mode: 0o600 });
    fs.renameSync(tmp, target);
  }

  /** Reads `file` from the dir of `name`, or undefined when it does not exist. */
  readFile(name: string, file: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.dir(name), file), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Opens `file` in the dir of `name` for appending (0600). */
  appendStream(name: string, file: string): fs.WriteStream {
    return fs.createWriteStream(path.join(this.ensure(name), file), { flags: 'a', mode: 0o600 });
  }

  /** Deletes the dir of `name` and everything in it. */
  remove(name: string): void {
    fs.rmSync(this.dir(name), { recursive: true, force: true });
  }
}
