/** P10: model gateway: time to first token and total time of a 1 MB streamed response. Not built yet. */
import type { Benchmark } from './benchmark';

export const gatewayBenchmark: Benchmark = {
  id: 'P10',
  what: 'model gateway: time to first token and total time of a 1 MB streamed response',
  baseline: 'direct to the scripted upstream',
  target: '≤ 1.05×',
  needs: 'node',
  run() {
    return Promise.reject(new Error('P10 is not built yet'));
  },
};
