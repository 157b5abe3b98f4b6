import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspectWorktreePath, readWorktreeText } from '../../src/core/worktreeFiles';

const SECRET = '-----BEGIN OPENSSH PRIVATE KEY----- not-for-the-agent';

let base: string;
/** The task's worktree: what the agent writes. */
let worktree: string;
/** A folder outside it standing for the user's home, with a private key in it. */
let home: string;
let secretFile: string;

beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-worktree-files-'));
  worktree = path.join(base, 'worktree');
  home = path.join(base, 'home');
  fs.mkdirSync(path.join(worktree, 'src'), { recursive: true });
  fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
  secretFile = path.join(home, '.ssh', 'id_ed25519');
  fs.writeFileSync(secretFile, SECRET);
  fs.writeFileSync(path.join(worktree, 'README.md'), '# Sample\n');
  fs.writeFileSync(path.join(worktree, 'src', 'main.ts'), 'export const x = 1;\n');
  fs.writeFileSync(path.join(base, 'beside.txt'), SECRET); // next to the worktree, reachable by ../
});

afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

describe('inspectWorktreePath / readWorktreeText', () => {
  it('a regular file, also in a real subfolder, is a file and is read', () => {
    assert.deepEqual(inspectWorktreePath(worktree, 'README.md'), { kind: 'file', path: path.join(worktree, 'README.md') });
    assert.deepEqual(inspectWorktreePath(worktree, 'src/main.ts'), { kind: 'file', path: path.join(worktree, 'src', 'main.ts') });
    assert.equal(readWorktreeText(worktree, 'README.md'), '# Sample\n');
    assert.equal(readWorktreeText(worktree, 'src/main.ts'), 'export const x = 1;\n');
  });

  it('a link the agent wrote to a file outside the worktree is a symlink with its target, and is not read', () => {
    fs.symlinkSync(secretFile, path.join(worktree, 'notes.md'));
    assert.deepEqual(inspectWorktreePath(worktree, 'notes.md'), { kind: 'symlink', path: path.join(worktree, 'notes.md'), link: 'notes.md', target: secretFile });
    const text = readWorktreeText(worktree, 'notes.md');
    assert.equal(text, undefined);
    assert.ok(!String(text).includes(SECRET), 'the secret is not returned');
  });

  it('a link is a symlink even when it points inside the worktree, or nowhere', () => {
    fs.symlinkSync('README.md', path.join(worktree, 'inside.md'));
    fs.symlinkSync(path.join(home, 'no-such-file'), path.join(worktree, 'dangling.md'));
    assert.deepEqual(inspectWorktreePath(worktree, 'inside.md'), { kind: 'symlink', path: path.join(worktree, 'inside.md'), link: 'inside.md', target: 'README.md' });
    assert.deepEqual(inspectWorktreePath(worktree, 'dangling.md'), { kind: 'symlink', path: path.join(worktree, 'dangling.md'), link: 'dangling.md', target: path.join(home, 'no-such-file') });
    assert.equal(readWorktreeText(worktree, 'inside.md'), undefined);
  });

  it('a file under a linked parent folder pointing outside is a symlink naming that folder, and is not read', () => {
    fs.symlinkSync(path.join(home, '.ssh'), path.join(worktree, 'keys'));
    fs.mkdirSync(path.join(worktree, 'docs'));
    fs.symlinkSync(home, path.join(worktree, 'docs', 'home'));
    assert.deepEqual(inspectWorktreePath(worktree, 'keys/id_ed25519'), { kind: 'symlink', path: path.join(worktree, 'keys', 'id_ed25519'), link: 'keys', target: path.join(home, '.ssh') });
    assert.deepEqual(inspectWorktreePath(worktree, 'docs/home/.ssh/id_ed25519'), {
      kind: 'symlink',
      path: path.join(worktree, 'docs', 'home', '.ssh', 'id_ed25519'),
      link: 'docs/home',
      target: home,
    });
    assert.equal(readWorktreeText(worktree, 'keys/id_ed25519'), undefined);
    assert.equal(readWorktreeText(worktree, 'docs/home/.ssh/id_ed25519'), undefined);
  });

  it('a name that escapes the worktree by .. or is absolute is outside, and is not read', () => {
    assert.ok(fs.existsSync(path.join(worktree, '..', 'beside.txt')), 'the file the escape aims at exists');
    assert.deepEqual(inspectWorktreePath(worktree, '../beside.txt'), { kind: 'outside' });
    assert.deepEqual(inspectWorktreePath(worktree, 'src/../../beside.txt'), { kind: 'outside' });
    assert.deepEqual(inspectWorktreePath(worktree, 'src/../README.md'), { kind: 'outside' }, 'no .. at all, even one that comes back in');
    assert.deepEqual(inspectWorktreePath(worktree, secretFile), { kind: 'outside' });
    assert.equal(readWorktreeText(worktree, '../beside.txt'), undefined);
    assert.equal(readWorktreeText(worktree, secretFile), undefined);
  });

  it('a missing file, or one under a regular file, is missing', () => {
    assert.deepEqual(inspectWorktreePath(worktree, 'gone.md'), { kind: 'missing' });
    assert.deepEqual(inspectWorktreePath(worktree, 'nodir/gone.md'), { kind: 'missing' });
    assert.deepEqual(inspectWorktreePath(worktree, 'README.md/x'), { kind: 'missing' });
    assert.equal(readWorktreeText(worktree, 'gone.md'), undefined);
  });

  it('a directory (or the worktree itself) is other, and is not read', () => {
    assert.deepEqual(inspectWorktreePath(worktree, 'src'), { kind: 'other' });
    assert.deepEqual(inspectWorktreePath(worktree, '.'), { kind: 'other' });
    assert.equal(readWorktreeText(worktree, 'src'), undefined);
  });

  it('cuts off a file past maxBytes and says so', () => {
    fs.writeFileSync(path.join(worktree, 'big.txt'), 'abcdefghij');
    const text = readWorktreeText(worktree, 'big.txt', 4);
    assert.equal(text?.split('\n')[0], 'abcd', 'the first 4 bytes, nothing past them');
    assert.ok(!text.includes('efghij'));
    assert.match(text, /cut off — the file is 10 bytes; the first 4 are shown/);
    assert.equal(readWorktreeText(worktree, 'big.txt', 10), 'abcdefghij', 'exactly maxBytes is whole');
  });
});
