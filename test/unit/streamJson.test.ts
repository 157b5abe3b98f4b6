import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { blockingReason, blockSignal, emptySummary, foldLine } from '../../src/core/streamJson';

function fold(...lines: string[]) {
  const s = emptySummary();
  for (const l of lines) foldLine(s, l);
  return s;
}

/** An assistant line with an API failure, as Claude Code 2.1.332 prints it (fields trimmed). */
function apiError(code: string | undefined, status: number | undefined, type: string | undefined, text = 'API Error') {
  return JSON.stringify({
    type: 'assistant',
    message: { model: '<synthetic>', role: 'assistant', content: [{ type: 'text', text }] },
    session_id: 's',
    ...(code !== undefined ? { error: code } : {}),
    is_api_error_message: true,
    ...(status !== undefined ? { api_error_status: status } : {}),
    ...(type !== undefined ? { api_error_type: type } : {}),
  });
}

/** The result line the CLI prints after an API failure (it says "success" with is_error true). */
function apiResult(status: number | undefined, type: string | undefined, text: string) {
  return JSON.stringify({
    type: 'result',
    subtype: 'success',
    is_error: true,
    result: text,
    session_id: 's',
    total_cost_usd: 0,
    terminal_reason: 'api_error',
    ...(status !== undefined ? { api_error_status: status } : {}),
    ...(type !== undefined ? { api_error_type: type } : {}),
  });
}

describe('foldLine', () => {
  it('takes the session id from the init line', () => {
    assert.equal(fold('{"type":"system","subtype":"init","session_id":"abc"}').sessionId, 'abc');
  });

  it('reads the result line with cost and tokens', () => {
    const s = fold('{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.12,"usage":{"input_tokens":10,"output_tokens":20},"session_id":"s"}');
    assert.deepEqual(s.result, { isError: false, text: 'done', subtype: 'success', costUsd: 0.12, inputTokens: 10, outputTokens: 20 });
  });

  it('reads api_error_status, api_error_type and terminal_reason from the result line', () => {
    const s = fold(apiResult(401, 'authentication_error', 'Invalid API key · Fix external API key'));
    assert.equal(s.result?.apiErrorStatus, 401);
    assert.equal(s.result?.apiErrorType, 'authentication_error');
    assert.equal(s.result?.terminalReason, 'api_error');
  });

  it('ignores lines that are not JSON objects', () => {
    const s = fold('plain text', '{not json', '[1,2]');
    assert.deepEqual(s, { errors: [], apiErrors: [] });
  });

  it('collects error codes, statuses and types from assistant messages', () => {
    const s = fold(apiError('rate_limit', 429, 'rate_limit_error', 'API Error: Request rejected (429)'));
    assert.deepEqual(s.errors, ['rate_limit']);
    assert.deepEqual(s.apiErrors, [{ code: 'rate_limit', status: 429, type: 'rate_limit_error', text: 'API Error: Request rejected (429)' }]);
  });

  it('does not take the error of an api_retry line (the CLI is still retrying)', () => {
    const s = fold('{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":1038,"error_status":429,"error":"rate_limit","session_id":"s"}');
    assert.deepEqual(s.apiErrors, []);
    assert.equal(blockSignal(s), undefined);
  });
});

