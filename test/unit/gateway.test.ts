/**
 * The model gateway over real HTTP on its real UNIX sockets, against a scripted upstream on
 * 127.0.0.1 (plain Node, no Docker): tokens, the forwarded headers and paths, streaming without
 * buffering, metering, budgets, upstream failures, the egress proxy, revocation and a reload.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { readEgressAllow } from '../../src/core/gateway/egress';
import { DEFAULT_GATEWAY_SETTINGS, Gateway, GatewaySettings, MAX_REQUEST_BYTES, refusalOf, upstreamLabelOf } from '../../src/core/gateway/gateway';
import { scriptedRun, writeRecording } from '../../src/core/gateway/script';
import type { RunRef } from '../../src/core/gateway/upstream';
import { Store } from '../../src/core/store';

const dirs: string[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const KEY = 'sk-ant-real-key-never-inside';

/** One SSE answer with usage (input 25, output 42) in separate writes. */
const SSE = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"usage":{"input_tokens":25,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
];

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A scripted upstream on 127.0.0.1: `answer` writes each response; every request is kept in `seen`. */
async function upstream(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      void answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.on('connection', (s) => cleanups.push(() => void s.destroy()));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen, server };
}

const sseAnswer = (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_1', 'set-cookie': 'x=1' });
  for (const e of SSE) res.write(e);
  res.end();
};

async function rig(settings: Partial<GatewaySettings> = {}, o: { key?: string | undefined; store?: Store; dir?: string } = {}) {
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'borg-gw-'));
  if (!o.dir) dirs.push(dir);
  const store = o.store ?? (await Store.open(path.join(dir, 'borg.sqlite')));
  let s: GatewaySettings = { ...DEFAULT_GATEWAY_SETTINGS, maxCostUsdPerTask: 0, maxCostUsdPerDay: 0, ...settings };
  const lines: string[] = [];
  const gateway = new Gateway({ store, root: path.join(dir, 'gateway'), settings: () => s, apiKey: async () => ('key' in o ? o.key : KEY), log: (l) => lines.push(l) });
  cleanups.push(() => gateway.close());
  return {
    dir,
    store,
    gateway,
    lines,
    set: (more: Partial<GatewaySettings>) => (s = { ...s, ...more }),
    socketOf: (agent: string) => path.join(gateway.folderOf(agent), 'gateway.sock'),
  };
}

let runSeq = 0;
function runRef(more: Partial<RunRef> = {}): RunRef {
  return { agent: `u-worker-${runSeq++}`, persona: 'worker', taskId: 7, phase: 'impl', startedAt: Date.now(), ...more };
}

/** A request over the agent's socket, as the in-container forwarder makes it; resolves with the status, headers and body. */
function call(
  socketPath: string,
  o: { token?: string; method?: string; path?: string; body?: string; headers?: Record<string, string>; onFirstChunk?: (chunk: string) => void } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        agent: false, // a new connection per call, as each of the CLI's requests may be
        method: o.method ?? 'POST',
        path: o.path ?? '/v1/messages?beta=true',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...(o.token ? { 'x-api-key': o.token } : {}), ...o.headers },
      },
      (res) => {
        let body = '';
        let first = true;
        res.on('data', (d: Buffer) => {
          if (first) o.onFirstChunk?.(d.toString());
          first = false;
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    // GET has no body here: Node sends a GET body without a length, which no server can frame.
    if ((o.method ?? 'POST') === 'GET') req.end();
    else req.end(o.body ?? JSON.stringify({ model: 'claude-sonnet-4-5-20250929', stream: true, messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'Write' }] }));
  });
}

