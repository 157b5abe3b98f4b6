/** P6: extension activation in the real host; production bundle size excl. wasm. Not built yet. */
import type { Benchmark } from './benchmark';

export const activationBenchmark: Benchmark = {
  id: 'P6',
  what: 'extension activation in the real host; production bundle size excl. wasm',
  baseline: 'an empty extension’s activation in the same host',
  target: '≤ 150 ms; ≤ 1.5 MB',
  needs: 'host',
  run() {
    return Promise.reject(new Error('P6 is not built yet'));
  },
};