describe('blockSignal: structured fields only', () => {
  it('free text about rate limits, billing, 401 or quotas in a result or assistant text does not block', () => {
    for (const text of [
      'fixed the rate limit bug',
      'billing module refactored',
      'handle HTTP 401 in the client',
      'quota exceeded test passes',
      'Not logged in · Please run /login',
      'invalid api key message reworded',
      'usage limit, overloaded_error, 429',
    ]) {
      const assistant = JSON.stringify({ type: 'assistant', message: { role: 'assistant', content: [{ type: 'text', text }] }, session_id: 's' });
      for (const isError of [true, false]) {
        const result = JSON.stringify({ type: 'result', subtype: isError ? 'error_during_execution' : 'success', is_error: isError, result: text });
        const s = fold(assistant, result);
        assert.equal(blockSignal(s), undefined, `${text} (is_error ${isError})`);
        assert.equal(blockingReason(s), undefined, text);
      }
    }
  });

  it('an error code on a line that is not an assistant message does not block', () => {
    assert.equal(blockSignal(fold('{"type":"user","error":"authentication_failed"}')), undefined);
  });

  it('"error":"authentication_failed" without a status (the CLI with no key) is auth', () => {
    const s = fold(apiError('authentication_failed', undefined, undefined, 'Not logged in · Please run /login'), '{"type":"result","is_error":true,"result":"Not logged in · Please run /login"}');
    assert.deepEqual(blockSignal(s), { kind: 'auth', detail: 'authentication_failed: Not logged in · Please run /login' });
  });

  it('each auth code blocks as auth', () => {
    for (const code of ['authentication_failed', 'oauth_org_not_allowed', 'cloud_credential_error', 'verification_required', 'account_on_hold']) {
      assert.equal(blockSignal(fold(apiError(code, undefined, undefined)))?.kind, 'auth', code);
    }
  });

  it('each quota code blocks as quota', () => {
    for (const code of ['rate_limit', 'billing_error']) assert.equal(blockSignal(fold(apiError(code, undefined, undefined)))?.kind, 'quota', code);
  });

  it('HTTP 401 and 403 are auth, 429 is quota (status alone, on an assistant message)', () => {
    assert.equal(blockSignal(fold(apiError(undefined, 401, undefined)))?.kind, 'auth');
    assert.equal(blockSignal(fold(apiError(undefined, 403, undefined)))?.kind, 'auth');
    assert.equal(blockSignal(fold(apiError(undefined, 429, undefined)))?.kind, 'quota');
  });

  it('the API error type alone decides', () => {
    assert.equal(blockSignal(fold(apiError(undefined, undefined, 'authentication_error')))?.kind, 'auth');
    assert.equal(blockSignal(fold(apiError(undefined, undefined, 'permission_error')))?.kind, 'auth');
    assert.equal(blockSignal(fold(apiError(undefined, undefined, 'rate_limit_error')))?.kind, 'quota');
    assert.equal(blockSignal(fold(apiError(undefined, undefined, 'billing_error')))?.kind, 'quota');
  });

  it("the result line's api_error_status blocks when the result is an error", () => {
    assert.equal(blockSignal(fold(apiResult(401, undefined, 'Invalid API key')))?.kind, 'auth');
    assert.equal(blockSignal(fold(apiResult(429, undefined, 'Request rejected')))?.kind, 'quota');
    assert.equal(blockSignal(fold(apiResult(undefined, 'rate_limit_error', 'Request rejected')))?.kind, 'quota');
    const ok = JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'done', api_error_status: 429 });
    assert.equal(blockSignal(fold(ok)), undefined, 'a successful result is never blocked');
  });

  it('a billing error answered with 403 or 400 is quota (the code outranks the status)', () => {
    assert.equal(blockSignal(fold(apiError('billing_error', 403, 'permission_error', 'Credit balance is too low')))?.kind, 'quota');
    assert.equal(blockSignal(fold(apiError('billing_error', 400, 'invalid_request_error', 'Credit balance is too low')))?.kind, 'quota');
  });

  it('overload (529) and request errors are ordinary failures', () => {
    assert.equal(blockSignal(fold(apiError('server_error', 529, 'overloaded_error'), apiResult(529, 'overloaded_error', 'API Error: 529 Overloaded'))), undefined);
    assert.equal(blockSignal(fold(apiError('invalid_request', 400, 'invalid_request_error'), apiResult(400, 'invalid_request_error', 'bad'))), undefined);
  });

  it('auth outranks quota when both appear', () => {
    assert.equal(blockSignal(fold(apiError('rate_limit', 429, 'rate_limit_error'), apiError('authentication_failed', 401, 'authentication_error')))?.kind, 'auth');
  });

  it('a rejected rate_limit_event is quota with the reset time; a later "allowed" clears it', () => {
    const resetsAt = Date.UTC(2030, 0, 2, 3, 4, 5) / 1000;
    const rejected = JSON.stringify({ type: 'rate_limit_event', rate_limit_info: { status: 'rejected', resetsAt, rateLimitType: 'five_hour' }, session_id: 's' });
    assert.deepEqual(blockSignal(fold(rejected)), { kind: 'quota', detail: 'five_hour usage limit reached', retryAfter: '2030-01-02T03:04:05.000Z' });
    assert.equal(blockSignal(fold(rejected, apiError('rate_limit', 429, undefined)))?.retryAfter, '2030-01-02T03:04:05.000Z');
    const allowed = JSON.stringify({ type: 'rate_limit_event', rate_limit_info: { status: 'allowed' }, session_id: 's' });
    assert.equal(blockSignal(fold(rejected, allowed)), undefined);
  });
});

describe('blockingReason', () => {
  it('auth says to set an API key, then Retry', () => {
    const r = blockingReason(fold(apiError('authentication_failed', 401, 'authentication_error', 'Invalid API key · Fix external API key')))!;
    assert.match(r, /authentication_failed \(HTTP 401\): Invalid API key/);
    assert.match(r, /Set an API key \(Borg: Set API Key\), then Retry\.$/);
  });

  it('quota says to wait (until the reset time when known), then Retry', () => {
    assert.match(blockingReason(fold(apiError('rate_limit', 429, 'rate_limit_error', 'Request rejected (429)')))!, /rate_limit \(HTTP 429\).*Wait until the rate limit or quota resets.*then Retry\.$/);
    const resetsAt = Date.UTC(2030, 0, 2, 3, 4, 5) / 1000;
    const rejected = JSON.stringify({ type: 'rate_limit_event', rate_limit_info: { status: 'rejected', resetsAt } });
    assert.match(blockingReason(fold(rejected))!, /Wait until 2030-01-02T03:04:05\.000Z, then Retry\.$/);
  });

  it('does not block an ordinary failure or a success', () => {
    assert.equal(blockingReason(fold('{"type":"result","is_error":true,"result":"tests failed"}')), undefined);
    assert.equal(blockingReason(fold('{"type":"result","is_error":false,"result":"fixed the 401 handler"}')), undefined);
  });
});
