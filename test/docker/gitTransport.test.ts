/**
 * `borg.docker.worktrees: git` on the real daemon with real git: no worktree is mounted; each
 * phase Borg pushes the task branch to a bare repository (a path remote, bound at its own path:
 * the "shared folder the Docker hosts reach" case), the Claude image's entrypoint clones it,
 * commits and pushes back, and Borg takes the branch back only when it descends from what it
 * pushed. The agent is the Claude image with this worktree's entrypoint and a stand-in `claude`
 * (BORG_CLAUDE_BIN) that plays an honest or a hostile agent, chosen by a word in the task title.
 */
import { describe, it, after, afterEach, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { buildDemoImage } from '../../src/core/demoImage';
import { chownTree, containerOwner } from '../../src/core/ownership';
import { Git } from '../../src/core/git';
import { Prompts } from '../../src/core/prompts';
import { DEFAULT_TASK_SETTINGS, Scheduler, TaskSettings } from '../../src/core/scheduler';
import { Task, TaskStatus, TaskStore } from '../../src/core/taskStore';
import { cleanupAll, docker, Harness, harness, makeRepo, waitFor, withTimeout } from './helpers';
import { CLAUDE_IMAGE, ensureClaudeImage } from './claudeImageHelpers';

afterEach(cleanupAll);
after(cleanupAll);

const ROOT = path.join(__dirname, '..', '..', '..');
const PROMPTS = path.join(ROOT, 'media', 'prompts');
const TAG = `borg-test-gitagent:${process.pid}`;

/**
 * The stand-in `claude`: reads the prompt, acts by the word in it, prints a success result line.
 * `[git:rewrite]` force-pushes an unrelated history; `[git:extras]` (spec phase) also pushes a
 * tag, another branch and another task's quarantine ref name; `[git:hooks=<file>]` plants hooks and config in
 * the remote that would append to <file> (a host path the container cannot see) if they ran.
 */
const FAKE_CLAUDE = `#!/usr/bin/env node
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
let prompt = '';
process.stdin.on('data', (d) => (prompt += d));
process.stdin.on('end', () => {
  const git = (...a) => execFileSync('git', ['-c', 'user.name=Agent', '-c', 'user.email=a@x', ...a], { encoding: 'utf8' }).trim();
  const phase = process.env.BORG_PHASE || 'none';
  fs.writeFileSync(phase + '.txt', phase + ' by ' + process.getuid() + '\\n');
  if (phase === 'spec') fs.writeFileSync('spec.md', '# spec\\n');
  const url = git('remote', 'get-url', 'origin');
  const branch = git('rev-parse', '--abbrev-ref', 'HEAD');
  if (prompt.includes('[git:rewrite]')) {
    git('checkout', '-q', '--orphan', 'rewritten');
    git('add', '-A');
    git('commit', '-q', '-m', 'rewritten history');
    git('push', '-q', '-f', 'origin', 'HEAD:refs/heads/' + branch);
  }
  if (prompt.includes('[git:extras]') && phase === 'spec') {
    git('add', '-A');
    git('commit', '-q', '-m', 'extras');
    git('tag', 'evil');
    git('push', '-q', 'origin', 'refs/tags/evil', 'HEAD:refs/heads/other', 'HEAD:refs/borg/incoming/task-99');
  }
  const hooks = /\\[git:hooks=([^\\]]+)\\]/.exec(prompt);
  if (hooks) {
    const remote = url.replace(/^file:\\/\\//, '');
    const touch = "echo ran >> '" + hooks[1] + "'";
    for (const h of ['pre-receive', 'update', 'post-receive', 'post-update', 'reference-transaction']) {
      fs.writeFileSync(path.join(remote, 'hooks', h), '#!/bin/sh\\n' + touch + '\\n', { mode: 0o755 });
    }
    git('config', '--file', path.join(remote, 'config'), 'core.hooksPath', path.join(remote, 'hooks'));
    git('config', '--file', path.join(remote, 'config'), 'core.fsmonitor', touch);
    git('config', '--file', path.join(remote, 'config'), 'core.alternateRefsCommand', touch);
  }
  console.log(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'done ' + phase, session_id: 'fake' }));
});
`;

/** The Claude image with this worktree's entrypoint and the stand-in claude, committed as {@link TAG}. */
async function buildAgentImage(): Promise<void> {
  const c = await docker.createContainer({ Image: CLAUDE_IMAGE, Entrypoint: ['true'] });
  try {
    const pack = tar.pack();
    pack.entry({ name: 'usr/local/bin/borg-agent', mode: 0o755 }, fs.readFileSync(path.join(ROOT, 'agents', 'claude', 'entrypoint.js')));
    pack.entry({ name: 'opt/fake/claude', mode: 0o755 }, FAKE_CLAUDE);
    pack.finalize();
    await c.putArchive(pack as unknown as NodeJS.ReadableStream, { path: '/' });
    const [repo, tag] = TAG.split(':');
    await c.commit({ repo, tag, changes: ['ENV BORG_CLAUDE_BIN=/opt/fake/claude', 'ENTRYPOINT ["/usr/local/bin/borg-agent"]'] });
  } finally {
    await c.remove({ force: true });
  }
}

before(async () => {
  await ensureClaudeImage();
  await buildAgentImage();
});
after(async () => {
  await docker
    .getImage(TAG)
    .remove({ force: true })
    .catch(() => undefined);
});

interface Rig {
  h: Harness;
  repo: string;
  remote: string;
  scheduler: Scheduler;
  tasks: TaskStore;
  settings: TaskSettings;
}

async function rig(task: Partial<TaskSettings> = {}): Promise<Rig> {
  const h = await harness({ settings: { image: TAG } });
  const repo = makeRepo(path.join(h.dir, 'repo'));
  const remote = path.join(h.dir, 'remote.git');
  execFileSync('git', ['init', '-q', '--bare', remote]);
  chownTree(remote, containerOwner('')); // set up once for the agents' uid, as the README asks
  const settings: TaskSettings = { ...DEFAULT_TASK_SETTINGS, testCommand: '', maxAttempts: 1, worktrees: 'git', gitRemote: remote, ...task };
  const tasks = new TaskStore(h.store);
  const scheduler = new Scheduler({ pipeline: h.pipeline, tasks, git: new Git(), prompts: new Prompts(PROMPTS), worktreeRoot: path.join(h.dir, 'worktrees'), settings: () => settings });
  scheduler.start();
  h.defer(async () => {
    scheduler.stop();
    await withTimeout(scheduler.join(), 15_000, 'scheduler.join');
    scheduler.dispose();
  });
  return { h, repo, remote, scheduler, tasks, settings };
}

async function until(r: Rig, id: number, statuses: TaskStatus[], ms = 120_000): Promise<Task> {
  await waitFor(() => statuses.includes(r.tasks.get(id)!.status) && !r.scheduler.activeIds.includes(id), ms, `task ${id} to reach ${statuses.join('/')} (now ${r.tasks.get(id)?.status})`);
  return r.tasks.get(id)!;
}

/** git as the test reads it (the remote belongs to the agent's uid after a launch: named explicitly, so trusted). */
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd, encoding: 'utf8' }).trim();
}

