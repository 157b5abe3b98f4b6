/**
 * Agents are adversaries (SECURITY.md): real dockerd, real git, hostile agents made by the tests.
 * Each attack on the host's git must leave no marker on the host, end the task with a clear
 * reason and leave the main repository's `.git` unchanged; every container is confined; no
 * host credential and no host file outside what Borg mounts is reachable.
 */
import { describe, it, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Git } from '../../src/core/git';
import { InvalidInputError } from '../../src/core/errors';
import { Prompts } from '../../src/core/prompts';
import { DEFAULT_TASK_SETTINGS, Scheduler, TaskSettings } from '../../src/core/scheduler';
import { Task, TaskStatus, TaskStore } from '../../src/core/taskStore';
import { cleanupAll, deriveImage, docker, Harness, harness, removeDerivedImages, waitFor, withTimeout } from './helpers';

afterEach(cleanupAll);
after(cleanupAll);
after(removeDerivedImages);

const PROMPTS = path.join(__dirname, '..', '..', '..', 'media', 'prompts');

/** What an attack's planted command would create if the host ever ran it. */
function markerPath(h: Harness, what: string): string {
  return path.join(h.dir, `MARKER-${what}`);
}

/**
 * A hostile agent image: reads its input, runs `attack` (busybox sh, in /workspace/repo, with
 * $MARKER the host path a planted command would touch), prints what it did, ends with a normal
 * success result so only Borg's own checks stand in its way.
 */
function hostileImage(name: string, attack: string): Promise<string> {
  return deriveImage(
    `hostile-${name}`,
    [
      'IFS= read -r input || true',
      'MARKER=$(printf %s "$input" | sed -n "s/.*MARKER=\\([^ \\"]*\\).*/\\1/p")',
      'cd /workspace/repo || exit 3',
      `{ ${attack}\n} 2>&1 | sed 's/^/attack: /'`,
      'echo \'{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0}\'',
      'exit 0',
    ].join('\n'),
  );
}

/** A git repository with one commit on main, and a secret in its `.git/config` (a token in a remote URL, a credential helper). */
function makeRepo(dir: string, secret: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'README.md'), '# test repo\n');
  git('add', '-A');
  git('-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'initial');
  git('remote', 'add', 'origin', `https://x-access-token:${secret}@example.invalid/org/repo.git`);
  git('config', 'credential.helper', `store --file /secret/${secret}`);
  return dir;
}

