/**
 * The model gateway end to end, on the real dockerd with the real Claude image: the whole
 * Runtime (extension and `borg run` build the same one), agents with network `gateway` (no
 * network, the gateway's socket mounted), a scripted model served by the gateway itself from a
 * recording (`replay:<file>`) or by a local test server as the upstream. Traffic stays on this
 * machine: loopback, the docker bridge address and the tests' own containers.
 *
 * - A task runs spec → qa → impl → test → done with the real CLI's real tools (Write): one commit
 *   per phase, tokens and cost from the metered `usage`.
 * - The key is never inside: an agent dumping its environment, /proc/<pid>/environ and its state
 *   dir shows no key; `docker inspect` neither; the upstream got it.
 * - Egress: from inside, a host server is unreachable (also its bridge address), the gateway is
 *   reachable, a domain outside borg.egressAllow is refused and logged; the same agent on
 *   `bridge` does reach the host server (the check can fail).
 * - Budget: a model that keeps calling tools crosses a $0.01 cap → blocked "budget" within one
 *   request; raising the cap and Retry resumes it.
 * - Upstream 401 → blocked auth, 429 → blocked quota with the retry time, unreachable → back in
 *   the queue, no attempt spent.
 */
import { execFileSync } from 'node:child_process';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { DEFAULT_GATEWAY_SETTINGS, GatewaySettings } from '../../src/core/gateway/gateway';
import { readEgressAllow } from '../../src/core/gateway/egress';
import { scriptedRun, ScriptStep, writeRecording } from '../../src/core/gateway/script';
import { Git } from '../../src/core/git';
import { DEFAULT_SETTINGS } from '../../src/core/pipeline';
import { Prompts } from '../../src/core/prompts';
import { Runtime } from '../../src/core/runtime';
import { DEFAULT_TASK_SETTINGS, TaskSettings } from '../../src/core/scheduler';
import { StateDirs } from '../../src/core/stateDirs';
import type { Task, TaskStatus } from '../../src/core/taskStore';
import { cleanupAll, docker, fileLines, harness, Harness, makeRepo, waitFor, withTimeout } from './helpers';

const IMAGE = 'borg-agent-claude:latest';
const PROMPTS = path.join(__dirname, '..', '..', '..', 'media', 'prompts');
const REPO_MOUNT = '/workspace/repo';
const KEY = `sk-ant-gatewaytest-${process.pid}-secret`;

afterEach(cleanupAll);
after(cleanupAll);

interface Rig {
  h: Harness;
  rt: Runtime;
  repo: string;
  gateway: GatewaySettings;
  task: TaskSettings;
  add(title: string): Task;
  settled(id: number, statuses: TaskStatus[], ms?: number): Promise<Task>;
}

/** A long Runtime over the real daemon with the Claude image, a repository and the gateway (settings mutable, read per request). */
async function rig(o: { gateway?: Partial<GatewaySettings>; task?: Partial<TaskSettings>; key?: string } = {}): Promise<Rig> {
  const h = await harness({ settings: { image: IMAGE, maxParallelAgents: 1 } });
  const repo = makeRepo(path.join(h.dir, 'repo'));
  const gateway: GatewaySettings = { ...DEFAULT_GATEWAY_SETTINGS, ...o.gateway };
  const task: TaskSettings = { ...DEFAULT_TASK_SETTINGS, testCommand: 'sh run-tests.sh', testTimeoutSeconds: 60, ...o.task };
  const rt = new Runtime({
    kind: 'long',
    engine: h.engine,
    store: h.store,
    stateDirs: new StateDirs(h.stateRoot),
    workspaceId: h.workspaceId,
    settings: () => h.settings,
    taskSettings: () => task,
    gatewaySettings: () => gateway,
    apiKey: async () => o.key ?? KEY,
    gatewayRoot: path.join(h.dir, 'gateway'),
    git: new Git(),
    prompts: new Prompts(PROMPTS),
    worktreeRoot: path.join(h.dir, 'worktrees'),
  });
  h.defer(() => rt.shutdown('stop'));
  await rt.start();
  const r: Rig = {
    h,
    rt,
    repo,
    gateway,
    task,
    add: (title) => {
      const t = rt.tasks.add({ title, description: `${title}.`, repo, maxAttempts: 3 });
      rt.scheduler.dispatch();
      return t;
    },
    settled: async (id, statuses, ms = 240_000) => {
      await waitFor(() => statuses.includes(rt.tasks.get(id)!.status) && !rt.scheduler.activeIds.includes(id), ms, `task ${id} to be ${statuses.join(' or ')}`);
      return rt.tasks.get(id)!;
    },
  };
  return r;
}

