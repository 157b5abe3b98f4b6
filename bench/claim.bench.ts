/**
 * Claim cost with N stale containers holding the first N candidate names vs none (target:
 * ≤ 2×), on the real dockerd. The stale set cycles through, by candidate number modulo 6:
 *   exited 0 with OOMKilled (a child OOM-killed, main process exited 0) · exited 1 ·
 *   OOM-killed (137) · running · foreign (exited 0, no borg labels) · exited 0 (clean)
 * so a claim from candidate 0 passes five stale names and reclaims the sixth (remove, create);
 * that container is made again after each run (untimed), so every run meets the same set.
 * `--no-clean` leaves the clean kind out: nothing is reclaimable and every claim walks all N
 * names (the worst case, for contrast).
 * Runs alternate (none, stale, none, stale, …) so drift hits both alike; it prints, from this
 * run: each side's median and spread (min · p25 – p75 · max, ms), the ratio of the medians, and
 * the median and spread of the per-pair ratios. It asserts nothing (these machines are noisy).
 *   npx tsc -p . && node out/bench/claim.bench.js [--stale 200] [--runs 15] [--no-clean]
 */
import { parseArgs } from 'node:util';
import { claimName } from '../src/core/claim';
import { DockerEngine } from '../src/core/engine';
import { DEMO_IMAGE, buildDemoImage } from '../src/core/demoImage';
import { DEFAULT_HARDENING } from '../src/core/hardening';
import { agentLabels } from '../src/core/labels';
import { ContainerSeq, containerName } from '../src/core/names';

const { values } = parseArgs({ options: { stale: { type: 'string', default: '200' }, runs: { type: 'string', default: '15' }, 'no-clean': { type: 'boolean', default: false } } });
const STALE = Number(values.stale);
const RUNS = Number(values.runs);
const WS = 'bench-ws';
const OOM_BYTES = 8 * 1024 * 1024;
/** A string doubled until the 8 MiB limit kills the shell (busybox sh). */
const GROW = 'x=a; while :; do x=$x$x; done';

/** The kinds of stale container, by candidate index modulo 5. */
const KINDS = [
  { kind: 'exited 0, child OOM-killed', script: `(${GROW}); exit 0`, oom: true, labels: true, wait: true },
  { kind: 'exited 1', script: 'exit 1', oom: false, labels: true, wait: true },
  { kind: 'OOM-killed (137)', script: GROW, oom: true, labels: true, wait: true },
  { kind: 'running', script: 'sleep 3600', oom: false, labels: true, wait: false },
  { kind: 'foreign, exited 0', script: 'exit 0', oom: false, labels: false, wait: true },
  ...(values['no-clean'] ? [] : [{ kind: 'exited 0', script: 'exit 0', oom: false, labels: true, wait: true }]),
];

async function main(): Promise<void> {
  const engine = new DockerEngine();
  await engine.ping();
  await buildDemoImage(engine);
  const empty = `benche${process.pid}`;
  const stale = `benchs${process.pid}`;
  try {
    process.stdout.write(`creating ${STALE} stale containers (${KINDS.map((k) => k.kind).join(' / ')})… `);
    const make = async (n: number): Promise<void> => {
      const kind = KINDS[n % KINDS.length];
      for (let tries = 0; ; tries++) {
        const c = await engine.docker.createContainer({
          name: containerName(stale, 'worker', n),
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
    for (let i = 0; i < STALE; i += 20) await Promise.all(Array.from({ length: Math.min(20, STALE - i) }, (_, k) => make(i + k)));
    console.log('done');

    const none: number[] = [];
    const withStale: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      none.push(await claimOnce(engine, empty));
      withStale.push(await claimOnce(engine, stale, make));
    }
    const ratios = withStale.map((s, i) => s / none[i]);
    console.log(`claim, no stale containers:  ${spread(none)} ms`);
    console.log(`claim, ${STALE} stale containers: ${spread(withStale)} ms`);
    console.log(`ratio of medians: ${(median(withStale) / median(none)).toFixed(2)}× (target ≤ 2×)`);
    console.log(`per-run ratios:   ${spread(ratios, 2)} ×   (${RUNS} runs, alternating)`);
  } finally {
    for (const p of [empty, stale]) {
      const left = await engine.list({ namePrefix: `${p}-` });
      for (let i = 0; i < left.length; i += 20) await Promise.all(left.slice(i, i + 20).map((c) => engine.remove(c.id, { force: true })));
    }
  }
}

/**
 * Ms of one claim from candidate 0 that creates a container; the container is removed
 * afterwards, and a reclaimed stale one made again with `remake` (both untimed).
 */
async function claimOnce(engine: DockerEngine, prefix: string, remake?: (n: number) => Promise<void>): Promise<number> {
  const seq = new ContainerSeq(0);
  const create = (name: string) => engine.create({ name, image: DEMO_IMAGE, labels: agentLabels('worker', WS), hardening: DEFAULT_HARDENING, user: '1000:1000' });
  const t = performance.now();
  const claim = await claimName({ engine, nextCandidate: () => containerName(prefix, 'worker', seq.next()), namePrefix: `${prefix}-worker-`, workspaceId: WS, create });
  const ms = performance.now() - t;
  await engine.remove(claim.created, { force: true });
  if (claim.reclaimed) {
    const n = Number(claim.name.slice(`${prefix}-worker-`.length));
    if (!remake || KINDS[n % KINDS.length].kind !== 'exited 0') throw new Error(`the claim reclaimed ${claim.name}, which is not a clean one: the claim table is wrong`);
    await remake(n);
  }
  return ms;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** "median M (min a · p25 b – p75 c · max d)". */
function spread(xs: number[], digits = 1): string {
  const f = (q: number) => quantile(xs, q).toFixed(digits);
  return `median ${f(0.5)} (min ${f(0)} · p25 ${f(0.25)} – p75 ${f(0.75)} · max ${f(1)})`;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
