/** P9: a docker rm done outside Borg → the tree shows it. Not built yet. */
import type { Benchmark } from './benchmark';

export const outsideRemoveBenchmark: Benchmark = {
  id: 'P9',
  what: 'a docker rm done outside Borg → the tree shows it',
  baseline: '— (absolute)',
  target: '≤ 1 s (events, not polling)',
  needs: 'host',
  run() {
    return Promise.reject(new Error('P9 is not built yet'));
  },
};
