import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { elapsedWords, nextChangeIn } from '../../src/core/relativeTime';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('relative times', () => {
  it('reads whole units, rounded down', () => {
    assert.equal(elapsedWords(0), '<1 min');
    assert.equal(elapsedWords(59 * S), '<1 min');
    assert.equal(elapsedWords(2 * M + 59 * S), '2 min');
    assert.equal(elapsedWords(3 * H + 59 * M), '3 h');
    assert.equal(elapsedWords(4 * D + 23 * H), '4 d');
    assert.equal(elapsedWords(-5 * S), '<1 min', 'a clock behind Docker counts as no time');
  });

  it('says when the words change next: at the next unit boundary, exactly', () => {
    for (const t of [0, 1, 59 * S, 61 * S, 59 * M + 30 * S, H, 5 * H + 7, D - 1, 3 * D + 5]) {
      const wait = nextChangeIn(t);
      assert.ok(wait >= 1, `${t}: ${wait}`);
      assert.equal(elapsedWords(t + wait - 1), elapsedWords(t), `${t}: not before ${wait} ms`);
      assert.notEqual(elapsedWords(t + wait), elapsedWords(t), `${t}: at ${wait} ms`);
    }
  });
});
