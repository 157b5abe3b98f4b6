/**
 * The CLI's paths (resolvePaths) are the workspace home the extension computes for the same
 * folder, so a container name and its state dir stay together whichever face claims it.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolvePaths } from '../../src/cli/common';
import { borgHomeOf, workspaceHome, workspaceId, workspaceKeyOf } from '../../src/core/workspace';

let dir: string;
let saved: string | undefined;
beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'borg-paths-')));
  saved = process.env.BORG_HOME;
  process.env.BORG_HOME = path.join(dir, 'home');
});
afterEach(() => {
  if (saved === undefined) delete process.env.BORG_HOME;
  else process.env.BORG_HOME = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('resolvePaths', () => {
  it('defaults to the home the extension uses for the same folder (its URI form)', () => {
    const folder = path.join(dir, 'proj');
    fs.mkdirSync(folder);
    const extensionSide = workspaceHome(borgHomeOf(''), workspaceId(workspaceKeyOf(`file://${folder}`)));
    const p = resolvePaths({ workspace: folder });
    assert.deepEqual([p.db, p.stateDir, p.worktrees], [extensionSide.db, extensionSide.stateDir, extensionSide.worktrees]);
    assert.equal(p.workspaceId, workspaceId(workspaceKeyOf(folder)));
    assert.ok(p.db.startsWith(path.join(dir, 'home', 'workspaces') + path.sep));
  });

  it('--db, --state-dir and --worktrees still win', () => {
    const p = resolvePaths({ workspace: dir, db: 'x.sqlite', 'state-dir': 's', worktrees: 'w' });
    assert.deepEqual([p.db, p.stateDir, p.worktrees], [path.resolve('x.sqlite'), path.resolve('s'), path.resolve('w')]);
  });
});
