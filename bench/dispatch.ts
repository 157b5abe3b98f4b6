/** P4: task added → createContainer; agent exit → next phase’s createContainer. Not built yet. */
import type { Benchmark } from './benchmark';

export const dispatchBenchmark: Benchmark = {
  id: 'P4',
  what: 'task added → createContainer; agent exit → next phase’s createContainer',
  baseline: '— (absolute)',
  target: '≤ 50 ms median',
  needs: 'docker',
  run() {
    return Promise.reject(new Error('P4 is not built yet'));
  },
};
