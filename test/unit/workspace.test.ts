/**
 * One workspace key for both faces (the CLI's --workspace PATH or cwd, the extension's folder
 * URI), its id (the same scheme as before, so existing containers stay recognised) and its one
 * home holding the database, the state dirs and the worktrees.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidInputError } from '../../src/core/errors';
import { borgHomeOf, NO_FOLDER_KEY, workspaceHome, workspaceId, workspaceKeyOf } from '../../src/core/workspace';

let dir: string;
beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'borg-ws-')));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('workspaceKeyOf', () => {
  it('a path (CLI) and the folder URI VS Code gives (extension) make one key', () => {
    const folder = path.join(dir, 'my proj');
    fs.mkdirSync(folder);
    const vscodeUri = `file://${folder.split(path.sep).map(encodeURIComponent).join('/')}`; // Uri.toString() form
    const key = workspaceKeyOf(folder);
    assert.equal(key, pathToFileURL(folder).href);
    assert.equal(workspaceKeyOf(vscodeUri), key);
    assert.equal(workspaceKeyOf(`${folder}/`), key, 'no trailing slash');
    assert.equal(workspaceKeyOf(`${vscodeUri}/`), key);
  });

  it('a relative path and a link to the folder give the key of the real folder', () => {
    const folder = path.join(dir, 'real');
    fs.mkdirSync(folder);
    fs.symlinkSync(folder, path.join(dir, 'link'));
    assert.equal(workspaceKeyOf(path.join(dir, 'link')), workspaceKeyOf(folder));
    assert.equal(workspaceKeyOf(path.relative(process.cwd(), folder)), workspaceKeyOf(folder));
  });

  it('a multi-root workspace is named by its .code-workspace file, whatever its first folder', () => {
    const file = path.join(dir, 'team.code-workspace');
    fs.writeFileSync(file, '{"folders":[]}');
    assert.equal(workspaceKeyOf(path.join(dir, 'a'), pathToFileURL(file).href), pathToFileURL(file).href);
    assert.equal(workspaceKeyOf(path.join(dir, 'b'), file), pathToFileURL(file).href);
  });

  it('no folder open has its own key; a remote folder keeps its URI', () => {
    assert.equal(workspaceKeyOf(undefined), NO_FOLDER_KEY);
    assert.equal(workspaceKeyOf(''), NO_FOLDER_KEY);
    const remote = 'vscode-remote://ssh-remote%2Bbox/home/me/proj';
    assert.equal(workspaceKeyOf(remote), remote);
    assert.notEqual(workspaceId(workspaceKeyOf(remote)), workspaceId(workspaceKeyOf('/home/me/proj')));
  });

  it('keeps the id scheme of before (16 hex of SHA-256 over the key), so existing containers stay recognised', () => {
    const folder = path.join(dir, 'p');
    fs.mkdirSync(folder);
    const before = createHash('sha256').update(pathToFileURL(folder).href).digest('hex').slice(0, 16); // what the CLI labelled
    assert.equal(workspaceId(workspaceKeyOf(folder)), before);
    assert.equal(workspaceId(workspaceKeyOf(undefined)), createHash('sha256').update('global').digest('hex').slice(0, 16));
  });
});

describe('workspaceHome', () => {
  it('holds the database, the state dirs and the worktrees under <home>/workspaces/<id>', () => {
    const id = workspaceId(workspaceKeyOf(dir));
    const h = workspaceHome(dir, id);
    const root = path.join(dir, 'workspaces', id);
    assert.deepEqual(h, { root, db: path.join(root, 'borg.sqlite'), stateDir: path.join(root, 'agents'), worktrees: path.join(root, 'worktrees'), gateway: path.join(root, 'gateway') });
    assert.equal(fs.existsSync(root), false, 'nothing is created');
  });

  it('refuses what is no workspace id (no path tricks)', () => {
    assert.throws(() => workspaceHome(dir, '../../etc'), InvalidInputError);
  });

  it('the home is the override, else $BORG_HOME, else ~/.borg', () => {
    assert.equal(borgHomeOf('/x/y', { BORG_HOME: '/z' }), '/x/y');
    assert.equal(borgHomeOf('', { BORG_HOME: '/z' }), '/z');
    assert.equal(borgHomeOf(undefined, {}), path.join(os.homedir(), '.borg'));
    assert.equal(borgHomeOf('~/b', {}), path.join(os.homedir(), 'b'));
  });
});
