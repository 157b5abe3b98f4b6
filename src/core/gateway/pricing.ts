/**
 * What a model response costs: a price table per Anthropic model, in USD per million tokens
 * (USD/MTok), and the cost of one response's token usage.
 *
 * Sources (checked 2026-12-01):
 * - The Anthropic pricing page, "Model pricing" and "Long context pricing":
 *   https://docs.anthropic.com/en/docs/about-claude/pricing (now served at
 *   https://platform.claude.com/docs/en/about-claude/pricing). Every row below from Claude Haiku 3
 *   to Claude Opus 4.5, and Fable/Mythos 5 and 5.1, is copied from its table.
 * - For the models released in 2026, the "Pricing" box of each model's overview page,
 *   https://platform.claude.com/docs/en/models/<model>/overview (opus-5, sonnet-5, sonnet-5-5,
 *   sonnet-4-6, haiku-5-5). Where a figure was only found in third-party price lists (Opus 5.5
 *   cache rates, the Haiku 5.5 long-prompt tier) the row says so.
 *
 * Prompt caching: "cache write" is the 5-minute cache write (1.25x the input price), "cache read" a
 * cache hit or refresh (0.1x the input price on most models; some newer ones are cheaper). 1-hour
 * cache writes (2x input) are priced as 5-minute ones: the usage the meter reads does not tell them
 * apart. Batch discounts, fast mode, data-residency multipliers and server tools (web search) are
 * not priced here.
 *
 * A model that matches no row (or no model at all) is priced as the dearest row, so a budget never
 * under-counts, and {@link ModelPrice.known} is false.
 */

/** The tokens of one Messages API response, as its `usage` object reports them (counts of tokens, ≥ 0). */
export interface TokenUsage {
  /** Uncached input tokens (`input_tokens`). */
  inputTokens: number;
  /** Generated tokens, thinking included (`output_tokens`). */
  outputTokens: number;
  /** Input tokens written to the prompt cache (`cache_creation_input_tokens`). */
  cacheCreationInputTokens: number;
  /** Input tokens read from the prompt cache (`cache_read_input_tokens`). */
  cacheReadInputTokens: number;
}

/** Prices of one model, each in USD per million tokens. */
export interface UsdPerMTok {
  input: number;
  output: number;
  /** 5-minute cache writes. */
  cacheWrite: number;
  /** Cache hits and refreshes. */
  cacheRead: number;
}

/** A model's prices, as {@link priceOf} answers them. */
export interface ModelPrice {
  /** For the views: `Claude Sonnet 4.5`, or `unknown model, priced as Claude Opus 4.1`. */
  label: string;
  /** false when the model matched no row and is priced as the dearest one. */
  known: boolean;
  /** The prices of a request whose prompt is within {@link longContext}'s threshold (or of every request). */
  usdPerMTok: UsdPerMTok;
  /**
   * Set for models whose long prompts cost more: a request whose prompt (input + cache write +
   * cache read tokens) exceeds `aboveInputTokens` pays `usdPerMTok` on all its tokens, output included.
   */
  longContext?: { aboveInputTokens: number; usdPerMTok: UsdPerMTok };
}

/** One row of the price table: model ids matching `pattern` (lower-cased) cost `prices`. */
export interface PriceRow {
  pattern: RegExp;
  label: string;
  prices: UsdPerMTok;
  longContext?: ModelPrice['longContext'];
}

const usd = (input: number, output: number, cacheWrite: number, cacheRead: number): UsdPerMTok => ({ input, output, cacheWrite, cacheRead });

/**
 * Matches a current-style model id (`claude-<family>-<major>[-<minor>]`, optionally followed by a
 * date, `-latest`, a Bedrock `-v1:0` or a Vertex `@date`): `claude-opus-4-1`, `claude-sonnet-4-5-20250929`,
 * `anthropic.claude-haiku-4-5-20251001-v1:0`. Minor 0 also matches the bare major (`claude-opus-4-20250514`)
 * but not another minor (`claude-opus-4-1`): a minor is one digit, a date eight.
 */
function modelId(family: string, major: number, minor = 0): RegExp {
  if (minor > 0) return new RegExp(`${family}-${major}[-.]${minor}(?!\\d)`);
  return new RegExp(`${family}-${major}(?:[-.]0)?(?![.\\d]|-[1-9](?!\\d))`);
}

/** Claude Sonnet 4 and 4.5 with the 1M-token context window: a prompt over 200K tokens costs 2x input and 1.5x output ("Long context pricing"). */
const SONNET_4_LONG_CONTEXT = { aboveInputTokens: 200_000, usdPerMTok: usd(6, 22.5, 7.5, 0.6) };

