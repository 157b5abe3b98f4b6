/** P1: launch: Pipeline.launch() until the container is running. Not built yet. */
import type { Benchmark } from './benchmark';

export const launchBenchmark: Benchmark = {
  id: 'P1',
  what: 'launch: Pipeline.launch() until the container is running',
  baseline: 'raw dockerode createContainer + start of the same image; docker run -d through the CLI',
  target: '≤ 1.10× raw, below the CLI',
  needs: 'docker',
  run() {
    return Promise.reject(new Error('P1 is not built yet'));
  },
};
