/**
 * The model gateway forwarder in the Claude image's entrypoint (agents/claude/entrypoint.js) on
 * the real daemon: a container with network mode `none` reaches a host HTTP server on a UNIX
 * socket (bind-mounted read-only at /run/borg-gateway) only through borg-agent's forwarder on
 * 127.0.0.1. A stand-in `claude` (BORG_CLAUDE_BIN) prints the environment it got and talks HTTP
 * to ANTHROPIC_BASE_URL, so these tests check the env, the token as x-api-key, streaming without
 * buffering, half-close, the reconnect while the gateway's socket is missing or refuses, and the
 * immediate drop on any other error.
 *
 * The image is built (or found current) by scripts/build-claude-image.mjs in `before`.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanupAll, docker, harness, Harness, sleep, waitFor, withTimeout } from './helpers';
import { createRaw, demux, ensureClaudeImage, jsonLines } from './claudeImageHelpers';

const GATEWAY_MOUNT = '/run/borg-gateway';
const GATEWAY_SOCKET = `${GATEWAY_MOUNT}/gateway.sock`;
const STAND_IN_MOUNT = '/opt/fake';
const STAND_IN_ENV = `BORG_CLAUDE_BIN=${STAND_IN_MOUNT}/claude`;

afterEach(cleanupAll);
after(cleanupAll);

type Line = Record<string, unknown>;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  lines: Line[];
  /** The stand-in's line of `type`; fails the test when there is none. */
  line(type: string): Line;
}

let seq = 0;

/**
 * Starts the image as `<prefix>-gw-<n>` with network mode `none` (so cleanupAll removes it),
 * writes `stdin` and closes it. `output()` is what the attach stream carried so far (raw frames,
 * enough to wait for a marker); `done` resolves with the exit code and the demuxed logs.
 */
async function start(h: Harness, opts: { stdin: string; env?: string[]; binds?: string[]; waitMs?: number }): Promise<{ output: () => string; done: Promise<Result> }> {
  const c = await createRaw(`${h.prefix}-gw-${seq++}`, { env: opts.env, binds: opts.binds, network: 'none' });
  const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as NodeJS.ReadWriteStream & { destroy(): void };
  let out = '';
  stream.on('data', (d: Buffer) => (out += d.toString('latin1')));
  stream.on('error', () => undefined);
  h.defer(() => stream.destroy());
  await c.start();
  stream.end(opts.stdin);
  const done = (async (): Promise<Result> => {
    try {
      const { StatusCode } = (await withTimeout(c.wait(), opts.waitMs ?? 60_000, 'the container to exit')) as { StatusCode: number };
      const { stdout, stderr } = demux((await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer);
      const lines = jsonLines(stdout.split('\n'));
      const line = (type: string) => {
        const l = lines.find((x) => x.type === type);
        assert.ok(l, `no "${type}" line from the stand-in (exit ${StatusCode}):\n${stdout}\n${stderr}`);
        return l;
      };
      return { code: StatusCode, stdout, stderr, lines, line };
    } finally {
      stream.destroy();
    }
  })();
  done.catch(() => undefined); // awaited by the test; never an unhandled rejection
  return { output: () => out, done };
}

async function run(h: Harness, opts: { stdin: string; env?: string[]; binds?: string[] }): Promise<Result> {
  return (await start(h, opts)).done;
}

/**
 * The stand-in `claude`: prints the environment it got as one JSON line ("env"), then — when
 * ANTHROPIC_BASE_URL is set — prints "requesting" and, by FAKE_MODE:
 *   post (default): POSTs to /v1/messages with x-api-key = ANTHROPIC_API_KEY, prints "response";
 *   stream: the same, prints "first" on the first chunk and then POSTs /ack, prints "response" at the end;
 *   halfclose: a raw TCP connection that sends "ping" and ends its side, prints "halfclose" with all it got.
 * A failure prints "error" and exits 3.
 */
const STAND_IN = String.raw`#!/usr/bin/env node
'use strict';
const http = require('node:http');
const net = require('node:net');
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const env = (k) => (k in process.env ? process.env[k] : null);
const names = ['ANTHROPIC_BASE_URL', 'ANTHROPIC_API_KEY', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'https_proxy', 'http_proxy', 'no_proxy', 'CLAUDE_CODE_MAX_RETRIES', 'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC'];
print(Object.assign({ type: 'env' }, ...names.map((k) => ({ [k]: env(k) }))));
process.stdin.resume(); // the prompt
const base = process.env.ANTHROPIC_BASE_URL;
const mode = process.env.FAKE_MODE || 'post';
if (!base) return;
const failed = (e) => {
  print({ type: 'error', code: e.code || null, message: e.message });
  process.exit(3);
};
function post(p, body, onResponse) {
  const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': process.env.ANTHROPIC_API_KEY || '' };
  const req = http.request(base + p, { method: 'POST', agent: false, headers }, (res) => {
    res.on('error', failed);
    onResponse(res);
  });
  req.on('error', failed);
  req.end(body);
}
print({ type: 'requesting', mode });
if (mode === 'post') {
  post('/v1/messages', JSON.stringify({ model: 'claude-test', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }), (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => print({ type: 'response', status: res.statusCode, body }));
  });
} else if (mode === 'stream') {
  post('/v1/messages', JSON.stringify({ stream: true }), (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      if (body === '') {
        print({ type: 'first', chunk: d });
        post('/ack', '', (ack) => {
          ack.resume();
          ack.on('end', () => print({ type: 'acked', status: ack.statusCode }));
        });
      }
      body += d;
    });
    res.on('end', () => print({ type: 'response', status: res.statusCode, body }));
  });
} else if (mode === 'halfclose') {
  const s = net.connect(Number(new URL(base).port), '127.0.0.1');
  let got = '';
  s.setEncoding('utf8');
  s.on('data', (d) => (got += d));
  s.on('end', () => print({ type: 'halfclose', got }));
  s.on('error', failed);
  s.end('ping');
}
`;

/** A host folder (0755) holding the stand-in, to be mounted read-only at /opt/fake. */
function standInDir(h: Harness): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-fake-gw-claude-'));
  h.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'claude'), STAND_IN, { mode: 0o755 });
  return dir;
}

