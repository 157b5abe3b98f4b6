/**
 * Gateway overhead (issue target: ≤ 1.05×): time to first token and total time of a scripted
 * ~1 MB streamed Messages API response through the model gateway vs straight from the upstream,
 * in the same run. The upstream is a local HTTP server (127.0.0.1, port 0) answering
 * POST /v1/messages with an SSE stream like the API's: message_start (with usage),
 * content_block_start, ping, 1 KB text_delta content_block_delta events (one write each),
 * content_block_stop, message_delta (output_tokens), message_stop; with no delay by default (the
 * worst case: all of the gateway's cost shows), or --first-event-ms before the first event and
 * --pace-ms between events (a model's pace: then the overhead hides in the waits).
 * Three clients, each an http.request with its own keep-alive agent (as an SDK would), reading
 * the whole body (checked byte for byte in the first warmup round):
 *   direct     TCP to the upstream
 *   gateway    the run's UNIX socket (socketPath), the run's token in x-api-key: the gateway
 *              checks it, forwards with the real key and meters the usage from the SSE as it passes
 *   forwarded  TCP to a 127.0.0.1 → socket forwarder (net.createServer piping to
 *              net.connect(socket)), the equivalent of the one agents reach the socket through in
 *              their container; the container and its network are not part of this benchmark
 * The gateway runs in a child process, as it runs in the extension host apart from the agents and
 * the model; --in-process runs it on the bench's own thread (its CPU time then adds up with the
 * upstream's and the clients').
 * TTFT is the time from sending the request to the first byte of the first SSE event; total the
 * time until the response ended. After warmup rounds, runs go in rounds of one per client (order
 * rotated each round) so drift hits all alike. It prints, from this run: each client's median and
 * spread (min · p25 – p75 · max, ms) of both, the ratio of the medians to direct, the median and
 * spread of the per-round ratios, the median ms added per round, whether the ratio of medians
 * meets ≤ 1.05×, and what the gateway metered (it must be what the upstream sent). It asserts
 * nothing and exits 0 (these machines are noisy); --json FILE also writes the figures as JSON.
 * --quick (3 rounds of 0.1 MB) is for tests.
 *   npx tsc -p . && node out/bench/gateway.bench.js [--runs 30] [--size-mb 1] [--warmup 5]
 *     [--pace-ms 0] [--first-event-ms 0] [--in-process] [--quick] [--json FILE]
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_GATEWAY_SETTINGS, Gateway } from '../src/core/gateway/gateway';
import type { RunRef } from '../src/core/gateway/upstream';
import { Store } from '../src/core/store';

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    'size-mb': { type: 'string' },
    warmup: { type: 'string' },
    'pace-ms': { type: 'string', default: '0' },
    'first-event-ms': { type: 'string', default: '0' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    'in-process': { type: 'boolean', default: false },
    /** Internal: this process is the gateway of a bench run (upstream port); see {@link gatewayChild}. */
    'gateway-child': { type: 'string' },
  },
});
const QUICK = values.quick;
const RUNS = Number(values.runs ?? (QUICK ? 3 : 30));
const SIZE_MB = Number(values['size-mb'] ?? (QUICK ? 0.1 : 1));
const WARMUP = Number(values.warmup ?? (QUICK ? 1 : 5));
const PACE_MS = Number(values['pace-ms']);
const FIRST_EVENT_MS = Number(values['first-event-ms']);
const IN_PROCESS = values['in-process'];
const TARGET = 1.05;
const TEXT_PER_DELTA = 1024;
const MODEL = 'claude-sonnet-4-5-20250929';
const RUN: RunRef = { agent: 'bench-worker-1', persona: 'worker', startedAt: Date.now() };

type Client = 'direct' | 'gateway' | 'forwarded';
const CLIENTS: Client[] = ['direct', 'gateway', 'forwarded'];
const LABEL: Record<Client, string> = { direct: 'direct (TCP)', gateway: 'gateway (socket)', forwarded: 'gateway via TCP→socket' };

interface Timing {
  ttft: number;
  total: number;
  bytes: number;
  sha256?: string;
}

