import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { MAX_EVENT_BYTES, SseDecoder, UsageMeter, type MeteredResponse, type SseEvent } from '../../src/core/gateway/usage';

const zero = { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };

/** Meters `body` fed as `chunks` (split at the given byte offsets, or whole). */
function meter(contentType: string | undefined, body: Buffer | string, cuts: number[] = []): MeteredResponse {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const m = new UsageMeter(contentType);
  let at = 0;
  for (const cut of [...cuts, buf.length]) {
    m.push(buf.subarray(at, cut));
    at = cut;
  }
  return m.end();
}

/** Meters `body` one byte per chunk. */
function meterBytes(contentType: string | undefined, body: string): MeteredResponse {
  const buf = Buffer.from(body, 'utf8');
  return meter(
    contentType,
    buf,
    Array.from({ length: buf.length }, (_, i) => i),
  );
}

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** A streamed answer, as in the API's streaming docs: message_start with input 25 / output 1, two text deltas, output 42. */
const STREAM =
  sse('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_01',
      type: 'message',
      role: 'assistant',
      content: [],
      model: 'claude-sonnet-4-5-20250929',
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 25, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
    },
  }) +
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
  sse('ping', { type: 'ping' }) +
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Grüße, ' } }) +
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'naïve wörld — 🌍' } }) +
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }) +
  sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 42 } }) +
  sse('message_stop', { type: 'message_stop' });