/** An empty host folder (0755, so uid 1000 can reach the socket in it) for the gateway's socket. */
function gatewayDir(h: Harness): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-gw-'));
  h.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/**
 * Makes `server` listen on `<dir>/gateway.sock` with mode `mode`: bound under a temporary name,
 * chmodded, then renamed into place (over a stale socket, if any), so a connecting agent never
 * sees the socket with the wrong mode. Closed by cleanupAll.
 */
async function serve(h: Harness, server: net.Server, dir: string, mode = 0o666): Promise<void> {
  const tmp = path.join(dir, `.gateway-${randomUUID()}.sock`);
  server.listen(tmp);
  await once(server, 'listening');
  h.defer(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (server instanceof http.Server) server.closeAllConnections();
      }),
  );
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, path.join(dir, 'gateway.sock'));
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A host gateway stand-in answering every request with 200 and a small JSON message; records what it got. */
function answeringGateway(): { server: http.Server; seen: Seen[] } {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'message', id: 'msg_gateway', content: [{ type: 'text', text: 'hello through the gateway' }] }));
    });
  });
  return { server, seen };
}

const binds = (fake: string, gw?: string) => [`${fake}:${STAND_IN_MOUNT}:ro`, ...(gw ? [`${gw}:${GATEWAY_MOUNT}:ro`] : [])];