/** The scripted response: one Buffer per write, built once so every run serves the same bytes. */
function script(sizeBytes: number): { writes: Buffer[]; bytes: number; deltas: number; outputTokens: number } {
  const sse = (event: string, data: unknown) => Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`, 'utf8');
  // Prose with what a model writes: quotes, newlines, code, a few non-ASCII characters (escaped or not by JSON.stringify).
  const prose =
    'The gateway forwards each chunk as it arrives; "usage" is read from the stream.\n```ts\nconst x = await gateway.open(run); // naïve — ok\n```\n' +
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ';
  const writes: Buffer[] = [
    sse('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_bench01',
        type: 'message',
        role: 'assistant',
        content: [],
        model: MODEL,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 2500, cache_creation_input_tokens: 0, cache_read_input_tokens: 12000, output_tokens: 1 },
      },
    }),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('ping', { type: 'ping' }),
  ];
  let bytes = writes.reduce((n, b) => n + b.length, 0);
  let deltas = 0;
  const long = prose.repeat(Math.ceil(TEXT_PER_DELTA / prose.length) + 1);
  let at = 0;
  while (bytes < sizeBytes - 400) {
    const text = long.slice(at, at + TEXT_PER_DELTA);
    at = (at + TEXT_PER_DELTA) % prose.length;
    const b = sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
    writes.push(b);
    bytes += b.length;
    deltas++;
  }
  const outputTokens = deltas * 256;
  for (const b of [
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: outputTokens } }),
    sse('message_stop', { type: 'message_stop' }),
  ]) {
    writes.push(b);
    bytes += b.length;
  }
  return { writes, bytes, deltas, outputTokens };
}

/** The upstream: answers POST /v1/messages with the script, one write per event, minding backpressure. */
function upstreamServer(writes: Buffer[]): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/messages') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_bench' });
      res.flushHeaders();
      void (async () => {
        if (FIRST_EVENT_MS > 0) await sleep(FIRST_EVENT_MS);
        for (const b of writes) {
          if (res.destroyed) return;
          if (PACE_MS > 0) await sleep(PACE_MS);
          if (!res.write(b)) await new Promise((resolve) => res.once('drain', resolve));
        }
        res.end();
      })();
    });
  });
}

/** A 127.0.0.1 port piped to the gateway's socket, as the in-container forwarder does. */
function forwarder(socketPath: string): net.Server {
  return net.createServer((c) => {
    c.setNoDelay(true);
    const up = net.connect(socketPath);
    c.pipe(up);
    up.pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
}

interface Metered {
  requests: number;
  outputTokens: number;
  listenerWarnings: number;
}

interface GatewayHandle {
  token: string;
  socketPath: string;
  /** What the gateway metered for the bench's run, and how many MaxListenersExceededWarnings its process had. */
  usage(): Promise<Metered>;
  close(): Promise<void>;
}

/** A gateway for {@link RUN} in this process, forwarding to the upstream on `upstreamPort`; its database in `dir`. */
async function startGateway(upstreamPort: number, dir: string): Promise<GatewayHandle> {
  const leaks = countListenerWarnings();
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const gateway = new Gateway({
    store,
    root: dir,
    settings: () => ({ ...DEFAULT_GATEWAY_SETTINGS, upstream: `http://127.0.0.1:${upstreamPort}`, maxCostUsdPerTask: 0, maxCostUsdPerDay: 0 }),
    apiKey: async () => 'sk-bench',
  });
  const token = await gateway.open(RUN);
  return {
    token,
    socketPath: path.join(gateway.folderOf(RUN.agent), 'gateway.sock'),
    usage: async () => {
      const u = gateway.usageOf(RUN);
      return { requests: u.requests, outputTokens: u.outputTokens, listenerWarnings: leaks() };
    },
    close: async () => {
      await gateway.close();
      await store.close();
    },
  };
}

type ChildMessage = { ready: { token: string; socketPath: string } } | { usage: Metered } | { closed: true };

/**
 * Counts this process's MaxListenersExceededWarnings instead of printing them (the gateway's
 * forward() adds a 'close' and an 'error' listener to the response at each backpressure wait and
 * leaves them: a 1 MB stream passes the limit of 10 many times); other warnings print as usual.
 */
function countListenerWarnings(): () => number {
  let n = 0;
  const defaults = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name === 'MaxListenersExceededWarning') n++;
    else for (const l of defaults) l(w);
  });
  return () => n;
}