const STREAM_RESULT: MeteredResponse = {
  model: 'claude-sonnet-4-5-20250929',
  usage: { inputTokens: 25, outputTokens: 42, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
  stopReason: 'end_turn',
};

const MESSAGE = {
  id: 'msg_02',
  type: 'message',
  role: 'assistant',
  model: 'claude-opus-4-5-20251101',
  content: [{ type: 'text', text: 'Hällo — ünïcode 🌍' }],
  stop_reason: 'max_tokens',
  stop_sequence: null,
  usage: { input_tokens: 12, cache_creation_input_tokens: 300, cache_read_input_tokens: 4000, output_tokens: 77 },
};

describe('UsageMeter, JSON bodies', () => {
  it('reads model, usage and stop reason of a message', () => {
    assert.deepEqual(meter('application/json', JSON.stringify(MESSAGE)), {
      model: 'claude-opus-4-5-20251101',
      usage: { inputTokens: 12, outputTokens: 77, cacheCreationInputTokens: 300, cacheReadInputTokens: 4000 },
      stopReason: 'max_tokens',
    });
  });

  it('reads a message split into 1-byte chunks (multi-byte characters split too)', () => {
    assert.deepEqual(meterBytes('application/json; charset=utf-8', JSON.stringify(MESSAGE, null, 2)), meter('application/json', JSON.stringify(MESSAGE)));
  });

  it('counts a count_tokens answer as zero usage', () => {
    assert.deepEqual(meter('application/json', '{"input_tokens": 2095}'), { usage: zero });
  });

  it('counts an error as zero usage and reports it', () => {
    const r = meter('application/json', JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_1' }));
    assert.deepEqual(r, { usage: zero, error: { type: 'overloaded_error', message: 'Overloaded' } });
  });

  it('treats missing usage fields as zero and ignores invalid ones', () => {
    const r = meter('application/json', JSON.stringify({ type: 'message', model: 'm', usage: { input_tokens: 5, output_tokens: -3, cache_read_input_tokens: '7' } }));
    assert.deepEqual(r.usage, { ...zero, inputTokens: 5 });
  });

  it('reads an oversize message from its start and end', () => {
    const big = { ...MESSAGE, content: [{ type: 'tool_use', id: 't', name: 'Write', input: { text: 'x'.repeat(MAX_EVENT_BYTES + 10), usage: { input_tokens: 999, output_tokens: 999 } } }] };
    const body = Buffer.from(JSON.stringify(big));
    const cuts = Array.from({ length: Math.floor(body.length / 8192) }, (_, i) => (i + 1) * 8192);
    assert.deepEqual(meter('application/json', body, cuts), meter('application/json', JSON.stringify(MESSAGE)));
  });

  it('yields zero usage before end() and the final usage after it, idempotently', () => {
    const m = new UsageMeter('application/json');
    m.push(Buffer.from(JSON.stringify(MESSAGE)));
    assert.deepEqual(m.usageSoFar, zero);
    const first = m.end();
    assert.equal(m.usageSoFar.outputTokens, 77);
    m.push(Buffer.from('garbage'));
    assert.deepEqual(m.end(), first);
  });
});

describe('UsageMeter, event streams', () => {
  it('reads a realistic stream: the delta’s output tokens replace the start’s', () => {
    assert.deepEqual(meter('text/event-stream; charset=utf-8', STREAM), STREAM_RESULT);
  });

  it('reads the stream split at every byte position', () => {
    const buf = Buffer.from(STREAM, 'utf8');
    for (let cut = 0; cut <= buf.length; cut++) assert.deepEqual(meter('text/event-stream', buf, [cut]), STREAM_RESULT, `cut at ${cut}`);
  });

  it('reads the stream in 1-byte chunks', () => {
    assert.deepEqual(meterBytes('text/event-stream', STREAM), STREAM_RESULT);
  });

  it('reads \\r\\n line endings, split at every byte position', () => {
    const buf = Buffer.from(STREAM.replace(/\n/g, '\r\n'), 'utf8');
    for (let cut = 0; cut <= buf.length; cut++) assert.deepEqual(meter('text/event-stream', buf, [cut]), STREAM_RESULT, `cut at ${cut}`);
  });

  it('reads lone \\r line endings', () => {
    assert.deepEqual(meterBytes('text/event-stream', STREAM.replace(/\n/g, '\r')), STREAM_RESULT);
  });

  it('shows the running usage while the stream is read', () => {
    const m = new UsageMeter('text/event-stream');
    const end = STREAM.indexOf('event: content_block_start');
    m.push(Buffer.from(STREAM.slice(0, end)));
    assert.deepEqual(m.usageSoFar, { ...zero, inputTokens: 25, outputTokens: 1 });
    m.push(Buffer.from(STREAM.slice(end)));
    assert.equal(m.usageSoFar.outputTokens, 42);
    assert.deepEqual(m.end(), STREAM_RESULT);
  });

  it('lets message_delta replace input and cache tokens too, when it carries them', () => {
    const stream =
      sse('message_start', { type: 'message_start', message: { model: 'claude-haiku-4-5', usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 } } }) +
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { input_tokens: 11, cache_creation_input_tokens: 7, output_tokens: 30 } }) +
      sse('message_delta', { type: 'message_delta', delta: {}, usage: { output_tokens: 31 } });
    assert.deepEqual(meter('text/event-stream', stream), {
      model: 'claude-haiku-4-5',
      usage: { inputTokens: 11, outputTokens: 31, cacheCreationInputTokens: 7, cacheReadInputTokens: 5 },
      stopReason: 'tool_use',
    });
  });

  it('reports an error event and zero usage when no message started', () => {
    const stream = sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    assert.deepEqual(meter('text/event-stream', stream), { usage: zero, error: { type: 'overloaded_error', message: 'Overloaded' } });
  });

  it('keeps the usage read before an error event', () => {
    const start = STREAM.slice(0, STREAM.indexOf('event: content_block_delta'));
    const r = meter('text/event-stream', start + sse('error', { type: 'error', error: { type: 'api_error', message: 'Internal' } }));
    assert.deepEqual(r, { model: STREAM_RESULT.model, usage: { ...zero, inputTokens: 25, outputTokens: 1 }, error: { type: 'api_error', message: 'Internal' } });
  });

  it('ignores an oversize event and reads the ones around it', () => {
    const huge = sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'y'.repeat(MAX_EVENT_BYTES) } });
    const hugeDelta = sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'refusal' }, usage: { output_tokens: 1e6 }, pad: 'z'.repeat(MAX_EVENT_BYTES) });
    const at = STREAM.indexOf('event: content_block_stop');
    const stop = STREAM.indexOf('event: message_stop');
    const body = Buffer.from(STREAM.slice(0, at) + huge + STREAM.slice(at, stop) + hugeDelta + STREAM.slice(stop));
    const cuts = Array.from({ length: Math.floor(body.length / 65536) }, (_, i) => (i + 1) * 65536);
    assert.deepEqual(meter('text/event-stream', body, cuts), STREAM_RESULT);
  });

  it('reads a last event that no blank line closed', () => {
    assert.deepEqual(meter('text/event-stream', STREAM.replace(/\n\n$/, '')), STREAM_RESULT);
  });

  it('tells the shape from the body when there is no content type', () => {
    assert.deepEqual(meter(undefined, STREAM), STREAM_RESULT);
    assert.deepEqual(meter(undefined, '\n ' + JSON.stringify(MESSAGE)).usage.outputTokens, 77);
  });
});

