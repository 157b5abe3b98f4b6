/**
 * The words for what the model gateway metered (core/costText.ts): the Agents view, the status
 * bar, the task panel, the Tasks view and `borg tasks show` all say cost and tokens this way.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { blockedLine, formatCount, formatTokens, formatUsd, formatUsdCents, localTime, spendOfCap, usageLong, usageShort } from '../../src/core/costText';

describe('formatUsd', () => {
  it('gives four decimals under a dollar and two from a dollar up', () => {
    assert.equal(formatUsd(0.0312), '$0.0312');
    assert.equal(formatUsd(0.00004), '$0.0000');
    assert.equal(formatUsd(0.99994), '$0.9999');
    assert.equal(formatUsd(1), '$1.00');
    assert.equal(formatUsd(5), '$5.00');
    assert.equal(formatUsd(1234.567), '$1234.57');
  });

  it('says $0.00 for nothing, and for values that are not a spend', () => {
    assert.equal(formatUsd(0), '$0.00');
    assert.equal(formatUsd(-1), '$0.00');
    assert.equal(formatUsd(Number.NaN), '$0.00');
  });
});

describe('formatUsdCents', () => {
  it('rounds to the cent, and says <$0.01 for a spend that rounds to nothing', () => {
    assert.equal(formatUsdCents(0.42), '$0.42');
    assert.equal(formatUsdCents(0.426), '$0.43');
    assert.equal(formatUsdCents(12), '$12.00');
    assert.equal(formatUsdCents(0.004), '<$0.01');
    assert.equal(formatUsdCents(0.005), '$0.01');
    assert.equal(formatUsdCents(0), '$0.00');
  });
});

describe('formatTokens', () => {
  it('counts under a thousand in full, then k with one decimal under 100k, then M', () => {
    assert.equal(formatTokens(0), '0');
    assert.equal(formatTokens(950), '950');
    assert.equal(formatTokens(1000), '1k');
    assert.equal(formatTokens(12345), '12.3k');
    assert.equal(formatTokens(99_949), '99.9k');
    assert.equal(formatTokens(99_950), '100k');
    assert.equal(formatTokens(120_400), '120k');
    assert.equal(formatTokens(999_499), '999k');
    assert.equal(formatTokens(999_500), '1M');
    assert.equal(formatTokens(1_500_000), '1.5M');
  });

  it('has thousands separators in full', () => {
    assert.equal(formatCount(1234), '1,234');
    assert.equal(formatCount(1_234_567), '1,234,567');
    assert.equal(formatCount(12.6), '13');
  });
});

describe('usage', () => {
  it('is short for the Agents view: cost, then all tokens', () => {
    assert.equal(usageShort({ inputTokens: 12_000, outputTokens: 345, costUsd: 0.0312 }), '$0.0312 · 12.3k tok');
  });

  it('is in full for a run: in, out, cost; a dash when nothing was metered', () => {
    assert.equal(usageLong({ inputTokens: 1234, outputTokens: 567, costUsd: 0.0123 }), 'in 1,234 · out 567 tok · $0.0123');
    assert.equal(usageLong({ inputTokens: 0, outputTokens: 0, costUsd: 0 }), 'in 0 · out 0 tok · $0.00');
    assert.equal(usageLong({ inputTokens: 10, outputTokens: null, costUsd: null }), 'in 10 · out 0 tok · $0.00');
    assert.equal(usageLong({ inputTokens: null, outputTokens: null, costUsd: null }), '-');
  });

  it('measures spend against a cap, or says there is none', () => {
    assert.equal(spendOfCap(0.0123, 5), '$0.0123 of $5.00');
    assert.equal(spendOfCap(0, 0), '$0.00 (no cap)');
  });
});

describe('blockedLine', () => {
  const now = new Date(2025, 5, 14, 12, 0, 0).getTime();

  it('names the reason, other when none was recorded', () => {
    assert.equal(blockedLine('budget', null, now), 'blocked: budget');
    assert.equal(blockedLine('auth', null, now), 'blocked: auth');
    assert.equal(blockedLine(null, null, now), 'blocked: other');
  });

  it('gives a quota block its retry time: local time today, with the date on another day, "now" once passed', () => {
    assert.equal(blockedLine('quota', new Date(2025, 5, 14, 14, 5, 9).getTime(), now), 'blocked: quota, retry after 14:05:09');
    assert.equal(blockedLine('quota', new Date(2025, 5, 15, 0, 30, 0).getTime(), now), 'blocked: quota, retry after 2025-06-15 00:30:00');
    assert.equal(blockedLine('quota', now - 1000, now), 'blocked: quota, retry now');
    assert.equal(localTime(new Date(2025, 0, 2, 3, 4, 5).getTime(), now), '2025-01-02 03:04:05');
  });
});
