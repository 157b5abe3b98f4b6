import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { blockingReason, emptySummary, foldLine } from '../../src/core/streamJson';

function fold(...lines: string[]) {
  const s = emptySummary();
  for (const l of lines) foldLine(s, l);
  return s;
}

describe('foldLine', () => {
  it('takes the session id from the init line', () => {
    assert.equal(fold('{"type":"system","subtype":"init","session_id":"abc"}').sessionId, 'abc');
  });

  it('reads the result line with cost and tokens', () => {
    const s = fold('{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.12,"usage":{"input_tokens":10,"output_tokens":20},"session_id":"s"}');
    assert.deepEqual(s.result, { isError: false, text: 'done', subtype: 'success', costUsd: 0.12, inputTokens: 10, outputTokens: 20 });
  });

  it('ignores lines that are not JSON objects', () => {
    const s = fold('plain text', '{not json', '[1,2]');
    assert.deepEqual(s, { errors: [] });
  });

  it('collects error codes from assistant messages', () => {
    assert.deepEqual(fold('{"type":"assistant","error":"authentication_failed","message":{}}').errors, ['authentication_failed']);
  });
});

describe('blockingReason', () => {
  it('blocks on the CLI\'s "Not logged in" result', () => {
    assert.match(blockingReason(fold('{"type":"result","is_error":true,"result":"Not logged in · Please run /login"}'))!, /Not logged in/);
  });

  it('blocks on authentication_failed and on HTTP 429', () => {
    assert.ok(blockingReason(fold('{"type":"assistant","error":"authentication_failed"}')));
    assert.ok(blockingReason(fold('{"type":"result","is_error":true,"result":"API Error: 429 rate limited"}')));
  });

  it('does not block an ordinary failure or a success', () => {
    assert.equal(blockingReason(fold('{"type":"result","is_error":true,"result":"tests failed"}')), undefined);
    assert.equal(blockingReason(fold('{"type":"result","is_error":false,"result":"fixed the 401 handler"}')), undefined);
  });
});
