import { afterEach, beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exchangeKind, keptResponseHeaders, readRecording, RecordingUpstream, REPLAY_SIDE_TEXT, ReplayUpstream, type RecordedExchange } from '../../src/core/gateway/recording';
import { DEFAULT_SCRIPT_MODEL, scriptedRun, writeRecording } from '../../src/core/gateway/script';
import type { RunRef, Upstream, UpstreamRequest, UpstreamResponse } from '../../src/core/gateway/upstream';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-recording-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const KEY = 'sk-ant-secret-key';
const TOOLS = [{ name: 'Write', input_schema: { type: 'object' } }];
const never = new AbortController().signal;

function run(agent: string, persona = 'worker', phase?: string, startedAt = 1000): RunRef {
  return { agent, persona, startedAt, ...(phase ? { phase } : {}) };
}

/** A request as the CLI sends it: `main` with tools, `side` without. */
function request(r: RunRef, kind: 'main' | 'side' = 'main', extra: Record<string, unknown> = {}, reqPath = '/v1/messages?beta=true'): UpstreamRequest {
  const body = { model: DEFAULT_SCRIPT_MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true, ...(kind === 'main' ? { tools: TOOLS } : {}), ...extra };
  return { method: 'POST', path: reqPath, headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)), run: r };
}

/** A promise with its resolve function outside. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** An upstream answering every request with `chunks`, each yielded after `gate(i)` resolves. */
function fakeInner(chunks: string[], opts: { headers?: Record<string, string>; status?: number; gate?: (i: number) => Promise<void> } = {}): Upstream & { sent: UpstreamRequest[] } {
  const sent: UpstreamRequest[] = [];
  return {
    label: 'https://api.example',
    replay: false,
    sent,
    send(req: UpstreamRequest): Promise<UpstreamResponse> {
      sent.push(req);
      async function* body() {
        for (let i = 0; i < chunks.length; i++) {
          await opts.gate?.(i);
          yield Buffer.from(chunks[i], 'utf8');
        }
      }
      return Promise.resolve({ status: opts.status ?? 200, headers: opts.headers ?? { 'content-type': 'text/event-stream' }, body: body() });
    },
  };
}

async function collect(body: AsyncIterable<Buffer>): Promise<string[]> {
  const out: string[] = [];
  for await (const c of body) out.push(c.toString('utf8'));
  return out;
}

async function text(res: UpstreamResponse): Promise<string> {
  return (await collect(res.body)).join('');
}

interface SseEvent {
  event: string;
  data: Record<string, unknown> & { type: string };
}

/** Parses SSE chunks, checking each holds exactly one event. */
function parseSse(chunks: string[]): SseEvent[] {
  return chunks.map((chunk) => {
    const m = /^event: (\S+)\ndata: (.*)\n\n$/s.exec(chunk);
    assert.ok(m, `not one SSE event: ${JSON.stringify(chunk)}`);
    const data = JSON.parse(m[2]) as SseEvent['data'];
    assert.equal(data.type, m[1]);
    return { event: m[1], data };
  });
}

/** The tool calls and texts of an SSE answer, rebuilt from its deltas. */
function blocksOf(events: SseEvent[]): Array<{ type: string; id?: string; name?: string; input?: unknown; text?: string }> {
  const blocks: Array<{ type: string; id?: string; name?: string; json: string; text: string }> = [];
  for (const { data } of events) {
    const index = data.index as number;
    if (data.type === 'content_block_start') blocks[index] = { ...(data.content_block as { type: string }), json: '', text: '' };
    if (data.type === 'content_block_delta') {
      const delta = data.delta as { type: string; partial_json?: string; text?: string };
      if (delta.type === 'input_json_delta') blocks[index].json += delta.partial_json;
      else blocks[index].text += delta.text;
    }
  }
  return blocks.map((b) => (b.type === 'tool_use' ? { type: b.type, id: b.id, name: b.name, input: JSON.parse(b.json) } : { type: b.type, text: b.text }));
}

