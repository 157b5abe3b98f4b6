/**
 * The task Scheduler against the real dockerd, real git and the demo image: phases, commits,
 * runs, retries, cancel, parallel worktrees, hostile titles, agents without a result line,
 * authentication failures, dispatch order and dispatch latency.
 */
import Docker from 'dockerode';
import { describe, it, after, afterEach, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Git } from '../../src/core/git';
import { Prompts } from '../../src/core/prompts';
import { DEFAULT_TASK_SETTINGS, Scheduler, TaskSettings } from '../../src/core/scheduler';
import { Store } from '../../src/core/store';
import { Task, TaskStatus, TaskStore } from '../../src/core/taskStore';
import { NoCommitError, repoFolderName } from '../../src/core/taskCheckout';
import { cleanupAll, DEMO_IMAGE, makeRepo, deriveImage, docker, Harness, harness, inspectOrUndefined, removeDerivedImages, waitFor, withTimeout } from './helpers';

afterEach(cleanupAll);
after(cleanupAll);

const PROMPTS = path.join(__dirname, '..', '..', '..', 'media', 'prompts');

interface Rig {
  h: Harness;
  repo: string;
  scheduler: Scheduler;
  tasks: TaskStore;
  git: Git;
  /** Mutable: read at each dispatch. */
  settings: TaskSettings;
  worktreeRoot: string;
  /** Every status each task went through, in order (from onDidChange). */
  history: Map<number, TaskStatus[]>;
  /** Most task runs active at once. */
  maxActive: () => number;
  /** Every line the Scheduler logged, with its level. */
  logged: Array<{ line: string; level?: string }>;
}

async function rig(opts: { task?: Partial<TaskSettings>; image?: string; maxParallel?: number } = {}): Promise<Rig> {
  const h = await harness({ settings: { image: opts.image ?? DEMO_IMAGE, ...(opts.maxParallel ? { maxParallelAgents: opts.maxParallel } : {}) } });
  const repo = makeRepo(path.join(h.dir, 'repo'));
  const settings: TaskSettings = { ...DEFAULT_TASK_SETTINGS, testCommand: 'sh run-tests.sh', testTimeoutSeconds: 60, ...opts.task };
  const tasks = new TaskStore(h.store);
  const git = new Git();
  const worktreeRoot = path.join(h.dir, 'worktrees');
  const logged: Rig['logged'] = [];
  const log = (line: string, level?: string) => void logged.push({ line, level });
  const scheduler = new Scheduler({ pipeline: h.pipeline, tasks, git, prompts: new Prompts(PROMPTS), worktreeRoot, settings: () => settings, log });
  scheduler.start(); // no recovery to wait for in these rigs: dispatch is open from the start
  const history = new Map<number, TaskStatus[]>();
  let maxActive = 0;
  scheduler.onDidChange(() => {
    maxActive = Math.max(maxActive, scheduler.activeIds.length);
    for (const t of tasks.list()) {
      const seen = history.get(t.id) ?? [];
      if (seen[seen.length - 1] !== t.status) seen.push(t.status);
      history.set(t.id, seen);
    }
  });
  h.defer(async () => {
    scheduler.stop();
    await withTimeout(scheduler.join(), 15_000, 'scheduler.join');
    scheduler.dispose();
  });
  return { h, repo, scheduler, tasks, git, settings, worktreeRoot, history, maxActive: () => maxActive, logged };
}

async function until(r: Rig, id: number, statuses: TaskStatus[], ms: number): Promise<Task> {
  await waitFor(() => statuses.includes(r.tasks.get(id)!.status) && !r.scheduler.activeIds.includes(id), ms, `task ${id} to reach ${statuses.join('/')} (now ${r.tasks.get(id)?.status})`);
  return r.tasks.get(id)!;
}

