/**
 * chooseCheckout against real git in temp folders: a task's branch and worktree folder never
 * collide with what the repository or another database already has (task ids restart at 1 in
 * every database), and two repositories never share a worktree folder.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Git } from '../../src/core/git';
import { chooseCheckout, repoFolderName } from '../../src/core/taskCheckout';

const git = new Git();
let dir: string;
let root: string;

/** A repository with one commit on main. */
function makeRepo(at: string): string {
  fs.mkdirSync(at, { recursive: true });
  const g = (...args: string[]) => execFileSync('git', args, { cwd: at, stdio: 'pipe' });
  g('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(at, 'README.md'), '# test repo\n');
  g('add', '-A');
  g('-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'initial');
  return at;
}

function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: 'pipe' });
}

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'borg-checkout-')));
  root = path.join(dir, 'worktrees');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('chooseCheckout', () => {
  it('a fresh repository: borg/task-<id> in <root>/<repo folder>/task-<id>, which git accepts', async () => {
    const repo = makeRepo(path.join(dir, 'app'));
    const c = await chooseCheckout(git, repo, root, 1);
    assert.equal(c.branch, 'borg/task-1');
    assert.equal(c.worktree, path.join(root, repoFolderName(repo), 'task-1'));
    assert.match(path.basename(path.dirname(c.worktree)), /^app-[0-9a-f]{8}$/);
    await git.addWorktree(repo, c.worktree, c.branch, 'main');
    assert.equal(gitIn(c.worktree, 'rev-parse', '--abbrev-ref', 'HEAD').trim(), 'borg/task-1');
  });

  it('two repositories with the same folder name never share a worktree folder', async () => {
    const a = makeRepo(path.join(dir, 'one', 'app'));
    const b = makeRepo(path.join(dir, 'two', 'app'));
    const ca = await chooseCheckout(git, a, root, 1);
    await git.addWorktree(a, ca.worktree, ca.branch, 'main');
    const cb = await chooseCheckout(git, b, root, 1);
    assert.equal(cb.branch, 'borg/task-1', 'the other repository has no such branch');
    assert.notEqual(path.dirname(cb.worktree), path.dirname(ca.worktree));
    await git.addWorktree(b, cb.worktree, cb.branch, 'main'); // used to fail: "Preparing worktree (checking out 'borg/task-1')"
  });

  it('after a database reset, task 1 does not take the branch still checked out for the old task 1', async () => {
    const repo = makeRepo(path.join(dir, 'app'));
    const old = await chooseCheckout(git, repo, root, 1);
    await git.addWorktree(repo, old.worktree, old.branch, 'main');
    const c = await chooseCheckout(git, repo, path.join(dir, 'other-db-worktrees'), 1);
    assert.equal(c.branch, 'borg/task-1-2');
    assert.equal(path.basename(c.worktree), 'task-1-2');
    await git.addWorktree(repo, c.worktree, c.branch, 'main'); // used to fail: "'borg/task-1' is already checked out"
  });

  it('a branch left without a worktree is taken, and so is a branch below the name (borg/task-1/x)', async () => {
    const repo = makeRepo(path.join(dir, 'app'));
    gitIn(repo, 'branch', 'borg/task-1');
    gitIn(repo, 'branch', 'borg/task-2/x');
    assert.equal((await chooseCheckout(git, repo, root, 1)).branch, 'borg/task-1-2');
    assert.equal((await chooseCheckout(git, repo, root, 2)).branch, 'borg/task-2-2');
    assert.equal((await chooseCheckout(git, repo, root, 3)).branch, 'borg/task-3');
  });

  it('a folder left at the path (by another database) is taken, even a dangling link', async () => {
    const repo = makeRepo(path.join(dir, 'app'));
    const first = await chooseCheckout(git, repo, root, 1);
    fs.mkdirSync(first.worktree, { recursive: true });
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(path.dirname(first.worktree), 'task-2'));
    assert.equal((await chooseCheckout(git, repo, root, 1)).worktree, `${first.worktree}-2`);
    assert.equal((await chooseCheckout(git, repo, root, 1)).branch, 'borg/task-1-2', 'branch and folder share the suffix');
    assert.equal(path.basename((await chooseCheckout(git, repo, root, 2)).worktree), 'task-2-2');
  });

  it('a registered worktree whose folder was deleted is taken (git would refuse it until pruned)', async () => {
    const repo = makeRepo(path.join(dir, 'app'));
    const first = await chooseCheckout(git, repo, root, 1);
    await git.addWorktree(repo, first.worktree, 'other-branch', 'main');
    fs.rmSync(first.worktree, { recursive: true, force: true });
    assert.ok(
      (await git.listWorktrees(repo)).some((w) => w.path === first.worktree),
      'git still lists it',
    );
    const c = await chooseCheckout(git, repo, root, 1);
    assert.equal(c.worktree, `${first.worktree}-2`);
  });

  it('the first suffix free for both: branch -2 taken and folder -3 taken → -4', async () => {
    const repo = makeRepo(path.join(dir, 'app'));
    const base = (await chooseCheckout(git, repo, root, 5)).worktree;
    gitIn(repo, 'branch', 'borg/task-5');
    gitIn(repo, 'branch', 'borg/task-5-2');
    fs.mkdirSync(`${base}-3`, { recursive: true });
    const c = await chooseCheckout(git, repo, root, 5);
    assert.deepEqual(c, { branch: 'borg/task-5-4', worktree: `${base}-4` });
  });
});

describe('Git.listWorktrees and branchExists', () => {
  it('list the main worktree first with its branch; branchExists sees refs/heads only', async () => {
    const repo = makeRepo(path.join(dir, 'app'));
    gitIn(repo, 'tag', 'borg/task-9');
    const list = await git.listWorktrees(repo);
    assert.deepEqual(list[0], { path: repo, branch: 'main' });
    assert.equal(await git.branchExists(repo, 'main'), true);
    assert.equal(await git.branchExists(repo, 'borg/task-9'), false, 'a tag is no branch');
    await assert.rejects(git.branchExists(dir, 'main'), /failed/, 'not a repository');
  });
});