describe('Gateway: tokens, forwarding and metering', () => {
  it('forwards with the real key only, passes allowed headers, streams the answer back and meters its usage', async () => {
    const up = await upstream(sseAnswer);
    const r = await rig({ upstream: up.url });
    const run = runRef();
    const token = await r.gateway.open(run);
    const res = await call(r.socketOf(run.agent), { token, headers: { cookie: 'secret=1', 'x-forwarded-for': '1.2.3.4', 'anthropic-beta': 'b1' } });
    assert.equal(res.status, 200);
    assert.equal(res.body, SSE.join(''));
    assert.equal(res.headers['request-id'], 'req_1');
    assert.equal(res.headers['set-cookie'], undefined, 'only the allow-listed response headers come back');
    assert.equal(up.seen.length, 1);
    const h = up.seen[0].headers;
    assert.equal(h['x-api-key'], KEY, 'the upstream gets the real key');
    assert.equal(h['anthropic-beta'], 'b1');
    assert.equal(h.cookie, undefined);
    assert.equal(h['x-forwarded-for'], undefined);
    assert.equal(up.seen[0].url, '/v1/messages?beta=true');
    const usage = r.gateway.usageOf(run);
    assert.deepEqual({ ...usage, costUsd: Math.round(usage.costUsd * 1e6) }, { requests: 1, inputTokens: 25, outputTokens: 42, costUsd: 25 * 3 + 42 * 15 });
    assert.equal(r.gateway.spentByTask(7) > 0, true);
    const dump = JSON.stringify(r.store.query('SELECT * FROM model_usage')) + JSON.stringify(r.store.query('SELECT * FROM gateway_runs')) + JSON.stringify(r.store.listEvents());
    assert.doesNotMatch(dump, new RegExp(`${KEY}|${token}`), 'neither the key nor the token is in the database');
    assert.doesNotMatch(r.lines.join('\n'), new RegExp(`${KEY}|${token}|"messages"`), 'the log has no key, token or request body');
  });

  it("refuses a missing, wrong or another run's token, a revoked run, and every path but the Messages API", async () => {
    const up = await upstream(sseAnswer);
    const r = await rig({ upstream: up.url });
    const a = runRef();
    const b = runRef();
    const ta = await r.gateway.open(a);
    const tb = await r.gateway.open(b);
    for (const token of [undefined, 'borg-gw-wrong', tb]) {
      const res = await call(r.socketOf(a.agent), { token });
      assert.equal(res.status, 401, String(token));
      assert.match(res.body, /authentication_error/);
    }
    for (const [method, p] of [
      ['GET', '/v1/models'],
      ['POST', '/v1/messages/batches'],
      ['POST', '/v1/files'],
    ]) {
      const res = await call(r.socketOf(a.agent), { token: ta, method, path: p });
      assert.equal(res.status, 403, `${method} ${p}`);
      assert.match(res.body, /is not forwarded/);
    }
    assert.equal(up.seen.length, 0, 'nothing reached the upstream');
    r.gateway.revoke(a.agent);
    assert.equal(fs.existsSync(r.socketOf(a.agent)), false, 'the socket is gone');
    await assert.rejects(call(r.socketOf(a.agent), { token: ta }), /ENOENT|ECONNREFUSED/);
  });

  it('a body past 32 MiB gets 413 and goes nowhere (an agent cannot make the gateway buffer without bound)', async () => {
    const up = await upstream(sseAnswer);
    const r = await rig({ upstream: up.url });
    const run = runRef();
    const token = await r.gateway.open(run);
    const res = await call(r.socketOf(run.agent), { token, body: 'x'.repeat(MAX_REQUEST_BYTES + 1) });
    assert.equal(res.status, 413);
    assert.match(res.body, /larger than 32 MiB/);
    assert.equal(up.seen.length, 0);
  });

  it('streams without buffering: the first event reaches the agent before the upstream has finished', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let finished = false;
    const up = await upstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(SSE[0]);
      await released; // only once the agent saw the first event
      for (const e of SSE.slice(1)) res.write(e);
      finished = true;
      res.end();
    });
    const r = await rig({ upstream: up.url });
    const run = runRef();
    const token = await r.gateway.open(run);
    let sawFirstBeforeEnd = false;
    const res = await call(r.socketOf(run.agent), {
      token,
      onFirstChunk: (chunk) => {
        sawFirstBeforeEnd = chunk.startsWith('event: message_start') && !finished;
        release();
      },
    });
    assert.equal(sawFirstBeforeEnd, true);
    assert.equal(res.body, SSE.join(''));
  });
});

