/**
 * P3: makespan with 4 slots against the ideal, on the real dockerd with the demo image.
 *
 * Launches: N launches (100; quick 8) of a 1 s agent (`{sleepSeconds: 1}`) queued at once with 4
 * slots, from the first `launch()` call until `joinAgents()` resolved; ideal = ceil(N/4) × one
 * agent's wall time alone (launch → joined, the median of several alone-runs in the same round).
 * Tasks: T tasks (30; quick 3) added at once, through spec → qa → impl (no test command: the test
 * phase is skipped), from the first add until every task is done; ideal = ceil(T/4) × one task's
 * wall time alone (its three phases, commits and dispatches included: the time one task needs
 * with the machine to itself).
 * Rounds alternate alone-runs and the loaded run, so drift hits both alike; the verdict is the
 * ratio of the medians, with the per-round ratios' spread.
 *
 * Where the time goes: every Engine call is timed (timedEngine.ts); the per-phase table (create,
 * attach, start, first output, the run, wait → inspect, inspect → slot released) is reported alone
 * and under load, with the idle time of a slot: slot released → next create called → next started.
 * And the floor this dockerd sets: the same N containers through plain dockerode calls on 4 loops
 * (no Borg), against their own ideal measured the same way, in the same rounds.
 */
import type Dockerode from 'dockerode';
import type { Benchmark, Figure, Verdict } from './benchmark';
import { verdict } from './benchmark';
import { DEMO_IMAGE } from '../src/core/demoImage';
import { DEFAULT_HARDENING, hardenedHostConfig } from '../src/core/hardening';
import { pipelineRig, PipelineRig } from './pipelineRig';
import { median, msSince, pairRatios, spreadOf, spreadText } from './stats';
import type { ContainerTimeline } from './timedEngine';

const SLOTS = 4;
const INPUT = { sleepSeconds: 1 };

/** One launch's phases (ms) from its timeline and the moment its slot was released. */
interface PhaseSample {
  create: number;
  attach: number;
  start: number;
  firstOutput: number;
  run: number;
  inspect: number;
  release: number;
}

const PHASES: Array<[keyof PhaseSample, string]> = [
  ['create', 'create called → created'],
  ['attach', 'created → attached'],
  ['start', 'start called → started'],
  ['firstOutput', 'started → first output'],
  ['run', 'started → wait resolved (exit)'],
  ['inspect', 'exit → inspect done'],
  ['release', 'inspect done → agent done (its end recorded)'],
];

function phasesOf(t: ContainerTimeline, releasedAt: number | undefined): PhaseSample | undefined {
  if (t.created === undefined || t.attached === undefined || t.startCalled === undefined || t.started === undefined || t.exited === undefined || t.inspected === undefined || releasedAt === undefined)
    return undefined;
  return {
    create: t.created - t.createCalled,
    attach: t.attached - t.created,
    start: t.started - t.startCalled,
    firstOutput: (t.firstOutput ?? t.started) - t.started,
    run: t.exited - t.started,
    inspect: t.inspected - t.exited,
    release: releasedAt - t.inspected,
  };
}

/** One agent alone: launch → joined (ms), and its phases. */
async function alone(rig: PipelineRig): Promise<{ ms: number; phases?: PhaseSample }> {
  rig.timed.reset();
  const t0 = performance.now();
  const r = await rig.pipeline.launch('worker', { input: INPUT });
  let released: number | undefined;
  void r.agent.done.then(() => (released = performance.now()));
  await rig.pipeline.joinAgents();
  const ms = msSince(t0);
  const phases = phasesOf(rig.timed.timelines()[0], released);
  await rig.removeContainers();
  return { ms, phases };
}

