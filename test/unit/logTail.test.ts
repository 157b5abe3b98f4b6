import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { LogTail, stampOrder, unixNanos } from '../../src/core/logTail';

const line = (stamp: string, text: string) => `${stamp} ${JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text }] } })}\n`;

describe('LogTail', () => {
  it('renders a first read and asks the next one from its last timestamp', () => {
    const t = new LogTail('rendered', 100);
    assert.equal(t.since, undefined);
    t.add(line('2026-12-01T21:45:02.100000000Z', 'one') + line('2026-12-01T21:45:02.200000000Z', 'two'));
    assert.equal(t.text(), '21:45:02.100 one\n21:45:02.200 two\n');
    assert.equal(t.since, `${Date.parse('2026-12-01T21:45:02Z') / 1000}.200000000`);
  });

  it('drops the lines Docker sends again at the since time, keeps new ones at that same time', () => {
    const t = new LogTail('rendered', 100);
    t.add(line('2026-12-01T21:45:02.1Z', 'a') + line('2026-12-01T21:45:03.5Z', 'b'));
    // Read again with since = 03.5: Docker repeats b, then a line c at the same nanosecond, then d.
    t.add(line('2026-12-01T21:45:03.5Z', 'b') + line('2026-12-01T21:45:03.5Z', 'c') + line('2026-12-01T21:45:04Z', 'd'));
    assert.equal(t.text(), '21:45:02.100 a\n21:45:03.500 b\n21:45:03.500 c\n21:45:04.000 d\n');
    t.add(line('2026-12-01T21:45:03.5Z', 'late duplicate') + line('2026-12-01T21:45:04Z', 'd'));
    assert.equal(t.text(), '21:45:02.100 a\n21:45:03.500 b\n21:45:03.500 c\n21:45:04.000 d\n', 'nothing new');
  });

  it('keeps at most maxLines Docker lines', () => {
    const t = new LogTail('raw', 2);
    t.add(['2026-12-01T21:45:01Z x', '2026-12-01T21:45:02Z y', '2026-12-01T21:45:03Z z'].join('\n'));
    assert.equal(t.text(), '21:45:02.000 y\n21:45:03.000 z\n');
  });

  it('writes Docker times to the nanosecond for since', () => {
    assert.equal(unixNanos('1970-01-01T00:00:10.5Z'), '10.500000000');
    assert.equal(unixNanos('1970-01-01T00:00:10Z'), '10.000000000');
    assert.equal(unixNanos('not a time'), undefined);
  });

  it('orders timestamps by time, not as text (Docker trims trailing zeros of the fraction)', () => {
    assert.ok(stampOrder('2026-12-01T21:45:02.1Z', '2026-12-01T21:45:02.09Z') > 0, '.1 is after .09');
    assert.ok(stampOrder('2026-12-01T21:45:02.15Z', '2026-12-01T21:45:02.1Z') > 0);
    assert.ok(stampOrder('2026-12-01T21:45:02Z', '2026-12-01T21:45:02.000000001Z') < 0);
    assert.equal(stampOrder('2026-12-01T21:45:02.5Z', '2026-12-01T21:45:02.500Z'), 0);
    const tail = new LogTail('raw', 100);
    tail.add('2026-12-01T21:45:02.1Z first\n');
    tail.add('2026-12-01T21:45:02.1Z first\n2026-12-01T21:45:02.15Z second\n');
    assert.match(tail.text(), /first[\s\S]*second/, 'a later line whose fraction extends the last one is kept');
    assert.equal((tail.text().match(/first/g) ?? []).length, 1);
  });
});
