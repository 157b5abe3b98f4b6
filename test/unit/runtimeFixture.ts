import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../../src/core/engine';
import { Git } from '../../src/core/git';
import { DEFAULT_SETTINGS } from '../../src/core/pipeline';
import { Prompts } from '../../src/core/prompts';
import { Runtime } from '../../src/core/runtime';
import { DEFAULT_TASK_SETTINGS } from '../../src/core/scheduler';
import { StateDirs } from '../../src/core/stateDirs';
import { Store } from '../../src/core/store';

/**
 * A Runtime over `engine` in a fresh temp folder (database, state dirs, worktrees, gateway),
 * workspace `workspaceId`, prefix `u`, image `img` — the unit tests' one way to build it.
 * The folder is pushed onto `dirs` for the caller to remove.
 */
export async function testRuntime<E extends Engine>(o: { engine: E; workspaceId: string; dirs: string[]; kind?: 'long' | 'oneShot' }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-rt-'));
  o.dirs.push(dir);
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const rt = new Runtime({
    kind: o.kind ?? 'long',
    engine: o.engine,
    store,
    stateDirs: new StateDirs(path.join(dir, 'agents')),
    workspaceId: o.workspaceId,
    settings: () => ({ ...DEFAULT_SETTINGS, prefix: 'u', image: 'img' }),
    taskSettings: () => DEFAULT_TASK_SETTINGS,
    git: new Git(),
    prompts: new Prompts(path.join(__dirname, '..', '..', '..', 'media', 'prompts')),
    worktreeRoot: path.join(dir, 'worktrees'),
    gatewayRoot: path.join(dir, 'gateway'),
  });
  return { dir, engine: o.engine, store, rt };
}