/** {@link startGateway} in a child process (this file with `--gateway-child`), talked to over IPC. */
async function forkGateway(upstreamPort: number, dir: string): Promise<GatewayHandle> {
  const child = fork(__filename, ['--gateway-child', String(upstreamPort)], { env: { ...process.env, BORG_BENCH_DIR: dir } });
  const next = <K extends string>(key: K): Promise<Extract<ChildMessage, Record<K, unknown>>> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: ChildMessage) => {
        if (!(key in m)) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as Extract<ChildMessage, Record<K, unknown>>);
      };
      const onExit = (code: number | null) => reject(new Error(`the gateway process exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const { ready } = await next('ready');
  return {
    ...ready,
    usage: async () => {
      child.send('usage');
      return (await next('usage')).usage;
    },
    close: async () => {
      child.send('close');
      await next('closed');
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    },
  };
}

/** The child's side of {@link forkGateway}. */
async function gatewayChild(upstreamPort: number): Promise<void> {
  const send = (m: ChildMessage) => process.send?.(m);
  const gw = await startGateway(upstreamPort, process.env.BORG_BENCH_DIR ?? '');
  process.on('message', (m) => {
    void (async () => {
      if (m === 'usage') send({ usage: await gw.usage() });
      else if (m === 'close') {
        await gw.close();
        send({ closed: true });
        process.disconnect();
      }
    })();
  });
  process.once('disconnect', () => process.exit()); // closed, or the bench process died
  send({ ready: { token: gw.token, socketPath: gw.socketPath } });
}

const REQUEST_BODY = JSON.stringify({ model: MODEL, max_tokens: 64000, stream: true, messages: [{ role: 'user', content: 'Write a long answer.' }] });

/** One request: ms to the first body byte and to the end of the response. */
function once(target: http.RequestOptions, hash: boolean): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let ttft = -1;
    let bytes = 0;
    const sha = hash ? createHash('sha256') : undefined;
    const req = http.request(
      {
        ...target,
        method: 'POST',
        path: '/v1/messages',
        headers: { ...target.headers, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'content-length': Buffer.byteLength(REQUEST_BODY) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`HTTP ${res.statusCode}`));
        }
        res.on('data', (chunk: Buffer) => {
          if (ttft < 0) ttft = performance.now() - t0;
          bytes += chunk.length;
          sha?.update(chunk);
        });
        res.on('end', () => resolve({ ttft, total: performance.now() - t0, bytes, sha256: sha?.digest('hex') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(REQUEST_BODY);
  });
}

async function main(): Promise<void> {
  const { writes, bytes, deltas, outputTokens } = script(SIZE_MB * 1024 * 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-gwbench-'));
  const upstream = upstreamServer(writes);
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const upstreamPort = (upstream.address() as net.AddressInfo).port;
  const gw = IN_PROCESS ? await startGateway(upstreamPort, dir) : await forkGateway(upstreamPort, dir);
  const { token, socketPath } = gw;
  const fwd = forwarder(socketPath);
  await new Promise<void>((resolve) => fwd.listen(0, '127.0.0.1', resolve));
  const fwdPort = (fwd.address() as net.AddressInfo).port;
  const agents = Object.fromEntries(CLIENTS.map((c) => [c, new http.Agent({ keepAlive: true, maxSockets: 1 })])) as Record<Client, http.Agent>;
  const targets: Record<Client, http.RequestOptions> = {
    direct: { host: '127.0.0.1', port: upstreamPort, agent: agents.direct, headers: { 'x-api-key': 'sk-bench' } },
    gateway: { socketPath, agent: agents.gateway, headers: { 'x-api-key': token } },
    forwarded: { host: '127.0.0.1', port: fwdPort, agent: agents.forwarded, headers: { 'x-api-key': token } },
  };
  try {
    console.log(
      `gateway bench: ${(bytes / 1024 / 1024).toFixed(2)} MiB SSE response (${writes.length} writes, ${deltas} text deltas of ${TEXT_PER_DELTA} chars${PACE_MS > 0 ? `, ${PACE_MS} ms apart` : ', no pacing'}${FIRST_EVENT_MS > 0 ? `, the first after ${FIRST_EVENT_MS} ms` : ''}), ` +
        `${WARMUP} warmup + ${RUNS} rounds (${CLIENTS.join(' / ')}, order rotated); node ${process.version}, ${os.cpus().length} CPUs`,
    );
    console.log(
      IN_PROCESS
        ? 'The gateway runs in this process, on the thread the upstream and the clients use: its CPU time adds up with theirs.'
        : 'The gateway runs in a child process (as in the extension host); the upstream, the clients and the forwarder share this one.',
    );
    console.log('The in-container forwarder and the container network are not measured: "forwarded" is a host-side net pipe to the socket, the nearest equivalent.');
    const expected = createHash('sha256').update(Buffer.concat(writes)).digest('hex');
    for (let w = 0; w < WARMUP; w++) {
      for (const c of CLIENTS) {
        const t = await once(targets[c], w === 0);
        if (t.bytes !== bytes || (t.sha256 && t.sha256 !== expected)) throw new Error(`${c}: the response differs from what the upstream sent (${t.bytes} of ${bytes} bytes)`);
      }
    }
    const times = Object.fromEntries(CLIENTS.map((c) => [c, [] as Timing[]])) as Record<Client, Timing[]>;
    for (let r = 0; r < RUNS; r++) {
      for (let k = 0; k < CLIENTS.length; k++) {
        const c = CLIENTS[(r + k) % CLIENTS.length];
        const t = await once(targets[c], false);
        if (t.bytes !== bytes) throw new Error(`${c}: ${t.bytes} of ${bytes} bytes`);
        times[c].push(t);
      }
    }

    const usage = await gw.usage();
    const metered = WARMUP * 2 + RUNS * 2;
    const meterOk = usage.requests === metered && usage.outputTokens === metered * outputTokens;
    const figures = {
      bench: 'gateway',
      at: new Date().toISOString(),
      node: process.version,
      platform: `${os.platform()} ${os.release()} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      responseBytes: bytes,
      writes: writes.length,
      textDeltas: deltas,
      paceMs: PACE_MS,
      firstEventMs: FIRST_EVENT_MS,
      gatewayProcess: IN_PROCESS ? 'the bench process' : 'a child process',
      warmup: WARMUP,
      runs: RUNS,
      target: TARGET,
      metered: { ...usage, ok: meterOk },
      clients: Object.fromEntries(CLIENTS.map((c) => [c, { ttftMs: stats(times[c].map((t) => t.ttft)), totalMs: stats(times[c].map((t) => t.total)) }])),
      vsDirect: Object.fromEntries(
        (['gateway', 'forwarded'] as Client[]).map((c) => {
          const r = (m: 'ttft' | 'total') => {
            const ofMedians = median(times[c].map((t) => t[m])) / median(times.direct.map((t) => t[m]));
            const perRound = times[c].map((t, i) => t[m] / times.direct[i][m]);
            const addedMs = times[c].map((t, i) => t[m] - times.direct[i][m]);
            return { ratioOfMedians: round(ofMedians, 3), perRound: stats(perRound, 3), addedMsPerRound: stats(addedMs), meetsTarget: ofMedians <= TARGET };
          };
          return [c, { ttft: r('ttft'), total: r('total') }];
        }),
      ),
    };

    const w = Math.max(...CLIENTS.map((c) => LABEL[c].length));
    for (const m of ['ttft', 'total'] as const) {
      console.log(m === 'ttft' ? '\ntime to first byte of the first SSE event (ms):' : '\ntotal time, request to end of response (ms):');
      for (const c of CLIENTS) console.log(`  ${LABEL[c].padEnd(w)}  ${spread(times[c].map((t) => t[m]))}`);
    }
    console.log(`\nvs direct (target ≤ ${TARGET}×):`);
    for (const c of ['gateway', 'forwarded'] as Client[]) {
      for (const m of ['ttft', 'total'] as const) {
        const r = figures.vsDirect[c][m];
        console.log(
          `  ${LABEL[c].padEnd(w)}  ${m.padEnd(5)}  ratio of medians ${r.ratioOfMedians.toFixed(3)}×  ${r.meetsTarget ? 'meets' : 'MISSES'} ≤ ${TARGET}×   ` +
            `per-round ratios ${spread(
              times[c].map((t, i) => t[m] / times.direct[i][m]),
              3,
            )}   added ${r.addedMsPerRound.median.toFixed(2)} ms (median per round)`,
        );
      }
    }
    console.log(
      `\nmetered by the gateway: ${usage.requests} requests, ${usage.outputTokens} output tokens (${meterOk ? 'as sent' : `expected ${metered} requests, ${metered * outputTokens} tokens`})`,
    );
    if (usage.listenerWarnings) {
      console.log(`gateway process: ${usage.listenerWarnings} MaxListenersExceededWarnings (forward() leaves a 'close' and an 'error' listener on the response per backpressure wait)`);
    }
    if (values.json) {
      fs.writeFileSync(values.json, JSON.stringify(figures, null, 2) + '\n');
      console.log(`figures written to ${values.json}`);
    }
  } finally {
    for (const a of Object.values(agents)) a.destroy();
    await new Promise<void>((resolve) => fwd.close(() => resolve()));
    await gw.close();
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

function stats(xs: number[], digits = 2): { median: number; min: number; p25: number; p75: number; max: number } {
  const f = (q: number) => round(quantile(xs, q), digits);
  return { median: f(0.5), min: f(0), p25: f(0.25), p75: f(0.75), max: f(1) };
}

/** "median M (min a · p25 b – p75 c · max d)". */
function spread(xs: number[], digits = 2): string {
  const f = (q: number) => quantile(xs, q).toFixed(digits);
  return `median ${f(0.5)} (min ${f(0)} · p25 ${f(0.25)} – p75 ${f(0.75)} · max ${f(1)})`;
}

(values['gateway-child'] ? gatewayChild(Number(values['gateway-child'])) : main()).catch((e) => {
  console.error(e);
  process.exit(1); // servers and the gateway's process may still be open
});