let SILENT: string;
let AUTH_FAIL: string;
let SLOW: string;
before(async () => {
  // Reads its input, prints nothing, exits 0.
  SILENT = await deriveImage('silent', 'cat >/dev/null; exit 0');
  // What Claude Code 2.1.332 prints without credentials (trimmed): the assistant line's "error" is the structured signal.
  AUTH_FAIL = await deriveImage(
    'authfail',
    `cat >/dev/null; echo '{"type":"system","subtype":"init","session_id":"s1"}'; echo '{"type":"assistant","message":{"model":"<synthetic>","role":"assistant","content":[{"type":"text","text":"Not logged in · Please run /login"}]},"session_id":"s1","error":"authentication_failed","is_api_error_message":true}'; echo '{"type":"result","subtype":"success","is_error":true,"result":"Not logged in · Please run /login","api_error_status":null,"terminal_reason":"api_error","session_id":"s1"}'; exit 1`,
  );
  // Runs for a minute unless stopped.
  SLOW = await deriveImage('slow', `trap 'exit 143' TERM; cat >/dev/null; echo '{"type":"system","subtype":"init","session_id":"slow"}'; sleep 60 & wait $!`);
});

function gitOut(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' });
}

describe('Scheduler: the happy path', () => {
  it('a task reaches done through spec → qa → impl → test: three commits on borg/task-<id>, runs recorded', async () => {
    const r = await rig();
    const t0 = await r.scheduler.add({ title: 'Add the done marker', description: 'Make the tests pass.', repo: r.repo });
    assert.equal(t0.status, 'backlog');
    const t = await until(r, t0.id, ['done', 'failed', 'blocked'], 60_000);
    assert.equal(t.status, 'done', `lastError: ${t.lastError}`);
    assert.equal(t.branch, `borg/task-${t.id}`);
    assert.equal(t.baseBranch, 'main');
    assert.equal(t.worktree, path.join(r.worktreeRoot, repoFolderName(r.repo), `task-${t.id}`));
    assert.equal(t.attempt, 0);
    assert.equal(t.lastError, null);
    assert.deepEqual(r.history.get(t.id), ['backlog', 'spec', 'qa', 'impl', 'test', 'done']);

    const subjects = gitOut(r.repo, 'log', '--reverse', '--format=%s', `main..${t.branch}`).trim().split('\n');
    assert.deepEqual(subjects, [`borg: task ${t.id} spec (manager): Add the done marker`, `borg: task ${t.id} qa (qa): Add the done marker`, `borg: task ${t.id} impl (worker): Add the done marker`]);
    assert.equal(gitOut(r.repo, 'log', '-1', '--format=%an <%ae>', t.branch!).trim(), 'Borg Pipeline <borg@localhost>');
    assert.deepEqual(gitOut(r.repo, 'diff', '--name-only', `main...${t.branch}`).trim().split('\n').sort(), ['done/task-1', 'spec.md', 'tests/task-1.sh']);
    assert.equal(gitOut(r.repo, 'rev-parse', '--abbrev-ref', 'HEAD').trim(), 'main', 'the main checkout is untouched');
    assert.equal(gitOut(r.repo, 'status', '--porcelain').trim(), '');

    const runs = r.tasks.runs(t.id);
    assert.deepEqual(
      runs.map((x) => [x.phase, x.outcome, x.attempt]),
      [
        ['spec', 'ok', 0],
        ['qa', 'ok', 0],
        ['impl', 'ok', 0],
        ['test', 'ok', 0],
      ],
    );
    const personas = ['manager', 'qa', 'worker'];
    for (const [i, run] of runs.slice(0, 3).entries()) {
      assert.match(run.agent ?? '', new RegExp(`^${r.h.prefix}-${personas[i]}-\\d+$`), `run ${run.phase} agent`);
      assert.equal(run.exitCode, 0);
      assert.ok((run.durationMs ?? 0) >= 900, `${run.phase} took ${run.durationMs} ms (the demo sleeps 1 s)`);
      assert.ok(run.finishedAt! >= run.startedAt);
      assert.match(run.commitSha ?? '', /^[0-9a-f]{40}$/);
      assert.match(run.sessionId ?? '', /^demo-/);
      assert.equal(run.output, 'done');
      assert.ok(run.streamFile && fs.readFileSync(run.streamFile, 'utf8').includes('"type":"result"'), 'agent.log holds the stream');
      const info = await inspectOrUndefined(run.agent!);
      assert.equal(info?.State.ExitCode, 0);
      assert.ok(
        info?.HostConfig.Binds?.some((b) => b.startsWith(`${t.worktree}:/workspace/repo`)),
        'the worktree is mounted at /workspace/repo',
      );
    }
    assert.match(runs[3].agent ?? '', new RegExp(`^${r.h.prefix}-test-\\d+$`), 'the test phase ran in a test container');
    assert.equal(runs[3].exitCode, 0);
    assert.match(runs[3].output ?? '', /all tests passed/);
    assert.deepEqual(
      r.h.store
        .listEvents()
        .filter((e) => e.kind.startsWith('task-'))
        .map((e) => e.kind),
      ['task-added', 'task-spec-ok', 'task-qa-ok', 'task-impl-ok', 'task-test-ok'],
    );
  });
});