/** Writes a recording of one run per entry into the rig's folder and returns `replay:<file>`. */
function replayOf(h: Harness, runs: Array<{ persona: string; phase: string; steps: ScriptStep[] }>): string {
  const file = path.join(h.dir, `scripted-${Math.random().toString(36).slice(2)}.jsonl`);
  writeRecording(
    file,
    runs.map((r) => scriptedRun(r.persona, r.steps, { phase: r.phase })),
    'scripted by test/docker/gateway.test.ts',
  );
  return `replay:${file}`;
}

const write = (file: string, content: string): ScriptStep => ({ tool: 'Write', input: { file_path: `${REPO_MOUNT}/${file}`, content } });

function gitIn(repo: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
}

/** A local upstream on 127.0.0.1 answering every request with `answer`; requests are kept. */
async function localUpstream(h: Harness, answer: (res: http.ServerResponse, body: string) => void) {
  const seen: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ headers: req.headers, body });
      answer(res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.defer(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

describe('model gateway with the real Claude Code CLI (borg-agent-claude:latest)', () => {
  before(async () => {
    await docker.getImage(IMAGE).inspect(); // built by scripts/setup.sh (claudeImage.test.ts checks it is current)
  });

  it('runs a task spec → qa → impl → test → done through the gateway: real tools, one commit per phase, tokens and cost metered', { timeout: 300_000 }, async () => {
    const h = await harness();
    const upstream = replayOf(h, [
      { persona: 'manager', phase: 'spec', steps: [write('spec.md', '# Greeting\nhello.txt says hello.\n'), { text: 'Wrote spec.md.' }] },
      { persona: 'qa', phase: 'qa', steps: [write('tests/hello.sh', 'grep -qx hello hello.txt\n'), { text: 'Added a failing test.' }] },
      {
        persona: 'worker',
        phase: 'impl',
        // The worker's own tools: Read, Edit and Bash (manager and qa have Read, Glob, Grep, Write).
        steps: [
          { tool: 'Read', input: { file_path: `${REPO_MOUNT}/README.md` } },
          { tool: 'Edit', input: { file_path: `${REPO_MOUNT}/README.md`, old_string: '# test repo', new_string: '# test repo\n\nSays hello.' } },
          { tool: 'Bash', input: { command: `printf 'hello\\n' > ${REPO_MOUNT}/hello.txt`, description: 'Write hello.txt' } },
          { text: 'Implemented it.', usage: { inputTokens: 1200, outputTokens: 80 } },
        ],
      },
      // A manager that tries Bash (not among its tools): the CLI refuses it, nothing runs.
      { persona: 'manager', phase: 'spec', steps: [{ tool: 'Bash', input: { command: `touch ${REPO_MOUNT}/manager-ran-bash`, description: 'x' } }, { text: 'Tried.' }] },
    ]);
    const r = await rig({ gateway: { upstream } });
    assert.equal(r.rt.gateway?.replay, true);
    const t = r.add('Say hello');
    const done = await r.settled(t.id, ['done', 'failed', 'blocked']);
    assert.equal(done.status, 'done', done.lastError ?? '');
    const wt = done.worktree!;
    assert.equal(fs.readFileSync(path.join(wt, 'spec.md'), 'utf8'), '# Greeting\nhello.txt says hello.\n');
    assert.equal(fs.readFileSync(path.join(wt, 'tests', 'hello.sh'), 'utf8'), 'grep -qx hello hello.txt\n');
    assert.equal(fs.readFileSync(path.join(wt, 'hello.txt'), 'utf8'), 'hello\n', 'the worker ran Bash');
    assert.equal(fs.readFileSync(path.join(wt, 'README.md'), 'utf8'), '# test repo\n\nSays hello.\n', 'the worker used Read and Edit');
    const log = gitIn(r.repo, 'log', '--format=%s', `main..${done.branch}`).split('\n');
    assert.deepEqual(
      log.map((l) => l.split(':').slice(0, 2).join(':')),
      [`borg: task ${t.id} impl (worker)`, `borg: task ${t.id} qa (qa)`, `borg: task ${t.id} spec (manager)`],
      'one commit per agent phase',
    );
    const runs = r.rt.tasks.runs(t.id);
    assert.deepEqual(
      runs.map((x) => `${x.phase}:${x.outcome}`),
      ['spec:ok', 'qa:ok', 'impl:ok', 'test:ok'],
    );
    for (const run of runs.filter((x) => x.phase !== 'test')) {
      assert.ok((run.inputTokens ?? 0) >= 200, `${run.phase}: two scripted answers of 100 input tokens each (${run.inputTokens})`);
      assert.ok((run.costUsd ?? 0) > 0, `${run.phase}: cost from the price table (${run.costUsd})`);
    }
    const impl = runs.find((x) => x.phase === 'impl')!;
    assert.ok((impl.inputTokens ?? 0) >= 1300, `impl: 100 + 1200 input tokens metered (${impl.inputTokens})`);
    assert.ok((impl.outputTokens ?? 0) >= 130);
    const usageRows = r.h.store.query('SELECT COUNT(*) AS n FROM model_usage WHERE task_id = ?', [t.id])[0];
    assert.ok(Number(usageRows.n) >= 8, 'every model request of the task is in the ledger');

    // Personas keep to their tools: a second task's manager asks for Bash and the CLI refuses it.
    const t2 = r.add('Manager tries Bash');
    await waitFor(() => r.rt.tasks.runs(t2.id).some((x) => x.phase === 'spec' && x.outcome !== 'running'), 120_000, 'the second spec run');
    r.rt.scheduler.pause();
    const wt2 = r.rt.tasks.get(t2.id)!.worktree!;
    assert.equal(fs.existsSync(path.join(wt2, 'manager-ran-bash')), false, "Bash is not among the manager's tools");
    const managerLog = fileLines(r.h, r.rt.tasks.runs(t2.id)[0].agent!, 'agent.log').join('\n');
    assert.match(managerLog, /"is_error":true[^\n]*(permission|haven't granted)|(permission|haven't granted)[^\n]*"is_error":true/i, managerLog.slice(-2000));
  });

  it('budget: a model that keeps calling tools crosses a $0.01 cap → blocked "budget" within one request; raising the cap and Retry resumes it', { timeout: 300_000 }, async () => {
    const h = await harness();
    // $0.0075 per request (2000 input, 100 output tokens at $3 / $15 per MTok).
    const costly = { inputTokens: 2000, outputTokens: 100 };
    const loop: ScriptStep[] = Array.from({ length: 8 }, (_, i) => ({ ...write(`loop-${i}.txt`, `${i}\n`), usage: costly }));
    const upstream = replayOf(h, [
      { persona: 'manager', phase: 'spec', steps: [...loop, { text: 'never reached' }] },
      { persona: 'manager', phase: 'spec', steps: [write('spec.md', 'the spec\n'), { text: 'Wrote spec.md.' }] },
    ]);
    const r = await rig({ gateway: { upstream, maxCostUsdPerTask: 0.01 }, task: { testCommand: '' } });
    const t = r.add('Loop forever');
    const blocked = await r.settled(t.id, ['blocked', 'failed', 'qa', 'done']);
    assert.equal(blocked.status, 'blocked', blocked.lastError ?? '');
    assert.equal(blocked.blockedReason, 'budget');
    assert.equal(blocked.attempt, 0, 'no attempt spent');
    assert.match(blocked.lastError ?? '', /reached its budget: \$0\.0150 spent of \$0\.01/);
    const rows = r.h.store.query('SELECT status, refusal FROM model_usage WHERE task_id = ? ORDER BY id', [t.id]).filter((x) => x.status === 200 || x.refusal === 'budget');
    const metered = rows.filter((x) => x.status === 200).length;
    assert.equal(metered, 2, 'the second request crossed the cap, the third was refused');
    assert.equal(rows[rows.length - 1].refusal, 'budget');
    // Raising the cap and Retry resumes it: the next recorded spec run finishes.
    r.gateway.maxCostUsdPerTask = 1;
    r.rt.scheduler.retry(t.id);
    const specRuns = () => r.rt.tasks.runs(t.id).filter((x) => x.phase === 'spec');
    await waitFor(() => specRuns().length === 2 && specRuns()[1].outcome !== 'running', 240_000, 'the retried spec run to end');
    r.rt.scheduler.pause(); // the recording has no qa run: stop here
    assert.equal(specRuns()[1].outcome, 'ok', specRuns()[1].error ?? '');
    assert.equal(fs.readFileSync(path.join(r.rt.tasks.get(t.id)!.worktree!, 'spec.md'), 'utf8'), 'the spec\n');
  });

  it('upstream 401 → blocked auth, 429 → blocked quota with the retry time, unreachable → back in the queue', { timeout: 300_000 }, async () => {
    const h = await harness();
    let status = 401;
    const up = await localUpstream(h, (res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '120' } : {}) });
      res.end(JSON.stringify({ type: 'error', error: { type: status === 401 ? 'authentication_error' : 'rate_limit_error', message: `scripted ${status}` } }));
    });
    const r = await rig({ gateway: { upstream: up.url } });
    const auth = r.add('Auth fails');
    const a = await r.settled(auth.id, ['blocked', 'failed', 'done', 'retry']);
    assert.equal(a.status, 'blocked', a.lastError ?? '');
    assert.equal(a.blockedReason, 'auth');
    assert.match(a.lastError ?? '', /answered 401.*Set API Key/);
    assert.ok(up.seen.length >= 1 && up.seen.every((s) => s.headers['x-api-key'] === KEY), 'the upstream got the real key, from the gateway');

    status = 429;
    const quota = r.add('Rate limited');
    const before = Date.now();
    const q = await r.settled(quota.id, ['blocked', 'failed', 'done', 'retry']);
    assert.equal(q.status, 'blocked', q.lastError ?? '');
    assert.equal(q.blockedReason, 'quota');
    assert.ok(q.retryAt! >= before + 120_000 && q.retryAt! <= Date.now() + 120_000, `retry time from retry-after: ${q.retryAt}`);
    assert.match(q.lastError ?? '', /answered 429.*retry after/);

    // Unreachable: nothing listens there. The phase goes back in the queue, no attempt spent.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    r.gateway.upstream = `http://127.0.0.1:${port}`;
    const gone = r.add('Upstream down');
    await waitFor(() => r.rt.tasks.runs(gone.id).some((x) => x.outcome === 'interrupted'), 240_000, 'the run to end interrupted');
    r.rt.scheduler.pause();
    await withTimeout(r.rt.scheduler.join(), 60_000, 'the scheduler to settle');
    const g = r.rt.tasks.get(gone.id)!;
    assert.equal(g.status, 'spec', 'back in the queue at its phase');
    assert.equal(g.attempt, 0);
    assert.match(g.lastError ?? '', /could not be reached: ECONNREFUSED.*back in the queue/);
  });
});

