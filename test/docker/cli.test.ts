/**
 * The headless CLI as users run it: `node dist/cli.js` (build first: node scripts/build.mjs)
 * with a temp --db/--state-dir/--worktrees, against the real dockerd and git: tasks add/ls/show,
 * `run --until-idle`, the database lock, SIGTERM, stale locks, the live display, usage errors.
 */
import { describe, it, after, afterEach, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store } from '../../src/core/store';
import { Task, TaskStore } from '../../src/core/taskStore';
import { workspaceHome, workspaceId, workspaceKeyOf } from '../../src/core/workspace';
import { containerNames, deriveImage, docker, removeContainersWithPrefix, removeDerivedImages, waitFor, withTimeout } from './helpers';

const ROOT = path.join(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');

let counter = 0;
const dirs: string[] = [];
const prefixes: string[] = [];
const children = new Set<ChildProcess>();

async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  for (const p of prefixes.splice(0)) await removeContainersWithPrefix(p);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}
afterEach(cleanup);
after(cleanup);

before(() => {
  assert.ok(fs.existsSync(CLI), `${CLI} is missing: run "node scripts/build.mjs" first`);
});

interface Env {
  dir: string;
  repo: string;
  db: string;
  prefix: string;
  /** The global options for this env. */
  globals: string[];
}

/** A temp dir with a git repo (run-tests.sh + one commit on main), and the CLI's global options pointing into it. */
function env(): Env {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-cli-'));
  dirs.push(dir);
  // Matches the helpers' sweep pattern (bt<pid>x<n>-), so a crashed run's containers are swept too.
  const prefix = `bt${process.pid}x${1000 + ++counter}`;
  prefixes.push(prefix);
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'run-tests.sh'), '#!/bin/sh\nfor f in tests/*.sh; do\n  [ -e "$f" ] || continue\n  sh "$f" || exit 1\ndone\necho "all tests passed"\n');
  git('add', '-A');
  git('-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'initial');
  const db = path.join(dir, 'borg.sqlite');
  return {
    dir,
    repo,
    db,
    prefix,
    globals: ['--db', db, '--state-dir', path.join(dir, 'agents'), '--worktrees', path.join(dir, 'worktrees'), '--prefix', prefix, '--workspace', dir],
  };
}

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves at the child's exit, with `at` = Date.now() then. */
  exited: Promise<Result & { at: number }>;
}

