/**
 * Claim cost with 200 stale containers vs none (issue target: ≤ 2×), on the real dockerd.
 * Also measures a naive claim that inspects every candidate, for contrast. Prints medians (ms)
 * and ratios measured in this run; it asserts nothing (these machines are noisy).
 *   node out/bench/claim.bench.js [--stale 200] [--runs 15]
 */
import { DEFAULT_HARDENING } from '../src/core/hardening';
import { parseArgs } from 'node:util';
import { claimName } from '../src/core/claim';
import { DockerEngine } from '../src/core/engine';
import { DEMO_IMAGE, buildDemoImage } from '../src/core/demoImage';
import { agentLabels } from '../src/core/labels';
import { ContainerSeq, containerName } from '../src/core/names';
import { NameConflictError } from '../src/core/errors';

const { values } = parseArgs({ options: { stale: { type: 'string', default: '200' }, runs: { type: 'string', default: '15' } } });
const STALE = Number(values.stale);
const RUNS = Number(values.runs);
const WS = 'bench-ws';

async function main(): Promise<void> {
  const engine = new DockerEngine();
  await engine.ping();
  await buildDemoImage(engine);
  const empty = `benche${process.pid}`;
  const stale = `benchs${process.pid}`;
  try {
    process.stdout.write(`creating ${STALE} crashed containers… `);
    const ids: string[] = [];
    for (let i = 0; i < STALE; i += 20) {
      ids.push(...(await Promise.all(Array.from({ length: Math.min(20, STALE - i) }, (_, k) =>
        engine.docker.createContainer({ name: containerName(stale, 'worker', i + k), Image: DEMO_IMAGE, Entrypoint: ['/bin/sh', '-c', 'exit 1'], Labels: agentLabels('worker', WS) }).then((c) => c.id)))));
    }
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(ids.slice(i, i + 20).map(async (id) => {
        await engine.start(id);
        await engine.wait(id);
      }));
    }
    console.log('done');

    const none = await measure(engine, empty, 'list');
    const withStale = await measure(engine, stale, 'list');
    const naiveNone = await measure(engine, empty, 'inspect-each');
    const naiveStale = await measure(engine, stale, 'inspect-each');
    console.log(`claim, no stale containers:        median ${none.toFixed(1)} ms`);
    console.log(`claim, ${STALE} stale containers:       median ${withStale.toFixed(1)} ms  ratio ${(withStale / none).toFixed(2)}× (target ≤ 2×)`);
    console.log(`naive inspect-per-candidate, none:  median ${naiveNone.toFixed(1)} ms`);
    console.log(`naive inspect-per-candidate, ${STALE}: median ${naiveStale.toFixed(1)} ms  ratio ${(naiveStale / naiveNone).toFixed(2)}×`);
  } finally {
    for (const p of [empty, stale]) {
      const left = await engine.list({ namePrefix: `${p}-` });
      for (let i = 0; i < left.length; i += 20) await Promise.all(left.slice(i, i + 20).map((c) => engine.remove(c.id, { force: true })));
    }
  }
}

/** Median ms of RUNS claims from candidate 0, each creating a container that is removed afterwards (untimed). */
async function measure(engine: DockerEngine, prefix: string, how: 'list' | 'inspect-each'): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const seq = new ContainerSeq(0);
    const create = (name: string) => engine.create({ name, image: DEMO_IMAGE, labels: agentLabels('worker', WS), hardening: DEFAULT_HARDENING, user: '1000:1000' });
    const t = performance.now();
    const id = how === 'list'
      ? (await claimName({ engine, nextCandidate: () => containerName(prefix, 'worker', seq.next()), namePrefix: `${prefix}-worker-`, workspaceId: WS, create })).created
      : await naiveClaim(engine, () => containerName(prefix, 'worker', seq.next()), create);
    times.push(performance.now() - t);
    await engine.remove(id, { force: true });
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** The baseline the issue warns about: one inspect per candidate. */
async function naiveClaim(engine: DockerEngine, next: () => string, create: (name: string) => Promise<string>): Promise<string> {
  for (;;) {
    const name = next();
    if (await engine.inspect(name)) continue;
    try {
      return await create(name);
    } catch (e) {
      if (!(e instanceof NameConflictError)) throw e;
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