describe('UsageMeter, garbage', () => {
  const garbage: Array<[string, string | Buffer]> = [
    ['random bytes', Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + 13) % 256))],
    ['HTML', '<html><body>502 Bad Gateway</body></html>'],
    ['truncated JSON', JSON.stringify(MESSAGE).slice(0, 80)],
    ['a JSON array', '[1,2,3]'],
    ['JSON null', 'null'],
    ['events with bad data', 'event: message_start\ndata: {not json\n\nevent: message_delta\ndata: [1]\n\ndata: "s"\n\n: comment\n\n'],
    ['a message_start without a message', sse('message_start', { type: 'message_start', message: 7 })],
    ['an empty body', ''],
  ];
  for (const contentType of ['application/json', 'text/event-stream', undefined]) {
    for (const [name, body] of garbage) {
      it(`meters ${name} as ${contentType ?? 'no content type'} as zero usage without throwing`, () => {
        const r = meter(contentType, body);
        assert.deepEqual(r.usage, zero);
        assert.equal(r.error, undefined);
      });
    }
  }
});

describe('SseDecoder', () => {
  it('joins data lines, strips one leading space, skips comments and unknown fields, defaults the event name', () => {
    const events: SseEvent[] = [];
    const d = new SseDecoder((e) => events.push(e));
    d.push(Buffer.from('\uFEFF: hi\nid: 1\nretry: 5\ndata:a\ndata:  b\n\nevent: x\ndata\n\n'));
    d.end();
    assert.deepEqual(events, [
      { event: 'message', data: 'a\n b' },
      { event: 'x', data: '' },
    ]);
  });

  it('counts the events it dropped for size', () => {
    const events: SseEvent[] = [];
    const d = new SseDecoder((e) => events.push(e), 10);
    d.push(Buffer.from('data: 0123456789\n\ndata: ok\n\n'));
    d.end();
    assert.deepEqual(events, [{ event: 'message', data: 'ok' }]);
    assert.equal(d.dropped, 1);
  });

  /** The events of `body` fed in `size`-byte chunks to a decoder that ignores `skip` and `ping`. */
  const decodeIgnoring = (body: string, size: number, maxEventBytes = MAX_EVENT_BYTES) => {
    const events: SseEvent[] = [];
    const d = new SseDecoder(
      (e) => events.push(e),
      maxEventBytes,
      (name) => name === 'skip' || name === 'ping',
    );
    const buf = Buffer.from(body, 'utf8');
    for (let i = 0; i < buf.length; i += size) d.push(buf.subarray(i, i + size));
    d.end();
    return { events, dropped: d.dropped };
  };

  it('skips ignored events, in any chunking and with any line ends', () => {
    const body = 'event: skip\ndata: {"a":1}\n\nevent: keep\ndata: ü1\ndata: 2\n\nevent: ping\ndata\n\n: c\nevent: keep\r\ndata: 3\r\n\r\nevent: skip\rdata: x\r\rdata: 4\n\n';
    const want = [
      { event: 'keep', data: 'ü1\n2' },
      { event: 'keep', data: '3' },
      { event: 'message', data: '4' },
    ];
    for (const size of [1, 2, 3, 7, 1000]) assert.deepEqual(decodeIgnoring(body, size), { events: want, dropped: 0 }, `chunks of ${size}`);
  });

  it('delivers an ignored name whose data came first, and one renamed before its data', () => {
    assert.deepEqual(decodeIgnoring('data: 1\nevent: skip\n\nevent: skip\nevent: keep\ndata: 2\n\n', 5).events, [
      { event: 'skip', data: '1' },
      { event: 'keep', data: '2' },
    ]);
  });

  it('counts an ignored event renamed after its data as dropped', () => {
    assert.deepEqual(decodeIgnoring('event: skip\ndata: 1\nevent: keep\n\ndata: ok\n\n', 4), { events: [{ event: 'message', data: 'ok' }], dropped: 1 });
  });

  it('still counts an oversize ignored event as dropped', () => {
    assert.deepEqual(decodeIgnoring('event: skip\ndata: 0123456789\n\ndata: ok\n\n', 3, 12), { events: [{ event: 'message', data: 'ok' }], dropped: 1 });
  });
});