/** The parts of the main `.git` an attack would change: config, HEAD, hooks, main's ref, info/. */
function gitSnapshot(repo: string): string {
  const g = path.join(repo, '.git');
  const hash = (f: string) => (fs.existsSync(f) ? crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex') : 'missing');
  const hooks = fs.existsSync(path.join(g, 'hooks')) ? fs.readdirSync(path.join(g, 'hooks')).sort().join(',') : '';
  return JSON.stringify({
    config: hash(path.join(g, 'config')),
    head: hash(path.join(g, 'HEAD')),
    main: execFileSync('git', ['rev-parse', 'main'], { cwd: repo, encoding: 'utf8' }).trim(),
    hooks,
    exclude: hash(path.join(g, 'info', 'exclude')),
  });
}

interface Rig {
  h: Harness;
  repo: string;
  secret: string;
  scheduler: Scheduler;
  tasks: TaskStore;
  settings: TaskSettings;
}

async function rig(image: string, task: Partial<TaskSettings> = {}): Promise<Rig> {
  const h = await harness({ settings: { image } });
  const secret = `SECRET${crypto.randomBytes(6).toString('hex')}`;
  const repo = makeRepo(path.join(h.dir, 'repo'), secret);
  const settings: TaskSettings = { ...DEFAULT_TASK_SETTINGS, testCommand: '', testTimeoutSeconds: 60, maxAttempts: 2, ...task };
  const tasks = new TaskStore(h.store);
  const scheduler = new Scheduler({ pipeline: h.pipeline, tasks, git: new Git(), prompts: new Prompts(PROMPTS), worktreeRoot: path.join(h.dir, 'worktrees'), settings: () => settings });
  scheduler.start(); // no recovery to wait for in these rigs: dispatch is open from the start
  h.defer(async () => {
    scheduler.stop();
    await withTimeout(scheduler.join(), 15_000, 'scheduler.join');
    scheduler.dispose();
  });
  return { h, repo, secret, scheduler, tasks, settings };
}

async function runTask(r: Rig, what: string, statuses: TaskStatus[] = ['done', 'failed', 'blocked']): Promise<Task> {
  const t0 = await r.scheduler.add({ title: `attack ${what}`, description: `MARKER=${markerPath(r.h, what)} do the task`, repo: r.repo });
  await waitFor(() => statuses.includes(r.tasks.get(t0.id)!.status) && !r.scheduler.activeIds.includes(t0.id), 60_000, `task ${t0.id} to end (now ${r.tasks.get(t0.id)?.status})`);
  return r.tasks.get(t0.id)!;
}

/** Every output line of every run of the task (the agents' stdout/stderr, from Borg's own agent.log). */
function outputOf(r: Rig, t: Task): string {
  return r.tasks
    .runs(t.id)
    .map((run) => (run.agent ? (r.h.stateDirs.readFile(run.agent, 'agent.log') ?? '') : ''))
    .join('\n');
}

describe('Isolation: nothing an agent writes in its git metadata runs on the host', () => {
  const attacks: Array<{ name: string; script: string; expect: 'altered' | 'done'; reason?: RegExp }> = [
    {
      // What `git config core.fsmonitor ...` inside the container does: the gitdir its .git names.
      name: 'fsmonitor-in-config',
      script: 'gd=$(sed -n "s/^gitdir: //p" .git); echo "gitdir is $gd"; printf \'[core]\\n\\tfsmonitor = "touch %s; false"\\n\' "$MARKER" >> "$gd/config"',
      expect: 'altered',
      reason: /altered its git metadata \(the config of its git dir/,
    },
    {
      name: 'dotgit-replaced',
      script: [
        'cp .git /tmp/orig-gitfile',
        'rm -rf .git; mv .git .git-old; mkdir -p .git/objects .git/refs; echo "ref: refs/heads/main" > .git/HEAD',
        'printf \'[core]\\n\\tfsmonitor = "touch %s; false"\\n\' "$MARKER" > .git/config',
        'printf \'[core]\\n\\tfsmonitor = "touch %s; false"\\n\' "$MARKER" > .git',
        'cmp .git /tmp/orig-gitfile && echo ".git unchanged"',
      ].join('\n'),
      expect: 'done',
    },
    {
      name: 'dotgit-repointed',
      script: [
        'mkdir -p evil/objects evil/refs; echo "ref: refs/heads/main" > evil/HEAD',
        'printf \'[core]\\n\\tfsmonitor = "touch %s; false"\\n\' "$MARKER" > evil/config',
        'echo "gitdir: /workspace/repo/evil" > .git',
        'cat .git',
      ].join('\n'),
      expect: 'done',
    },
    {
      name: 'commondir-rewritten',
      script: [
        'mkdir -p evil/objects evil/refs; echo "ref: refs/heads/main" > evil/HEAD',
        'printf \'[core]\\n\\tfsmonitor = "touch %s; false"\\n\' "$MARKER" > evil/config',
        'gd=$(sed -n "s/^gitdir: //p" .git); echo /workspace/repo/evil > "$gd/commondir"',
        // The host's own admin dirs (<main>/.git/worktrees/*) are not in the container at all.
        'find / -name commondir -not -path "/proc/*" 2>/dev/null | while read -r f; do echo "found $f"; echo /workspace/repo/evil > "$f"; done',
      ].join('\n'),
      expect: 'altered',
      reason: /altered its git metadata \(it wrote \/workspace\/\.borg\/git\/commondir/,
    },
    {
      name: 'hooks-planted',
      script: [
        'gd=$(sed -n "s/^gitdir: //p" .git); mkdir -p "$gd/hooks"',
        'for h in pre-commit commit-msg post-commit pre-merge-commit post-checkout; do printf \'#!/bin/sh\\ntouch %s\\n\' "$MARKER" > "$gd/hooks/$h"; chmod +x "$gd/hooks/$h"; done',
      ].join('\n'),
      expect: 'altered',
      reason: /altered its git metadata \(it planted hooks/,
    },
    {
      name: 'nested-repo-fsmonitor',
      script: [
        'mkdir -p sub/.git/objects sub/.git/refs/heads; echo "ref: refs/heads/main" > sub/.git/HEAD',
        'printf \'[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = "touch %s; false"\\n[filter "x"]\\n\\tclean = "touch %s"\\n\' "$MARKER" "$MARKER" > sub/.git/config',
        'echo "* filter=x" > sub/.gitattributes; echo data > sub/file',
      ].join('\n'),
      expect: 'altered',
      reason: /altered its git metadata \(a git repository at sub\/\.git inside the worktree; renamed to sub\/\.git\.borg-quarantined/,
    },
  ];

  for (const a of attacks) {
    it(
      `${a.name}: no marker on the host, the task ends ${a.expect === 'altered' ? 'failed with "the agent altered its git metadata"' : 'normally'}, main .git unchanged`,
      { timeout: 90_000 },
      async () => {
        const r = await rig(await hostileImage(a.name, a.script));
        const before = gitSnapshot(r.repo);
        const t = await runTask(r, a.name);
        const out = outputOf(r, t);
        assert.equal(fs.existsSync(markerPath(r.h, a.name)), false, `the host ran a planted command (marker exists); agent output:\n${out}`);
        assert.equal(gitSnapshot(r.repo), before, "the main repository's .git changed");
        if (a.expect === 'altered') {
          assert.equal(t.status, 'failed', `lastError: ${t.lastError}\n${out}`);
          assert.match(t.lastError ?? '', a.reason!);
          assert.match(t.lastError ?? '', /kept for inspection/);
          assert.ok(fs.existsSync(t.worktree!), 'the worktree is kept for inspection');
          assert.equal(r.tasks.runs(t.id).length, 1, 'no retry runs in an altered worktree');
          assert.equal(r.tasks.runs(t.id)[0].commitSha, null, 'nothing of it was committed');
          // The host's own tools still work on the task's worktree and do not obey what was planted.
          execFileSync('git', ['-c', 'safe.directory=*', 'status', '--porcelain'], { cwd: t.worktree! });
          assert.equal(fs.existsSync(markerPath(r.h, a.name)), false, 'git status in the worktree ran a planted command');
        } else {
          assert.equal(t.status, 'done', `lastError: ${t.lastError}\n${out}`);
          assert.match(fs.readFileSync(path.join(t.worktree!, '.git'), 'utf8'), /^gitdir: .*\.git\/worktrees\//, 'the host-side .git file is untouched');
          assert.match(out, /Read-only file system|Resource busy|busy/, `the container could not write its .git:\n${out}`);
        }
      },
    );
  }

  it('a test command (written by an agent) runs in a confined container without network, never on the host', { timeout: 90_000 }, async () => {
    const image = await hostileImage(
      'test-escape',
      [
        `printf '#!/bin/sh\\ntouch "%s"; echo "uid=$(id -u)"; ls / > /workspace/repo/container-root.txt; wget -q -T 2 -O- http://1.1.1.1/ && echo NET-OK || echo NET-NONE\\nexit 0\\n' "$MARKER" > evil-test.sh`,
      ].join('\n'),
    );
    const r = await rig(image, { testCommand: 'sh evil-test.sh' });
    const t = await runTask(r, 'test-escape');
    assert.equal(t.status, 'done', `lastError: ${t.lastError}`);
    assert.equal(fs.existsSync(markerPath(r.h, 'test-escape')), false, 'the test command ran on the host');
    const test = r.tasks.runs(t.id).find((x) => x.phase === 'test')!;
    assert.match(test.agent ?? '', new RegExp(`^${r.h.prefix}-test-\\d+$`));
    assert.match(test.output ?? '', /NET-NONE/, test.output ?? '');
    assert.doesNotMatch(test.output ?? '', /uid=0\b/, 'the test container runs as root');
    const info = await docker.getContainer(test.agent!).inspect();
    assert.equal(info.HostConfig.NetworkMode, 'none');
    assertHardened(info, r.h);
    assert.ok(fs.readFileSync(path.join(t.worktree!, 'container-root.txt'), 'utf8').includes('workspace'), "it saw the container's filesystem");
  });

  it('a spec.md that is a symbolic link to a host file is not followed into the next prompt', { timeout: 90_000 }, async () => {
    const image = await hostileImage('spec-link', 'ln -sf "$MARKER.secret" spec.md; ls -l spec.md');
    const r = await rig(image);
    fs.writeFileSync(`${markerPath(r.h, 'spec-link')}.secret`, `HOSTSECRET-${r.secret}\n`);
    const t = await runTask(r, 'spec-link');
    const qa = r.tasks.runs(t.id).find((x) => x.phase === 'qa');
    assert.ok(qa?.agent, `the qa phase ran (status ${t.status}: ${t.lastError})`);
    const input = r.h.stateDirs.readFile(qa.agent, 'input.json') ?? '';
    assert.ok(input.includes('"prompt"'), input);
    assert.doesNotMatch(input, /HOSTSECRET/, 'the host followed spec.md into a host file');
  });
});

describe('Isolation: host commits', () => {
  it("a commit git refuses is never swallowed: the run fails with git's message, nothing reaches done", { timeout: 90_000 }, async () => {
    const r = await rig(await hostileImage('plain', 'echo working > work.txt'), { maxAttempts: 1 });
    const t0 = await r.scheduler.add({ title: 'commit refused', description: 'x', repo: r.repo });
    const worktree = r.tasks.get(t0.id)!.worktree!;
    const admin = await new Git().worktreeAdminDir(r.repo, worktree);
    fs.writeFileSync(path.join(admin, 'index.lock'), ''); // git refuses to stage while another git holds the index
    await waitFor(() => ['done', 'failed', 'blocked'].includes(r.tasks.get(t0.id)!.status) && !r.scheduler.activeIds.includes(t0.id), 60_000, 'the task to end');
    const t = r.tasks.get(t0.id)!;
    assert.equal(t.status, 'failed');
    assert.match(t.lastError ?? '', /Committing the manager agent's work failed: git add failed .*index\.lock/s);
    assert.equal(r.tasks.runs(t.id)[0].outcome, 'failed');
  });
});

describe("Isolation: a detached agent's worktree", () => {
  it('is left alone at shutdown: no check, no quarantine, no commit while the agent still runs', { timeout: 90_000 }, async () => {
    const image = await hostileImage('still-running', 'echo early > early.txt; echo started; sleep 30');
    const r = await rig(image);
    const t0 = await r.scheduler.add({ title: 'detached', description: 'x', repo: r.repo });
    await waitFor(
      () => r.tasks.runs(t0.id).some((x) => x.outcome === 'running' && x.agent) && fs.existsSync(path.join(r.tasks.get(t0.id)!.worktree!, 'early.txt')),
      30_000,
      'the agent to start writing',
    );
    const agent = r.tasks.runs(t0.id)[0].agent!;
    r.scheduler.stop();
    await r.h.pipeline.shutdown('detach');
    await withTimeout(r.scheduler.join(), 15_000, 'scheduler.join');
    const run = r.tasks.runs(t0.id)[0];
    assert.equal(run.outcome, 'interrupted');
    assert.equal(run.commitSha, null, 'nothing was committed from a worktree its agent still writes');
    assert.equal(execFileSync('git', ['rev-list', '--count', 'main..borg/task-1'], { cwd: r.repo, encoding: 'utf8' }).trim(), '0');
    assert.equal((await docker.getContainer(agent).inspect()).State.Running, true, 'the agent kept running (detach)');
  });
});

describe('Isolation: no host credentials, no host files', () => {
  it("the main repository's .git/config is not readable inside an agent; git metadata there is a sandbox", { timeout: 90_000 }, async () => {
    const image = await hostileImage(
      'read-config',
      [
        'echo "dotgit: $(cat .git)"',
        'cat /workspace/.borg/git/config',
        'ls /workspace/.borg',
        'find / \\( -path /proc -o -path /sys \\) -prune -o -type f -print 2>/dev/null | while read -r f; do grep -l "SECRET" "$f" 2>/dev/null; done | sed "s/^/holds secret: /"',
      ].join('\n'),
    );
    const r = await rig(image);
    const t = await runTask(r, 'read-config');
    const out = outputOf(r, t);
    assert.match(out, /dotgit: gitdir: \/workspace\/\.borg\/git/, out);
    assert.doesNotMatch(out, new RegExp(r.secret), `the agent read the host's .git/config:\n${out}`);
    assert.doesNotMatch(out, /holds secret/, out);
    assert.equal(t.status, 'done', `lastError: ${t.lastError}`);
  });

  it("links an agent plants in its state dir do not make the host write or read elsewhere (Borg's records live outside it)", { timeout: 90_000 }, async () => {
    const h = await harness({
      settings: {
        image: await deriveImage(
          'plant-links',
          'IFS= read -r input; cd /home/agent/state; for f in agent.log input.json input.json.tmp runs.log; do ln -sf "$HOSTFILE" "$f"; done; ls -l; echo \'{"type":"result","subtype":"success","is_error":false,"result":"ok"}\'',
        ),
      },
    });
    const target = path.join(h.dir, 'hostfile');
    fs.writeFileSync(target, 'original\n');
    const first = await h.pipeline.launch('worker', { env: [`HOSTFILE=${target}`] });
    await withTimeout(h.pipeline.joinAgents(), 30_000, 'joinAgents');
    assert.equal(fs.lstatSync(path.join(first.stateDir, 'agent.log')).isSymbolicLink(), true, 'the agent did plant its links');
    const again = await h.pipeline.reclaim(first.name, { env: [`HOSTFILE=${target}`] });
    await withTimeout(h.pipeline.joinAgents(), 30_000, 'joinAgents');
    assert.equal(again.name, first.name);
    assert.equal(fs.readFileSync(target, 'utf8'), 'original\n', 'the host wrote through a planted link');
    assert.match(h.stateDirs.readFile(first.name, 'agent.log') ?? '', /"result":"ok"/, "Borg's own agent.log has the output");
    assert.match(h.stateDirs.readFile(first.name, 'input.json') ?? '', /"persona"/);
  });
});

describe('Isolation: every container is confined', () => {
  it("a launched agent's HostConfig has every hardening field, and it never runs as uid 0", { timeout: 60_000 }, async () => {
    const h = await harness({
      settings: {
        image: await deriveImage(
          'whoami',
          'IFS= read -r input; echo "uid=$(id -u) gid=$(id -g)"; grep -i "^cap" /proc/self/status; echo \'{"type":"result","subtype":"success","is_error":false,"result":"ok"}\'',
        ),
      },
    });
    const r = await h.pipeline.launch('worker');
    await withTimeout(h.pipeline.joinAgents(), 30_000, 'joinAgents');
    const info = await docker.getContainer(r.id).inspect();
    assertHardened(info, h);
    assert.equal(info.HostConfig.NetworkMode, 'none', 'network gateway: no Docker network (this harness runs no gateway, so no socket either)');
    const log = h.stateDirs.readFile(r.name, 'agent.log') ?? '';
    const uid = Number(/uid=(\d+)/.exec(log)?.[1]);
    assert.notEqual(uid, 0, log);
    if (process.getuid?.() === 0) assert.equal(uid, 1000, 'with the host user root, agents run as 1000');
    else assert.equal(uid, process.getuid?.());
    assert.match(log, /CapEff:\s*0+\n/, `no effective capabilities:\n${log}`);
    assert.equal(fs.statSync(r.stateDir).uid, uid, 'the state dir belongs to the uid the agent runs as');
    assert.match(info.Config.Labels['borg.limits'] ?? '', /pids 512 · memory 4096 MiB · cpus 2 · network gateway/);
  });

  it('a bind of the Docker socket is refused, and nothing is created', async () => {
    const h = await harness();
    for (const bind of ['/var/run/docker.sock:/var/run/docker.sock', '/var/run:/host-run:ro', '/:/host:ro']) {
      await assert.rejects(h.pipeline.launch('worker', { binds: [bind] }), (e: unknown) => e instanceof InvalidInputError && /socket/.test((e as Error).message), bind);
    }
    assert.deepEqual((await docker.listContainers({ all: true, filters: { name: [`^/${h.prefix}-`] } })).length, 0);
  });

  it('a fork bomb stops at the pids limit while the host stays responsive', { timeout: 60_000 }, async () => {
    // Every process leaves a sleeper behind and forks on: the tree grows until fork fails.
    const image = await deriveImage('forkbomb', 'IFS= read -r input; echo bombing; bomb() { sleep 120 & bomb & wait; }; bomb');
    const h = await harness({ settings: { image, hardening: { pidsLimit: 64, memoryMb: 256, cpus: 1, network: 'none' } } });
    const r = await h.pipeline.launch('worker');
    const c = docker.getContainer(r.id);
    let peak = 0;
    await waitFor(
      async () => {
        const stats = (await c.stats({ stream: false })) as { pids_stats?: { current?: number } };
        peak = Math.max(peak, stats.pids_stats?.current ?? 0);
        return peak >= 60;
      },
      30_000,
      'the bomb to reach the limit',
    );
    // The host still forks and Docker still answers while the container sits at its limit.
    assert.equal(execFileSync('sh', ['-c', 'echo alive'], { encoding: 'utf8' }).trim(), 'alive');
    await docker.ping();
    const stats = (await c.stats({ stream: false })) as { pids_stats?: { current?: number; limit?: number } };
    assert.ok((stats.pids_stats?.current ?? 0) <= 64, `pids ${stats.pids_stats?.current} > 64`);
    assert.equal(stats.pids_stats?.limit, 64);
    await withTimeout(h.pipeline.stopAgent(r.name), 30_000, 'stopAgent');
    assert.equal(h.pipeline.agents.get(r.name)?.state, 'stopped');
  });

  it('an agent allocating past borg.memoryMb is recorded as OOM-killed', { timeout: 60_000 }, async () => {
    const h = await harness({ settings: { hardening: { pidsLimit: 512, memoryMb: 16, cpus: 1, network: 'none' } } });
    const r = await h.pipeline.launch('worker', { input: { mode: 'oom', sleepSeconds: 1 } });
    await withTimeout(h.pipeline.joinAgents(), 30_000, 'joinAgents');
    const agent = h.pipeline.agents.get(r.name)!;
    assert.equal(agent.state, 'oom-killed');
    assert.equal((await docker.getContainer(r.id).inspect()).HostConfig.Memory, 16 * 1024 * 1024);
  });
});

/** Every confinement field Borg sets (hardening.ts), with the harness's limits. */
function assertHardened(info: import('dockerode').ContainerInspectInfo, h: Harness): void {
  const hc = info.HostConfig as typeof info.HostConfig & { Init?: boolean; NanoCpus?: number; PidsLimit?: number };
  const want = h.settings.hardening;
  assert.deepEqual(hc.CapDrop, ['ALL']);
  assert.deepEqual(hc.SecurityOpt, ['no-new-privileges']);
  assert.equal(hc.PidsLimit, want.pidsLimit);
  assert.equal(hc.Memory, want.memoryMb * 1024 * 1024);
  assert.equal(hc.MemorySwap, want.memoryMb * 1024 * 1024);
  assert.equal(hc.NanoCpus, want.cpus * 1e9);
  assert.equal(hc.Init, true);
  assert.equal(hc.AutoRemove, false);
  assert.ok(info.Config.User && !/^0(:|$)/.test(info.Config.User), `User ${info.Config.User}`);
  assert.ok(!(hc.Binds ?? []).some((b) => b.includes('docker.sock')), 'no Docker socket');
}