/** N launches queued at once on the slots: makespan (ms), phases, slot idle gaps. */
async function loaded(rig: PipelineRig, n: number): Promise<{ ms: number; phases: PhaseSample[]; toCreate: number[]; toStart: number[]; maxRunning: number; calls: Map<string, number> }> {
  rig.timed.reset();
  const released = new Map<string, number>();
  let maxRunning = 0;
  const watch = rig.pipeline.onDidChange(() => (maxRunning = Math.max(maxRunning, rig.pipeline.runningCount)));
  const t0 = performance.now();
  const launches = Array.from({ length: n }, () => rig.pipeline.launch('worker', { input: INPUT }).then((r) => r.agent.done.then(() => void released.set(r.id, performance.now()))));
  await Promise.all(launches);
  await rig.pipeline.joinAgents();
  const ms = msSince(t0);
  watch.dispose();
  const timelines = rig.timed.timelines();
  const calls = new Map<string, number>();
  for (const c of rig.timed.calls) calls.set(c.method, (calls.get(c.method) ?? 0) + 1);
  const phases = timelines.map((t) => phasesOf(t, released.get(t.id))).filter((p): p is PhaseSample => !!p);
  // FIFO slots: the i-th exit frees the slot of the (i + SLOTS)-th launch (the slot is free from
  // the exit on; before the fix, from the agent's recorded end).
  const releases = timelines
    .map((t) => t.exited)
    .filter((x): x is number => x !== undefined)
    .sort((a, b) => a - b);
  const creates = [...timelines].sort((a, b) => a.createCalled - b.createCalled);
  const toCreate: number[] = [];
  const toStart: number[] = [];
  for (let i = 0; i + SLOTS < creates.length && i < releases.length; i++) {
    toCreate.push(creates[i + SLOTS].createCalled - releases[i]);
    if (creates[i + SLOTS].started !== undefined) toStart.push(creates[i + SLOTS].started! - releases[i]);
  }
  await rig.removeContainers();
  return { ms, phases, toCreate, toStart, maxRunning, calls };
}

/**
 * The floor this dockerd sets, without Borg: `workers` loops of dockerode calls (create with the
 * same image and hardening, attach, start, the input on stdin, wait) over `n` containers. Alone
 * (`n` 1, one loop) and loaded (`n`, `SLOTS` loops): the same ratio as Borg's, for comparison.
 */
async function rawMakespan(rig: PipelineRig, n: number, workers: number): Promise<number> {
  let next = 0;
  const host = hardenedHostConfig(DEFAULT_HARDENING);
  const one = () => rawRun(rig.docker.docker, `${rig.prefix}-raw-${rawSeq++}`, host);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
  const ms = msSince(t0);
  await rig.removeContainers();
  return ms;
}
/**
 * One agent run through plain dockerode, no Borg: create (Borg's hardening, the demo image),
 * attach, start, send the input, wait for the exit. The floor P3 and P11 compare Borg against.
 * `docker` is the daemon to run on; `name` must be free there.
 */
export async function rawRun(docker: Dockerode, name: string, host: Record<string, unknown>): Promise<void> {
  const c = await docker.createContainer({
    name,
    Image: DEMO_IMAGE,
    Labels: { 'borg.bench': 'raw' },
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: { AutoRemove: false, ...host },
  });
  const stream = (await c.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream;
  stream.on('data', () => undefined); // read the output, as an agent's follower does
  await c.start();
  stream.end(`${JSON.stringify({ ...INPUT, persona: 'worker' })}\n`);
  await c.wait();
}

let rawSeq = 0;

/** Adds `count` tasks at once and waits until all are done: ms from the first add. */
async function tasksThrough(rig: PipelineRig, s: ReturnType<PipelineRig['scheduler']>, count: number): Promise<number> {
  const t0 = performance.now();
  const added = await Promise.all(Array.from({ length: count }, (_, i) => s.scheduler.add({ title: `bench task ${i}`, description: 'P3', repo: s.repo })));
  const ids = added.map((t) => t.id);
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      const states = ids.map((id) => s.tasks.get(id)!.status);
      const bad = states.find((st) => st === 'failed' || st === 'blocked' || st === 'cancelled');
      if (bad) {
        sub.dispose();
        reject(new Error(`a P3 task ended ${bad}: ${ids.map((id) => s.tasks.get(id)!.lastError).find(Boolean) ?? ''}`));
      } else if (states.every((st) => st === 'done') && ids.every((id) => !s.scheduler.activeIds.includes(id))) {
        sub.dispose();
        resolve();
      }
    };
    const sub = s.scheduler.onDidChange(() => setImmediate(check));
    check();
  });
  const ms = msSince(t0);
  await rig.pipeline.joinAgents();
  await rig.removeContainers();
  return ms;
}