function start(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Running {
  const childEnv = { ...process.env, ...opts.env };
  delete childEnv.ANTHROPIC_API_KEY;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<Result & { at: number }>((resolve) => {
    child.on('exit', (code, signal) => {
      const at = Date.now();
      // Let the pipes drain.
      child.on('close', () => resolve({ code, signal, stdout, stderr, at }));
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function cli(args: string[], timeoutMs = 60_000, opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Result> {
  const r = start(args, opts);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  try {
    return await r.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the tasks from the database file, as a fresh process would (closed without writing). */
async function readTasks(db: string): Promise<{ tasks: Task[]; store: Store; ts: TaskStore }> {
  const store = await Store.open(db);
  assert.equal(store.recoveredFrom, undefined, 'the database file is intact');
  const ts = new TaskStore(store);
  return { tasks: ts.list(), store, ts };
}

/** `borg tasks ls` output as rows of cells (columns are separated by two or more spaces). */
function tableOf(stdout: string): string[][] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => l.split(/\s{2,}/));
}

describe('borg: usage', () => {
  it('usage errors exit 2 with the usage on stderr', async () => {
    const e = env();
    const cases: string[][] = [
      [],
      ['bogus'],
      ['--no-such-option', 'tasks', 'ls'],
      ['tasks'],
      ['tasks', 'frobnicate'],
      ['tasks', 'add', '--title', 'no repo'],
      ['tasks', 'add', '--repo', e.repo],
      ['tasks', 'add', '--repo', e.repo, '--title', 'x', '--max-attempts', 'many'],
      ['tasks', 'show'],
      ['tasks', 'show', 'abc'],
      ['tasks', 'ls', '--title', 'not here'],
      ['run', '--max-agents', '0'],
      ['run', '--max-attempts', '51'],
      ['run', 'extra'],
      ['ls', '--until-idle'],
    ];
    for (const args of cases) {
      const r = await cli([...args, ...(args.length ? e.globals : [])]);
      assert.equal(r.code, 2, `borg ${args.join(' ')} → ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, /usage: borg <command>/, `borg ${args.join(' ')}`);
      assert.equal(r.stdout, '');
    }
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /tasks add --repo PATH --title T/);
    assert.match(help.stdout, /run \[--until-idle\] \[--max-agents N\]/);
    assert.match(help.stdout, /--worktrees PATH/);
    assert.match(help.stdout, /--prompts PATH/);
    assert.equal(fs.existsSync(e.db), false, 'usage errors write nothing');
  });

  it('a limit that breaks its rule is refused with the flag and the rule, exit 2, nothing created', async () => {
    const e = env();
    const cases: Array<[string[], RegExp]> = [
      [['launch', 'worker', '--pids-limit', '3'], /--pids-limit is "3"; it must be a whole number from 16 to 1000000\./],
      [['launch', 'worker', '--memory-mb', 'lots'], /--memory-mb is "lots"; it must be a whole number from 16 to 1048576 MiB\./],
      [['launch', 'worker', '--network', 'host'], /--network is "host"; it must be one of gateway, bridge, none\./],
      [['run', '--test-network', 'host'], /--test-network is "host"; it must be one of none, bridge\./],
      [['run', '--max-cost-usd-per-task', 'lots'], /--max-cost-usd-per-task is "lots"; it must be a number from 0 to 100000 USD\./],
      [['run', '--max-cost-usd-per-day=-1'], /--max-cost-usd-per-day is "-1"; it must be a number from 0 to 1000000 USD\./],
      [['run', '--model-upstream', 'ftp://example.com'], /--model-upstream is "ftp:\/\/example\.com"; it must be an http:\/\/ or https:\/\/ URL, or replay:<file>/],
      [['launch', 'worker', '--egress-allow', 'ok.example.com,not a host'], /--egress-allow: "not a host" is not a host pattern/],
    ];
    for (const [args, want] of cases) {
      const r = await cli([...args, ...e.globals]);
      assert.equal(r.code, 2, `borg ${args.join(' ')} → ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, want);
    }
    assert.deepEqual(await containerNames(e.prefix), [], 'no container was created');
  });
});

describe('borg: --engine and --docker-host', () => {
  it('launch --engine docker --docker-host unix:///var/run/docker.sock starts the agent there; ls over the same flag lists it', async () => {
    const e = env();
    const launch = await cli(['launch', 'worker', '--engine', 'docker', '--docker-host', 'unix:///var/run/docker.sock', '--network', 'none', '--input', '{"sleepSeconds":0}', ...e.globals]);
    assert.equal(launch.code, 0, launch.stderr);
    const [name] = launch.stdout.trim().split(' ');
    assert.equal(name, `${e.prefix}-worker-0`);
    assert.ok(await docker.getContainer(name).inspect());
    const ls = await cli(['ls', '--json', '--engine', 'docker', '--docker-host', 'unix:///var/run/docker.sock', ...e.globals]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok((JSON.parse(ls.stdout) as { containers: Array<{ name: string }> }).containers.some((c) => c.name === name));
  });

  it('two --docker-host reaching one daemon (the socket and a link to it) are refused, exit 1, nothing listed twice', async () => {
    const e = env();
    const link = path.join(e.dir, 'docker.sock');
    fs.symlinkSync('/var/run/docker.sock', link);
    const r = await cli(['ls', '--docker-host', 'unix:///var/run/docker.sock', '--docker-host', `unix://${link}`, ...e.globals]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Docker hosts "local" and "local-2" reach the same daemon/);
    assert.equal(r.stdout, '');
  });
});

describe('borg: one home per workspace', () => {
  it('without --db the database is <BORG_HOME>/workspaces/<id>/borg.sqlite of the current folder or --workspace', async () => {
    const e = env();
    const borgHome = path.join(e.dir, 'home');
    const opts = { cwd: e.repo, env: { BORG_HOME: borgHome } };
    const add = await cli(['tasks', 'add', '--repo', e.repo, '--title', 'in the home'], 60_000, opts);
    assert.equal(add.code, 0, add.stderr);
    const home = workspaceHome(borgHome, workspaceId(workspaceKeyOf(e.repo)));
    assert.deepEqual(
      (await readTasks(home.db)).tasks.map((t) => t.title),
      ['in the home'],
    );
    const fromElsewhere = await cli(['tasks', 'ls', '--json', '--workspace', e.repo], 60_000, { env: opts.env });
    assert.deepEqual(
      (JSON.parse(fromElsewhere.stdout) as { tasks: Task[] }).tasks.map((t) => t.title),
      ['in the home'],
      '--workspace picks the same home',
    );
    const other = await cli(['tasks', 'ls', '--json', '--workspace', e.dir], 60_000, { env: opts.env });
    assert.deepEqual((JSON.parse(other.stdout) as { tasks: Task[] }).tasks, [], 'another workspace has its own database');
    assert.equal(fs.existsSync(workspaceHome(borgHome, workspaceId(workspaceKeyOf(e.dir))).db), false, 'reading creates nothing');
  });

  it('the old shared <home>/borg.sqlite is copied to the first workspace that uses it, with a note, once', async () => {
    const e = env();
    const borgHome = path.join(e.dir, 'home');
    const legacy = path.join(borgHome, 'borg.sqlite');
    const old = await Store.open(legacy);
    new TaskStore(old).add({ title: 'from before', description: '', repo: e.repo, maxAttempts: 1 });
    await old.close();
    const first = await cli(['tasks', 'ls', '--json', '--workspace', e.repo], 60_000, { env: { BORG_HOME: borgHome } });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      (JSON.parse(first.stdout) as { tasks: Task[] }).tasks.map((t) => t.title),
      ['from before'],
    );
    assert.match(first.stderr, new RegExp(`copied the database ${escape(legacy)} .* to this workspace's ${escape(workspaceHome(borgHome, workspaceId(workspaceKeyOf(e.repo))).db)}`));
    assert.ok(fs.existsSync(legacy), 'the old file stays');
    const second = await cli(['tasks', 'ls', '--json', '--workspace', e.dir], 60_000, { env: { BORG_HOME: borgHome } });
    assert.deepEqual((JSON.parse(second.stdout) as { tasks: Task[] }).tasks, [], 'not copied twice');
  });
});

describe('borg tasks', () => {
  it('add / ls / show, in words and as JSON; show 999 and bad input exit 1', async () => {
    const e = env();
    const add1 = await cli(['tasks', 'add', '--repo', path.join(e.repo), '--title', 'First task', ...e.globals]);
    assert.equal(add1.code, 0, add1.stderr);
    assert.equal(add1.stdout, '1\n');
    const add2 = await cli(['tasks', 'add', '--repo', e.repo, '--title', 'Second "quoted" $(x)', '--description', 'line one\nline two', '--max-attempts', '3', '--json', ...e.globals]);
    assert.equal(add2.code, 0, add2.stderr);
    const t2 = JSON.parse(add2.stdout) as Task;
    assert.deepEqual(
      {
        id: t2.id,
        title: t2.title,
        description: t2.description,
        repo: t2.repo,
        status: t2.status,
        phase: t2.phase,
        attempt: t2.attempt,
        maxAttempts: t2.maxAttempts,
        branch: t2.branch,
        worktree: t2.worktree,
        lastError: t2.lastError,
      },
      {
        id: 2,
        title: 'Second "quoted" $(x)',
        description: 'line one\nline two',
        repo: fs.realpathSync(e.repo),
        status: 'backlog',
        phase: 'spec',
        attempt: 0,
        maxAttempts: 3,
        branch: null,
        worktree: null,
        lastError: null,
      },
    );
    assert.equal(typeof t2.createdAt, 'number');
    assert.equal(add2.stdout.trim().split('\n').length, 1, 'one JSON object on one line');

    const ls = await cli(['tasks', 'ls', ...e.globals]);
    assert.equal(ls.code, 0);
    assert.deepEqual(tableOf(ls.stdout), [
      ['ID', 'STATUS', 'PHASE', 'ATTEMPT', 'COST', 'TITLE'],
      ['1', 'backlog', 'spec', '0/5', '$0.00', 'First task'],
      ['2', 'backlog', 'spec', '0/3', '$0.00', 'Second "quoted" $(x)'],
    ]);
    const lsJson = JSON.parse((await cli(['tasks', 'ls', '--json', ...e.globals])).stdout) as { tasks: Task[] };
    assert.deepEqual(Object.keys(lsJson), ['tasks']);
    assert.deepEqual(
      lsJson.tasks.map((t) => [t.id, t.title, t.status]),
      [
        [1, 'First task', 'backlog'],
        [2, 'Second "quoted" $(x)', 'backlog'],
      ],
    );

    const show = await cli(['tasks', 'show', '2', ...e.globals]);
    assert.equal(show.code, 0);
    assert.match(show.stdout, /^task 2: Second "quoted" \$\(x\)\n/);
    assert.match(show.stdout, /status {4}backlog \(phase spec\), attempt 0\/3/);
    assert.match(show.stdout, / {4}line one\n {4}line two/);
    assert.match(show.stdout, /runs: none yet/);
    const showJson = JSON.parse((await cli(['tasks', 'show', '2', '--json', ...e.globals])).stdout) as { task: Task; runs: unknown[]; spentUsd: number };
    assert.deepEqual(Object.keys(showJson), ['task', 'runs', 'spentUsd']);
    assert.equal(showJson.task.id, 2);
    assert.deepEqual(showJson.runs, []);
    assert.equal(showJson.spentUsd, 0);

    const missing = await cli(['tasks', 'show', '999', ...e.globals]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /There is no task 999/);
    assert.equal(missing.stdout, '');

    const notGit = await cli(['tasks', 'add', '--repo', os.tmpdir(), '--title', 'x', ...e.globals]);
    assert.equal(notGit.code, 1);
    assert.match(notGit.stderr, /is not inside a git repository/);
    const empty = await cli(['tasks', 'add', '--repo', e.repo, '--title', '   ', ...e.globals]);
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /A task needs a title/);
    assert.equal((await readTasks(e.db)).tasks.length, 2, 'nothing else was added');
    assert.equal(fs.existsSync(`${e.db}.lock`), false, 'no lock left behind');
  });
});

describe('borg tasks: model spend', () => {
  it('show gives each run its tokens and cost, the task total and why it is blocked; ls a cost column; --json has them', async () => {
    const e = env();
    assert.equal((await cli(['tasks', 'add', '--repo', e.repo, '--title', 'Costly', ...e.globals])).code, 0);
    // What a run leaves in the database: its task run with the metered totals, the gateway's
    // ledger rows (model_usage, schema v4), and a budget block.
    const { store, ts } = await readTasks(e.db);
    const retryAt = Date.UTC(2030, 0, 2, 3, 4, 5);
    const runId = ts.startRun({ taskId: 1, phase: 'spec', attempt: 0, agent: 'bt-manager-1' });
    ts.finishRun(runId, { outcome: 'blocked', exitCode: 1, durationMs: 2_000, costUsd: 0.0123, inputTokens: 1234, outputTokens: 567, error: 'quota' });
    const usage = 'INSERT INTO model_usage (at, agent, run_started_at, task_id, phase, model, status, input_tokens, output_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
    store.execute(usage, [Date.now(), 'bt-manager-1', 1, 1, 'spec', 'claude-sonnet-4-5', 200, 1000, 500, 0.01]);
    store.execute(usage, [Date.now(), 'bt-manager-1', 1, 1, 'spec', 'claude-sonnet-4-5', 200, 234, 67, 0.0023]);
    store.execute(usage, [Date.now(), 'bt-other-1', 1, null, null, 'claude-sonnet-4-5', 200, 9, 9, 1.5]);
    ts.update(1, { status: 'blocked', phase: 'spec', blockedReason: 'quota', retryAt, lastError: 'The model upstream answered 429' });
    await store.close();

    const show = await cli(['tasks', 'show', '1', ...e.globals]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(
      show.stdout,
      /\n {2}status {4}blocked \(phase spec\), attempt 0\/5\n {2}blocked {3}quota, retry after 2030-01-02 03:04:05Z\n {2}to do {5}wait for the rate limit or quota to reset[^\n]*\n {2}spent {5}\$0\.0123 on the model \(all runs\)\n/,
    );
    assert.match(show.stdout, / {2}STARTED .*COMMIT +USAGE +ERROR\n/);
    assert.match(show.stdout, /spec +0 +bt-manager-1 +blocked +1 +2\.0 s +- +in 1,234 · out 567 tok · \$0\.0123 +quota\n/);
    assert.match(show.stdout, /\n {2}total {5}in 1,234 · out 567 tok · \$0\.0123 \(1 run\)\n$/);

    const json = JSON.parse((await cli(['tasks', 'show', '1', '--json', ...e.globals])).stdout) as {
      task: Task;
      runs: Array<{ costUsd: number; inputTokens: number; outputTokens: number }>;
      spentUsd: number;
    };
    assert.equal(json.task.blockedReason, 'quota');
    assert.equal(json.task.retryAt, retryAt);
    assert.equal(json.spentUsd, 0.0123);
    assert.deepEqual(
      json.runs.map((r) => [r.inputTokens, r.outputTokens, r.costUsd]),
      [[1234, 567, 0.0123]],
    );

    const ls = await cli(['tasks', 'ls', ...e.globals]);
    assert.deepEqual(tableOf(ls.stdout), [
      ['ID', 'STATUS', 'PHASE', 'ATTEMPT', 'COST', 'TITLE'],
      ['1', 'blocked:quota', 'spec', '0/5', '$0.0123', 'Costly'],
    ]);
    const lsJson = JSON.parse((await cli(['tasks', 'ls', '--json', ...e.globals])).stdout) as { tasks: Array<Task & { spentUsd: number }> };
    assert.equal(lsJson.tasks[0].spentUsd, 0.0123);
  });
});

describe('borg run', () => {
  it('--until-idle drives a task to done and exits 0; a failing one makes it exit 1', async () => {
    const e = env();
    assert.equal((await cli(['tasks', 'add', '--repo', e.repo, '--title', 'Make it pass', ...e.globals])).code, 0);
    const r = await cli(['run', '--until-idle', '--test-command', 'sh run-tests.sh', '--max-agents', '2', ...e.globals], 120_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    const statuses = lines.filter((l) => / task 1 /.test(l)).map((l) => / task 1 (\w+)/.exec(l)![1]);
    assert.deepEqual(statuses, ['backlog', 'spec', 'qa', 'impl', 'test', 'done'], r.stdout);
    assert.match(r.stdout, new RegExp(`task 1 qa .* — spec ok \\(${e.prefix}-manager-\\d+, exit 0, `));
    assert.match(r.stdout, new RegExp(`task 1 done .* — test ok \\(${e.prefix}-test-\\d+, exit 0, `), 'the test phase ran in a test container');
    assert.match(lines[lines.length - 1], /^borg run: idle — 1 done, 0 failed, 0 blocked, 0 cancelled$/);
    assert.match(r.stderr, /\[borg\] run: database .*up to 2 agents, network gateway, model https:\/\/api\.anthropic\.com, budget \$5 per task and \$50 per day, test command "sh run-tests.sh"/);
    const { tasks, ts } = await readTasks(e.db);
    assert.equal(tasks[0].status, 'done');
    assert.deepEqual(
      ts.runs(1).map((x) => `${x.phase}:${x.outcome}`),
      ['spec:ok', 'qa:ok', 'impl:ok', 'test:ok'],
    );
    assert.equal(execFileSync('git', ['rev-list', '--count', 'main..borg/task-1'], { cwd: e.repo, encoding: 'utf8' }).trim(), '3');
    assert.equal(fs.existsSync(`${e.db}.lock`), false, 'the lock is released');

    const show = await cli(['tasks', 'show', '1', ...e.globals]);
    assert.match(show.stdout, /status {4}done/);
    assert.match(show.stdout, new RegExp(`spec {3}0 {8}${e.prefix}-manager-\\d+ +ok +0 `));

    // A task the worker never fixes, one attempt: failed → exit 1.
    assert.equal((await cli(['tasks', 'add', '--repo', e.repo, '--title', 'Broken [demo:worker-fails]', ...e.globals])).code, 0);
    const f = await cli(['run', '--until-idle', '--test-command', 'sh run-tests.sh', '--max-attempts', '1', ...e.globals], 120_000);
    assert.equal(f.code, 1, `${f.stdout}\n${f.stderr}`);
    assert.match(f.stdout, /task 2 failed \(impl\) +attempt 1\/1 .*: borg\.testCommand \(sh run-tests\.sh\) exited with 1 in \S+-test-\d+:/);
    assert.match(f.stdout, /borg run: idle — 0 done, 1 failed \(#2\), 0 blocked, 0 cancelled/);
  });

  it('a second run on the same database refuses (exit 1, naming the lock file and pid); tasks add hands the task to the running one; ls still reads', async () => {
    const e = env();
    const first = start(['run', '--test-command', 'sh run-tests.sh', ...e.globals]);
    await waitFor(() => /\[borg\] run:/.test(first.stderr()), 20_000, 'the first run to start');
    const lock = fs.readFileSync(`${e.db}.lock`, 'utf8');
    assert.match(lock, new RegExp(`^${first.child.pid}\\nrun\\n`));

    const second = await cli(['run', '--until-idle', ...e.globals]);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`Another borg run \\(pid ${first.child.pid}.*is using the database ${escape(e.db)} \\(lock file ${escape(e.db)}\\.lock\\)`));
    assert.equal(fs.readFileSync(`${e.db}.lock`, 'utf8'), lock, 'the lock is untouched');

    // A task added now goes to the running scheduler, which runs it.
    const add = await cli(['tasks', 'add', '--repo', e.repo, '--title', 'Handed over', '--json', ...e.globals]);
    assert.equal(add.code, 0, add.stderr);
    const task = JSON.parse(add.stdout) as Task;
    assert.equal(task.id, 1);
    await waitFor(() => / task 1 done /.test(first.stdout()), 90_000, 'the running scheduler to finish the handed-over task');
    // The running scheduler keeps the file current: readers see its progress.
    await waitFor(async () => (await readTasks(e.db)).tasks[0]?.status === 'done', 5_000, 'the file to show done');
    const ls = await cli(['tasks', 'ls', ...e.globals]);
    assert.equal(ls.code, 0);
    assert.match(ls.stdout, /1 +done +- +- +\$0\.00 +Handed over/);
    assert.match(ls.stderr, new RegExp(`borg run \\(pid ${first.child.pid}.*is working on these tasks`));
    // Agent commands that write the database refuse while the run holds it.
    const launch = await cli(['launch', 'worker', ...e.globals]);
    assert.equal(launch.code, 1);
    assert.match(launch.stderr, /borg run \(pid \d+.*is using the database/);

    first.child.kill('SIGINT');
    const r = await first.exited;
    assert.equal(r.code, 130);
    assert.equal(fs.existsSync(`${e.db}.lock`), false);
  });

  it('SIGTERM exits within 2 s, detaching the agent; the database is intact; the next run adopts the running phase and finishes the task', async () => {
    const e = env();
    // Runs until the test puts "go" in its state dir, then reports a result: the adopted phase then ends normally.
    const slow = await deriveImage(
      'cli-slow',
      `trap 'exit 143' TERM; cat >/dev/null; echo '{"type":"system","subtype":"init","session_id":"slow"}'; while [ ! -e /home/agent/state/go ]; do sleep 0.2; done; echo '{"type":"result","subtype":"success","is_error":false,"result":"spec written"}'`,
    );
    assert.equal((await cli(['tasks', 'add', '--repo', e.repo, '--title', 'Interrupted', ...e.globals])).code, 0);
    const run = start(['run', '--image', slow, '--test-command', 'sh run-tests.sh', ...e.globals]);
    let agent = '';
    await waitFor(
      async () => {
        const rows = await docker.listContainers({ filters: { name: [`^/${e.prefix}-manager-`], status: ['running'] } });
        agent = rows[0]?.Names[0].slice(1) ?? '';
        return agent !== '';
      },
      30_000,
      'the manager agent to run',
    );
    await new Promise((res) => setTimeout(res, 500));
    const sent = Date.now();
    run.child.kill('SIGTERM');
    const r = await run.exited;
    const took = r.at - sent;
    console.log(`[shutdown] SIGTERM → exit: ${took} ms`);
    assert.ok(took < 2_000, `exited ${took} ms after SIGTERM`);
    assert.equal(r.code, 143, r.stderr);
    assert.match(r.stderr, /SIGTERM: stopping the scheduler, detaching running agents, writing the database/);
    assert.equal(fs.existsSync(`${e.db}.lock`), false, 'the lock is released');
    assert.equal((await docker.getContainer(agent).inspect()).State.Running, true, 'detached: the agent keeps running');

    const { tasks, ts } = await readTasks(e.db);
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0].status, 'spec', 'the interrupted phase runs again');
    assert.equal(tasks[0].attempt, 0);
    assert.deepEqual(
      ts.runs(1).map((x) => [x.phase, x.outcome, x.agent]),
      [['spec', 'interrupted', agent]],
    );

    // The next run adopts the agent and takes its phase back (as the extension does), instead of
    // running the phase again next to it: the phase ends when the agent does, and the task finishes.
    const next = start(['run', '--until-idle', '--test-command', 'sh run-tests.sh', ...e.globals]);
    await waitFor(async () => /took back the running phases of tasks 1\b/.test(next.stderr()), 30_000, 'the next run to take the phase back');
    assert.match(next.stderr(), new RegExp(`adopted \\[${agent}\\]`));
    fs.writeFileSync(path.join(e.dir, 'agents', agent, 'go'), '');
    const done = await withTimeout(next.exited, 120_000, 'the next run');
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    assert.equal((await docker.getContainer(agent).inspect()).State.ExitCode, 0, 'the adopted agent finished its phase');
    const after = await readTasks(e.db);
    assert.equal(after.tasks[0].status, 'done');
    assert.deepEqual(
      after.ts
        .runs(1)
        .filter((x) => x.phase === 'spec')
        .map((x) => [x.outcome, x.agent]),
      [
        ['interrupted', agent],
        ['ok', agent],
      ],
    );
  });

  it('a stale lock (its pid is gone) is taken over with a note', async () => {
    const e = env();
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((res) => dead.on('exit', res));
    fs.writeFileSync(`${e.db}.lock`, `${dead.pid}\nrun\n2020-01-01T00:00:00.000Z\n`);
    const r = await cli(['run', '--until-idle', ...e.globals]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`took over the stale lock ${escape(e.db)}\\.lock of pid ${dead.pid} \\(borg run\\), which is no longer running`));
    assert.match(r.stdout, /borg run: nothing to run/);
    assert.equal(fs.existsSync(`${e.db}.lock`), false);
    assert.equal(fs.existsSync(`${e.db}.inbox`), false, 'the empty inbox is removed');
  });

  it('eight processes racing for one stale lock: exactly one takes it over', async () => {
    const e = env();
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((res) => dead.on('exit', res));
    fs.writeFileSync(`${e.db}.lock`, `${dead.pid}\nrun\n`);
    const lockJs = path.join(ROOT, 'out', 'src', 'cli', 'lock.js');
    // Each process tries once, reports, and holds what it got until every process has reported
    // (the parent then closes their stdin), so a slow starter cannot arrive after a release.
    const script = `const { DbLock } = require(${JSON.stringify(lockJs)});
      const r = DbLock.tryAcquire(${JSON.stringify(e.db)}, 'race');
      console.log(JSON.stringify({ won: !!r.lock, holder: r.holder ? r.holder.pid : null, tookOver: r.tookOverFrom ? r.tookOverFrom.pid : null }));
      process.stdin.resume();
      process.stdin.on('end', () => { if (r.lock) r.lock.release(); process.exit(0); });`;
    const procs = Array.from({ length: 8 }, () => spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] }));
    procs.forEach((c) => children.add(c));
    const results = await Promise.all(
      procs.map(
        (c) =>
          new Promise<{ won: boolean; holder: number | null; tookOver: number | null; pid: number }>((resolve, reject) => {
            let out = '';
            c.stdout!.on('data', (d) => {
              out += d;
              if (!out.includes('\n')) return;
              try {
                resolve({ ...JSON.parse(out), pid: c.pid! });
              } catch (err) {
                reject(new Error(`bad output "${out}": ${err}`));
              }
            });
            c.on('exit', () => reject(new Error(`exited early: "${out}"`)));
          }),
      ),
    );
    for (const c of procs) c.stdin!.end();
    await Promise.all(procs.map((c) => new Promise((res) => (c.exitCode !== null ? res(null) : c.on('exit', res)))));
    const winners = results.filter((r) => r.won);
    assert.equal(winners.length, 1, JSON.stringify(results));
    assert.equal(winners[0].tookOver, dead.pid);
    for (const r of results.filter((x) => !x.won)) assert.equal(r.holder, winners[0].pid, 'the losers see the winner');
    assert.equal(fs.existsSync(`${e.db}.lock`), false, 'released at the end');
    assert.equal(fs.existsSync(`${e.db}.lock.takeover`), false);
  });

  it('on a terminal: a live table redrawn in place; a blocked task (image missing) exits 1', async () => {
    const e = env();
    assert.equal((await cli(['tasks', 'add', '--repo', e.repo, '--title', 'No image', ...e.globals])).code, 0);
    const cmd = [process.execPath, CLI, 'run', '--until-idle', '--image', 'borg-no-such-image:never', ...e.globals].map(shellQuote).join(' ');
    const r = await new Promise<Result>((resolve) => {
      // script(1) gives the CLI a pseudo-terminal; -e passes its exit code through.
      const child = spawn('script', ['-qefc', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '100', LINES: '30' } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /\x1b\[\d+A\x1b\[J/, 'redraws in place (cursor up, clear)');
    assert.match(r.stdout, /ID +STATUS +ATTEMPT +AGENT +TIME +TITLE/);
    assert.match(r.stdout, /borg run · 0 running · 0 queued · 0 done · 0 failed · 1 blocked/);
    assert.match(r.stdout, /task 1 blocked \(spec\) .*: The agent image "borg-no-such-image:never" is not present/);
    assert.match(r.stdout, /borg run: idle — 0 done, 0 failed, 1 blocked \(#1\), 0 cancelled/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

after(removeDerivedImages);