describe('Gateway: budgets and upstream failures mark the run', () => {
  it("past the task's cap the next request is refused before it reaches the upstream; raising the cap lets it through", async () => {
    const up = await upstream(sseAnswer);
    const r = await rig({ upstream: up.url, maxCostUsdPerTask: 0.0005 });
    const run = runRef({ taskId: 11 });
    const token = await r.gateway.open(run);
    assert.equal((await call(r.socketOf(run.agent), { token })).status, 200); // $0.000705: crosses the cap
    const refused = await call(r.socketOf(run.agent), { token });
    assert.equal(refused.status, 400);
    assert.equal(refused.headers['x-should-retry'], 'false');
    assert.match(refused.body, /task 11 reached its budget: \$0\.0007 spent of \$0\.0005 \(borg\.maxCostUsdPerTask\)/);
    assert.equal(up.seen.length, 1, 'the refused request never left');
    assert.equal(r.gateway.lastRefusal(run)?.refusal, 'budget');
    r.set({ maxCostUsdPerTask: 1 });
    assert.equal((await call(r.socketOf(run.agent), { token })).status, 200);
    assert.equal(r.gateway.lastRefusal(run), undefined);
  });

  it("past the day's cap every task's request is refused", async () => {
    const up = await upstream(sseAnswer);
    const r = await rig({ upstream: up.url, maxCostUsdPerDay: 0.0001 });
    const a = runRef({ taskId: 1 });
    const ta = await r.gateway.open(a);
    assert.equal((await call(r.socketOf(a.agent), { token: ta })).status, 200);
    const b = runRef({ taskId: 2 });
    const tb = await r.gateway.open(b);
    const res = await call(r.socketOf(b.agent), { token: tb });
    assert.equal(res.status, 400);
    assert.match(res.body, /today's budget is spent.*borg\.maxCostUsdPerDay/);
  });

  it('401 and 403 mark auth, 429 and 529 mark quota with the retry time, an unreachable upstream marks unreachable', async () => {
    let status = 401;
    const up = await upstream((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 429 ? { 'retry-after': '30' } : {}) });
      res.end(JSON.stringify({ type: 'error', error: { type: 'some_error', message: `scripted ${status}` } }));
    });
    const r = await rig({ upstream: up.url });
    for (const [s, refusal] of [
      [401, 'auth'],
      [403, 'auth'],
      [429, 'quota'],
      [529, 'quota'],
      [500, undefined],
    ] as const) {
      status = s;
      const run = runRef();
      const token = await r.gateway.open(run);
      const before = Date.now();
      const res = await call(r.socketOf(run.agent), { token });
      assert.equal(res.status, s, 'the agent gets the upstream status');
      assert.match(res.body, new RegExp(`scripted ${s}`));
      const mark = r.gateway.lastRefusal(run);
      assert.equal(mark?.refusal, refusal, String(s));
      if (s === 429) assert.ok(mark!.retryAt! >= before + 30_000 && mark!.retryAt! <= Date.now() + 30_000, 'retry-after: 30 s');
      if (refusal) assert.match(mark!.message, new RegExp(`answered ${s} some_error: scripted ${s}`));
    }
    // Unreachable: a port nothing listens on.
    const closed = await upstream(sseAnswer);
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    r.set({ upstream: closed.url });
    const run = runRef();
    const token = await r.gateway.open(run);
    const res = await call(r.socketOf(run.agent), { token });
    assert.equal(res.status, 502);
    assert.match(res.body, /could not be reached: ECONNREFUSED \(tried 3 times\)/);
    assert.equal(r.gateway.lastRefusal(run)?.refusal, 'unreachable');
  });

  it('without a key the gateway answers 401 itself (auth) and sends nothing', async () => {
    const up = await upstream(sseAnswer);
    const r = await rig({ upstream: up.url }, { key: undefined });
    const run = runRef();
    const token = await r.gateway.open(run);
    const res = await call(r.socketOf(run.agent), { token });
    assert.equal(res.status, 401);
    assert.match(res.body, /no Anthropic API key is set/);
    assert.equal(up.seen.length, 0);
    assert.equal(r.gateway.lastRefusal(run)?.refusal, 'auth');
  });

  it('upstreamLabelOf names the upstream as it names itself, without opening a recording or reading a replay', () => {
    const base = { ...DEFAULT_GATEWAY_SETTINGS };
    assert.equal(upstreamLabelOf(base), 'https://api.anthropic.com');
    assert.equal(upstreamLabelOf({ ...base, upstream: 'replay:/nowhere/demo.jsonl' }), 'replay of demo.jsonl');
    assert.equal(upstreamLabelOf({ ...base, record: '/nowhere/s.jsonl' }), 'https://api.anthropic.com (recording to s.jsonl)');
    assert.equal(fs.existsSync('/nowhere'), false);
  });

  it('refusalOf reads retry-after as seconds or a date, else the latest rate-limit reset', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    assert.deepEqual(refusalOf(429, { 'retry-after': '2' }, now), { refusal: 'quota', retryAt: now + 2000 });
    assert.deepEqual(refusalOf(529, { 'retry-after': 'Tue, 01 Dec 2026 10:05:00 GMT' }, now), { refusal: 'quota', retryAt: now + 300_000 });
    assert.deepEqual(refusalOf(429, { 'anthropic-ratelimit-requests-reset': '2026-12-01T10:01:00Z', 'anthropic-ratelimit-tokens-reset': '2026-12-01T10:02:00Z' }, now), {
      refusal: 'quota',
      retryAt: now + 120_000,
    });
    assert.deepEqual(refusalOf(429, {}, now), { refusal: 'quota', retryAt: undefined });
    assert.deepEqual(refusalOf(403, {}, now), { refusal: 'auth' });
    assert.equal(refusalOf(500, {}, now), undefined);
    assert.equal(refusalOf(200, {}, now), undefined);
  });
});

