import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { costUsd, priceOf, PRICE_TABLE, type TokenUsage } from '../../src/core/gateway/pricing';

const usage = (u: Partial<TokenUsage>): TokenUsage => ({ inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, ...u });
const M = 1_000_000;
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} ≉ ${expected}`);

describe('priceOf', () => {
  const cases: Array<[string, string, number, number]> = [
    ['claude-opus-4-5-20251101', 'Claude Opus 4.5', 5, 25],
    ['claude-opus-4-5', 'Claude Opus 4.5', 5, 25],
    ['claude-opus-4-1', 'Claude Opus 4.1', 15, 75],
    ['claude-opus-4-1-20250805', 'Claude Opus 4.1', 15, 75],
    ['claude-opus-4-20250514', 'Claude Opus 4', 15, 75],
    ['claude-opus-4-0', 'Claude Opus 4', 15, 75],
    ['claude-sonnet-4-5-20250929', 'Claude Sonnet 4.5', 3, 15],
    ['claude-sonnet-4-5', 'Claude Sonnet 4.5', 3, 15],
    ['claude-sonnet-4-20250514', 'Claude Sonnet 4', 3, 15],
    ['claude-3-7-sonnet-latest', 'Claude Sonnet 3.7', 3, 15],
    ['claude-haiku-4-5', 'Claude Haiku 4.5', 1, 5],
    ['claude-haiku-4-5-20251001', 'Claude Haiku 4.5', 1, 5],
    ['claude-3-5-haiku-latest', 'Claude Haiku 3.5', 0.8, 4],
    ['claude-3-5-haiku-20241022', 'Claude Haiku 3.5', 0.8, 4],
    ['claude-3-haiku-20240307', 'Claude Haiku 3', 0.25, 1.25],
    ['claude-3-opus-20240229', 'Claude Opus 3', 15, 75],
    ['claude-opus-5', 'Claude Opus 5', 5, 25],
    ['claude-opus-5-5', 'Claude Opus 5.5', 4, 20],
    ['claude-sonnet-5-5', 'Claude Sonnet 5.5', 2, 10],
    ['anthropic.claude-sonnet-4-5-20250929-v1:0', 'Claude Sonnet 4.5', 3, 15],
    ['claude-opus-4-1@20250805', 'Claude Opus 4.1', 15, 75],
    ['Claude-Sonnet-4-5', 'Claude Sonnet 4.5', 3, 15],
  ];
  for (const [model, label, input, output] of cases) {
    it(`prices ${model} as ${label}`, () => {
      const p = priceOf(model);
      assert.equal(p.label, label);
      assert.equal(p.known, true);
      assert.equal(p.usdPerMTok.input, input);
      assert.equal(p.usdPerMTok.output, output);
    });
  }

  it('prices 5-minute cache writes at 1.25x input and cache reads at 0.1x input', () => {
    for (const model of ['claude-opus-4-5', 'claude-opus-4-1', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-3-5-haiku-latest']) {
      const p = priceOf(model).usdPerMTok;
      close(p.cacheWrite, p.input * 1.25);
      close(p.cacheRead, p.input * 0.1);
    }
  });

  it('prices an unknown model as the dearest row, and says it is unknown', () => {
    for (const model of ['gpt-4o', 'claude-opus-9', '', undefined]) {
      const p = priceOf(model);
      assert.equal(p.known, false);
      assert.deepEqual(p.usdPerMTok, { input: 15, output: 75, cacheWrite: 18.75, cacheRead: 1.5 });
      assert.match(p.label, /^unknown model, priced as Claude Opus/);
    }
    for (const row of PRICE_TABLE) {
      assert.ok(row.prices.output <= 75 && row.prices.input <= 15, row.label);
      if (row.longContext) assert.ok(row.longContext.usdPerMTok.output <= 75 && row.longContext.usdPerMTok.input <= 15, row.label);
    }
  });

  it('matches every id to one row at most', () => {
    for (const [model] of cases) assert.equal(PRICE_TABLE.filter((r) => r.pattern.test(model.toLowerCase())).length, 1, model);
  });

  it('returns a copy: changing it does not change the table', () => {
    priceOf('claude-sonnet-4-5').usdPerMTok.input = 0;
    assert.equal(priceOf('claude-sonnet-4-5').usdPerMTok.input, 3);
  });
});

describe('costUsd', () => {
  it('prices input and output tokens per million', () => {
    close(costUsd('claude-sonnet-4-5', usage({ inputTokens: 100_000, outputTokens: M })), 0.3 + 15);
    close(costUsd('claude-haiku-4-5', usage({ inputTokens: M, outputTokens: M })), 6);
    close(costUsd('claude-opus-4-5', usage({ inputTokens: 1000, outputTokens: 500 })), 0.005 + 0.0125);
  });

  it('prices cache writes and cache reads', () => {
    close(costUsd('claude-sonnet-4-5', usage({ cacheCreationInputTokens: 100_000 })), 0.375);
    close(costUsd('claude-sonnet-4-5', usage({ cacheReadInputTokens: 100_000 })), 0.03);
    close(costUsd('claude-opus-4-1', usage({ cacheCreationInputTokens: M, cacheReadInputTokens: M })), 18.75 + 1.5);
    close(costUsd('claude-haiku-4-5', usage({ inputTokens: 10, outputTokens: 20, cacheCreationInputTokens: 1000, cacheReadInputTokens: 50_000 })), (10 * 1 + 20 * 5 + 1000 * 1.25 + 50_000 * 0.1) / M);
  });

  it('prices an unknown model as the dearest row', () => {
    close(costUsd(undefined, usage({ inputTokens: M, outputTokens: M })), 90);
    close(costUsd('some-new-model', usage({ cacheReadInputTokens: M })), 1.5);
  });

  it('is zero for zero usage', () => {
    assert.equal(costUsd('claude-sonnet-4-5', usage({})), 0);
    assert.equal(costUsd(undefined, usage({})), 0);
  });

  it('counts invalid token counts as zero', () => {
    assert.equal(costUsd('claude-sonnet-4-5', usage({ inputTokens: -5, outputTokens: NaN, cacheReadInputTokens: Infinity })), 0);
  });

  it('applies the long-context tier when the prompt (input and cache tokens) is over its threshold', () => {
    close(costUsd('claude-sonnet-4-5', usage({ inputTokens: 200_000, outputTokens: M })), 0.6 + 15);
    close(costUsd('claude-sonnet-4-5', usage({ inputTokens: 100_000, cacheReadInputTokens: 100_001, outputTokens: M })), (100_000 * 6 + 100_001 * 0.6 + M * 22.5) / M);
    // Claude Opus 4.5 has no long-context tier.
    close(costUsd('claude-opus-4-5', usage({ inputTokens: 300_000 })), 1.5);
  });
});