/**
 * A stand-in `claude` (run by the real entrypoint, with the real forwarder) that reports what an
 * agent can see and reach, as one JSON line: its environment, every /proc/<pid>/environ, every
 * file in its state dir, a model request through ANTHROPIC_BASE_URL, a plain connection to
 * `PROBE_URL` (a server on the host), and a CONNECT through HTTPS_PROXY to `PROBE_DOMAIN:443`.
 */
const PROBE = `#!/usr/bin/env node
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const out = { env: process.env, environ: {}, state: {} };
for (const pid of fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p))) {
  try { out.environ[pid] = fs.readFileSync('/proc/' + pid + '/environ', 'utf8'); } catch (e) { out.environ[pid] = 'unreadable: ' + e.code; }
}
const walk = (d) => { for (const f of fs.readdirSync(d)) { const p = path.join(d, f); try { if (fs.statSync(p).isDirectory()) walk(p); else out.state[p] = fs.readFileSync(p, 'utf8').slice(0, 100000); } catch {} } };
walk(process.env.HOME);
const get = (url, opts = {}) => new Promise((resolve) => {
  const req = http.request(url, { method: opts.method || 'GET', headers: opts.headers, timeout: 5000 }, (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => resolve({ status: res.statusCode, body: b.slice(0, 300) })); });
  req.on('error', (e) => resolve({ error: e.code || e.message }));
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.end(opts.body);
});
const connectVia = (proxy, target) => new Promise((resolve) => {
  const u = new URL(proxy);
  const req = http.request({ host: u.hostname, port: u.port, method: 'CONNECT', path: target, timeout: 5000 });
  req.on('connect', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode }); });
  req.on('response', (res) => resolve({ status: res.statusCode }));
  req.on('error', (e) => resolve({ error: e.code || e.message }));
  req.end();
});
(async () => {
  process.stdin.resume(); process.stdin.on('data', () => {}); await new Promise((r) => process.stdin.on('end', r));
  const base = process.env.ANTHROPIC_BASE_URL;
  out.model = base ? await get(base + '/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': process.env.ANTHROPIC_API_KEY || '' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) }) : { error: 'no ANTHROPIC_BASE_URL' };
  out.probe = await get(process.env.PROBE_URL);
  out.probeLoopback = await get(process.env.PROBE_URL.replace(/\\/\\/[^:/]+/, '//127.0.0.1'));
  out.proxy = process.env.HTTPS_PROXY ? await connectVia(process.env.HTTPS_PROXY, process.env.PROBE_DOMAIN + ':443') : { error: 'no HTTPS_PROXY' };
  console.log(JSON.stringify({ type: 'probe', ...out }));
  console.log(JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'probed' }));
})();
`;

