/**
 * P2: the claim step with N stale labelled containers holding the first N candidate names,
 * against the same claim with none (target ≤ 2×), on the real dockerd. The stale set cycles
 * through, by candidate number modulo 6:
 *   exited 0 with OOMKilled (a child OOM-killed, main process exited 0) · exited 1 ·
 *   OOM-killed (137) · running · foreign (exited 0, no borg labels) · exited 0 (clean)
 * so a claim from candidate 0 passes five stale names and reclaims the sixth (its container is
 * moved aside and removed, a new one created under its name); the reclaimed one is made again
 * after each run (untimed), so every run meets the same set. The claim's own removal of the
 * container it reclaimed is awaited after the timed part (untimed; its time is a figure).
 * Runs alternate (none, stale, none, stale, …) so drift hits both alike. Each Docker call of the
 * stale claims is timed (inspects, rename, remove, create) and reported in the notes.
 * Quick: 12 stale containers, 3 runs. Full: 200 stale, 15 runs.
 */
import { claimName, type AsideRemoval, type ClaimEngine } from '../src/core/claim';
import { DockerEngine } from '../src/core/engine';
import { DEMO_IMAGE, buildDemoImage } from '../src/core/demoImage';
import { DEFAULT_HARDENING } from '../src/core/hardening';
import { agentLabels } from '../src/core/labels';
import { ContainerSeq, containerName } from '../src/core/names';
import type { Benchmark, BenchOptions } from './benchmark';
import { verdict } from './benchmark';
import { median, msSince, pairRatios, spreadOf, spreadText } from './stats';

const WS = 'bench-ws';
const OOM_BYTES = 8 * 1024 * 1024;
/** A string doubled until the 8 MiB limit kills the shell (busybox sh). */
const GROW = 'x=a; while :; do x=$x$x; done';

/** The kinds of stale container, by candidate number modulo 6. */
const KINDS = [
  { kind: 'exited 0, child OOM-killed', script: `(${GROW}); exit 0`, oom: true, labels: true, wait: true },
  { kind: 'exited 1', script: 'exit 1', oom: false, labels: true, wait: true },
  { kind: 'OOM-killed (137)', script: GROW, oom: true, labels: true, wait: true },
  { kind: 'running', script: 'sleep 3600', oom: false, labels: true, wait: false },
  { kind: 'foreign, exited 0', script: 'exit 0', oom: false, labels: false, wait: true },
  { kind: 'exited 0', script: 'exit 0', oom: false, labels: true, wait: true },
] as const;

/** Per-call times (ms) of one timed claim. */
interface CallTimes {
  inspect: number[];
  /** Wall time from the first inspect's start to the last one's end. */
  inspectWall: number;
  rename: number[];
  remove: number[];
  create: number;
}

/** Wraps `engine`'s claim calls, recording each one's duration into `into` (while `into` is set). */
function timedEngine(engine: DockerEngine, sink: () => CallTimes | undefined): ClaimEngine {
  const wrap =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>, record: (t: CallTimes, ms: number, t0: number) => void) =>
    async (...a: A): Promise<R> => {
      const t0 = performance.now();
      try {
        return await fn(...a);
      } finally {
        const t = sink();
        if (t) record(t, msSince(t0), t0);
      }
    };
  let firstInspect = 0;
  return {
    list: engine.list.bind(engine),
    inspect: wrap(engine.inspect.bind(engine), (t, ms, t0) => {
      if (t.inspect.length === 0) firstInspect = t0;
      t.inspect.push(ms);
      t.inspectWall = performance.now() - firstInspect;
    }),
    rename: wrap(engine.rename.bind(engine), (t, ms) => t.rename.push(ms)),
    remove: wrap(engine.remove.bind(engine), (t, ms) => t.remove.push(ms)),
  };
}