function readLines(file: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A side exchange answering with `answer` as one JSON chunk. */
function sideExchange(runId: string, persona: string, answer: string, reqPath = '/v1/messages'): RecordedExchange {
  return {
    run: runId,
    persona,
    phase: null,
    kind: 'side',
    request: { method: 'POST', path: reqPath, body: {} },
    response: { status: 200, headers: { 'content-type': 'application/json' }, chunks: [answer] },
  };
}

/** The text of a replayed scripted answer (its only text block), or the tool names it calls. */
async function answerOf(up: Upstream, req: UpstreamRequest): Promise<string> {
  const res = await up.send(req, never);
  assert.equal(res.status, 200);
  const blocks = blocksOf(parseSse(await collect(res.body)));
  return blocks.map((b) => (b.type === 'text' ? b.text : `${b.name}`)).join(',');
}

// ---------------------------------------------------------------------------------------------
// Recording
// ---------------------------------------------------------------------------------------------

describe('RecordingUpstream', () => {
  it('writes a header and one line per exchange, without request headers, keeping chunk boundaries and the allowed response headers', async () => {
    const file = path.join(dir, 'rec.jsonl');
    const headers = { 'content-type': 'text/event-stream', 'request-id': 'req_1', 'set-cookie': 'a=b', 'anthropic-ratelimit-tokens-remaining': '9', 'anthropic-organization-id': 'org' };
    const inner = fakeInner(['event: a\ndata: {}\n\n', 'event: b\n', 'data: {}\n\n'], { headers });
    const rec = new RecordingUpstream(inner, file, { note: 'unit test' });
    const req = request(run('borg-worker-1', 'worker', 'impl'));
    const res = await rec.send(req, never);
    assert.deepEqual(res.headers, headers, 'the live answer keeps all its headers');
    assert.deepEqual(await collect(res.body), ['event: a\ndata: {}\n\n', 'event: b\n', 'data: {}\n\n']);
    assert.equal(inner.sent[0], req, 'the request is forwarded as it is');

    const raw = fs.readFileSync(file, 'utf8');
    assert.ok(!raw.includes(KEY), 'the key is never written');
    assert.ok(!raw.includes('x-api-key'));
    const [header, line, ...rest] = readLines(file);
    assert.deepEqual(rest, []);
    assert.equal(header.borgRecording, 1);
    assert.equal(header.note, 'unit test');
    assert.ok(!Number.isNaN(Date.parse(header.createdAt as string)));
    assert.deepEqual(line, {
      run: 'r1',
      persona: 'worker',
      phase: 'impl',
      kind: 'main',
      request: { method: 'POST', path: '/v1/messages?beta=true', body: JSON.parse(req.body.toString()) as unknown },
      response: {
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'request-id': 'req_1', 'anthropic-ratelimit-tokens-remaining': '9' },
        chunks: ['event: a\ndata: {}\n\n', 'event: b\n', 'data: {}\n\n'],
      },
    });
  });

  it('creates the file with mode 0600', { skip: process.platform === 'win32' }, () => {
    const file = path.join(dir, 'rec.jsonl');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    new RecordingUpstream(fakeInner([]), file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(readLines(file).length, 1, 'a file that is no recording gets a fresh header');
    const aside = fs.readdirSync(dir).filter((f) => f.startsWith('rec.jsonl.not-a-recording-'));
    assert.equal(aside.length, 1, 'and is moved aside, not overwritten');
    assert.equal(fs.readFileSync(path.join(dir, aside[0]), 'utf8'), 'old');
  });

  it('continues an existing recording (a window reload): earlier runs stay, new runs get the next ids', async () => {
    const file = path.join(dir, 'rec.jsonl');
    await collect((await new RecordingUpstream(fakeInner(['a']), file).send(request(run('borg-worker-1')), never)).body);
    await collect((await new RecordingUpstream(fakeInner(['b']), file).send(request(run('borg-worker-2')), never)).body);
    const lines = readLines(file);
    assert.equal(lines.length, 3, 'one header, two exchanges');
    assert.deepEqual(
      lines.slice(1).map((l) => [l.run, (l.response as { chunks: string[] }).chunks]),
      [
        ['r1', ['a']],
        ['r2', ['b']],
      ],
    );
  });

  it('passes chunks through as they arrive: the consumer sees chunk 1 before the inner yields chunk 2', async () => {
    const release = deferred();
    const file = path.join(dir, 'rec.jsonl');
    const inner = fakeInner(['one', 'two'], { gate: (i) => (i === 1 ? release.promise : Promise.resolve()) });
    const res = await new RecordingUpstream(inner, file).send(request(run('a')), never);
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.value?.toString(), 'one');
    assert.equal(readLines(file).length, 1, 'nothing written before the body ended');
    release.resolve();
    assert.equal((await it.next()).value?.toString(), 'two');
    assert.equal((await it.next()).done, true);
    assert.equal(readLines(file).length, 2);
  });

  it('gives each run an id in the order of its first request, and records kind, a null phase and a non-JSON body', async () => {
    const file = path.join(dir, 'rec.jsonl');
    const rec = new RecordingUpstream(fakeInner(['x']), file);
    const a = run('borg-worker-1');
    const b = run('borg-reviewer-1', 'reviewer', 'review');
    const aAgain = run('borg-worker-1', 'worker', undefined, 2000); // a new start of the same container
    for (const req of [request(a), request(b, 'side'), request(a, 'side'), request(aAgain)]) await collect((await rec.send(req, never)).body);
    await collect((await rec.send({ ...request(b), body: Buffer.from('not json') }, never)).body);
    const lines = readLines(file).slice(1);
    assert.deepEqual(
      lines.map((l) => [l.run, l.persona, l.phase, l.kind]),
      [
        ['r1', 'worker', null, 'main'],
        ['r2', 'reviewer', 'review', 'side'],
        ['r1', 'worker', null, 'side'],
        ['r3', 'worker', null, 'main'],
        ['r2', 'reviewer', 'review', 'side'],
      ],
    );
    assert.equal((lines[4].request as { body: unknown }).body, 'not json');
  });

  it('keeps a character split across chunks whole', async () => {
    const file = path.join(dir, 'rec.jsonl');
    const bytes = Buffer.from('é', 'utf8');
    const inner: Upstream = {
      label: 'x',
      replay: false,
      send: () =>
        Promise.resolve({
          status: 200,
          headers: {},
          body: (async function* () {
            yield Buffer.from([0x61, bytes[0]]);
            yield Buffer.from([bytes[1], 0x62]);
          })(),
        }),
    };
    await collect((await new RecordingUpstream(inner, file).send(request(run('a')), never)).body);
    assert.deepEqual((readLines(file)[1].response as { chunks: string[] }).chunks, ['a', 'éb']);
  });

  it('writes nothing for an answer left unread or a request that failed', async () => {
    const file = path.join(dir, 'rec.jsonl');
    const rec = new RecordingUpstream(fakeInner(['one', 'two']), file);
    for await (const chunk of (await rec.send(request(run('a')), never)).body) {
      assert.equal(chunk.toString(), 'one');
      break;
    }
    const failing = new RecordingUpstream({ label: 'x', replay: false, send: () => Promise.reject(new Error('refused')) }, path.join(dir, 'fail.jsonl'));
    await assert.rejects(failing.send(request(run('a')), never), /refused/);
    assert.equal(readLines(file).length, 1);
    assert.equal(readLines(path.join(dir, 'fail.jsonl')).length, 1);
  });

  it("names the file in its label and keeps the inner's replay flag", () => {
    const rec = new RecordingUpstream({ ...fakeInner([]), replay: true }, path.join(dir, 'demo.jsonl'));
    assert.equal(rec.label, 'https://api.example (recording to demo.jsonl)');
    assert.equal(rec.replay, true);
  });

  it('hands a failed write to onWriteError', async () => {
    const file = path.join(dir, 'rec.jsonl');
    const errors: unknown[] = [];
    const rec = new RecordingUpstream(fakeInner(['x']), file, { onWriteError: (e) => errors.push(e) });
    const res = await rec.send(request(run('a')), never);
    fs.rmSync(file);
    fs.mkdirSync(file); // appending to a directory fails
    assert.deepEqual(await collect(res.body), ['x']);
    assert.equal(errors.length, 1);
  });
});

