import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LINE_MAX, plainText, renderLine, renderText, renderTimedLog, splitTimestamp, terminalText, visibleControls } from '../../src/core/streamText';

/** Real output of Claude Code (a worker phase against Borg's scripted upstream, recorded by `npm run demo`). */
const RECORDED = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'claude-stream.ndjson'), 'utf8');

const assistant = (...content: unknown[]) => JSON.stringify({ type: 'assistant', message: { role: 'assistant', content } });
const toolResult = (content: unknown, isError = false) => JSON.stringify({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content, is_error: isError }] } });

describe('streamText', () => {
  it('renders a recorded Claude Code run as text: tool calls, shortened results, the result with cost', () => {
    assert.equal(
      renderText(RECORDED),
      [
        '● session started · model claude-opus-5-5 · 24 tools',
        '▸ Read /workspace/repo/greet.js',
        "  ↳ 1  'use strict'; (+10 lines)",
        '▸ Edit /workspace/repo/greet.js',
        '  ↳ The file /workspace/repo/greet.js has been updated successfully. (file state is current in your context — no need to Read it back)',
        '▸ Bash: sh /workspace/repo/run-tests.sh',
        '  ↳ ok   tests/greet-name.test.js (+1 line)',
        "greet(name) now greets by name; sh run-tests.sh passes. (Scripted demo answer, replayed by Borg's gateway.)",
        '✔ done in 0.8 s · 4 turns · $0.2575',
        '',
      ].join('\n'),
    );
  });

  it('puts each tool call on one line with its argument', () => {
    const line = assistant(
      { type: 'text', text: 'Running the tests.' },
      { type: 'tool_use', name: 'Bash', input: { command: 'npm test' } },
      { type: 'tool_use', name: 'Edit', input: { file_path: 'src/x.js', old_string: 'a', new_string: 'b' } },
      { type: 'tool_use', name: 'Grep', input: { pattern: 'TODO', path: 'src' } },
      { type: 'tool_use', name: 'Mystery', input: { a: 1 } },
    );
    assert.deepEqual(renderLine(line), [
      { kind: 'text', text: 'Running the tests.' },
      { kind: 'tool', text: '▸ Bash: npm test' },
      { kind: 'tool', text: '▸ Edit src/x.js' },
      { kind: 'tool', text: '▸ Grep TODO in src' },
      { kind: 'tool', text: '▸ Mystery {"a":1}' },
    ]);
  });

  it('keeps a multi-line command on one line, cut at the limit', () => {
    const [r] = renderLine(assistant({ type: 'tool_use', name: 'Bash', input: { command: `echo a\necho b && ${'x'.repeat(400)}` } }));
    assert.ok(!r.text.includes('\n'));
    assert.ok(r.text.startsWith('▸ Bash: echo a ⏎ echo b'));
    assert.equal(r.text.length, 160);
    assert.ok(r.text.endsWith('…'));
  });

  it('shows a failed tool result and a failed run as errors', () => {
    assert.deepEqual(renderLine(toolResult([{ type: 'text', text: 'command not found\nmore' }], true)), [{ kind: 'error', text: '  ✖ command not found (+1 line)' }]);
    const failed = JSON.stringify({ type: 'result', subtype: 'success', is_error: true, result: 'Invalid API key', duration_ms: 1200, num_turns: 1, total_cost_usd: 0 });
    assert.deepEqual(renderLine(failed), [{ kind: 'error', text: '✖ failed in 1.2 s · 1 turn · $0.0000: Invalid API key' }]);
    const api = JSON.stringify({ type: 'assistant', error: 'authentication_failed', api_error_status: 401, message: { content: [{ type: 'text', text: 'Invalid API key' }] } });
    assert.deepEqual(renderLine(api), [{ kind: 'error', text: '✖ authentication_failed (HTTP 401): Invalid API key' }]);
  });

  it('shows lines that are not stream-json as they are', () => {
    assert.deepEqual(renderLine('plain output'), [{ kind: 'raw', text: 'plain output' }]);
    assert.deepEqual(renderLine('{not json'), [{ kind: 'raw', text: '{not json' }]);
    assert.deepEqual(renderLine('{"no":"type"}'), [{ kind: 'raw', text: '{"no":"type"}' }]);
  });

  it('strips terminal escapes, control characters and bidi overrides from agent text', () => {
    const hostile = 'ok\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\\x07\x08\r\u202etxt.exe\x9b31m';
    assert.equal(plainText(hostile), 'oklinktxt.exe');
    const rendered = renderText([hostile, assistant({ type: 'text', text: `a\x1b[31mred\x1b[0m` }), assistant({ type: 'tool_use', name: 'Bash', input: { command: 'rm\x1b[8m -rf /' } })].join('\n'));
    assert.equal(rendered, 'oklinktxt.exe\nared\n▸ Bash: rm -rf /\n');

    assert.doesNotMatch(rendered, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]/);
  });

  it('renders Docker-timestamped logs with short times, or raw with controls made visible', () => {
    const log = ['2026-12-01T21:45:02.123456789Z ' + assistant({ type: 'text', text: 'one\ntwo' }), '2026-12-01T21:45:03.5Z plain\x1b[31m'].join('\n');
    assert.equal(renderTimedLog(log, 'rendered'), '21:45:02.123 one\n             two\n21:45:03.500 plain\n');
    const raw = renderTimedLog(log, 'raw');
    assert.ok(raw.includes('21:45:02.123 {"type":"assistant"'));
    assert.ok(raw.endsWith('21:45:03.500 plain\\x1b[31m\n'));
    assert.deepEqual(splitTimestamp('no stamp'), { line: 'no stamp' });
    assert.equal(visibleControls('a\x07\u202eb'), 'a\\x07\\u202eb');
  });

  it('writes to the Hardline terminal only its own colours, never the agent\u2019s escapes', () => {
    const hostile = [
      '\x1b]0;pwned\x07\x1b[2J\x1b[?1049hplain',
      assistant({ type: 'tool_use', name: 'Bash', input: { command: 'ls\x1b[1A\x1b]8;;http://x\x07' } }),
      JSON.stringify({ type: 'result', is_error: false, duration_ms: 12_300, num_turns: 4, total_cost_usd: 0.0312 }),
    ];
    const out = hostile.map((l) => terminalText(l, false)).join('');
    assert.equal(out, 'plain\n\x1b[36m▸ Bash: ls\x1b[0m\n\x1b[32m✔ done in 12.3 s · 4 turns · $0.0312\x1b[0m\n');
    const raw = hostile.map((l) => terminalText(l, true)).join('');
    assert.doesNotMatch(raw, /\x1b/);
    assert.ok(raw.startsWith('\\x1b]0;pwned\\x07'));
  });

  it('a line built to break the renderer is shown as it is, and no display line is longer than LINE_MAX', () => {
    const farFuture = JSON.stringify({ type: 'rate_limit_event', rate_limit_info: { status: 'rejected', resetsAt: 1e300 } });
    assert.deepEqual(renderLine(farFuture), [{ kind: 'error', text: '✖ usage limit reached' }], 'a reset time past the Date range is left out, not thrown on');
    const deep = `{"type":"assistant","message":{"content":[{"type":"tool_use","name":"X","input":${'['.repeat(200_000)}${']'.repeat(200_000)}}]}}`;
    const shown = renderLine(deep);
    assert.equal(shown.length, 1);
    assert.equal(shown[0].kind, 'raw', 'nesting past the stack: the line as it is');
    assert.ok(shown[0].text.length <= LINE_MAX);
    const long = renderLine(JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'x'.repeat(LINE_MAX * 3) }] } }));
    assert.ok(long.every((l) => l.text.length <= LINE_MAX) && long[0].text.endsWith('…'), 'a megabyte of text is cut');
  });
});
