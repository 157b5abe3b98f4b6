/**
 * gitRemote.ts: the settings' rules (which URLs are accepted), Borg's side of the exchange with
 * real git on a local bare repository (push, fetch into the quarantine ref, the descent rule, no
 * tags or other refs), the path remote's check, and the pinned remote-side commands: a hostile
 * remote's hooks and config run nothing on this machine even when the check is bypassed.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { readAgentInput, taskInput } from '../../src/core/agentInput';
import { Git } from '../../src/core/git';
import {
  checkPathRemote,
  CLIENT_CONFIG,
  GitRemote,
  GitRemoteRefusedError,
  incomingRef,
  isBorgBranch,
  parseGitRemote,
  readGitTransport,
  REMOTE_RECEIVE_PACK,
  REMOTE_UPLOAD_PACK,
} from '../../src/core/gitRemote';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@localhost', ...args], { cwd, encoding: 'utf8', stdio: 'pipe' }).trim();
}

/** A repository with main and borg/task-1, an empty bare remote beside it, and a marker path no one should create. */
function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-gitremote-'));
  dirs.push(dir);
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  sh(repo, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'a.txt'), 'a\n');
  sh(repo, 'add', '-A');
  sh(repo, 'commit', '-q', '-m', 'initial');
  sh(repo, 'branch', 'borg/task-1');
  const remote = path.join(dir, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', remote]);
  const commit = sh(repo, 'rev-parse', 'borg/task-1');
  return { dir, repo, remote, commit, marker: path.join(dir, 'marker'), r: new GitRemote(new Git(), parseGitRemote(remote)) };
}

/** A clone of the remote's borg/task-1, as an agent makes it. */
function agentClone(s: ReturnType<typeof setup>): string {
  const c = path.join(s.dir, `clone-${Math.random().toString(36).slice(2)}`);
  execFileSync('git', ['clone', '-q', '--branch', 'borg/task-1', `file://${s.remote}`, c]);
  return c;
}

/** Plants every command hook and config a hostile agent could write into a bare repository, each touching `marker`. */
function plantHostile(remote: string, marker: string): void {
  const touch = `echo ran >> '${marker}'`;
  for (const h of ['pre-receive', 'update', 'post-receive', 'post-update', 'reference-transaction', 'push-to-checkout', 'proc-receive', 'pre-upload-pack']) {
    fs.writeFileSync(path.join(remote, 'hooks', h), `#!/bin/sh\n${touch}\n`, { mode: 0o755 });
  }
  const set = (k: string, v: string) => execFileSync('git', ['config', '--file', path.join(remote, 'config'), k, v]);
  set('core.fsmonitor', touch);
  set('core.alternateRefsCommand', `${touch}; true`);
  set('receive.autogc', 'true');
  set('gc.auto', '1');
  set('receive.denyCurrentBranch', 'updateInstead');
  const other = path.join(path.dirname(remote), 'other.git');
  execFileSync('git', ['init', '-q', '--bare', other]);
  fs.writeFileSync(path.join(remote, 'objects', 'info', 'alternates'), `${other}/objects\n`);
}

describe('borg.docker.gitRemote: which URLs are accepted', () => {
  it('ssh, scp-like, https, file and absolute paths are accepted; a path becomes a file:// URL', () => {
    assert.deepEqual(parseGitRemote('ssh://git@host:2222/r.git'), { url: 'ssh://git@host:2222/r.git', kind: 'ssh' });
    assert.deepEqual(parseGitRemote('git@host:team/r.git'), { url: 'git@host:team/r.git', kind: 'ssh' });
    assert.deepEqual(parseGitRemote('https://host/r.git'), { url: 'https://host/r.git', kind: 'https' });
    assert.deepEqual(parseGitRemote('/srv/borg/r.git/'), { url: 'file:///srv/borg/r.git', kind: 'path', path: '/srv/borg/r.git' });
    assert.deepEqual(parseGitRemote('file:///srv/a%20b.git'), { url: 'file:///srv/a b.git', kind: 'path', path: '/srv/a b.git' });
  });

  for (const bad of [
    'ext::sh -c touch% /tmp/x',
    'fd::3',
    'transport::x',
    '-uhelp',
    'http://host/r.git',
    'git://host/r.git',
    'relative/r.git',
    'file://relative',
    'file:///',
    '/',
    'a b',
    'ssh://h/r\n.git',
    'ftp://h/r.git',
    '',
  ]) {
    it(`refuses ${JSON.stringify(bad)} with the setting's name`, () => {
      assert.throws(() => parseGitRemote(bad), /borg\.docker\.gitRemote/);
    });
  }

  it('readGitTransport: defaults mount and no remote; a bad value is its default with a warning', () => {
    assert.deepEqual(readGitTransport({}), { worktrees: 'mount', gitRemote: '', warnings: [] });
    assert.deepEqual(readGitTransport({ worktrees: 'git', gitRemote: '/srv/r.git' }), { worktrees: 'git', gitRemote: 'file:///srv/r.git', warnings: [] });
    const bad = readGitTransport({ worktrees: 'nfs', gitRemote: 'ext::sh' });
    assert.equal(bad.worktrees, 'mount');
    assert.equal(bad.gitRemote, '');
    assert.equal(bad.warnings.length, 2);
    assert.match(bad.warnings[0], /borg\.docker\.worktrees is "nfs"/);
    assert.match(bad.warnings[1], /transport::|command/);
  });

  it("Borg's own branches are the only ones it force-pushes; the quarantine ref is per task", () => {
    assert.ok(isBorgBranch('borg/task-7'));
    assert.ok(isBorgBranch('borg/task-7-2'));
    for (const b of ['main', 'borg/task-0', 'borg/task-7/x', 'borg/task-7-', 'refs/heads/borg/task-1', 'borg/task-1..x']) assert.ok(!isBorgBranch(b), b);
    assert.equal(incomingRef(7), 'refs/borg/incoming/task-7');
  });

  it('the client config allows only ssh, https and file and checks every object', () => {
    const text = CLIENT_CONFIG.join(' ');
    assert.match(text, /protocol\.allow=never/);
    assert.match(text, /transfer\.fsckObjects=true/);
    assert.doesNotMatch(text, /protocol\.ext/);
  });
});

