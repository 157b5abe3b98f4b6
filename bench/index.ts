/** The benchmarks, in the order `npm run bench` runs and reports them (P1–P10, issue 14's P11). */
import type { Benchmark } from './benchmark';
import { launchBenchmark } from './launch';
import { claimBenchmark } from './claim';
import { makespanBenchmark } from './makespan';
import { dispatchBenchmark } from './dispatch';
import { shutdownBenchmark } from './shutdown';
import { activationBenchmark } from './activation';
import { dockerCallsBenchmark } from './dockerCalls';
import { agentsTreeBenchmark } from './agentsTree';
import { outsideRemoveBenchmark } from './outsideRemove';
import { gatewayBenchmark } from './gateway';
import { scaleOutBenchmark } from './scaleOut';

export const BENCHMARKS: readonly Benchmark[] = [
  launchBenchmark,
  claimBenchmark,
  makespanBenchmark,
  dispatchBenchmark,
  shutdownBenchmark,
  activationBenchmark,
  dockerCallsBenchmark,
  agentsTreeBenchmark,
  outsideRemoveBenchmark,
  gatewayBenchmark,
  scaleOutBenchmark,
];
