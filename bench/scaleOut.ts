/**
 * P11: scale-out over two Docker hosts (issue 14): N launches (200; quick 16) of a 1 s agent
 * (`{sleepSeconds: 1}`) queued at once on a Pipeline over a {@link HostsEngine} of 2 hosts × 4
 * slots, from the first `launch()` call until `joinAgents()` resolved. The two hosts are two
 * extra dockerd instances this benchmark starts (test/support/dockerDaemons.ts: each in its own
 * network namespace with its own data-root and socket) and disposes at the end.
 *
 * Ideal, as P3 (makespan.ts) defines it: ceil(N / 8) × one agent's wall time alone (launch →
 * joined, the median of several alone-runs in the same round, through the same Pipeline and
 * hosts engine). The floor these daemons set: the same N containers through plain dockerode
 * calls (create with the same image and hardening, attach, start, the input on stdin, wait) on
 * 4 loops per daemon, 8 loops sharing one queue, against their own ideal measured the same way,
 * in the same rounds. Rounds alternate alone-runs and the loaded run, so drift hits both alike;
 * the verdict is the ratio of the medians with the per-round ratios' spread.
 *
 * Checked from Docker's own records, not from timing: each host's containers' `StartedAt` /
 * `FinishedAt` give how many ran on each host and the most that ran there at once (≤ its 4
 * slots). Also reported: how long one extra dockerd takes to answer, and its memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Benchmark, Figure, Verdict } from './benchmark';
import { verdict } from './benchmark';
import { DEMO_IMAGE } from '../src/core/demoImage';
import { DEFAULT_HARDENING, hardenedHostConfig } from '../src/core/hardening';
import { HostsEngine } from '../src/core/hostsEngine';
import { DEFAULT_SETTINGS, Pipeline, PipelineSettings } from '../src/core/pipeline';
import { StateDirs } from '../src/core/stateDirs';
import { Store } from '../src/core/store';
import { DockerDaemons, TestDaemon } from '../test/support/dockerDaemons';
import { finishedRuns, maxOverlap } from '../test/support/dockerRecords';
import { median, msSince, pairRatios, spreadOf, spreadText } from './stats';
import { rawRun } from './makespan';

const HOSTS = 2;
const SLOTS_PER_HOST = 4;
const SLOTS = HOSTS * SLOTS_PER_HOST;
const INPUT = { sleepSeconds: 1 };

/** What one loaded run saw on the hosts, from Docker's records. */
interface Spread {
  /** Containers each host ran (host name → count). */
  perHost: Map<string, number>;
  /** The most that ran at once on each host. */
  mostAtOnce: Map<string, number>;
}

interface Rig {
  daemons: DockerDaemons;
  pipeline: Pipeline;
  prefix: string;
  /** Force-removes this rig's containers on both hosts: untimed clean-up between runs. */
  removeContainers(): Promise<void>;
  /** Docker's records of the finished runs on each host. */
  spread(): Promise<Spread>;
  dispose(): Promise<void>;
}