describe('AgentInput: the git field', () => {
  it('taskInput carries git; readAgentInput keeps a well-formed one and drops a damaged one', () => {
    const git = { url: 'file:///r.git', branch: 'borg/task-1', commit: 'a'.repeat(40) };
    const input = taskInput({ taskId: 1, phase: 'spec', persona: 'manager', prompt: 'p', systemPrompt: 's', model: '', allowedTools: [], workdir: '/workspace/repo', git });
    assert.deepEqual(input.git, git);
    assert.deepEqual(readAgentInput(JSON.stringify(input))?.git, git);
    assert.equal(readAgentInput(JSON.stringify({ ...input, git: { ...git, commit: 'HEAD' } }))?.git, undefined);
    assert.equal(readAgentInput(JSON.stringify({ ...input, git: 'file:///x' }))?.git, undefined);
    assert.equal('git' in taskInput({ taskId: 1, phase: 'spec', persona: 'manager', prompt: 'p', systemPrompt: 's', model: '', allowedTools: [], workdir: '/w' }), false);
  });
});

describe('GitRemote with real git: push, fetch, the descent rule', () => {
  it("push sends borg/task-1; fetch takes the agent's descendant into the quarantine ref only", async () => {
    const s = setup();
    await s.r.push(s.repo, 'borg/task-1', s.commit);
    assert.equal(sh(s.remote, 'rev-parse', 'refs/heads/borg/task-1'), s.commit);
    assert.equal(sh(s.remote, 'for-each-ref', '--format=%(refname)'), 'refs/heads/borg/task-1', 'only the task branch: not main, no tags');
    const c = agentClone(s);
    fs.writeFileSync(path.join(c, 'b.txt'), 'b\n');
    sh(c, 'add', '-A');
    sh(c, 'commit', '-q', '-m', 'agent');
    sh(c, 'tag', 'evil');
    sh(c, 'push', '-q', 'origin', 'HEAD:refs/heads/borg/task-1', 'HEAD:refs/heads/other', 'refs/tags/evil', 'HEAD:refs/borg/incoming/task-2');
    const got = await s.r.fetch(s.repo, 1, 'borg/task-1', s.commit);
    assert.equal(got, sh(c, 'rev-parse', 'HEAD'));
    assert.equal(sh(s.repo, 'rev-parse', 'refs/borg/incoming/task-1'), got);
    assert.equal(sh(s.repo, 'rev-parse', 'borg/task-1'), s.commit, 'the branch itself does not move on fetch');
    const refs = sh(s.repo, 'for-each-ref', '--format=%(refname)').split('\n').sort();
    assert.deepEqual(refs, ['refs/borg/incoming/task-1', 'refs/heads/borg/task-1', 'refs/heads/main'], 'no tag, no other branch, no other task ref fetched');
  });

  it('a branch that does not descend from the pushed commit is refused and the quarantine ref removed', async () => {
    const s = setup();
    await s.r.push(s.repo, 'borg/task-1', s.commit);
    const c = agentClone(s);
    sh(c, 'checkout', '-q', '--orphan', 'x');
    sh(c, 'commit', '-q', '-m', 'rewritten');
    sh(c, 'push', '-q', '-f', 'origin', 'HEAD:refs/heads/borg/task-1');
    await assert.rejects(s.r.fetch(s.repo, 1, 'borg/task-1', s.commit), (e: Error) => e instanceof GitRemoteRefusedError && /does not descend/.test(e.message));
    assert.equal(sh(s.repo, 'for-each-ref', '--format=%(refname)', 'refs/borg'), '');
  });

  it('a deleted branch is refused with what happened', async () => {
    const s = setup();
    await s.r.push(s.repo, 'borg/task-1', s.commit);
    sh(s.remote, 'update-ref', '-d', 'refs/heads/borg/task-1');
    await assert.rejects(s.r.fetch(s.repo, 1, 'borg/task-1', s.commit), /has no branch borg\/task-1/);
  });

  it('push refuses a branch that is not Borg’s; a forced push resets a branch an agent moved', async () => {
    const s = setup();
    await assert.rejects(s.r.push(s.repo, 'main', s.commit), /only its own task branches/);
    await s.r.push(s.repo, 'borg/task-1', s.commit);
    const c = agentClone(s);
    sh(c, 'commit', '-q', '--allow-empty', '-m', 'left behind');
    sh(c, 'push', '-q', 'origin', 'HEAD:refs/heads/borg/task-1');
    await s.r.push(s.repo, 'borg/task-1', s.commit);
    assert.equal(sh(s.remote, 'rev-parse', 'refs/heads/borg/task-1'), s.commit);
  });
});