/** The price table, first match wins (no two rows match the same id). */
export const PRICE_TABLE: readonly PriceRow[] = [
  { pattern: /(?:fable|mythos)-5[-.]1(?!\d)/, label: 'Claude Fable 5.1', prices: usd(10, 50, 12.5, 0.25) },
  { pattern: /(?:fable|mythos)-5(?:[-.]0)?(?![.\d]|-[1-9](?!\d))/, label: 'Claude Fable 5', prices: usd(10, 50, 12.5, 1) },
  // Input and output from the model page; cache rates (1.25x / 0.05x input) from third-party price lists.
  { pattern: modelId('opus', 5, 5), label: 'Claude Opus 5.5', prices: usd(4, 20, 5, 0.2) },
  { pattern: modelId('opus', 5), label: 'Claude Opus 5', prices: usd(5, 25, 6.25, 0.5) },
  { pattern: modelId('opus', 4, 8), label: 'Claude Opus 4.8', prices: usd(5, 25, 6.25, 0.5) },
  { pattern: modelId('opus', 4, 7), label: 'Claude Opus 4.7', prices: usd(5, 25, 6.25, 0.5) },
  { pattern: modelId('opus', 4, 6), label: 'Claude Opus 4.6', prices: usd(5, 25, 6.25, 0.5) },
  { pattern: modelId('opus', 4, 5), label: 'Claude Opus 4.5', prices: usd(5, 25, 6.25, 0.5) },
  { pattern: modelId('opus', 4, 1), label: 'Claude Opus 4.1', prices: usd(15, 75, 18.75, 1.5) },
  { pattern: modelId('opus', 4), label: 'Claude Opus 4', prices: usd(15, 75, 18.75, 1.5) },
  { pattern: /claude-3-opus/, label: 'Claude Opus 3', prices: usd(15, 75, 18.75, 1.5) },
  // The model page's cache read is $0.20; third-party lists report a cut to $0.10 on 2026-10-07: the higher figure is kept.
  { pattern: modelId('sonnet', 5, 5), label: 'Claude Sonnet 5.5', prices: usd(2, 10, 2.5, 0.2) },
  { pattern: modelId('sonnet', 5), label: 'Claude Sonnet 5', prices: usd(2, 10, 2.5, 0.2) },
  { pattern: modelId('sonnet', 4, 6), label: 'Claude Sonnet 4.6', prices: usd(3, 15, 3.75, 0.3) },
  { pattern: modelId('sonnet', 4, 5), label: 'Claude Sonnet 4.5', prices: usd(3, 15, 3.75, 0.3), longContext: SONNET_4_LONG_CONTEXT },
  { pattern: modelId('sonnet', 4), label: 'Claude Sonnet 4', prices: usd(3, 15, 3.75, 0.3), longContext: SONNET_4_LONG_CONTEXT },
  { pattern: /claude-3-7-sonnet/, label: 'Claude Sonnet 3.7', prices: usd(3, 15, 3.75, 0.3) },
  { pattern: /claude-3-5-sonnet/, label: 'Claude Sonnet 3.5', prices: usd(3, 15, 3.75, 0.3) },
  // "From $0.10 / $0.50" on the model page; the tier over a 100K-token prompt from third-party price lists.
  {
    pattern: modelId('haiku', 5, 5),
    label: 'Claude Haiku 5.5',
    prices: usd(0.1, 0.5, 0.125, 0.01),
    longContext: { aboveInputTokens: 100_000, usdPerMTok: usd(0.5, 2.5, 0.625, 0.05) },
  },
  { pattern: modelId('haiku', 4, 5), label: 'Claude Haiku 4.5', prices: usd(1, 5, 1.25, 0.1) },
  { pattern: /claude-3-5-haiku/, label: 'Claude Haiku 3.5', prices: usd(0.8, 4, 1, 0.08) },
  { pattern: /claude-3-haiku/, label: 'Claude Haiku 3', prices: usd(0.25, 1.25, 0.3, 0.03) },
];

/** The row an unknown model is priced as: the dearest output price, then input price (Claude Opus 4.1 today). */
const DEAREST: PriceRow = PRICE_TABLE.reduce((a, b) => (b.prices.output > a.prices.output || (b.prices.output === a.prices.output && b.prices.input > a.prices.input) ? b : a));

/**
 * The prices of `model`, an API model id such as `claude-sonnet-4-5-20250929`, `claude-opus-4-1`,
 * `claude-3-5-haiku-latest` (matched case-insensitively, by pattern, against {@link PRICE_TABLE}).
 * An unknown or missing model gets the dearest row's prices (without a long-context tier) and `known: false`.
 */
export function priceOf(model: string | undefined): ModelPrice {
  const id = (model ?? '').toLowerCase();
  const row = id ? PRICE_TABLE.find((r) => r.pattern.test(id)) : undefined;
  if (!row) return { label: `unknown model, priced as ${DEAREST.label}`, known: false, usdPerMTok: { ...DEAREST.prices } };
  const price: ModelPrice = { label: row.label, known: true, usdPerMTok: { ...row.prices } };
  if (row.longContext) price.longContext = { aboveInputTokens: row.longContext.aboveInputTokens, usdPerMTok: { ...row.longContext.usdPerMTok } };
  return price;
}

/** A token count as a number ≥ 0: anything else (NaN, negative, not a number) counts as 0. */
const tokens = (n: number): number => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0);

/**
 * What one response of `model` with `usage` costs, in USD (a plain float, not rounded): each token
 * kind times its price per million tokens. The long-context tier applies when the prompt (input +
 * cache write + cache read tokens) exceeds the row's threshold. An unknown model is priced as the
 * dearest row (see {@link priceOf}).
 */
export function costUsd(model: string | undefined, usage: TokenUsage): number {
  const price = priceOf(model);
  const input = tokens(usage.inputTokens);
  const output = tokens(usage.outputTokens);
  const cacheWrite = tokens(usage.cacheCreationInputTokens);
  const cacheRead = tokens(usage.cacheReadInputTokens);
  const long = price.longContext;
  const p = long && input + cacheWrite + cacheRead > long.aboveInputTokens ? long.usdPerMTok : price.usdPerMTok;
  return (input * p.input + output * p.output + cacheWrite * p.cacheWrite + cacheRead * p.cacheRead) / 1_000_000;
}