async function run(opts: BenchOptions) {
  const stale = opts.quick ? 12 : 200;
  const runs = opts.runs ?? (opts.quick ? 3 : 15);
  const engine = new DockerEngine();
  await engine.ping();
  await buildDemoImage(engine);
  const emptyPrefix = `bp2e${process.pid}`;
  const stalePrefix = `bp2s${process.pid}`;
  let times: CallTimes | undefined;
  const timed = timedEngine(engine, () => times);
  const make = async (n: number): Promise<void> => {
    const kind = KINDS[n % KINDS.length];
    for (let tries = 0; ; tries++) {
      const c = await engine.docker.createContainer({
        name: containerName(stalePrefix, 'worker', n),
        Image: DEMO_IMAGE,
        Entrypoint: ['/bin/sh', '-c', kind.script],
        Labels: kind.labels ? agentLabels('worker', WS) : {},
        HostConfig: kind.oom ? { Memory: OOM_BYTES, MemorySwap: OOM_BYTES } : {},
      });
      await c.start();
      if (!kind.wait) return;
      await c.wait();
      // Under load dockerd sometimes misses the cgroup's OOM event (OOMKilled false): make that one again.
      if (!kind.oom || (await c.inspect()).State.OOMKilled || tries >= 5) return;
      await c.remove({ force: true });
    }
  };

  /** Ms of one claim from candidate 0 that creates a container; afterwards (untimed) the new container is removed and a reclaimed one made again. */
  const claimOnce = async (prefix: string, record: boolean): Promise<{ ms: number; removalMs?: number }> => {
    const seq = new ContainerSeq(0);
    const t = record ? { inspect: [], inspectWall: 0, rename: [], remove: [], create: 0 } : undefined;
    const create = async (name: string) => {
      const t0 = performance.now();
      const id = await engine.create({ name, image: DEMO_IMAGE, labels: agentLabels('worker', WS), hardening: DEFAULT_HARDENING, user: '1000:1000' });
      if (t) t.create = msSince(t0);
      return id;
    };
    times = t;
    const t0 = performance.now();
    const removals: Array<Promise<AsideRemoval>> = [];
    const claim = await claimName({
      engine: timed,
      nextCandidate: () => containerName(prefix, 'worker', seq.next()),
      namePrefix: `${prefix}-worker-`,
      workspaceId: WS,
      create,
      adoptRemoval: (r) => removals.push(r),
    });
    const ms = msSince(t0);
    let removalMs: number | undefined;
    if (removals.length) {
      for (const r of await Promise.all(removals)) if (r.error) throw new Error(`removing ${r.aside} failed: ${String(r.error)}`);
      removalMs = msSince(t0);
    }
    times = undefined;
    if (t) samples.push(t);
    await engine.remove(claim.created, { force: true });
    if (claim.reclaimed) {
      const n = Number(claim.name.slice(`${prefix}-worker-`.length));
      if (prefix !== stalePrefix || KINDS[n % KINDS.length].kind !== 'exited 0') throw new Error(`the claim reclaimed ${claim.name}, which is not a clean one: the claim table is wrong`);
      await make(n);
    }
    return { ms, removalMs };
  };
  const samples: CallTimes[] = [];

  try {
    opts.log(`creating ${stale} stale containers (${KINDS.map((k) => k.kind).join(' / ')})…`);
    for (let i = 0; i < stale; i += 20) await Promise.all(Array.from({ length: Math.min(20, stale - i) }, (_, k) => make(i + k)));
    await claimOnce(emptyPrefix, false); // warm-up (untimed): first connection, image lookup
    const none: number[] = [];
    const withStale: number[] = [];
    const untilRemoved: number[] = [];
    for (let r = 0; r < runs; r++) {
      none.push((await claimOnce(emptyPrefix, false)).ms);
      const s = await claimOnce(stalePrefix, true);
      withStale.push(s.ms);
      if (s.removalMs !== undefined) untilRemoved.push(s.removalMs);
      opts.log(`run ${r + 1}/${runs}: none ${none[r].toFixed(1)} ms · ${stale} stale ${s.ms.toFixed(1)} ms`);
    }
    const ratios = pairRatios(withStale, none);
    const med = (f: (t: CallTimes) => number) => median(samples.map(f)).toFixed(1);
    const notes = [
      `stale claim, per Docker call (medians, ms): ${samples[0].inspect.length} inspects (one, then the next ones at once) ${med((t) => t.inspectWall)} wall, each ${med((t) => median(t.inspect))}; ` +
        `rename ${samples.every((t) => t.rename.length) ? med((t) => t.rename[0]) : '—'}; remove on the critical path ${samples.every((t) => t.remove.length && !t.rename.length) ? med((t) => t.remove[0]) : '—'}; create ${med((t) => t.create)}`,
      untilRemoved.length
        ? `the reclaimed container's removal runs after the claim returns (owned and awaited by the caller): claim start → removed ${spreadText(spreadOf(untilRemoved))} ms`
        : 'the reclaimed container is removed before the create, on the critical path',
      'the claim is measured without the launch around it (slot, image check, attach, start): the stale containers cost only here',
    ];
    return {
      figures: [
        { label: 'claim, no stale containers (baseline)', unit: 'ms', spread: spreadOf(none) },
        { label: `claim, ${stale} stale containers`, unit: 'ms', spread: spreadOf(withStale) },
        { label: 'per-run ratio stale / none', unit: '×', spread: spreadOf(ratios) },
      ],
      verdicts: [verdict(`claim with ${stale} stale / with none`, '×', median(withStale) / median(none), 2, opts.quick, spreadOf(ratios))],
      notes,
    };
  } finally {
    times = undefined;
    for (const p of [emptyPrefix, stalePrefix]) {
      const left = await engine.list({ namePrefix: `${p}-` });
      for (let i = 0; i < left.length; i += 20) await Promise.all(left.slice(i, i + 20).map((c) => engine.remove(c.id, { force: true })));
    }
  }
}

export const claimBenchmark: Benchmark = {
  id: 'P2',
  what: 'claim with 200 stale labelled containers (exited 0 / exited 1 / OOM / running / foreign)',
  baseline: 'claim with none',
  target: '≤ 2×',
  needs: 'docker',
  run,
};