/** Every bind source of every container of the harness. */
async function bindSources(h: Harness): Promise<string[]> {
  const rows = await docker.listContainers({ all: true, filters: { name: [`^/${h.prefix}-`] } });
  const sources: string[] = [];
  for (const r of rows) for (const m of (await docker.getContainer(r.Id).inspect()).Mounts ?? []) if (m.Type === 'bind') sources.push(m.Source);
  return sources;
}

describe('git transport: a task through the remote', () => {
  it("spec → qa → impl → test run with no worktree mounted; each phase's work ends in the task worktree", async () => {
    const r = await rig({ testCommand: 'test -f impl.txt && test -f spec.md && echo tests-ok' });
    const t0 = await r.scheduler.add({ title: 'Through git', description: 'd', repo: r.repo });
    const t = await until(r, t0.id, ['done', 'failed', 'blocked']);
    assert.equal(t.status, 'done', `lastError: ${t.lastError}`);
    for (const f of ['spec.txt', 'qa.txt', 'impl.txt', 'spec.md']) assert.ok(fs.existsSync(path.join(t.worktree!, f)), `${f} in the worktree`);
    const subjects = git(r.repo, 'log', '--reverse', '--format=%s', `main..${t.branch}`).split('\n');
    assert.deepEqual(subjects, [`borg-agent: task ${t.id} spec (manager)`, `borg-agent: task ${t.id} qa (qa)`, `borg-agent: task ${t.id} impl (worker)`]);
    assert.equal(git(t.worktree!, 'status', '--porcelain'), '', 'the worktree is at the branch tip');
    assert.equal(git(r.remote, 'rev-parse', `refs/heads/${t.branch}`), git(r.repo, 'rev-parse', t.branch!));
    const sources = await bindSources(r.h);
    assert.ok(sources.length > 0);
    for (const s of sources) {
      assert.ok(!s.startsWith(path.join(r.h.dir, 'worktrees')) && !s.startsWith(r.repo), `nothing of the worktree or repository is mounted (${s})`);
    }
    assert.ok(sources.includes(r.remote), 'the path remote is bound at its own path');
  });
});

