/**
 * The real Claude Code agent image (`borg-agent-claude:latest`, built offline by
 * scripts/build-claude-image.mjs) on the real daemon: through the Pipeline it runs as `agent`
 * (uid 1000) and gives the real CLI's answer without a key ("Not logged in", exit 1); its
 * entrypoint (agents/claude/entrypoint.js) refuses input that is not JSON, maps the input to the
 * CLI's flags (checked with a stand-in `claude`), keeps secrets out of the output and lets a
 * session be resumed from the state dir.
 *
 * The first run builds the image (a few minutes: mmdebstrap + npm pack, cached under
 * .scratch/claude-image/); later runs only check that it is current.
 */
import { AgentGit } from '../../src/core/agentGit';
import { Git } from '../../src/core/git';
import { containerOwner, ownerSpec } from '../../src/core/ownership';
import { describe, it, before, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STATE_MOUNT } from '../../src/core/stateDirs';
import { blockSignal, emptySummary, foldLine } from '../../src/core/streamJson';
import { scriptedUpstreamDir, UPSTREAM_BIN, UPSTREAM_MOUNT } from './scriptedUpstream';
import { cleanupAll, docker, fileLines, harness, Harness, waitFor, withTimeout } from './helpers';
import { createRaw, demux, ensureClaudeImage, jsonLines } from './claudeImageHelpers';

const IMAGE = 'borg-agent-claude:latest';
const AGENT_UID = 1000;

afterEach(cleanupAll);
after(cleanupAll);

let rawSeq = 0;

/**
 * Runs the image directly through dockerode (not the Pipeline): creates `<prefix>-raw-<n>` with
 * stdin open, attaches, starts, writes `stdin` and closes it, waits, and returns the exit code and
 * output. The harness prefix makes {@link cleanupAll} remove the container, also on failure.
 */
