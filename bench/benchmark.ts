/**
 * What a benchmark is and what it reports. `bench/run.ts` runs the benchmarks of `bench/index.ts`,
 * prints one table and writes `bench/results.json`; the docker test stage runs each in quick mode
 * only to prove it still works (no timing assertions: speed targets live here, never in tests).
 */
import type { Spread } from './stats';

/** Where a benchmark runs: the runner reports one that needs Docker ('docker', 'host') as failed, without running it, when Docker did not answer at the start of the run (machine.ts). */
export type BenchNeeds = 'node' | 'docker' | 'host';

export interface BenchOptions {
  /** Few, small runs: the test suite's mode, which proves the benchmark works and measures nothing worth reading. */
  quick: boolean;
  /** Overrides the benchmark's own number of repeated runs (full mode). */
  runs?: number;
  /** A progress line for the console (not part of the results). */
  log(line: string): void;
  /** A scratch folder of this run, removed afterwards. */
  scratch: string;
}

/** One measured quantity: its median and spread over repeated runs. */
export interface Figure {
  /** What was measured, e.g. "Pipeline.launch() → running" or "raw dockerode create+start (baseline)". */
  label: string;
  /** ms, bytes, calls/min, × (a ratio) … */
  unit: string;
  spread: Spread;
}

/** The figure compared with the target: a ratio against the same-run baseline, or an absolute value when the target is absolute. */
export interface Verdict {
  /** e.g. "launch / raw dockerode" or "median dispatch latency". */
  label: string;
  /** The figure's unit ("×" for a ratio of medians). */
  unit: string;
  value: number;
  /** Spread of the per-run ratios (runs in alternation), when the verdict is a ratio of paired runs. */
  spread?: Spread;
  /** The bound the target sets on `value` (inclusive). */
  limit: number;
  /** `value <= limit`; undefined in quick mode (quick figures prove nothing). */
  met: boolean | undefined;
}

export interface BenchResult {
  id: string;
  what: string;
  baseline: string;
  target: string;
  figures: Figure[];
  verdicts: Verdict[];
  /** What the benchmark noticed: where the time goes, counts, caveats. */
  notes: string[];
  /** Wall time of the whole benchmark (set-up included), ms. */
  tookMs: number;
}

export interface Benchmark {
  /** "P1" … "P11". */
  id: string;
  /** One line: what is measured. */
  what: string;
  /** The baseline measured in the same run, or "—" for an absolute target. */
  baseline: string;
  /** The target as the issue states it, e.g. "≤ 1.10× raw". */
  target: string;
  needs: BenchNeeds;
  /** Measures; returns figures and verdicts (the runner adds id, what, baseline, target and tookMs). Throws when it cannot measure. */
  run(opts: BenchOptions): Promise<Pick<BenchResult, 'figures' | 'verdicts' | 'notes'>>;
}

/** A verdict, judged unless in quick mode. */
export function verdict(label: string, unit: string, value: number, limit: number, quick: boolean, spread?: Spread): Verdict {
  return { label, unit, value, limit, spread, met: quick ? undefined : value <= limit };
}
