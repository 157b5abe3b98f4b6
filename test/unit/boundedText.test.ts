import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BoundedText } from '../../src/core/boundedText';

describe('BoundedText', () => {
  it('keeps everything while under the bound', () => {
    const b = new BoundedText(100);
    b.append('one\n');
    b.append('two\n');
    assert.equal(b.text(), 'one\ntwo\n');
    assert.equal(b.dropped, 0);
  });

  it('keeps only the last maxChars characters, cut at a line boundary', () => {
    const b = new BoundedText(10);
    for (const l of ['aaaa\n', 'bbbb\n', 'cccc\n', 'dddd\n']) b.append(l);
    assert.equal(b.text(), 'cccc\ndddd\n');
    assert.equal(b.dropped, 10);
  });

  it('drops a partial first line rather than keep half of it', () => {
    const b = new BoundedText(11);
    b.append('aaaa\nbbbbbbbb\ncc\n');
    // the last 11 characters start inside "bbbbbbbb": that line goes entirely
    assert.equal(b.text(), 'cc\n');
    assert.equal(b.dropped, 14);
  });

  it('a line exactly at the cut is kept whole', () => {
    const b = new BoundedText(6);
    b.append('xxxx\nyyyyy\n');
    assert.equal(b.text(), 'yyyyy\n');
  });

  it('without any line break in the last maxChars it cuts mid-line', () => {
    const b = new BoundedText(5);
    b.append('0123456789');
    assert.equal(b.text(), '56789');
    assert.equal(b.dropped, 5);
  });

  it('never holds more than maxChars after many appends, and text + dropped accounts for everything', () => {
    const b = new BoundedText(1000);
    let total = 0;
    let all = '';
    for (let i = 0; i < 5000; i++) {
      const line = `line ${i} ${'x'.repeat(i % 37)}\n`;
      b.append(line);
      all += line;
      total += line.length;
    }
    const t = b.text();
    assert.ok(t.length <= 1000, String(t.length));
    assert.ok(t.length > 1000 - 50, 'at most one line short of the bound');
    assert.equal(b.dropped + t.length, total);
    assert.ok(all.endsWith(t));
    assert.equal(all[all.length - t.length - 1], '\n', 'starts at a line start');
  });

  it('textWithNote puts the note before the text only once something was dropped', () => {
    const b = new BoundedText(5);
    const note = (n: number) => `[${n} older characters are in Show Logs]`;
    b.append('abc\n');
    assert.equal(b.textWithNote(note), 'abc\n');
    b.append('defg\n');
    assert.equal(b.textWithNote(note), '[4 older characters are in Show Logs]\ndefg\n');
  });

  it('refuses a bound that is not a positive integer', () => {
    assert.throws(() => new BoundedText(0), RangeError);
    assert.throws(() => new BoundedText(1.5), RangeError);
  });
});