describe('Scheduler: the log', () => {
  it('logs task progress at info, one line each: phase starts, commits, the test result, each move', async () => {
    const r = await rig();
    const t0 = await r.scheduler.add({ title: 'Log "me"', description: 'Make the tests pass.', repo: r.repo });
    const t = await until(r, t0.id, ['done', 'failed', 'blocked'], 60_000);
    assert.equal(t.status, 'done', `lastError: ${t.lastError}`);
    assert.ok(r.logged.every((l) => l.level === 'info'));
    const p = r.h.prefix;
    const lines = r.logged.map((l) => l.line.replace(/ as [0-9a-f]{12}$/, ' as <sha>').replace(new RegExp(`${p}-(\\w+)-\\d+`, 'g'), '<$1>'));
    const head = `task ${t.id} "Log \\"me\\"": `;
    assert.deepEqual(lines, [
      `${head}spec phase started in <manager> (attempt 1/${t.maxAttempts})`,
      `${head}committed the manager agent's work as <sha>`,
      `${head}spec ok → qa`,
      `${head}qa phase started in <qa> (attempt 1/${t.maxAttempts})`,
      `${head}committed the qa agent's work as <sha>`,
      `${head}qa ok → impl`,
      `${head}impl phase started in <worker> (attempt 1/${t.maxAttempts})`,
      `${head}committed the worker agent's work as <sha>`,
      `${head}impl ok → test`,
      `${head}test phase started in <test>: sh run-tests.sh`,
      `${head}tests passed in <test>`,
      `${head}test ok → done`,
    ]);
  });
});

describe('Scheduler: failures', () => {
  it('a worker that leaves the tests failing: retry, then failed after maxAttempts with the test output in lastError', async () => {
    const r = await rig({ task: { maxAttempts: 2 } });
    const t0 = await r.scheduler.add({ title: 'Never fixed [demo:worker-fails]', description: '', repo: r.repo });
    const t = await until(r, t0.id, ['failed', 'done', 'blocked'], 90_000);
    assert.equal(t.status, 'failed');
    assert.equal(t.attempt, 2);
    assert.equal(t.phase, 'impl');
    assert.match(t.lastError ?? '', /borg\.testCommand \(sh run-tests\.sh\) exited with 1/);
    assert.match(t.lastError ?? '', new RegExp(`task ${t.id}: done/task-${t.id} is missing`));
    assert.deepEqual(r.history.get(t.id), ['backlog', 'spec', 'qa', 'impl', 'test', 'retry', 'impl', 'test', 'failed']);
    const runs = r.tasks.runs(t.id);
    assert.deepEqual(
      runs.map((x) => `${x.phase}:${x.outcome}:${x.attempt}`),
      ['spec:ok:0', 'qa:ok:0', 'impl:ok:0', 'test:failed:0', 'impl:ok:1', 'test:failed:1'],
    );
    assert.equal(runs[3].exitCode, 1);
    // The retried worker saw why the first attempt failed.
    const input = JSON.parse(r.h.stateDirs.readFile(runs[4].agent!, 'input.json')!) as { prompt: string };
    assert.match(input.prompt, /The previous attempt failed:[\s\S]*is missing/);
  });

  it('an agent that exits 0 without a result line is a failed attempt with a clear lastError', async () => {
    const r = await rig({ image: undefined, task: { maxAttempts: 1 } });
    r.h.settings.image = SILENT;
    const t0 = await r.scheduler.add({ title: 'Silent agent', description: '', repo: r.repo });
    const t = await until(r, t0.id, ['failed', 'done', 'blocked'], 30_000);
    assert.equal(t.status, 'failed');
    assert.equal(t.attempt, 1);
    assert.equal(t.phase, 'spec');
    assert.match(t.lastError ?? '', /The manager agent exited 0 without a result line/);
    const [run] = r.tasks.runs(t.id);
    assert.equal(run.outcome, 'failed');
    assert.equal(run.exitCode, 0);
    assert.match(run.error ?? '', /without a result line/);
  });

  it('"Not logged in" blocks the task without spending an attempt; retry() and unblockAll() resume it', async () => {
    const r = await rig({ task: { maxAttempts: 1 } });
    r.h.settings.image = AUTH_FAIL;
    const a = await r.scheduler.add({ title: 'Blocked one', description: '', repo: r.repo });
    const b = await r.scheduler.add({ title: 'Blocked two', description: '', repo: r.repo });
    for (const id of [a.id, b.id]) {
      const t = await until(r, id, ['blocked', 'failed', 'done'], 30_000);
      assert.equal(t.status, 'blocked');
      assert.equal(t.attempt, 0, 'no attempt spent');
      assert.equal(t.phase, 'spec');
      assert.match(t.lastError ?? '', /could not authenticate[\s\S]*Not logged in/);
      assert.deepEqual(
        r.tasks.runs(id).map((x) => x.outcome),
        ['blocked'],
      );
    }
    r.scheduler.dispatch();
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(r.scheduler.activeIds, [], 'blocked tasks are not dispatched');

    r.h.settings.image = DEMO_IMAGE; // "the key was set"
    assert.equal(r.scheduler.retry(a.id).status, 'retry');
    assert.equal(r.scheduler.unblockAll(), 1);
    for (const id of [a.id, b.id]) {
      const t = await until(r, id, ['done', 'failed', 'blocked'], 60_000);
      assert.equal(t.status, 'done', `task ${id}: ${t.lastError}`);
      assert.equal(t.attempt, 0);
    }
  });
});

