/** P8: Agents tree getChildren + getTreeItem with 500 labelled containers. Not built yet. */
import type { Benchmark } from './benchmark';

export const agentsTreeBenchmark: Benchmark = {
  id: 'P8',
  what: 'Agents tree getChildren + getTreeItem with 500 labelled containers',
  baseline: 'the same with 5',
  target: '≤ 50 ms',
  needs: 'host',
  run() {
    return Promise.reject(new Error('P8 is not built yet'));
  },
};
