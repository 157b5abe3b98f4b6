/**
 * What Docker itself recorded about a set of container runs, for tests and benchmarks that must
 * not judge concurrency from their own timing: `State.StartedAt` / `State.FinishedAt` of each
 * container (Engine API ContainerInspect; RFC 3339 with nanoseconds, UTC), compared exactly.
 */
import type Docker from 'dockerode';

/** One run as Docker recorded it. */
export interface DockerRun {
  id: string;
  name: string;
  /** RFC 3339 with up to 9 fraction digits, as Docker writes it. */
  startedAt: string;
  finishedAt: string;
}

/** ns since the epoch of an RFC 3339 time with up to 9 fraction digits ("…T04:05:29.123456789Z"). @throws Error on any other text. */
export function nanosOf(rfc3339: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) throw new Error(`not an RFC 3339 time: ${rfc3339}`);
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds)) throw new Error(`not an RFC 3339 time: ${rfc3339}`);
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/**
 * The most runs that were running at the same instant: a sweep over starts and ends, an end
 * before a start at the same nanosecond (a slot handed over is not two at once).
 */
export function maxOverlap(runs: readonly Pick<DockerRun, 'startedAt' | 'finishedAt'>[]): number {
  const edges: Array<[bigint, number]> = [];
  for (const r of runs) edges.push([nanosOf(r.startedAt), 1], [nanosOf(r.finishedAt), -1]);
  edges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  let now = 0;
  let most = 0;
  for (const [, d] of edges) {
    now += d;
    most = Math.max(most, now);
  }
  return most;
}

/**
 * The runs of the containers named `^/<prefix>-` on one daemon that have started and finished
 * (inspect of each; Docker's zero time "0001-01-01T00:00:00Z" means not yet).
 */
export async function finishedRuns(docker: Docker, prefix: string): Promise<DockerRun[]> {
  const rows = await docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
  const infos = await Promise.all(rows.map((r) => docker.getContainer(r.Id).inspect()));
  return infos
    .filter((i) => !i.State.StartedAt.startsWith('0001-') && !i.State.FinishedAt.startsWith('0001-'))
    .map((i) => ({ id: i.Id, name: i.Name.replace(/^\//, ''), startedAt: i.State.StartedAt, finishedAt: i.State.FinishedAt }));
}
