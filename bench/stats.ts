/**
 * Statistics for the benchmarks: medians and spreads of samples, ratios of medians. Every figure
 * a benchmark reports is a median over repeated runs with its spread, because these machines are
 * noisy (2 shared cores: one run proves nothing).
 */

/** Median and spread of a set of samples, in the samples' unit. */
export interface Spread {
  /** How many samples. */
  n: number;
  median: number;
  min: number;
  p25: number;
  p75: number;
  max: number;
}

/**
 * The `q` quantile (0..1) of `xs`, nearest rank (no interpolation: every value reported is one
 * that was measured). Throws on an empty list.
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new Error('quantile of no samples');
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** The spread of `xs` (throws on an empty list). */
export function spreadOf(xs: readonly number[]): Spread {
  return { n: xs.length, median: quantile(xs, 0.5), min: quantile(xs, 0), p25: quantile(xs, 0.25), p75: quantile(xs, 0.75), max: quantile(xs, 1) };
}

/** "12.3 (min 10.1 · p25 11.0 – p75 13.2 · max 20.4, n 15)". */
export function spreadText(s: Spread, digits = 1): string {
  const f = (x: number) => x.toFixed(digits);
  return `${f(s.median)} (min ${f(s.min)} · p25 ${f(s.p25)} – p75 ${f(s.p75)} · max ${f(s.max)}, n ${s.n})`;
}

/**
 * Per-pair ratios `measured[i] / baseline[i]` of samples taken in alternation (so drift hits both
 * alike). Throws when the lists differ in length or a baseline sample is not positive.
 */
export function pairRatios(measured: readonly number[], baseline: readonly number[]): number[] {
  if (measured.length !== baseline.length) throw new Error(`pairRatios: ${measured.length} samples against ${baseline.length}`);
  return measured.map((m, i) => {
    if (!(baseline[i] > 0)) throw new Error(`pairRatios: baseline sample ${i} is ${baseline[i]}`);
    return m / baseline[i];
  });
}

/** Milliseconds since `t0` (a `performance.now()` reading). */
export function msSince(t0: number): number {
  return performance.now() - t0;
}