async function rig(scratch: string): Promise<Rig> {
  const daemons = await DockerDaemons.start(HOSTS);
  try {
    const prefix = `bp11${process.pid}`;
    const engine = new HostsEngine(daemons.daemons.map((d) => ({ name: d.name, engine: d.engine, slots: SLOTS_PER_HOST })));
    const dir = path.join(scratch, 'rig');
    fs.mkdirSync(dir, { recursive: true });
    const store = await Store.open(path.join(dir, 'borg.sqlite'));
    const settings: PipelineSettings = { ...DEFAULT_SETTINGS, prefix, image: DEMO_IMAGE, agentTimeoutSeconds: 120, stopGraceSeconds: 1, maxParallelAgents: SLOTS };
    const pipeline = new Pipeline({ engine, store, stateDirs: new StateDirs(path.join(dir, 'agents')), workspaceId: `ws-${prefix}`, settings: () => settings });
    const removeOn = async (d: TestDaemon) => {
      if (!d.up) return;
      const rows = await d.docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
      await Promise.all(
        rows.map((r) =>
          d.docker
            .getContainer(r.Id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      );
    };
    const removeContainers = async () => {
      await Promise.all(daemons.daemons.map(removeOn));
    };
    return {
      daemons,
      pipeline,
      prefix,
      removeContainers,
      async spread() {
        const perHost = new Map<string, number>();
        const mostAtOnce = new Map<string, number>();
        for (const d of daemons.daemons) {
          const runs = await finishedRuns(d.docker, prefix);
          perHost.set(d.name, runs.length);
          mostAtOnce.set(d.name, maxOverlap(runs));
        }
        return { perHost, mostAtOnce };
      },
      async dispose() {
        try {
          await pipeline.shutdown('stop');
          pipeline.dispose();
          await removeContainers();
          await store.close().catch(() => undefined);
        } finally {
          await daemons.dispose();
        }
      },
    };
  } catch (e) {
    await daemons.dispose();
    throw e;
  }
}

/** One agent alone: launch → joined (ms). */
async function alone(r: Rig): Promise<number> {
  const t0 = performance.now();
  await r.pipeline.launch('worker', { input: INPUT });
  await r.pipeline.joinAgents();
  const ms = msSince(t0);
  await r.removeContainers();
  return ms;
}

/** N launches queued at once on the hosts' slots: makespan (ms) and where they ran. */
async function loaded(r: Rig, n: number): Promise<{ ms: number; spread: Spread; maxRunning: number }> {
  let maxRunning = 0;
  const watch = r.pipeline.onDidChange(() => (maxRunning = Math.max(maxRunning, r.pipeline.runningCount)));
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, () => r.pipeline.launch('worker', { input: INPUT })));
  await r.pipeline.joinAgents();
  const ms = msSince(t0);
  watch.dispose();
  const spread = await r.spread();
  await r.removeContainers();
  return { ms, spread, maxRunning };
}

/**
 * The floor these daemons set, without Borg: `loopsPerHost` loops of dockerode calls on each
 * daemon (create with the same image and hardening, attach, start, the input on stdin, wait),
 * all loops taking from one queue of `n` containers. Alone: `n` 1 on one loop of the first host.
 */
async function rawMakespan(r: Rig, n: number, loopsPerHost: number, hosts: readonly TestDaemon[]): Promise<number> {
  let next = 0;
  const host = hardenedHostConfig(DEFAULT_HARDENING);
  const one = (d: TestDaemon) => rawRun(d.docker, `${r.prefix}-raw-${rawSeq++}`, host);
  const loops = hosts.flatMap((d) => Array.from({ length: loopsPerHost }, () => d));
  const t0 = performance.now();
  await Promise.all(
    loops.map(async (d) => {
      while (next < n) {
        next++;
        await one(d);
      }
    }),
  );
  const ms = msSince(t0);
  await r.removeContainers();
  return ms;
}
let rawSeq = 0;