async function runRaw(
  h: Harness,
  opts: { stdin: string; binds?: string[]; env?: string[]; waitMs?: number },
): Promise<{ code: number; stdout: string; stderr: string; lines: Array<Record<string, unknown>> }> {
  const c = await createRaw(`${h.prefix}-raw-${rawSeq++}`, { env: opts.env, binds: opts.binds });
  const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as NodeJS.ReadWriteStream & { destroy(): void };
  stream.on('data', () => undefined); // output is read from the logs once it exited
  stream.on('error', () => undefined);
  try {
    await c.start();
    stream.end(opts.stdin);
    const { StatusCode } = (await withTimeout(c.wait(), opts.waitMs ?? 60_000, 'the container to exit')) as { StatusCode: number };
    const { stdout, stderr } = demux((await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
    return { code: StatusCode, stdout, stderr, lines: jsonLines(stdout.split('\n')) };
  } finally {
    stream.destroy();
  }
}

/** A host folder (0755, readable by uid 1000) holding a stand-in `claude` that reports what it was given as one JSON line. */
function fakeClaudeDir(h: Harness): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-fake-claude-'));
  h.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(
    path.join(dir, 'claude'),
    `#!/usr/bin/env node
const { spawnSync } = require('node:child_process');
const { createHash } = require('node:crypto');
let prompt = '';
process.stdin.on('data', (d) => (prompt += d));
process.stdin.on('end', () => {
  const git = spawnSync('git', ['status', '--porcelain'], { encoding: 'utf8' });
  console.log(JSON.stringify({
    type: 'fake', argv: process.argv.slice(2), cwd: process.cwd(), prompt, uid: process.getuid(),
    home: process.env.HOME, keySha: createHash('sha256').update(process.env.ANTHROPIC_API_KEY || '').digest('hex'),
    hasKey: 'ANTHROPIC_API_KEY' in process.env, other: process.env.OTHER_SECRET ?? null,
    task: process.env.BORG_TASK_ID ?? null, phase: process.env.BORG_PHASE ?? null,
    gitStatus: git.status, gitError: (git.stderr || '').trim(),
  }));
  if (process.env.FAKE_SLEEP) setTimeout(() => process.exit(0), Number(process.env.FAKE_SLEEP) * 1000);
  else process.exit(Number(process.env.FAKE_EXIT || 0));
});
`,
    { mode: 0o755 },
  );
  return dir;
}

describe('Claude Code agent image (borg-agent-claude:latest)', () => {
  before(ensureClaudeImage, { timeout: 15 * 60_000 });

  it('is a Debian image running borg-agent as agent (uid 1000) with HOME in the state dir', async () => {
    const info = await docker.getImage(IMAGE).inspect();
    assert.equal(info.Config.User, 'agent');
    assert.deepEqual(info.Config.Entrypoint, ['/usr/local/bin/borg-agent']);
    assert.ok(info.Config.Env.includes(`HOME=${STATE_MOUNT}`), info.Config.Env.join(' '));
    assert.match(info.Config.Labels['borg.claude.version'] ?? '', /^2\.1\.\d+$/);
    assert.match(info.Config.Labels['borg.claude.hash'] ?? '', /^[0-9a-f]{16}$/);
  });

  it('through the Pipeline: runs as the host user (uid 1000 when that is root) and ends with the CLI\'s own "Not logged in" result, exit 1', { timeout: 120_000 }, async () => {
    const h = await harness();
    const seen: string[] = [];
    h.pipeline.onDidOutput((e) => seen.push(e.line));
    const r = await h.pipeline.launch('worker', { image: IMAGE, input: { prompt: 'say hi' } });
    const agent = h.pipeline.agents.get(r.name)!;
    await withTimeout(h.pipeline.joinAgents(), 90_000, 'joinAgents');

    const info = await docker.getContainer(r.id).inspect();
    assert.equal(info.Config.User, ownerSpec(containerOwner(info.Config.User)), 'agents run as the host user (never root), so they can write their 0700 state dir');
    assert.notEqual(info.Config.User.split(':')[0], '0');
    assert.equal(info.Config.Image, IMAGE);
    assert.equal(info.State.ExitCode, 1);
    assert.equal(agent.exitCode, 1);
    assert.equal(agent.state, 'crashed');

    const log = fileLines(h, r.name, 'agent.log');
    const lines = jsonLines(log);
    const init = lines.find((l) => l.type === 'system' && l.subtype === 'init');
    assert.ok(init, `no system init line in agent.log:\n${log.join('\n')}`);
    assert.match(String(init.session_id), /^[0-9a-f-]{36}$/);
    const result = lines.find((l) => l.type === 'result');
    assert.ok(result, `no result line in agent.log:\n${log.join('\n')}`);
    assert.equal(result.is_error, true);
    assert.match(String(result.result), /Not logged in/);
    assert.equal(result.session_id, init.session_id);
    assert.equal(blockSignal(agent.stream)?.kind, 'auth', 'the assistant line\'s "error":"authentication_failed" is a structured auth signal');
    assert.deepEqual(seen, log, 'onDidOutput saw the same lines as agent.log');
    assert.ok(!log.some((l) => /not writable/.test(l)), `HOME (the state dir) is writable:\n${log.join('\n')}`);
  });

  it('with a state dir owned by uid 1000 keeps the session there, and resumeSessionId resumes it', { timeout: 120_000 }, async (t) => {
    const uid = process.getuid?.();
    if (uid !== 0 && uid !== AGENT_UID) return t.skip('needs root (to chown the state dir) or uid 1000');
    const h = await harness();
    const name = h.nameOf(0);
    const r = await h.pipeline.launch('worker', { image: IMAGE, input: { prompt: 'say hi' } });
    const dir = h.stateDirs.dir(name);
    assert.equal(fs.statSync(dir).uid, AGENT_UID, 'the state dir belongs to the uid the agent runs as');
    assert.equal(r.name, name);
    await withTimeout(h.pipeline.joinAgents(), 90_000, 'joinAgents');

    const log = fileLines(h, name, 'agent.log');
    assert.ok(!log.some((l) => /not writable/.test(l)), log.join('\n'));
    const sid = String(jsonLines(log).find((l) => l.type === 'system')?.session_id);
    assert.match(sid, /^[0-9a-f-]{36}$/, log.join('\n'));
    const projects = path.join(dir, '.claude', 'projects');
    const files = fs.readdirSync(projects, { recursive: true }).map(String);
    assert.ok(
      files.some((f) => f.endsWith(`${sid}.jsonl`)),
      `no ${sid}.jsonl under ${projects}: ${files.join(', ')}`,
    );
    assert.match(fs.readFileSync(path.join(dir, '.gitconfig'), 'utf8'), /directory = \*/);

    // A later container on the same state dir resumes the session...
    const again = await runRaw(h, { stdin: JSON.stringify({ prompt: 'again', resumeSessionId: sid }), binds: [`${dir}:${STATE_MOUNT}`] });
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.equal(again.lines.find((l) => l.type === 'system')?.session_id, sid, again.stdout);
    assert.match(String(again.lines.find((l) => l.type === 'result')?.result), /Not logged in/);
    // ...and an unknown session is the CLI's own error.
    const unknown = await runRaw(h, { stdin: JSON.stringify({ prompt: 'again', resumeSessionId: '00000000-0000-4000-8000-000000000000' }), binds: [`${dir}:${STATE_MOUNT}`] });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout + unknown.stderr, /No conversation found/);
  });

  it('answers input that is not JSON (or has no prompt) with a borg invalid-input result and exit 2', { timeout: 120_000 }, async () => {
    const h = await harness();
    for (const stdin of ['this is not json\n', '', '{"prompt": ""}\n', '["say hi"]\n']) {
      const r = await runRaw(h, { stdin });
      assert.equal(r.code, 2, `${JSON.stringify(stdin)}: ${r.stdout}${r.stderr}`);
      const out = r.stdout.trim().split('\n');
      assert.equal(out.length, 1, `one line on stdout: ${r.stdout}`);
      const line = JSON.parse(out[0]);
      assert.equal(line.type, 'result');
      assert.equal(line.is_error, true);
      assert.match(line.result, /^borg: invalid input: /);
    }
  });

  it("maps the input to claude's flags, env and stdin, keeps secrets out of the output and passes the exit code on", { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = fakeClaudeDir(h);
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-fake-repo-'));
    h.defer(() => fs.rmSync(repo, { recursive: true, force: true }));
    fs.chmodSync(repo, 0o755);
    const git = spawn('git', ['init', '-q', repo]);
    await new Promise((resolve) => git.on('exit', resolve));
    const secret = `sk-ant-borgtest-${process.pid}-${Date.now()}`;
    const env = ['BORG_CLAUDE_BIN=/opt/fake/claude', 'FAKE_EXIT=7'];
    const binds = [`${fake}:/opt/fake:ro`, `${repo}:/workspace/repo`];

    const full = await runRaw(h, {
      env,
      binds,
      stdin:
        JSON.stringify({
          taskId: 42,
          phase: 'build',
          persona: 'worker',
          prompt: 'fix the "bug"\nplease',
          systemPrompt: 'Be brief.',
          model: 'sonnet',
          allowedTools: ['Bash(git log:*)', 'Read'],
          workdir: '/workspace',
          resumeSessionId: 'abc-123',
          secrets: { ANTHROPIC_API_KEY: secret, OTHER_SECRET: 'not-passed' },
        }) + '\n',
    });
    assert.equal(full.code, 7, full.stdout + full.stderr);
    const seen = full.lines.find((l) => l.type === 'fake');
    assert.ok(seen, full.stdout + full.stderr);
    assert.deepEqual(seen.argv, [
      '--print',
      '--output-format',
      'stream-json',
      '--verbose',
      '--model',
      'sonnet',
      '--allowedTools',
      'Bash(git log:*),Read',
      '--append-system-prompt',
      'Be brief.',
      '--resume',
      'abc-123',
    ]);
    assert.equal(seen.prompt, 'fix the "bug"\nplease');
    assert.equal(seen.cwd, '/workspace');
    assert.equal(seen.uid, AGENT_UID);
    assert.equal(seen.hasKey, true);
    assert.equal(seen.keySha, createHash('sha256').update(secret).digest('hex'), 'ANTHROPIC_API_KEY reached claude');
    assert.equal(seen.other, null, 'only ANTHROPIC_*/CLAUDE_* secrets are passed');
    assert.equal(seen.task, '42');
    assert.equal(seen.phase, 'build');
    assert.ok(!(full.stdout + full.stderr).includes(secret), 'the secret is never printed');
    // Only the input on stdin carried it: not the container's config (env, args).
    const inspect = await docker.listContainers({ all: true, filters: { name: [`^/${h.prefix}-raw-`] } });
    for (const c of inspect) {
      const info = await docker.getContainer(c.Id).inspect();
      assert.ok(!JSON.stringify(info).includes(secret), 'the secret is not in the container config');
    }

    // Defaults: cwd /workspace/repo when it exists, no optional flags, no key; git trusts the
    // root-owned repo (safe.directory '*') although claude runs as uid 1000.
    const bare = await runRaw(h, { env: ['BORG_CLAUDE_BIN=/opt/fake/claude'], binds, stdin: '{"prompt":"hi"}' });
    assert.equal(bare.code, 0, bare.stdout + bare.stderr);
    const b = bare.lines.find((l) => l.type === 'fake')!;
    assert.deepEqual(b.argv, ['--print', '--output-format', 'stream-json', '--verbose']);
    assert.equal(b.cwd, '/workspace/repo');
    assert.equal(b.home, STATE_MOUNT);
    assert.equal(b.hasKey, false);
    assert.equal(b.gitStatus, 0, `git in a repo owned by another uid: ${b.gitError}`);
  });

  it('runs a task the way the scheduler launches it: never as root, in a git worktree at /workspace/repo with its sandbox git', { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = fakeClaudeDir(h);
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-fake-wt-'));
    h.defer(() => fs.rmSync(base, { recursive: true, force: true }));
    const repo = path.join(base, 'repo');
    const worktree = path.join(base, 'wt');
    const git = (...args: string[]) =>
      new Promise<void>((resolve, reject) => {
        const p = spawn('git', args, { stdio: 'ignore', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
        p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`git ${args.join(' ')}: exit ${c}`))));
      });
    await git('init', '-q', '-b', 'main', repo);
    await git('-C', repo, 'commit', '-q', '--allow-empty', '-m', 'init');
    await git('-C', repo, 'worktree', 'add', '-q', '-b', 'borg/task-1', worktree);
    const prepared = await new AgentGit(new Git()).prepare({ repo, worktree, branch: 'borg/task-1', baseBranch: 'main' });
    const owner = containerOwner('agent');
    const user = ownerSpec(owner);

    const r = await h.pipeline.launch('worker', {
      image: IMAGE,
      env: ['BORG_CLAUDE_BIN=/opt/fake/claude'],
      binds: [...prepared.binds, `${fake}:/opt/fake:ro`],
      writable: prepared.writable,
      input: {
        taskId: 1,
        phase: 'impl',
        persona: 'worker',
        prompt: 'make the tests pass',
        systemPrompt: 'You are the worker.',
        model: null,
        allowedTools: [],
        workdir: '/workspace/repo',
        resumeSessionId: null,
      },
    });
    const agent = h.pipeline.agents.get(r.name)!;
    await withTimeout(h.pipeline.joinAgents(), 60_000, 'joinAgents');
    const log = fileLines(h, r.name, 'agent.log');
    assert.equal(agent.exitCode, 0, log.join('\n'));
    assert.equal((await docker.getContainer(r.id).inspect()).Config.User, user);
    const seen = jsonLines(log).find((l) => l.type === 'fake');
    assert.ok(seen, log.join('\n'));
    assert.deepEqual(seen.argv, ['--print', '--output-format', 'stream-json', '--verbose', '--append-system-prompt', 'You are the worker.'], 'null and empty fields add no flags');
    assert.equal(seen.uid, owner.uid);
    assert.equal(seen.cwd, '/workspace/repo');
    assert.equal(seen.home, STATE_MOUNT, 'the state dir is the HOME: it belongs to the user the agent runs as');
    assert.equal(seen.gitStatus, 0, `git status in the worktree: ${seen.gitError}`);
    assert.ok(!log.some((l) => /not writable/.test(l)), log.join('\n'));
    assert.match(fs.readFileSync(path.join(r.stateDir, '.gitconfig'), 'utf8'), /directory = \*/);
  });

  it("hands Docker's stop signal to claude, so a stop ends the agent at once (exit 143), not after the grace", { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = fakeClaudeDir(h);
    const c = await docker.createContainer({
      name: `${h.prefix}-raw-${rawSeq++}`,
      Image: IMAGE,
      Env: ['BORG_CLAUDE_BIN=/opt/fake/claude', 'FAKE_SLEEP=60'],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: { AutoRemove: false, Binds: [`${fake}:/opt/fake:ro`] },
    });
    const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as NodeJS.ReadWriteStream & { destroy(): void };
    let out = '';
    stream.on('data', (d: Buffer) => (out += d.toString('latin1')));
    stream.on('error', () => undefined);
    try {
      await c.start();
      stream.end('{"prompt":"work for a minute"}\n');
      await waitFor(() => out.includes('"type":"fake"'), 30_000, 'the stand-in claude to start');
      const t0 = Date.now();
      await c.stop({ t: 20 });
      const elapsed = Date.now() - t0;
      const info = await c.inspect();
      assert.equal(info.State.ExitCode, 143, out);
      assert.ok(elapsed < 10_000, `stop took ${elapsed} ms (the grace is 20 s)`);
    } finally {
      stream.destroy();
    }
  });
  describe('the real CLI against a scripted Messages API: structured block signals', () => {
    /** Runs the real claude through borg-agent against an upstream answering `status` to every request. */
    async function againstUpstream(h: Harness, status: string) {
      const dir = scriptedUpstreamDir((fn) => h.defer(fn));
      return runRaw(h, {
        env: [`BORG_CLAUDE_BIN=${UPSTREAM_BIN}`, `UPSTREAM_STATUS=${status}`],
        binds: [`${dir}:${UPSTREAM_MOUNT}:ro`],
        stdin: JSON.stringify({ prompt: 'say hi', secrets: { ANTHROPIC_API_KEY: 'sk-ant-borg-scripted' } }),
      });
    }

    function fold(lines: Array<Record<string, unknown>>) {
      const s = emptySummary();
      for (const l of lines) foldLine(s, JSON.stringify(l));
      return s;
    }

    it('HTTP 401: an assistant error "authentication_failed" with api_error_status 401, blocked as auth', { timeout: 120_000 }, async () => {
      const h = await harness();
      const r = await againstUpstream(h, '401');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /upstream: POST \/v1\/messages/, 'the CLI asked the scripted upstream');
      const assistant = r.lines.find((l) => l.type === 'assistant' && l.error !== undefined);
      assert.ok(assistant, r.stdout);
      assert.equal(assistant.error, 'authentication_failed');
      assert.equal(assistant.api_error_status, 401);
      const result = r.lines.find((l) => l.type === 'result');
      assert.equal(result?.is_error, true);
      assert.equal(result?.api_error_status, 401);
      const signal = blockSignal(fold(r.lines));
      assert.equal(signal?.kind, 'auth', JSON.stringify(signal));
      assert.match(signal!.detail, /authentication_failed \(HTTP 401\)/);
    });

    it('HTTP 429 (no retries): an assistant error "rate_limit" with api_error_status 429, blocked as quota', { timeout: 120_000 }, async () => {
      const h = await harness();
      const r = await againstUpstream(h, '429');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const assistant = r.lines.find((l) => l.type === 'assistant' && l.error !== undefined);
      assert.equal(assistant?.error, 'rate_limit', r.stdout);
      assert.equal(assistant?.api_error_status, 429);
      assert.equal(blockSignal(fold(r.lines))?.kind, 'quota');
    });

    it('HTTP 529 (overloaded) is an ordinary failure, not a block', { timeout: 120_000 }, async () => {
      const h = await harness();
      const r = await againstUpstream(h, '529');
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.equal(r.lines.find((l) => l.type === 'result')?.api_error_status, 529, r.stdout);
      assert.equal(blockSignal(fold(r.lines)), undefined);
    });
  });

  it('ends itself at BORG_DEADLINE_EPOCH while claude waits on a model that never answers: SIGTERM to claude, exit 124, a note on stderr', { timeout: 120_000 }, async () => {
    const h = await harness();
    const dir = scriptedUpstreamDir((fn) => h.defer(fn));
    // Far enough ahead for claude to start and send its request (≈ 1 s here); the test waits for the exit, not for time.
    const deadline = Math.floor(Date.now() / 1000) + 10;
    const r = await runRaw(h, {
      env: [`BORG_CLAUDE_BIN=${UPSTREAM_BIN}`, 'UPSTREAM_STATUS=hang', `BORG_DEADLINE_EPOCH=${deadline}`, `BORG_DEADLINE=${new Date(deadline * 1000).toISOString()}`],
      binds: [`${dir}:${UPSTREAM_MOUNT}:ro`],
      stdin: JSON.stringify({ prompt: 'say hi', secrets: { ANTHROPIC_API_KEY: 'sk-ant-borg-scripted' }, deadline: new Date(deadline * 1000).toISOString() }),
      waitMs: 90_000,
    });
    assert.equal(r.code, 124, r.stdout + r.stderr);
    assert.match(r.stderr, /upstream: POST \/v1\/messages/, `claude was waiting on the model when the deadline came:\n${r.stderr}`);
    assert.match(r.stderr, /borg-agent: deadline .* reached: stopping claude/, r.stderr);
  });
});
