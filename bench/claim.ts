/** P2: claim with 200 stale labelled containers (exited 0 / exited 1 / OOM / running / foreign). Not built yet. */
import type { Benchmark } from './benchmark';

export const claimBenchmark: Benchmark = {
  id: 'P2',
  what: 'claim with 200 stale labelled containers (exited 0 / exited 1 / OOM / running / foreign)',
  baseline: 'claim with none',
  target: '≤ 2×',
  needs: 'docker',
  run() {
    return Promise.reject(new Error('P2 is not built yet'));
  },
};