/** What the stand-in printed: each check is a status or an error code. */
interface Reached {
  status?: number;
  error?: string;
  body?: string;
}
interface ProbeOutput {
  env: Record<string, string>;
  environ: Record<string, string>;
  state: Record<string, string>;
  model: Reached;
  probe: Reached;
  probeLoopback: Reached;
  proxy: Reached;
}

describe('what an agent behind the gateway can see and reach (real image and entrypoint, stand-in claude)', () => {
  /** The docker bridge's gateway address: where a bridge container reaches host servers. */
  async function bridgeAddress(): Promise<string> {
    const net0 = (await docker.getNetwork('bridge').inspect()) as { IPAM?: { Config?: Array<{ Gateway?: string }> } };
    const gw = net0.IPAM?.Config?.find((c) => c.Gateway && /^\d+\.\d+\.\d+\.\d+$/.test(c.Gateway))?.Gateway;
    if (!gw) throw new Error('the bridge network has no IPv4 gateway address');
    return gw;
  }

  async function probe(network: 'gateway' | 'bridge') {
    const h = await harness();
    const up = await localUpstream(h, (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'message', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 3, output_tokens: 1 } }));
    });
    // A second server, on every host address (the bridge's too): agents must not reach it.
    const target = http.createServer((_req, res) => res.end('reached the host'));
    await new Promise<void>((resolve) => target.listen(0, '0.0.0.0', resolve));
    h.defer(() => {
      target.closeAllConnections();
      target.close();
    });
    const probeUrl = `http://${await bridgeAddress()}:${(target.address() as net.AddressInfo).port}/`;
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-probe-'));
    h.defer(() => fs.rmSync(bin, { recursive: true, force: true }));
    fs.chmodSync(bin, 0o755);
    fs.writeFileSync(path.join(bin, 'claude'), PROBE, { mode: 0o755 });
    const r = await rig({ gateway: { upstream: up.url, egressAllow: readEgressAllow(['allowed.example.org']).rules } });
    r.h.settings.hardening = { ...DEFAULT_SETTINGS.hardening, network };
    const launched = await r.rt.pipeline.launch('worker', {
      input: { prompt: 'probe' },
      env: ['BORG_CLAUDE_BIN=/opt/probe/claude', `PROBE_URL=${probeUrl}`, 'PROBE_DOMAIN=evil.example.com'],
      binds: [`${bin}:/opt/probe:ro`],
    });
    await withTimeout(launched.agent.done, 60_000, 'the probe to end');
    const log = fileLines(r.h, launched.name, 'agent.log');
    const line = log.find((l) => l.startsWith('{"type":"probe"'));
    assert.ok(line, `no probe line:\n${log.join('\n')}`);
    const inspect = JSON.stringify(await docker.getContainer(launched.id).inspect());
    return { r, up, out: JSON.parse(line) as ProbeOutput, log: log.join('\n'), inspect, name: launched.name };
  }

  it(
    'network gateway: no key anywhere inside or in docker inspect; the model answers through the gateway; the host is unreachable; a domain outside the allow-list is refused and logged',
    { timeout: 180_000 },
    async () => {
      const { r, up, out, log, inspect, name } = await probe('gateway');
      assert.equal(out.model.status, 200, JSON.stringify(out.model));
      assert.equal(up.seen.length, 1);
      assert.equal(up.seen[0].headers['x-api-key'], KEY, 'the upstream got the real key from the gateway');
      assert.match(String(out.env.ANTHROPIC_API_KEY), /^borg-gw-/, 'the agent holds only its run token');
      for (const [where, text] of [
        ['its output (env, every /proc/<pid>/environ, every state file)', log],
        ['docker inspect', inspect],
        ['input.json', r.h.stateDirs.readFile(name, 'input.json') ?? ''],
      ]) {
        assert.ok(!text.includes(KEY), `the key is in ${where}`);
      }
      assert.ok(Object.keys(out.environ).length >= 2, 'the probe read the environ of the processes it could see');
      assert.ok(out.probe.error, `the host server was reached from a gateway agent: ${JSON.stringify(out.probe)}`);
      assert.ok(out.probeLoopback.error, `loopback is the container's own: ${JSON.stringify(out.probeLoopback)}`);
      assert.equal(out.proxy.status, 403, JSON.stringify(out.proxy));
      const refused = r.h.store.listEvents(name).filter((e) => e.kind === 'egress-refused');
      assert.equal(refused.length, 1);
      assert.match(refused[0].detail ?? '', /"host":"evil\.example\.com","port":443/);
      assert.equal((await docker.getContainer(name).inspect()).HostConfig.NetworkMode, 'none');
    },
  );

  it('network bridge: the same probe does reach the host server (so the check above can fail), still without the key', { timeout: 180_000 }, async () => {
    const { out, log, inspect } = await probe('bridge');
    assert.equal(out.probe.status, 200, JSON.stringify(out.probe));
    assert.equal(out.model.status, 200, 'the model still goes through the gateway');
    assert.ok(!log.includes(KEY) && !inspect.includes(KEY));
  });
});
