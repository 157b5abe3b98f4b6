/** P7: Docker API calls per minute, idle, views hidden and visible. Not built yet. */
import type { Benchmark } from './benchmark';

export const dockerCallsBenchmark: Benchmark = {
  id: 'P7',
  what: 'Docker API calls per minute, idle, views hidden and visible',
  baseline: '— (absolute)',
  target: '0 hidden; ≤ 1/min visible',
  needs: 'docker',
  run() {
    return Promise.reject(new Error('P7 is not built yet'));
  },
};