describe('Scheduler: what a task needs and where it ends', () => {
  it('refuses a repository with no commit at add, naming what to do, adding nothing', async () => {
    const r = await rig();
    const empty = path.join(r.h.dir, 'empty');
    fs.mkdirSync(empty);
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: empty });
    fs.writeFileSync(path.join(empty, 'README.md'), 'not committed\n');
    await assert.rejects(
      r.scheduler.add({ title: 'Nothing to branch from', description: '', repo: empty }),
      (e: unknown) => e instanceof NoCommitError && /^Commit at least once first: a task branches from HEAD, and \S+ has no commit yet\. Commit your files/.test(e.message),
    );
    assert.deepEqual(r.tasks.list(), []);
    assert.equal(fs.existsSync(r.worktreeRoot), false, 'no worktree was made');
  });

  it('Merge marks a done task merged; merging it again is refused, changing nothing', async () => {
    const r = await rig();
    // A done task as the phases leave it: a branch with a commit off main.
    const t0 = r.tasks.add({ title: 'Merged once', description: '', repo: r.repo, maxAttempts: 3 });
    execFileSync('git', ['branch', 'borg/task-1'], { cwd: r.repo });
    const wt = path.join(r.h.dir, 'wt');
    execFileSync('git', ['worktree', 'add', '-q', wt, 'borg/task-1'], { cwd: r.repo });
    fs.writeFileSync(path.join(wt, 'done.txt'), 'ok\n');
    execFileSync('git', ['add', '-A'], { cwd: wt });
    execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'work'], { cwd: wt });
    r.tasks.update(t0.id, { status: 'done', branch: 'borg/task-1', baseBranch: 'main', worktree: wt });
    const merged = await r.scheduler.merge(t0.id);
    assert.equal(merged.status, 'merged');
    assert.equal(r.tasks.get(t0.id)!.status, 'merged');
    const head = gitOut(r.repo, 'rev-parse', 'main');
    await assert.rejects(r.scheduler.merge(t0.id), /^RefusedError: Task 1 is already merged into main; there is nothing left to merge\.$/);
    assert.equal(gitOut(r.repo, 'rev-parse', 'main'), head, 'main did not move');
    assert.ok(!r.tasks.dispatchable().some((t) => t.id === t0.id), 'a merged task is never dispatched');
  });

  it("tells the views a phase's agent as soon as it is launched, not when it ends", async () => {
    const r = await rig();
    r.h.settings.image = SLOW;
    let named: string | undefined;
    r.scheduler.onDidChange(() => {
      const run = r.tasks.runs(1).find((x) => x.outcome === 'running' && x.agent);
      named ??= run?.agent ?? undefined;
    });
    const t0 = await r.scheduler.add({ title: 'Name my agent', description: '', repo: r.repo });
    await waitFor(() => named !== undefined, 15_000, 'a change naming the running agent');
    assert.match(named!, new RegExp(`^${r.h.prefix}-manager-\\d+$`));
    assert.equal((await inspectOrUndefined(named!))?.State.Running, true, 'it is still running');
    await withTimeout(r.scheduler.cancel(t0.id), 15_000, 'cancel');
  });
});