describe('exchangeKind and keptResponseHeaders', () => {
  it('calls a request main only with a non-empty tools array, and never a token count', () => {
    assert.equal(exchangeKind('/v1/messages?beta=true', { tools: [{}] }), 'main');
    assert.equal(exchangeKind('/v1/messages?beta=true', { tools: [] }), 'side');
    assert.equal(exchangeKind('/v1/messages', {}), 'side');
    assert.equal(exchangeKind('/v1/messages', 'text'), 'side');
    assert.equal(exchangeKind('/v1/messages/count_tokens?beta=true', { tools: [{}] }), 'side');
  });

  it('keeps only content-type, request-id, retry-after and anthropic-ratelimit-*', () => {
    assert.deepEqual(keptResponseHeaders({ 'Content-Type': 'a', 'request-id': 'b', 'retry-after': '3', 'anthropic-ratelimit-x': 'c', 'set-cookie': 'd', 'x-api-key': 'e' }), {
      'content-type': 'a',
      'request-id': 'b',
      'retry-after': '3',
      'anthropic-ratelimit-x': 'c',
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------------------------

describe('ReplayUpstream', () => {
  it('says what is wrong with a missing file, a bad header and a bad line', () => {
    const missing = path.join(dir, 'none.jsonl');
    assert.throws(() => new ReplayUpstream(missing), { message: `${missing} does not exist: record one with borg.gatewayRecord` });

    const file = path.join(dir, 'bad.jsonl');
    writeRecording(file, [scriptedRun('worker', [{ text: 'a' }])]);
    fs.appendFileSync(file, '{"run":"r1"}\n');
    assert.throws(
      () => new ReplayUpstream(file),
      (e: Error) => e.message.startsWith(`line 3 of ${file} is not a recorded exchange`),
    );
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('{"run":"r1"}', '{oops'));
    assert.throws(() => new ReplayUpstream(file), { message: `line 3 of ${file} is not a recorded exchange (not JSON)` });

    fs.writeFileSync(file, '{"hello":1}\n');
    assert.throws(() => new ReplayUpstream(file), { message: `line 1 of ${file} is not a borg recording header` });
    fs.writeFileSync(file, '');
    assert.throws(() => new ReplayUpstream(file), /is empty/);
    fs.writeFileSync(file, '{"borgRecording":2,"createdAt":"x","note":""}\n');
    assert.throws(() => new ReplayUpstream(file), /version 2 recording/);
  });

  it('is a replay named after its file', () => {
    const file = path.join(dir, 'demo.jsonl');
    writeRecording(file, []);
    const up = new ReplayUpstream(file);
    assert.equal(up.replay, true);
    assert.equal(up.label, 'replay of demo.jsonl');
  });

  it('gives live runs the recorded runs of their persona, and phase when both have one, in file order', async () => {
    const file = path.join(dir, 'runs.jsonl');
    writeRecording(file, [
      scriptedRun('worker', [{ text: 'worker impl' }], { phase: 'impl' }),
      scriptedRun('reviewer', [{ text: 'reviewer' }]),
      scriptedRun('worker', [{ text: 'worker test' }], { phase: 'test' }),
      scriptedRun('worker', [{ text: 'worker any' }]),
    ]);
    const up = new ReplayUpstream(file);
    assert.equal(await answerOf(up, request(run('t', 'worker', 'test'))), 'worker test', 'skips the impl run');
    assert.equal(await answerOf(up, request(run('r', 'reviewer', 'review'))), 'reviewer', 'a recorded run without phase fits any phase');
    assert.equal(await answerOf(up, request(run('n', 'worker'))), 'worker impl', 'a live run without phase takes the first of its persona');
    assert.equal(await answerOf(up, request(run('i', 'worker', 'impl'))), 'worker any');
  });

  it('gives two live runs of the same persona two different recorded runs, and each run its main exchanges in order', async () => {
    const file = path.join(dir, 'two.jsonl');
    const steps = (n: number) => [{ tool: 'Write', input: { file_path: `/w/${n}.txt`, content: `${n}` } }, { text: `done ${n}` }];
    writeRecording(file, [scriptedRun('worker', steps(1)), scriptedRun('worker', steps(2))]);
    const up = new ReplayUpstream(file);
    const one = run('borg-worker-1');
    const two = run('borg-worker-2');
    const sameAgentLater = run('borg-worker-1', 'worker', undefined, 5000);
    const first = await up.send(request(one), never);
    const blocks = blocksOf(parseSse(await collect(first.body)));
    assert.deepEqual(blocks[0].input, { file_path: '/w/1.txt', content: '1' });
    assert.equal(await answerOf(up, request(two)), 'Write');
    assert.equal(await answerOf(up, request(two)), 'done 2');
    assert.equal(await answerOf(up, request(one)), 'done 1');
    const none = await up.send(request(sameAgentLater), never);
    assert.equal(none.status, 400, 'a new start of a container is a new run, and none is left');
  });

  it('yields the recorded chunks one by one with the recorded status and headers', async () => {
    const file = path.join(dir, 'chunks.jsonl');
    const ex: RecordedExchange = {
      run: 'x',
      persona: 'worker',
      phase: null,
      kind: 'main',
      request: { method: 'POST', path: '/v1/messages', body: {} },
      response: { status: 429, headers: { 'retry-after': '1' }, chunks: ['a', 'b', 'c'] },
    };
    writeRecording(file, [[ex]]);
    const res = await new ReplayUpstream(file).send(request(run('a')), never);
    assert.equal(res.status, 429);
    assert.deepEqual(res.headers, { 'retry-after': '1' });
    assert.deepEqual(await collect(res.body), ['a', 'b', 'c']);
  });

  it("answers side calls from the run's recorded side exchanges, then with a built-in text, without using main exchanges", async () => {
    const file = path.join(dir, 'side.jsonl');
    writeRecording(file, [[...scriptedRun('worker', [{ text: 'main answer' }]), sideExchange('x', 'worker', '{"title":"recorded"}')]]);
    const up = new ReplayUpstream(file);
    const r = run('a');
    assert.equal(await text(await up.send(request(r, 'side'), never)), '{"title":"recorded"}');

    const streamed = await up.send(request(r, 'side'), never);
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers['content-type'], /^text\/event-stream/);
    const events = parseSse(await collect(streamed.body));
    assert.deepEqual(
      events.map((e) => e.event),
      ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    assert.deepEqual(blocksOf(events), [{ type: 'text', text: REPLAY_SIDE_TEXT }]);

    const plain = await up.send(request(r, 'side', { stream: false }), never);
    assert.equal(plain.headers['content-type'], 'application/json');
    const message = JSON.parse(await text(plain)) as { type: string; content: unknown; stop_reason: string };
    assert.equal(message.type, 'message');
    assert.deepEqual(message.content, [{ type: 'text', text: REPLAY_SIDE_TEXT }]);
    assert.equal(message.stop_reason, 'end_turn');

    assert.equal(await answerOf(up, request(r)), 'main answer');
  });

  it('answers a token count with its recorded answer, else with a count of 0, never with a main exchange', async () => {
    const file = path.join(dir, 'count.jsonl');
    writeRecording(file, [
      [...scriptedRun('worker', [{ text: 'main' }]), sideExchange('x', 'worker', '{"input_tokens":42}', '/v1/messages/count_tokens?beta=true'), sideExchange('x', 'worker', '{"title":"t"}')],
    ]);
    const up = new ReplayUpstream(file);
    const r = run('a');
    const count = (): UpstreamRequest => request(r, 'main', {}, '/v1/messages/count_tokens?beta=true');
    assert.deepEqual(JSON.parse(await text(await up.send(count(), never))), { input_tokens: 42 });
    assert.deepEqual(JSON.parse(await text(await up.send(count(), never))), { input_tokens: 0 });
    assert.equal(await text(await up.send(request(r, 'side'), never)), '{"title":"t"}', 'the title answer was kept for a title request');
    assert.equal(await answerOf(up, request(r)), 'main');
  });

  it('answers 400 with an invalid_request_error once a run has no main exchange left, or no recorded run fits', async () => {
    const file = path.join(dir, 'demo.jsonl');
    writeRecording(file, [scriptedRun('worker', [{ tool: 'Bash', input: { command: 'ls' } }, { text: 'done' }])]);
    const up = new ReplayUpstream(file);
    const r = run('a');
    await answerOf(up, request(r));
    await answerOf(up, request(r));
    const res = await up.send(request(r), never);
    assert.equal(res.status, 400);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(await text(res)), {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'borg replay: demo.jsonl has no more recorded answers for the worker run (2 used)' },
    });
    const side = await up.send(request(r, 'side'), never);
    assert.equal(side.status, 200, 'side calls are still answered');

    const other = await up.send(request(run('b', 'reviewer')), never);
    assert.equal(other.status, 400);
    assert.match(await text(other), /for the reviewer run \(0 used\)/);
  });

  it('rejects a request whose signal already aborted', async () => {
    const file = path.join(dir, 'abort.jsonl');
    writeRecording(file, [scriptedRun('worker', [{ text: 'x' }])]);
    const ac = new AbortController();
    ac.abort(new Error('stopped'));
    await assert.rejects(new ReplayUpstream(file).send(request(run('a')), ac.signal), /stopped/);
  });

  it('replays what a RecordingUpstream recorded', async () => {
    const file = path.join(dir, 'round.jsonl');
    const rec = new RecordingUpstream(fakeInner(['event: x\n', 'data: {}\n\n']), file);
    await collect((await rec.send(request(run('a', 'worker', 'impl')), never)).body);
    const res = await new ReplayUpstream(file).send(request(run('b', 'worker', 'impl')), never);
    assert.deepEqual(await collect(res.body), ['event: x\n', 'data: {}\n\n']);
  });
});

// ---------------------------------------------------------------------------------------------
// Scripted runs
// ---------------------------------------------------------------------------------------------

describe('scriptedRun', () => {
  it('streams a tool call as the Messages API does, its partial_json parsing back to the input', () => {
    const input = { file_path: '/workspace/hello.txt', content: 'Hello "world"\n' };
    const [exchange] = scriptedRun('worker', [{ tool: 'Write', input }]);
    assert.equal(exchange.kind, 'main');
    assert.equal(exchange.phase, null);
    assert.equal(exchange.response.status, 200);
    assert.match(exchange.response.headers['content-type'], /^text\/event-stream/);
    const events = parseSse(exchange.response.chunks);
    assert.deepEqual(
      events.map((e) => e.event),
      ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    assert.deepEqual(events[0].data.message, {
      id: 'msg_borg_1',
      type: 'message',
      role: 'assistant',
      model: DEFAULT_SCRIPT_MODEL,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 100, output_tokens: 1 },
    });
    assert.deepEqual(events[1].data, { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_borg_1', name: 'Write', input: {} } });
    assert.equal((events[2].data.delta as { type: string }).type, 'input_json_delta');
    assert.deepEqual(blocksOf(events), [{ type: 'tool_use', id: 'toolu_borg_1', name: 'Write', input }]);
    assert.deepEqual(events[3].data, { type: 'content_block_stop', index: 0 });
    assert.deepEqual(events[4].data, { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 50 } });
  });

  it('numbers messages and tool calls through the run, streams several tools at once and ends with a text', () => {
    const run1 = scriptedRun(
      'worker',
      [
        { tool: 'Bash', input: { command: 'ls' } },
        {
          tools: [
            { tool: 'Read', input: { file_path: '/a' } },
            { tool: 'Read', input: { file_path: '/b' } },
          ],
          usage: { inputTokens: 7, outputTokens: 3 },
          model: 'claude-opus-4-1',
        },
        { text: 'All done.' },
      ],
      { phase: 'impl', model: 'claude-haiku-4-5' },
    );
    assert.deepEqual(
      run1.map((e) => e.phase),
      ['impl', 'impl', 'impl'],
    );
    const [bash, reads, done] = run1.map((e) => parseSse(e.response.chunks));
    assert.deepEqual(blocksOf(bash), [{ type: 'tool_use', id: 'toolu_borg_1', name: 'Bash', input: { command: 'ls' } }]);
    assert.deepEqual(blocksOf(reads), [
      { type: 'tool_use', id: 'toolu_borg_2', name: 'Read', input: { file_path: '/a' } },
      { type: 'tool_use', id: 'toolu_borg_3', name: 'Read', input: { file_path: '/b' } },
    ]);
    assert.deepEqual(
      reads.map((e) => [e.event, e.data.index]),
      [
        ['message_start', undefined],
        ['content_block_start', 0],
        ['content_block_delta', 0],
        ['content_block_stop', 0],
        ['content_block_start', 1],
        ['content_block_delta', 1],
        ['content_block_stop', 1],
        ['message_delta', undefined],
        ['message_stop', undefined],
      ],
    );
    const readsStart = reads[0].data.message as { id: string; model: string; usage: unknown };
    assert.deepEqual([readsStart.id, readsStart.model, readsStart.usage], ['msg_borg_2', 'claude-opus-4-1', { input_tokens: 7, output_tokens: 1 }]);
    assert.deepEqual(reads[7].data.usage, { output_tokens: 3 });
    assert.equal((bash[0].data.message as { model: string }).model, 'claude-haiku-4-5');
    assert.deepEqual(blocksOf(done), [{ type: 'text', text: 'All done.' }]);
    assert.equal((done[2].data.delta as { type: string }).type, 'text_delta');
    assert.equal((done[4].data.delta as { stop_reason: string }).stop_reason, 'end_turn');
    assert.deepEqual(scriptedRun('worker', [{ tool: 'Bash', input: { command: 'ls' } }]), scriptedRun('worker', [{ tool: 'Bash', input: { command: 'ls' } }]), 'deterministic');
  });
});

describe('writeRecording', () => {
  it('writes the runs as r1, r2, … in a 0600 file that ReplayUpstream replays', async () => {
    const file = path.join(dir, 'nested', 'script.jsonl');
    writeRecording(file, [scriptedRun('worker', [{ tool: 'Write', input: { file_path: '/x', content: 'x' } }, { text: 'worker done' }]), scriptedRun('reviewer', [{ text: 'LGTM' }])], 'scripted demo');
    if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const { header, exchanges } = readRecording(file);
    assert.equal(header.note, 'scripted demo');
    assert.deepEqual(
      exchanges.map((e) => [e.run, e.persona, e.kind]),
      [
        ['r1', 'worker', 'main'],
        ['r1', 'worker', 'main'],
        ['r2', 'reviewer', 'main'],
      ],
    );
    const up = new ReplayUpstream(file);
    const reviewer = run('borg-reviewer-1', 'reviewer', 'review');
    const worker = run('borg-worker-1', 'worker', 'impl');
    assert.equal(await answerOf(up, request(reviewer)), 'LGTM');
    assert.equal(await answerOf(up, request(worker, 'side')), REPLAY_SIDE_TEXT);
    assert.equal(await answerOf(up, request(worker)), 'Write');
    assert.equal(await answerOf(up, request(worker)), 'worker done');
    assert.equal((await up.send(request(worker), never)).status, 400);
  });
});