export const scaleOutBenchmark: Benchmark = {
  id: 'P11',
  what: '200 launches of a 1 s agent over 2 Docker hosts × 4 slots (two extra dockerd instances): makespan',
  baseline: 'ideal = ceil(N/8) × one agent’s wall time measured alone (as P3); plain dockerode on the same two daemons',
  target: '≤ 1.1×',
  needs: 'docker',
  async run(opts) {
    const n = opts.quick ? 16 : 200;
    const rounds = opts.runs ?? (opts.quick ? 1 : 3);
    const aloneRuns = opts.quick ? 2 : 5;
    const t0 = performance.now();
    const r = await rig(opts.scratch);
    const setupMs = msSince(t0);
    const figures: Figure[] = [];
    const verdicts: Verdict[] = [];
    const notes: string[] = [];
    try {
      const aloneMs: number[] = [];
      const idealMs: number[] = [];
      const loadedMs: number[] = [];
      const perHost: string[] = [];
      const mostAtOnce = new Map<string, number>();
      let maxRunning = 0;
      if (!opts.quick) await alone(r); // warm-up (first connections), not counted
      for (let k = 0; k < rounds; k++) {
        const round: number[] = [];
        for (let a = 0; a < aloneRuns; a++) round.push(await alone(r));
        aloneMs.push(...round);
        idealMs.push(Math.ceil(n / SLOTS) * median(round));
        const l = await loaded(r, n);
        loadedMs.push(l.ms);
        maxRunning = Math.max(maxRunning, l.maxRunning);
        perHost.push([...l.spread.perHost].map(([h, c]) => `${h} ${c}`).join(', '));
        for (const [h, m] of l.spread.mostAtOnce) mostAtOnce.set(h, Math.max(mostAtOnce.get(h) ?? 0, m));
        opts.log(`round ${k + 1}/${rounds}: alone ${median(round).toFixed(0)} ms, ${n} launches ${l.ms.toFixed(0)} ms (ideal ${idealMs[k].toFixed(0)} ms); ran on ${perHost[k]}`);
      }
      const memory = r.daemons.memory();
      const rawAlone: number[] = [];
      const rawIdeal: number[] = [];
      const rawLoaded: number[] = [];
      for (let k = 0; k < rounds; k++) {
        const round: number[] = [];
        for (let a = 0; a < aloneRuns; a++) round.push(await rawMakespan(r, 1, 1, [r.daemons.get(1)]));
        rawAlone.push(...round);
        rawIdeal.push(Math.ceil(n / SLOTS) * median(round));
        rawLoaded.push(await rawMakespan(r, n, SLOTS_PER_HOST, r.daemons.daemons));
        opts.log(
          `dockerode alone, round ${k + 1}/${rounds}: one container ${median(round).toFixed(0)} ms, ${n} on ${HOSTS} × ${SLOTS_PER_HOST} loops ${rawLoaded[k].toFixed(0)} ms (ideal ${rawIdeal[k].toFixed(0)} ms)`,
        );
      }
      figures.push(
        { label: 'one 1 s agent alone: launch → joined', unit: 'ms', spread: spreadOf(aloneMs) },
        { label: `${n} launches, ${HOSTS} hosts × ${SLOTS_PER_HOST} slots: makespan`, unit: 'ms', spread: spreadOf(loadedMs) },
        { label: `ideal: ceil(${n}/${SLOTS}) × alone (per round)`, unit: 'ms', spread: spreadOf(idealMs) },
        { label: 'dockerode alone (no Borg), one container: create → exit', unit: 'ms', spread: spreadOf(rawAlone) },
        { label: `dockerode alone, ${n} containers on ${HOSTS} × ${SLOTS_PER_HOST} loops: makespan`, unit: 'ms', spread: spreadOf(rawLoaded) },
        { label: 'dockerode alone: makespan / its ideal (the floor these daemons set)', unit: '×', spread: spreadOf(pairRatios(rawLoaded, rawIdeal)) },
        { label: "Borg's makespan / dockerode's makespan", unit: '×', spread: spreadOf(pairRatios(loadedMs, rawLoaded)) },
        { label: 'one extra dockerd: spawn → ping answers', unit: 'ms', spread: spreadOf(r.daemons.daemons.map((d) => d.readyMs)) },
        { label: 'one extra dockerd: resident memory of dockerd + its containerd (idle)', unit: 'MiB', spread: spreadOf(memory.map((m) => (m.dockerdKb + m.othersKb) / 1024)) },
      );
      verdicts.push(verdict(`${n} launches over ${HOSTS} hosts: makespan / ideal`, '×', median(loadedMs) / median(idealMs), 1.1, opts.quick, spreadOf(pairRatios(loadedMs, idealMs))));
      notes.push(`where they ran (Docker's records, per round): ${perHost.join(' | ')}`);
      notes.push(`most running at once on one host (Docker's StartedAt/FinishedAt): ${[...mostAtOnce].map(([h, m]) => `${h} ${m}`).join(', ')} (limit ${SLOTS_PER_HOST} each)`);
      notes.push(`most agents holding a slot at once (Pipeline.runningCount): ${maxRunning} (limit ${SLOTS})`);
      notes.push(
        `two extra dockerd started, demo image imported into each, in ${setupMs.toFixed(0)} ms; memory ${memory.map((m) => `${m.name}: dockerd ${(m.dockerdKb / 1024).toFixed(0)} MiB + containerd ${(m.othersKb / 1024).toFixed(0)} MiB`).join(', ')}`,
      );
      notes.push(`alone-run spread: ${spreadText(spreadOf(aloneMs))} ms`);
      return { figures, verdicts, notes };
    } finally {
      await r.dispose();
    }
  },
};