describe('Scheduler: dispatch order', () => {
  it('retry > impl > qa > spec > backlog, then oldest first; other statuses never', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-order-'));
    const store = await Store.open(path.join(dir, 'borg.sqlite'));
    try {
      const tasks = new TaskStore(store);
      const rows: Array<[string, TaskStatus, number]> = [
        ['backlog old', 'backlog', 1_000],
        ['backlog new', 'backlog', 9_000],
        ['spec', 'spec', 5_000],
        ['qa new', 'qa', 8_000],
        ['qa old', 'qa', 2_000],
        ['impl', 'impl', 7_000],
        ['retry new', 'retry', 6_000],
        ['retry old', 'retry', 3_000],
        ['done', 'done', 1],
        ['failed', 'failed', 1],
        ['blocked', 'blocked', 1],
        ['cancelled', 'cancelled', 1],
      ];
      for (const [title, status, createdAt] of rows) {
        const t = tasks.add({ title, description: '', repo: dir, maxAttempts: 3 });
        tasks.update(t.id, { status });
        store.execute('UPDATE tasks SET created_at = ? WHERE id = ?', [createdAt, t.id]);
      }
      // Same status and age: the lower id first.
      const tie = tasks.add({ title: 'backlog tie', description: '', repo: dir, maxAttempts: 3 });
      store.execute('UPDATE tasks SET created_at = ? WHERE id = ?', [9_000, tie.id]);
      assert.deepEqual(
        tasks.dispatchable().map((t) => t.title),
        ['retry old', 'retry new', 'impl', 'qa old', 'qa new', 'spec', 'backlog old', 'backlog new', 'backlog tie'],
      );
    } finally {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Scheduler: cancel', () => {
  it('cancel during a phase stops its container, keeps the worktree, marks the task cancelled', async () => {
    const r = await rig();
    r.h.settings.image = SLOW;
    const t0 = await r.scheduler.add({ title: 'Cancel me', description: '', repo: r.repo });
    await waitFor(() => r.tasks.runs(t0.id).some((x) => x.outcome === 'running' && x.agent), 15_000, 'the manager to run');
    const agent = r.tasks.runs(t0.id)[0].agent!;
    assert.equal((await inspectOrUndefined(agent))?.State.Running, true);
    const started = Date.now();
    const t = await withTimeout(r.scheduler.cancel(t0.id), 15_000, 'cancel');
    const took = Date.now() - started;
    assert.equal(t.status, 'cancelled');
    assert.equal(r.tasks.get(t0.id)!.status, 'cancelled');
    assert.deepEqual(r.scheduler.activeIds, []);
    const info = await inspectOrUndefined(agent);
    assert.equal(info?.State.Running, false, 'the container was stopped');
    assert.equal(info?.State.ExitCode, 143, 'SIGTERM, not the grace kill');
    assert.ok(took < 5_000, `cancel took ${took} ms`);
    assert.ok(fs.existsSync(path.join(t.worktree!, 'README.md')), 'the worktree stays');
    assert.equal(r.tasks.runs(t0.id)[0].outcome, 'cancelled');
    assert.ok(r.h.store.listEvents().some((e) => e.kind === 'task-cancelled'));
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(r.scheduler.activeIds, [], 'a cancelled task is not dispatched again');
  });

  it('cancel right after add, while the container is being created, still stops it', async () => {
    const r = await rig();
    r.h.settings.image = SLOW;
    const t0 = await r.scheduler.add({ title: 'Cancel early', description: '', repo: r.repo });
    const started = Date.now();
    const t = await withTimeout(r.scheduler.cancel(t0.id), 20_000, 'cancel');
    const took = Date.now() - started;
    assert.equal(t.status, 'cancelled');
    const running = await docker.listContainers({ filters: { name: [`^/${r.h.prefix}-`], status: ['running'] } });
    assert.deepEqual(
      running.map((c) => c.Names[0]),
      [],
      'no agent keeps running',
    );
    assert.ok(took < 10_000, `cancel took ${took} ms (the agent would run 60 s)`);
  });
});

describe('Scheduler: task accounting', () => {
  it('Stop All interrupts the running phase (no attempt spent, no relaunch) and pauses dispatch until resume()', async () => {
    const r = await rig();
    r.h.settings.image = SLOW;
    const t0 = await r.scheduler.add({ title: 'Stop all of it', description: '', repo: r.repo });
    await waitFor(() => r.tasks.runs(t0.id).some((x) => x.outcome === 'running' && x.agent), 15_000, 'the manager to run');
    r.scheduler.pause();
    await withTimeout(r.h.pipeline.stopAll(), 15_000, 'stopAll');
    await until(r, t0.id, ['spec'], 15_000);
    const t = r.tasks.get(t0.id)!;
    assert.equal(t.attempt, 0, 'no attempt spent');
    assert.equal(t.lastError, null);
    assert.deepEqual(
      r.tasks.runs(t0.id).map((x) => x.outcome),
      ['interrupted'],
    );
    assert.equal(r.scheduler.paused, true);
    r.scheduler.dispatch(); // the safety timer, an add, a config change: nothing starts while paused
    assert.deepEqual(r.scheduler.activeIds, []);
    r.h.settings.image = DEMO_IMAGE;
    r.scheduler.resume();
    assert.deepEqual(r.scheduler.activeIds, [t0.id], 'resume dispatches at once');
    await until(r, t0.id, ['done', 'failed', 'blocked'], 60_000);
    assert.equal(r.tasks.get(t0.id)!.status, 'done');
  });

  it('Stop Agent on a task agent is an interruption, not "failed: exited with 143"', async () => {
    const r = await rig();
    r.h.settings.image = SLOW;
    const t0 = await r.scheduler.add({ title: 'Stop one', description: '', repo: r.repo });
    await waitFor(() => r.tasks.runs(t0.id).some((x) => x.outcome === 'running' && x.agent), 15_000, 'the manager to run');
    const agent = r.tasks.runs(t0.id)[0].agent!;
    r.scheduler.pause(); // keep the interrupted phase from starting again while we look
    await withTimeout(r.h.pipeline.stopAgent(agent), 15_000, 'stopAgent');
    await until(r, t0.id, ['spec'], 15_000);
    assert.equal(r.tasks.get(t0.id)!.attempt, 0);
    assert.equal(r.tasks.runs(t0.id)[0].outcome, 'interrupted');
  });

  it('a container removed outside Borg mid-phase says so and spends no attempt', async () => {
    const r = await rig();
    r.h.settings.image = SLOW;
    const t0 = await r.scheduler.add({ title: 'Removed by hand', description: '', repo: r.repo });
    await waitFor(() => r.tasks.runs(t0.id).some((x) => x.outcome === 'running' && x.agent), 15_000, 'the manager to run');
    const agent = r.tasks.runs(t0.id)[0].agent!;
    r.scheduler.pause();
    await docker.getContainer(agent).remove({ force: true });
    await until(r, t0.id, ['spec'], 15_000);
    const t = r.tasks.get(t0.id)!;
    assert.equal(t.attempt, 0);
    assert.match(t.lastError ?? '', /removed outside Borg/);
    assert.equal(r.tasks.runs(t0.id)[0].outcome, 'lost');
  });

  it('cancel of a phase waiting for a slot is immediate: it never takes the slot', async () => {
    const r = await rig({ maxParallel: 1 });
    r.h.settings.image = SLOW;
    const hog = await r.h.pipeline.launch('worker', { input: { sleepSeconds: 60 } }); // holds the only slot
    const t0 = await r.scheduler.add({ title: 'Waiting', description: '', repo: r.repo });
    await waitFor(() => r.h.pipeline.queuedCount === 1, 15_000, 'the phase to queue for the slot');
    const t = await withTimeout(r.scheduler.cancel(t0.id), 2_000, 'cancel of the queued phase');
    assert.equal(t.status, 'cancelled');
    assert.equal(r.h.pipeline.queuedCount, 0);
    assert.equal(hog.agent.state, 'running', 'the slot holder is untouched');
    assert.deepEqual((await docker.listContainers({ all: true, filters: { name: [`^/${r.h.prefix}-manager-`] } })).length, 0, 'no container was made for it');
    await r.h.pipeline.stopAgent(hog.name);
  });

  it('nothing is dispatched before start() (recovery first), whatever calls dispatch()', async () => {
    const h = await harness({ settings: { image: DEMO_IMAGE } });
    const repo = makeRepo(path.join(h.dir, 'repo'));
    const tasks = new TaskStore(h.store);
    const scheduler = new Scheduler({
      pipeline: h.pipeline,
      tasks,
      git: new Git(),
      prompts: new Prompts(PROMPTS),
      worktreeRoot: path.join(h.dir, 'worktrees'),
      settings: () => ({ ...DEFAULT_TASK_SETTINGS, testCommand: '' }),
    });
    h.defer(async () => {
      scheduler.stop();
      await withTimeout(scheduler.join(), 15_000, 'scheduler.join');
      scheduler.dispose();
    });
    const t0 = await scheduler.add({ title: 'Early', description: '', repo });
    scheduler.dispatch();
    assert.deepEqual(scheduler.activeIds, [], 'add() and dispatch() start nothing before start()');
    assert.equal(tasks.get(t0.id)!.status, 'backlog');
    scheduler.start();
    assert.deepEqual(scheduler.activeIds, [t0.id]);
  });

  it('a task whose branch and worktree names are taken (another database, an earlier #1) gets free ones', async () => {
    const r = await rig();
    execFileSync('git', ['branch', 'borg/task-1'], { cwd: r.repo }); // left by another database's task 1
    const t0 = await r.scheduler.add({ title: 'Collide', description: '', repo: r.repo });
    assert.equal(t0.id, 1);
    assert.equal(t0.branch, 'borg/task-1-2');
    assert.match(t0.worktree ?? '', /task-1-2$/);
    await until(r, t0.id, ['done', 'failed', 'blocked'], 60_000);
    assert.equal(r.tasks.get(t0.id)!.status, 'done');
  });
});

describe('Scheduler: shutdown', () => {
  it('stop() kills a running test command: join() is prompt and the task resumes at its test phase', async () => {
    const r = await rig({ task: { testCommand: 'sleep 30; sh run-tests.sh' } });
    const t0 = await r.scheduler.add({ title: 'Slow tests', description: '', repo: r.repo });
    await waitFor(() => r.tasks.get(t0.id)!.status === 'test', 30_000, 'the test phase');
    await new Promise((res) => setTimeout(res, 200));
    const started = Date.now();
    r.scheduler.stop();
    await r.h.pipeline.shutdown('detach');
    await withTimeout(r.scheduler.join(), 5_000, 'join');
    const took = Date.now() - started;
    assert.ok(took < 2_000, `shutdown took ${took} ms with a 30 s test command running`);
    const t = r.tasks.get(t0.id)!;
    assert.equal(t.status, 'retry', 'dispatchable again');
    assert.equal(t.phase, 'test', 'resumes at the test phase');
    assert.equal(t.attempt, 0, 'no attempt spent');
    const last = r.tasks.runs(t0.id).pop()!;
    assert.deepEqual([last.phase, last.outcome, last.exitCode], ['test', 'interrupted', null]);
  });
});

describe('Scheduler: isolation', () => {
  it('two tasks run in parallel in separate worktrees and branches', async () => {
    const r = await rig();
    const [a, b] = await Promise.all([r.scheduler.add({ title: 'First', description: '', repo: r.repo }), r.scheduler.add({ title: 'Second', description: '', repo: r.repo })]);
    const [ta, tb] = [await until(r, a.id, ['done', 'failed', 'blocked'], 60_000), await until(r, b.id, ['done', 'failed', 'blocked'], 60_000)];
    assert.equal(ta.status, 'done', String(ta.lastError));
    assert.equal(tb.status, 'done', String(tb.lastError));
    assert.equal(r.maxActive(), 2, 'both ran at once');
    assert.notEqual(ta.worktree, tb.worktree);
    assert.notEqual(ta.branch, tb.branch);
    for (const t of [ta, tb]) {
      const files = gitOut(r.repo, 'diff', '--name-only', `main...${t.branch}`).trim().split('\n').sort();
      assert.deepEqual(files, [`done/task-${t.id}`, 'spec.md', `tests/task-${t.id}.sh`], `task ${t.id} sees only its own changes`);
      for (const s of gitOut(r.repo, 'log', '--format=%s', `main..${t.branch}`).trim().split('\n')) assert.match(s, new RegExp(`^borg: task ${t.id} `));
    }
    // The agents' runs overlapped in time.
    const specs = [ta, tb].map((t) => r.tasks.runs(t.id)[0]);
    assert.ok(specs[0].startedAt < specs[1].finishedAt! && specs[1].startedAt < specs[0].finishedAt!, 'the two spec runs overlapped');
  });

  it('a title with quotes, $(...), backticks and newlines runs unharmed', async () => {
    const r = await rig();
    const host = path.join(r.h.dir, 'pwned');
    const title = `Fix "quotes" & 'single' $(touch ${host}) \`touch ${host}2\` $(touch /workspace/repo/pwned)\nsecond line`;
    const description = `Line one\n$(touch ${host}3)\n\`touch ${host}4\`; rm -rf / # "; exit 1`;
    const t0 = await r.scheduler.add({ title, description, repo: r.repo });
    const normalized = title.replace(/\s+/g, ' ').trim();
    assert.equal(t0.title, normalized);
    assert.equal(t0.description, description);
    const t = await until(r, t0.id, ['done', 'failed', 'blocked'], 60_000);
    assert.equal(t.status, 'done', String(t.lastError));
    for (const f of [host, `${host}2`, `${host}3`, `${host}4`, path.join(t.worktree!, 'pwned')]) assert.equal(fs.existsSync(f), false, `${f} must not exist`);
    const subjects = gitOut(r.repo, 'log', '--reverse', '--format=%s', `main..${t.branch}`).trim().split('\n');
    assert.deepEqual(
      subjects,
      ['spec (manager)', 'qa (qa)', 'impl (worker)'].map((p) => `borg: task ${t.id} ${p}: ${normalized}`),
    );
    const input = JSON.parse(r.h.stateDirs.readFile(r.tasks.runs(t.id)[0].agent!, 'input.json')!) as { prompt: string };
    assert.ok(input.prompt.includes(normalized) && input.prompt.includes(description), 'the prompt carries the text as it is');
  });
});

describe('Scheduler: the real Claude Code image', () => {
  it('a task phase run in borg-agent-claude without a key gets the CLI\'s genuine "Not logged in" and is blocked', { timeout: 180_000 }, async () => {
    const image = 'borg-agent-claude:latest';
    const present = await new Docker()
      .getImage(image)
      .inspect()
      .then(
        () => true,
        () => false,
      );
    assert.ok(present, `${image} is built by scripts/setup.sh (node scripts/build-claude-image.mjs)`);
    const r = await rig({ task: { maxAttempts: 1 } });
    r.h.settings.image = image;
    const t0 = await r.scheduler.add({ title: 'Say hi', description: 'Only say hi.', repo: r.repo });
    const t = await until(r, t0.id, ['blocked', 'failed', 'done'], 150_000);
    assert.equal(t.status, 'blocked', `lastError: ${t.lastError}`);
    assert.equal(t.attempt, 0, 'no attempt spent');
    assert.match(t.lastError ?? '', /Not logged in/);
    const [run] = r.tasks.runs(t.id);
    assert.equal(run.outcome, 'blocked');
    assert.equal(run.exitCode, 1);
    assert.match(run.sessionId ?? '', /^[0-9a-f-]{36}$/, 'the CLI started a real session');
  });
});

after(removeDerivedImages);
