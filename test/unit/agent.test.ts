import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { summarise } from '../../src/core/agent';

const json = (v: unknown) => JSON.stringify(v);

describe('summarise', () => {
  it('shows the text of an assistant message', () => {
    const line = json({ type: 'assistant', message: { content: [{ type: 'text', text: 'Reading the repository' }] } });
    assert.equal(summarise(line), 'Reading the repository');
  });

  it('shows the first text part of an assistant message, past tool calls', () => {
    const line = json({
      type: 'assistant',
      message: {
        content: [
          { type: 'tool_use', name: 'Bash' },
          { type: 'text', text: 'Running the tests' },
          { type: 'text', text: 'second' },
        ],
      },
    });
    assert.equal(summarise(line), 'Running the tests');
  });

  it('shows the raw line for an assistant message without text', () => {
    const line = json({ type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Bash' }] } });
    assert.equal(summarise(line), line);
  });

  it('shows the result text of a result message', () => {
    assert.equal(summarise(json({ type: 'result', subtype: 'success', result: 'All 12 tests pass' })), 'All 12 tests pass');
  });

  it('shows the subtype of a result message without result text', () => {
    assert.equal(summarise(json({ type: 'result', subtype: 'error_max_turns' })), 'error_max_turns');
  });

  it('shows "result" for a bare result message', () => {
    assert.equal(summarise(json({ type: 'result' })), 'result');
  });

  it('shows the subtype of a system message', () => {
    assert.equal(summarise(json({ type: 'system', subtype: 'init', tools: ['Bash'] })), 'init');
  });

  it('shows "system" for a system message without subtype', () => {
    assert.equal(summarise(json({ type: 'system' })), 'system');
  });

  it('shows other JSON messages as they are', () => {
    const line = json({ type: 'user', message: { content: [{ type: 'tool_result', content: 'ok' }] } });
    assert.equal(summarise(line), line);
  });

  it('passes a plain text line through', () => {
    assert.equal(summarise('compiling src/core (3 files)'), 'compiling src/core (3 files)');
  });

  it('passes a line that only looks like JSON through', () => {
    assert.equal(summarise('{not json at all'), '{not json at all');
  });

  it('trims surrounding whitespace', () => {
    assert.equal(summarise('   step 3 of 5\t\r'), 'step 3 of 5');
  });

  it('keeps a line of exactly 120 characters whole', () => {
    const line = 'x'.repeat(120);
    assert.equal(summarise(line), line);
  });

  it('cuts a longer line to 120 characters ending in "…"', () => {
    const line = 'abcdefghij'.repeat(20);
    const out = summarise(line);
    assert.equal(out.length, 120);
    assert.ok(out.endsWith('…'));
    assert.equal(out.slice(0, 119), line.slice(0, 119));
  });

  it('cuts long assistant text too', () => {
    const text = 'word '.repeat(60);
    const out = summarise(json({ type: 'assistant', message: { content: [{ type: 'text', text }] } }));
    assert.equal(out.length, 120);
    assert.equal(out, `${text.slice(0, 119)}…`);
  });

  it('keeps a multi-line assistant message to one line', () => {
    const out = summarise(json({ type: 'assistant', message: { content: [{ type: 'text', text: 'Plan:\n1. read\n2. fix' }] } }));
    assert.ok(!/[\r\n]/.test(out), JSON.stringify(out));
  });

  it('does not split a surrogate pair when cutting', () => {
    const out = summarise(`${'x'.repeat(118)}😀${'y'.repeat(10)}`);
    assert.doesNotMatch(out, /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
  });
});