describe('git transport: a hostile agent', () => {
  it('a rewritten branch is refused with a clear error and the worktree is untouched', async () => {
    const r = await rig();
    const t0 = await r.scheduler.add({ title: 'Rewrite [git:rewrite]', description: 'd', repo: r.repo });
    const before = git(r.repo, 'rev-parse', 'main');
    const t = await until(r, t0.id, ['failed', 'done', 'blocked']);
    assert.equal(t.status, 'failed');
    assert.match(t.lastError ?? '', /does not descend from .* the commit Borg pushed before the phase: its history was rewritten/);
    assert.equal(git(r.repo, 'rev-parse', t.branch!), before, 'the task branch did not move');
    assert.equal(git(t.worktree!, 'status', '--porcelain'), '', 'no file of the rewritten history in the worktree');
    assert.ok(!fs.existsSync(path.join(t.worktree!, 'spec.txt')));
    assert.equal(git(r.repo, 'for-each-ref', '--format=%(refname)', 'refs/borg'), '', 'the quarantine ref is gone');
  });

  it('tags, other branches and other refs the agent pushed are not fetched', async () => {
    const r = await rig();
    const t0 = await r.scheduler.add({ title: 'Extras [git:extras]', description: 'd', repo: r.repo });
    const t = await until(r, t0.id, ['failed', 'blocked', 'done']);
    assert.equal(t.status, 'done', `lastError: ${t.lastError}`);
    assert.ok(git(r.remote, 'tag', '--list').includes('evil'), 'the agent did push its tag to the remote');
    const refs = git(r.repo, 'for-each-ref', '--format=%(refname)').split('\n').sort();
    assert.deepEqual(refs, [`refs/borg/incoming/task-${t.id}`, `refs/heads/${t.branch}`, 'refs/heads/main']);
  });

  it('hooks and config the agent plants in the remote run nothing on the host; the remote is refused', async () => {
    const r = await rig();
    const marker = path.join(r.h.dir, 'host-marker');
    const t0 = await r.scheduler.add({ title: `Hooks [git:hooks=${marker}]`, description: 'd', repo: r.repo });
    const t = await until(r, t0.id, ['failed', 'done', 'blocked']);
    assert.equal(t.status, 'failed');
    assert.match(t.lastError ?? '', /not a plain bare repository/);
    assert.equal(fs.existsSync(marker), false, 'no hook or configured command ran on the host');
    assert.equal(git(t.worktree!, 'status', '--porcelain'), '');
  });
});

describe('git transport: the demo image', () => {
  it('says it cannot reach a git remote and the phase fails', async () => {
    const h = await harness();
    // This worktree's demo script, under a tag of its own (the shared demo image is setup's).
    const demo = `borg-test-demogit:${process.pid}`;
    await buildDemoImage(h.engine, { tag: demo, force: true });
    h.defer(() =>
      docker
        .getImage(demo)
        .remove({ force: true })
        .catch(() => undefined),
    );
    const launch = await h.pipeline.launch('manager', { image: demo, input: { prompt: 'p', phase: 'spec', taskId: 1, git: { url: 'file:///x.git', branch: 'borg/task-1', commit: 'a'.repeat(40) } } });
    await launch.agent.done;
    assert.equal(launch.agent.exitCode, 2);
    assert.match(launch.agent.stream.result?.text ?? '', /this image cannot reach a git remote/);
  });
});
