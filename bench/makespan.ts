/** P3: 100 launches of a 1 s agent with 4 slots: makespan; 30 tasks through spec → qa → impl. Not built yet. */
import type { Benchmark } from './benchmark';

export const makespanBenchmark: Benchmark = {
  id: 'P3',
  what: '100 launches of a 1 s agent with 4 slots: makespan; 30 tasks through spec → qa → impl',
  baseline: 'ideal = ceil(N/4) × one agent’s wall time measured alone',
  target: '≤ 1.05×',
  needs: 'docker',
  run() {
    return Promise.reject(new Error('P3 is not built yet'));
  },
};