describe('Gateway: egress through its CONNECT proxy', () => {
  /** Sends `CONNECT target` on the agent's socket; resolves with the status line and the socket. */
  function connect(socketPath: string, target: string): Promise<{ statusLine: string; socket: net.Socket; rest: string }> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      let buf = '';
      s.on('error', reject);
      s.on('data', (d) => {
        buf += d;
        const end = buf.indexOf('\r\n\r\n');
        if (end >= 0) {
          s.removeAllListeners('data');
          resolve({ statusLine: buf.slice(0, buf.indexOf('\r\n')), socket: s, rest: buf.slice(end + 4) });
        }
      });
      s.on('end', () => resolve({ statusLine: buf.split('\r\n')[0], socket: s, rest: '' }));
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    });
  }

  it('refuses a host outside borg.egressAllow by name, lets a listed one through, and logs both', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => echo.close(() => resolve())));
    const port = (echo.address() as net.AddressInfo).port;
    let connections = 0;
    echo.on('connection', (s) => {
      connections++;
      cleanups.push(() => void s.destroy());
    });
    const r = await rig({ egressAllow: readEgressAllow([`127.0.0.1:${port}`, '*.example.org']).rules });
    const run = runRef();
    await r.gateway.open(run);
    const refused = await connect(r.socketOf(run.agent), 'evil.example.com:443');
    assert.match(refused.statusLine, /^HTTP\/1\.1 403/);
    refused.socket.destroy();
    const refusedPort = await connect(r.socketOf(run.agent), `127.0.0.1:${port + 1 === 65536 ? 1 : port + 1}`);
    assert.match(refusedPort.statusLine, /^HTTP\/1\.1 403/);
    refusedPort.socket.destroy();
    assert.equal(connections, 0, 'no connection was made for a refused destination');
    const allowed = await connect(r.socketOf(run.agent), `127.0.0.1:${port}`);
    assert.match(allowed.statusLine, /^HTTP\/1\.1 200/);
    const echoed = new Promise<string>((resolve) => allowed.socket.once('data', (d) => resolve(String(d))));
    allowed.socket.write('ping');
    assert.equal(await echoed, 'ping');
    allowed.socket.destroy();
    const events = r.store.listEvents(run.agent).map((e) => `${e.kind} ${JSON.parse(e.detail ?? '{}').host}`);
    assert.deepEqual(
      events.filter((e) => e.startsWith('egress')),
      ['egress-refused evil.example.com', 'egress-refused 127.0.0.1', 'egress-allowed 127.0.0.1'],
    );
  });

  it('refuses plain-HTTP proxy requests', async () => {
    const r = await rig();
    const run = runRef();
    const token = await r.gateway.open(run);
    const res = await call(r.socketOf(run.agent), { token, method: 'GET', path: 'http://example.com/' });
    assert.equal(res.status, 403);
    assert.match(res.body, /plain-HTTP requests through the proxy are refused/);
  });
});

