/** P5: DB flush with 10k tasks and 100k events; deactivate with 4 running agents, both shutdown modes. Not built yet. */
import type { Benchmark } from './benchmark';

export const shutdownBenchmark: Benchmark = {
  id: 'P5',
  what: 'DB flush with 10k tasks and 100k events; deactivate with 4 running agents, both shutdown modes',
  baseline: 'flush of an empty DB',
  target: 'flush ≤ 150 ms; deactivate ≤ 2 s',
  needs: 'docker',
  run() {
    return Promise.reject(new Error('P5 is not built yet'));
  },
};
