/**
 * AgentGit.prepare with what an earlier phase trusted (P4: fewer git processes between phases):
 * the host side is checked again on disk — a repointed `.git` file still fails — and git is not
 * asked for the common dir or object format again; the sandbox gets the same refs.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { AgentGit, GitMetadataAlteredError } from '../../src/core/agentGit';
import { Git } from '../../src/core/git';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A repository with one commit on main and a worktree on borg/task-1. */
async function checkout() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-agentgit-'));
  dirs.push(dir);
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'README.md'), '# r\n');
  git('add', '-A');
  git('-c', 'user.name=T', '-c', 'user.email=t@localhost', 'commit', '-q', '-m', 'initial');
  const worktree = path.join(dir, 'task-1');
  await new Git().addWorktree(repo, worktree, 'borg/task-1', 'main');
  return { repo, worktree, branch: 'borg/task-1', baseBranch: 'main' };
}

/** A Git that records the first word of every command it runs. */
function countingGit(): { git: Git; verbs: string[] } {
  const git = new Git();
  const verbs: string[] = [];
  const run = git.run.bind(git);
  git.run = (cwd, args, o) => {
    verbs.push(args.filter((a) => !a.startsWith('-')).join(' '));
    return run(cwd, args, o);
  };
  return { git, verbs };
}

describe('AgentGit.prepare with what the previous phase trusted', () => {
  it('asks git only for the refs, and builds the same sandbox', async () => {
    const t = await checkout();
    const { git, verbs } = countingGit();
    const agentGit = new AgentGit(git);
    const first = await agentGit.prepare(t);
    const packed = fs.readFileSync(path.join(AgentGit.sandboxDir(t.worktree), 'git', 'packed-refs'), 'utf8');
    assert.ok(
      verbs.some((v) => v.startsWith('rev-parse') && !v.includes('refs/heads')),
      `the first prepare asks git what to trust (${verbs.join('; ')})`,
    );
    verbs.length = 0;
    const again = await agentGit.prepare(t, first.trusted);
    assert.deepEqual(verbs.sort(), ['rev-parse refs/heads/borg/task-1^{commit}', 'rev-parse refs/heads/main^{commit}'].sort());
    assert.deepEqual(again.binds, first.binds);
    assert.equal(fs.readFileSync(path.join(AgentGit.sandboxDir(t.worktree), 'git', 'packed-refs'), 'utf8'), packed);
  });

  it('still refuses a worktree whose .git file an agent repointed', async () => {
    const t = await checkout();
    const agentGit = new AgentGit(new Git());
    const { trusted } = await agentGit.prepare(t);
    fs.writeFileSync(path.join(t.worktree, '.git'), 'gitdir: /tmp/elsewhere\n');
    await assert.rejects(agentGit.prepare(t, trusted), GitMetadataAlteredError);
  });

  it('asks git anew when the worktree was made again (a new admin dir is not tampering)', async () => {
    const t = await checkout();
    const agentGit = new AgentGit(new Git());
    const { trusted } = await agentGit.prepare(t);
    const stale = { ...trusted, target: { ...trusted.target, gitDir: `${trusted.target.gitDir}-gone` } }; // what a removed and re-added worktree leaves behind
    const again = await agentGit.prepare(t, stale);
    assert.equal(again.trusted.target.gitDir, trusted.target.gitDir);
  });
});
