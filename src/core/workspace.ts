import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidInputError } from './errors';

/**
 * The key of "no folder open" (an empty VS Code window). Kept from before workspace homes
 * existed ("global"), so containers such windows labelled stay recognised.
 */
export const NO_FOLDER_KEY = 'global';

/**
 * The one key of a workspace, the same for the CLI (`--workspace PATH` or the current folder)
 * and the extension (its folder URI), so both faces find the same home and label containers
 * alike:
 * - a multi-root workspace: its `.code-workspace` file (`workspaceFile` wins over `folder`);
 * - a local folder or file, given as a path or a `file:` URI: the `file://` URL
 *   (`pathToFileURL`) of its real path (links resolved, no trailing slash); a path that does
 *   not exist is only made absolute;
 * - any other URI (a remote `vscode-remote://…` folder, an `untitled:` workspace): the URI string
 *   as given, with nothing resolved (it names nothing on this machine);
 * - neither (no folder open): {@link NO_FOLDER_KEY}.
 * For a plain folder this is the key Borg always used (`file:///abs/path`), so ids do not change.
 * @param folder the first workspace folder: an absolute or relative path, or a URI string.
 * @param workspaceFile the multi-root workspace file, as a path or URI, when there is one.
 */
export function workspaceKeyOf(folder: string | undefined, workspaceFile?: string): string {
  const where = workspaceFile || folder;
  if (!where) return NO_FOLDER_KEY;
  if (/^file:/i.test(where)) return fileKey(fileURLToPath(where));
  if (/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(where) && !path.isAbsolute(where)) return where; // another scheme (Windows "C:\" is a path)
  return fileKey(where);
}

/** The `file://` URL of the real path of `p` (path.resolve and realpath drop a trailing slash). */
function fileKey(p: string): string {
  let real = path.resolve(p);
  try {
    real = fs.realpathSync.native(real);
  } catch {
    // does not exist (yet): the absolute path is all there is to go by
  }
  return pathToFileURL(real).href;
}

/**
 * A stable, short id for a workspace (16 hex chars of SHA-256 over its key, see
 * {@link workspaceKeyOf}). Stored in the `borg.workspace` label so each window and CLI
 * recognises its own containers, and names the workspace's home folder.
 */
export function workspaceId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/**
 * The folder all workspace homes live under: `override` (the extension's `borg.home` setting),
 * else `$BORG_HOME`, else `~/.borg`. A leading `~/` is the user's home folder; the result is absolute.
 */
export function borgHomeOf(override?: string, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = override?.trim() || env.BORG_HOME?.trim() || path.join(os.homedir(), '.borg');
  const expanded = chosen === '~' ? os.homedir() : chosen.startsWith('~/') ? path.join(os.homedir(), chosen.slice(2)) : chosen;
  return path.resolve(expanded);
}

/** Everything one workspace keeps, under one folder. */
export interface WorkspaceHome {
  /** `<borgHome>/workspaces/<id>` */
  root: string;
  /** `<root>/borg.sqlite`: the database (one writer at a time, see dbLock.ts). */
  db: string;
  /** `<root>/agents`: the state dirs root (stateDirs.ts), one per container name. */
  stateDir: string;
  /** `<root>/worktrees`: the task worktrees root (taskCheckout.ts). */
  worktrees: string;
  /** `<root>/gateway`: the model gateway's per-agent socket folders (gateway/gateway.ts). */
  gateway: string;
}

/** The gateway folder that goes with the database `db`: `gateway` beside it. */
export function gatewayRootOf(db: string): string {
  return path.join(path.dirname(path.resolve(db)), 'gateway');
}

/** File name of the database in a workspace home. */
export const DB_FILE = 'borg.sqlite';

/**
 * The home of workspace `id` under `borgHome` (nothing is created). The extension and the CLI
 * both use it, so a container name and its state dir stay together whichever face claims it.
 * @throws InvalidInputError when `id` is not a workspace id (16 lower-case hex digits).
 */
export function workspaceHome(borgHome: string, id: string): WorkspaceHome {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new InvalidInputError(`"${id}" is not a workspace id (16 hex digits from workspaceId()).`);
  const root = path.join(path.resolve(borgHome), 'workspaces', id);
  return { root, db: path.join(root, DB_FILE), stateDir: path.join(root, 'agents'), worktrees: path.join(root, 'worktrees'), gateway: gatewayRootOf(path.join(root, DB_FILE)) };
}