describe('the model gateway forwarder in borg-agent (network none, host gateway on a UNIX socket)', () => {
  before(ensureClaudeImage, { timeout: 15 * 60_000 });

  it('forwards a request to the host socket with the token as x-api-key and brings the answer back; claude gets the gateway env over secrets and container env', { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = standInDir(h);
    const gw = gatewayDir(h);
    const { server, seen } = answeringGateway();
    await serve(h, server, gw);
    const token = `borg-run-${randomUUID()}`;

    const r = await run(h, {
      env: [STAND_IN_ENV, `BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}`, 'HTTPS_PROXY=http://elsewhere.invalid:3128', 'CLAUDE_CODE_MAX_RETRIES=7'],
      binds: binds(fake, gw),
      stdin: JSON.stringify({
        prompt: 'hi',
        gateway: { token },
        secrets: { ANTHROPIC_API_KEY: 'sk-ant-from-secrets', ANTHROPIC_BASE_URL: 'https://api.anthropic.com', CLAUDE_CODE_MAX_RETRIES: '3' },
      }),
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);

    const env = r.line('env');
    const base = String(env.ANTHROPIC_BASE_URL);
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(base, 'http://127.0.0.1:0');
    assert.deepEqual(env, {
      type: 'env',
      ANTHROPIC_BASE_URL: base,
      ANTHROPIC_API_KEY: token,
      HTTPS_PROXY: base,
      HTTP_PROXY: base,
      NO_PROXY: '127.0.0.1,localhost',
      https_proxy: base,
      http_proxy: base,
      no_proxy: '127.0.0.1,localhost',
      CLAUDE_CODE_MAX_RETRIES: '0',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    });

    assert.equal(seen.length, 1, JSON.stringify(seen));
    assert.equal(seen[0].method, 'POST');
    assert.equal(seen[0].url, '/v1/messages');
    assert.equal(seen[0].headers['x-api-key'], token, 'the run token arrives as x-api-key');
    assert.deepEqual(JSON.parse(seen[0].body), { model: 'claude-test', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] });

    const res = r.line('response');
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(String(res.body)).content[0].text, 'hello through the gateway');
    assert.ok(!r.stderr.includes('borg-agent:'), r.stderr);
    assert.equal((await docker.listContainers({ all: true, filters: { name: [`^/${h.prefix}-gw-`] } }))[0].HostConfig.NetworkMode, 'none');
  });

  it('streams: the first chunk reaches claude while the response is still open (the gateway ends it only after the /ack claude sends on that chunk)', { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = standInDir(h);
    const gw = gatewayDir(h);
    const events: string[] = [];
    let open: http.ServerResponse | undefined;
    const FIRST = 'event: message_start\ndata: {"type":"message_start"}\n\n';
    const SECOND = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url === '/v1/messages') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(FIRST);
          events.push('first written');
          open = res;
        } else if (req.url === '/ack') {
          events.push('ack received');
          res.end('ok');
          assert.ok(open, 'the stream is open when the ack arrives');
          open.end(SECOND);
          events.push('stream ended');
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await serve(h, server, gw);

    const r = await run(h, {
      env: [STAND_IN_ENV, `BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}`, 'FAKE_MODE=stream'],
      binds: binds(fake, gw),
      stdin: JSON.stringify({ prompt: 'hi', gateway: { token: 'borg-run-stream' } }),
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(events, ['first written', 'ack received', 'stream ended'], 'the response ended only after the ack');
    assert.equal(r.line('first').chunk, FIRST);
    assert.equal(r.line('acked').status, 200);
    const res = r.line('response');
    assert.equal(res.status, 200);
    assert.equal(res.body, FIRST + SECOND);
  });

  it('half-close: a client that ends its side after the request still gets the whole answer', { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = standInDir(h);
    const gw = gatewayDir(h);
    const server = net.createServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d) => (got += d));
      s.on('error', () => undefined);
      // Answers only once the client's side has ended: a forwarder without half-open would have closed by now.
      s.on('end', () => {
        s.write('pong:');
        s.end(got);
      });
    });
    await serve(h, server, gw);

    const r = await run(h, {
      env: [STAND_IN_ENV, `BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}`, 'FAKE_MODE=halfclose'],
      binds: binds(fake, gw),
      stdin: JSON.stringify({ prompt: 'hi', gateway: { token: 'borg-run-half' } }),
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.line('halfclose').got, 'pong:ping');
  });

  it('reconnects: a socket that appears only 2 s after the request (ENOENT meanwhile) still gets it', { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = standInDir(h);
    const gw = gatewayDir(h);
    const { server, seen } = answeringGateway();
    const token = `borg-run-${randomUUID()}`;

    const c = await start(h, {
      env: [STAND_IN_ENV, `BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}`],
      binds: binds(fake, gw),
      stdin: JSON.stringify({ prompt: 'hi', gateway: { token } }),
    });
    await waitFor(() => c.output().includes('"type":"requesting"'), 30_000, 'the stand-in to send its request');
    await sleep(2_000); // deliberate: the forwarder has been retrying for a while
    assert.equal(fs.existsSync(path.join(gw, 'gateway.sock')), false);
    await serve(h, server, gw);

    const r = await c.done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.line('response').status, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers['x-api-key'], token);
    assert.ok(!r.stderr.includes('dropping'), r.stderr);
  });

  it('reconnects: a stale socket nobody listens on (ECONNREFUSED, the gateway restarting) is retried until a new gateway replaces it', { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = standInDir(h);
    const gw = gatewayDir(h);
    const sock = path.join(gw, 'gateway.sock');
    // A gateway process that dies without closing its server leaves its socket file behind.
    const dead = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => { require('fs').chmodSync(${JSON.stringify(sock)}, 0o666); console.log('up'); })`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    h.defer(() => dead.kill('SIGKILL'));
    await once(dead.stdout, 'data');
    dead.kill('SIGKILL');
    await once(dead, 'exit');
    assert.ok(fs.statSync(sock).isSocket(), 'the stale socket is still there');
    const probe = net.connect(sock);
    const [err] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');

    const { server, seen } = answeringGateway();
    const c = await start(h, {
      env: [STAND_IN_ENV, `BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}`],
      binds: binds(fake, gw),
      stdin: JSON.stringify({ prompt: 'hi', gateway: { token: 'borg-run-stale' } }),
    });
    await waitFor(() => c.output().includes('"type":"requesting"'), 30_000, 'the stand-in to send its request');
    await sleep(2_000); // deliberate: the forwarder has been refused for a while
    await serve(h, server, gw);

    const r = await c.done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.line('response').status, 200);
    assert.equal(seen.length, 1);
  });

  it('drops the connection at once on any other error (EACCES: a socket uid 1000 may not use), with a note on stderr', { timeout: 120_000 }, async () => {
    const h = await harness();
    const fake = standInDir(h);
    const gw = gatewayDir(h);
    const { server, seen } = answeringGateway();
    await serve(h, server, gw, 0o600);

    const t0 = Date.now();
    const r = await run(h, {
      env: [STAND_IN_ENV, `BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}`],
      binds: binds(fake, gw),
      stdin: JSON.stringify({ prompt: 'hi', gateway: { token: 'borg-run-eacces' } }),
    });
    const elapsed = Date.now() - t0;
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.ok(r.line('error').code, JSON.stringify(r.line('error')));
    assert.match(r.stderr, /borg-agent: model gateway \/run\/borg-gateway\/gateway\.sock: .*EACCES.*; dropping a connection/);
    assert.ok(elapsed < 20_000, `took ${elapsed} ms: no 30 s of retries`);
    assert.equal(seen.length, 0);
  });

  it(
    'without BORG_GATEWAY_SOCKET sets no base URL (secrets as before); with it but no mounted folder warns and runs without the gateway; a bad "gateway" is invalid input',
    { timeout: 120_000 },
    async () => {
      const h = await harness();
      const fake = standInDir(h);
      const stdin = JSON.stringify({ prompt: 'hi', gateway: { token: 'borg-run-none' }, secrets: { ANTHROPIC_API_KEY: 'sk-ant-from-secrets' } });

      const plain = await run(h, { env: [STAND_IN_ENV], binds: binds(fake), stdin });
      assert.equal(plain.code, 0, plain.stdout + plain.stderr);
      const env = plain.line('env');
      assert.equal(env.ANTHROPIC_BASE_URL, null);
      assert.equal(env.HTTPS_PROXY, null);
      assert.equal(env.CLAUDE_CODE_MAX_RETRIES, null);
      assert.equal(env.ANTHROPIC_API_KEY, 'sk-ant-from-secrets');
      assert.equal(
        plain.lines.find((l) => l.type === 'requesting'),
        undefined,
      );
      assert.ok(!plain.stderr.includes('borg-agent:'), plain.stderr);

      const unmounted = await run(h, { env: [STAND_IN_ENV, `BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}`], binds: binds(fake), stdin });
      assert.equal(unmounted.code, 0, unmounted.stdout + unmounted.stderr);
      assert.equal(unmounted.line('env').ANTHROPIC_BASE_URL, null);
      assert.match(unmounted.stderr, /^borg-agent: BORG_GATEWAY_SOCKET=\/run\/borg-gateway\/gateway\.sock: \/run\/borg-gateway does not exist/m);

      for (const gateway of ['tok', [], {}, { token: '' }, { token: 7 }]) {
        const bad = await run(h, { env: [STAND_IN_ENV], binds: binds(fake), stdin: JSON.stringify({ prompt: 'hi', gateway }) });
        assert.equal(bad.code, 2, `${JSON.stringify(gateway)}: ${bad.stdout}${bad.stderr}`);
        assert.match(String(bad.line('result').result), /^borg: invalid input: "gateway(\.token)?" must be /);
      }
    },
  );
});