function phaseTable(label: string, samples: PhaseSample[]): string[] {
  if (samples.length === 0) return [`${label}: no complete timelines`];
  return PHASES.map(([k, what]) => `${label} ${what}: ${spreadText(spreadOf(samples.map((s) => s[k])))} ms`);
}

export const makespanBenchmark: Benchmark = {
  id: 'P3',
  what: '100 launches of a 1 s agent with 4 slots: makespan; 30 tasks through spec → qa → impl',
  baseline: 'ideal = ceil(N/4) × one agent’s (one task’s) wall time measured alone',
  target: '≤ 1.05×',
  needs: 'docker',
  async run(opts) {
    const n = opts.quick ? 8 : 100;
    const taskCount = opts.quick ? 3 : 30;
    const rounds = opts.runs ?? (opts.quick ? 1 : 3);
    const aloneRuns = opts.quick ? 2 : 5;
    const rig = await pipelineRig(opts.scratch, 'bp3', { maxParallelAgents: SLOTS });
    const figures: Figure[] = [];
    const verdicts: Verdict[] = [];
    const notes: string[] = [];
    try {
      // Launches.
      const aloneMs: number[] = [];
      const idealMs: number[] = [];
      const loadedMs: number[] = [];
      const alonePhases: PhaseSample[] = [];
      const loadedPhases: PhaseSample[] = [];
      const toCreate: number[] = [];
      const toStart: number[] = [];
      let maxRunning = 0;
      let calls = new Map<string, number>();
      if (!opts.quick) await alone(rig); // warm-up (image cache, first connection), not counted
      for (let r = 0; r < rounds; r++) {
        const round: number[] = [];
        for (let k = 0; k < aloneRuns; k++) {
          const a = await alone(rig);
          round.push(a.ms);
          if (a.phases) alonePhases.push(a.phases);
        }
        aloneMs.push(...round);
        idealMs.push(Math.ceil(n / SLOTS) * median(round));
        const l = await loaded(rig, n);
        loadedMs.push(l.ms);
        loadedPhases.push(...l.phases);
        toCreate.push(...l.toCreate);
        toStart.push(...l.toStart);
        maxRunning = Math.max(maxRunning, l.maxRunning);
        calls = l.calls;
        opts.log(`launches round ${r + 1}/${rounds}: alone ${median(round).toFixed(0)} ms, ${n} launches ${l.ms.toFixed(0)} ms (ideal ${idealMs[r].toFixed(0)} ms)`);
      }
      // The same with dockerode alone (no Borg): what this dockerd allows on this machine.
      const rawAlone: number[] = [];
      const rawIdeal: number[] = [];
      const rawLoaded: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const round: number[] = [];
        for (let k = 0; k < aloneRuns; k++) round.push(await rawMakespan(rig, 1, 1));
        rawAlone.push(...round);
        rawIdeal.push(Math.ceil(n / SLOTS) * median(round));
        rawLoaded.push(await rawMakespan(rig, n, SLOTS));
        opts.log(`dockerode alone, round ${r + 1}/${rounds}: one container ${median(round).toFixed(0)} ms, ${n} on ${SLOTS} loops ${rawLoaded[r].toFixed(0)} ms (ideal ${rawIdeal[r].toFixed(0)} ms)`);
      }
      const launchRatios = pairRatios(loadedMs, idealMs);
      figures.push(
        { label: 'one 1 s agent alone: launch → joined', unit: 'ms', spread: spreadOf(aloneMs) },
        { label: `${n} launches, ${SLOTS} slots: makespan`, unit: 'ms', spread: spreadOf(loadedMs) },
        { label: `ideal: ceil(${n}/${SLOTS}) × alone (per round)`, unit: 'ms', spread: spreadOf(idealMs) },
      );
      figures.push(
        { label: `dockerode alone (no Borg), one container: create → exit`, unit: 'ms', spread: spreadOf(rawAlone) },
        { label: `dockerode alone, ${n} containers on ${SLOTS} loops: makespan`, unit: 'ms', spread: spreadOf(rawLoaded) },
        { label: `dockerode alone: makespan / its ideal (the floor this dockerd sets)`, unit: '×', spread: spreadOf(pairRatios(rawLoaded, rawIdeal)) },
        { label: `Borg's makespan / dockerode's makespan`, unit: '×', spread: spreadOf(pairRatios(loadedMs, rawLoaded)) },
      );
      verdicts.push(verdict(`${n} launches: makespan / ideal`, '×', median(loadedMs) / median(idealMs), 1.05, opts.quick, spreadOf(launchRatios)));
      notes.push(...phaseTable('alone:', alonePhases), ...phaseTable(`${SLOTS}-slot load:`, loadedPhases));
      if (toCreate.length) {
        notes.push(`slot idle, an agent exited → the next create called (negative: created ahead): ${spreadText(spreadOf(toCreate))} ms`);
        notes.push(`slot idle, an agent exited → the next started: ${spreadText(spreadOf(toStart))} ms`);
      }
      notes.push(`Engine calls of one loaded run of ${n} launches: ${[...calls].map(([m, c]) => `${m} ${c}`).join(', ')}`);
      notes.push(`most agents holding a slot at once: ${maxRunning} (limit ${SLOTS})`);

      // Tasks through spec → qa → impl.
      const s = rig.scheduler();
      const taskAlone: number[] = [];
      const taskIdeal: number[] = [];
      const taskLoaded: number[] = [];
      if (!opts.quick) await tasksThrough(rig, s, 1); // warm-up
      for (let r = 0; r < rounds; r++) {
        const round: number[] = [];
        for (let k = 0; k < (opts.quick ? 1 : 3); k++) round.push(await tasksThrough(rig, s, 1));
        taskAlone.push(...round);
        taskIdeal.push(Math.ceil(taskCount / SLOTS) * median(round));
        taskLoaded.push(await tasksThrough(rig, s, taskCount));
        opts.log(`tasks round ${r + 1}/${rounds}: one task alone ${median(round).toFixed(0)} ms, ${taskCount} tasks ${taskLoaded[r].toFixed(0)} ms (ideal ${taskIdeal[r].toFixed(0)} ms)`);
      }
      figures.push(
        { label: 'one task alone: add → done (3 phases)', unit: 'ms', spread: spreadOf(taskAlone) },
        { label: `${taskCount} tasks, ${SLOTS} slots: makespan`, unit: 'ms', spread: spreadOf(taskLoaded) },
      );
      verdicts.push(verdict(`${taskCount} tasks: makespan / ideal`, '×', median(taskLoaded) / median(taskIdeal), 1.05, opts.quick, spreadOf(pairRatios(taskLoaded, taskIdeal))));
      notes.push(
        `task ideal = ceil(${taskCount}/${SLOTS}) × one whole task alone (three phases with their commits and dispatches); ${taskCount * 3} phases on ${SLOTS} slots need at least ceil(${taskCount * 3}/${SLOTS}) = ${Math.ceil((taskCount * 3) / SLOTS)} phase rounds, the ideal counts ${Math.ceil(taskCount / SLOTS) * 3}`,
      );
      return { figures, verdicts, notes };
    } finally {
      await rig.dispose();
    }
  },
};