describe('Gateway: runs outlive a window reload, replay answers from a recording', () => {
  it('an agent folder whose socket path is just under the limit still opens: the socket is bound under its longer temporary name', async () => {
    const up = await upstream(sseAnswer);
    const run = runRef({ agent: `u-worker-with-a-long-name-${runSeq++}` }); // longer than a hashed folder name (18)
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-gw-'));
    dirs.push(base);
    // <dir>/gateway/<agent>/gateway.sock is 105 bytes (under the 107 limit); bound as gateway.sock.<8 hex> it would be 114.
    const pad = 105 - Buffer.byteLength(path.join(base, 'p', 'gateway', run.agent, 'gateway.sock')) + 1;
    assert.ok(pad > 0, base);
    const dir = path.join(base, 'p'.repeat(pad));
    fs.mkdirSync(dir);
    assert.equal(Buffer.byteLength(path.join(dir, 'gateway', run.agent, 'gateway.sock')), 105);
    const r = await rig({ upstream: up.url }, { dir });
    const token = await r.gateway.open(run);
    assert.ok(Buffer.byteLength(r.socketOf(run.agent)) <= 107, r.socketOf(run.agent));
    assert.equal((await call(r.socketOf(run.agent), { token })).status, 200);
  });

  it('a new gateway on the same database serves the runs the old one handed out; retain() drops the others', async () => {
    const up = await upstream(sseAnswer);
    const first = await rig({ upstream: up.url });
    const kept = runRef();
    const gone = runRef();
    const token = await first.gateway.open(kept);
    await first.gateway.open(gone);
    await first.gateway.close(); // the window reloads: agents keep running, detached
    const second = await rig({ upstream: up.url }, { store: first.store, dir: first.dir });
    await second.gateway.start();
    assert.equal((await call(second.socketOf(kept.agent), { token })).status, 200, 'the same token works with the new gateway');
    second.gateway.retain(new Set([kept.agent]));
    assert.equal(second.gateway.runOf(gone.agent), undefined);
    assert.deepEqual(
      second.store.query('SELECT agent FROM gateway_runs').map((x) => x.agent),
      [kept.agent],
    );
  });

  it('borg.gatewayRecord writes what passed (never the key or token); replaying that file answers the same', async () => {
    const up = await upstream(sseAnswer);
    const r = await rig({ upstream: up.url });
    const file = path.join(r.dir, 'session.jsonl');
    r.set({ record: file });
    const run = runRef({ persona: 'qa', phase: 'qa' });
    const token = await r.gateway.open(run);
    const live = await call(r.socketOf(run.agent), { token });
    assert.equal(live.status, 200);
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /"messages"/, 'the request body is in the recording (and only there)');
    assert.ok(!text.includes(KEY) && !text.includes(token), 'neither the key nor the token is recorded');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    r.set({ upstream: `replay:${file}`, record: '' });
    const again = runRef({ persona: 'qa', phase: 'qa' });
    const t2 = await r.gateway.open(again);
    const replayed = await call(r.socketOf(again.agent), { token: t2 });
    assert.equal(replayed.body, live.body);
    assert.equal(up.seen.length, 1, 'the replay did not touch the upstream');
  });

  it('replay:<file> answers a run from the recorded run of its persona, with no key and no network', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-rec-'));
    dirs.push(dir);
    const file = path.join(dir, 'demo.jsonl');
    writeRecording(file, [scriptedRun('worker', [{ tool: 'Write', input: { file_path: 'a.txt', content: 'A' } }, { text: 'done' }], { phase: 'impl' })]);
    const r = await rig({ upstream: `replay:${file}` }, { key: undefined });
    assert.equal(r.gateway.replay, true);
    assert.match(r.gateway.upstreamLabel, /replay of demo\.jsonl/);
    const run = runRef();
    const token = await r.gateway.open(run);
    const one = await call(r.socketOf(run.agent), { token });
    assert.equal(one.status, 200);
    assert.match(one.body, /"name":"Write"/);
    const two = await call(r.socketOf(run.agent), { token });
    assert.match(two.body, /done/);
    assert.equal(r.gateway.usageOf(run).requests, 2);
  });
});