describe('A hostile path remote runs nothing on this machine', () => {
  it('checkPathRemote refuses hooks, alternates, links, commondir, a .git entry and unknown config keys', async () => {
    const git = new Git();
    const cases: Array<[string, (remote: string) => void, RegExp]> = [
      ['a hook', (r) => fs.writeFileSync(path.join(r, 'hooks', 'post-update'), '#!/bin/sh\n', { mode: 0o755 }), /hooks\/post-update/],
      ['alternates', (r) => fs.writeFileSync(path.join(r, 'objects', 'info', 'alternates'), '/x\n'), /alternates/],
      ['a link', (r) => fs.symlinkSync('/etc', path.join(r, 'refs', 'etc')), /refs\/etc is a symbolic link/],
      ['commondir', (r) => fs.writeFileSync(path.join(r, 'commondir'), '/x\n'), /commondir/],
      ['a .git file (gitdir: elsewhere: git would enter that repository)', (r) => fs.writeFileSync(path.join(r, '.git'), 'gitdir: /tmp/other.git\n'), /it has \.git/],
      ['a .git folder', (r) => fs.mkdirSync(path.join(r, '.git')), /it has \.git/],
      ['core.hooksPath', (r) => execFileSync('git', ['config', '--file', path.join(r, 'config'), 'core.hooksPath', '/tmp']), /core\.hookspath/i],
      ['include.path', (r) => execFileSync('git', ['config', '--file', path.join(r, 'config'), 'include.path', '/etc/gitconfig']), /include\.path/],
      ['not bare', (r) => execFileSync('git', ['config', '--file', path.join(r, 'config'), 'core.bare', 'false']), /core\.bare = true/],
    ];
    for (const [what, plant, want] of cases) {
      const s = setup();
      await checkPathRemote(git, s.repo, s.remote); // a fresh `git init --bare` passes
      plant(s.remote);
      await assert.rejects(checkPathRemote(git, s.repo, s.remote), (e: Error) => e instanceof GitRemoteRefusedError && want.test(e.message), what);
    }
  });

  it('push and fetch refuse a remote with planted hooks and config, and nothing ran', async () => {
    const s = setup();
    await s.r.push(s.repo, 'borg/task-1', s.commit);
    plantHostile(s.remote, s.marker);
    await assert.rejects(s.r.fetch(s.repo, 1, 'borg/task-1', s.commit), GitRemoteRefusedError);
    await assert.rejects(s.r.push(s.repo, 'borg/task-1', s.commit), GitRemoteRefusedError);
    assert.equal(fs.existsSync(s.marker), false);
  });

  it('the pinned remote-side commands run no hook, alternate-refs command, fsmonitor, gc or checkout even past the check', () => {
    const s = setup();
    plantHostile(s.remote, s.marker);
    const worktree = path.join(s.dir, 'victim');
    fs.mkdirSync(worktree);
    execFileSync('git', ['config', '--file', path.join(s.remote, 'config'), 'core.worktree', worktree]);
    execFileSync('git', ['--git-dir', s.remote, 'symbolic-ref', 'HEAD', 'refs/heads/borg/task-1']);
    // The control: git's own remote side obeys the planted config (so this test can fail).
    sh(s.repo, 'push', '-q', `file://${s.remote}`, `${s.commit}:refs/heads/control`);
    assert.equal(fs.existsSync(s.marker), true, 'the planted hooks do run without the pinned command');
    fs.rmSync(s.marker);
    sh(s.repo, ...CLIENT_CONFIG, 'push', '-q', `--receive-pack=${REMOTE_RECEIVE_PACK}`, '--', `file://${s.remote}`, `+${s.commit}:refs/heads/borg/task-1`);
    sh(s.repo, ...CLIENT_CONFIG, 'fetch', '-q', '--no-tags', `--upload-pack=${REMOTE_UPLOAD_PACK}`, '--', `file://${s.remote}`, '+refs/heads/borg/task-1:refs/borg/incoming/task-1');
    assert.equal(sh(s.remote, 'rev-parse', 'refs/heads/borg/task-1'), s.commit, 'the push itself went through');
    assert.equal(fs.existsSync(s.marker), false, 'nothing planted ran');
    assert.deepEqual(fs.readdirSync(worktree), [], 'nothing was checked out into the configured worktree');
  });
});
