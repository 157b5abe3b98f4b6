/**
 * P1: `Pipeline.launch()` until the container is running — launch resolves once `start` has
 * returned (and the run is recorded) — against, in the same run and in rotating order, the raw
 * dockerode `createContainer` + `start` of the same image with the same spec (hardening.ts's
 * HostConfig, labels, env, user, the state dir bind, stdin open), and `docker run -d` through the
 * CLI with the same flags. All three end when Docker's start has returned. Targets: launch ≤ 1.10×
 * raw, and below the CLI (≤ 1.0×). Each Docker call of the timed launches is timed (notes), so
 * the part of launch that is Borg's own work (slot, claim, state dir, input.json, attach, stdin,
 * database rows) is visible. Quick: 2 runs each. Full: 15 runs each.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { DEMO_IMAGE, buildDemoImage } from '../src/core/demoImage';
import { DockerEngine, type Engine } from '../src/core/engine';
import { DEFAULT_HARDENING, describeLimits, hardenedHostConfig } from '../src/core/hardening';
import { agentLabels, LABEL_GATEWAY, LABEL_LIMITS, LABEL_TIMEOUT } from '../src/core/labels';
import { containerOwner, ownerSpec } from '../src/core/ownership';
import { DEFAULT_SETTINGS, Pipeline, type PipelineSettings } from '../src/core/pipeline';
import { STATE_MOUNT, StateDirs } from '../src/core/stateDirs';
import { Store } from '../src/core/store';
import type { Benchmark, BenchOptions } from './benchmark';
import { verdict } from './benchmark';
import { median, msSince, pairRatios, spreadOf } from './stats';

const run$ = promisify(execFile);
const WS = 'bench-p1';
const PERSONA = 'worker';

/** The Engine methods launch calls on its way to a running container, timed per call. */
const TIMED = ['image', 'inspect', 'create', 'attach', 'start'] as const;
type Timed = (typeof TIMED)[number];

/** Wraps `engine` so each call of a {@link TIMED} method adds its duration (ms) to `sink()`, while `sink()` is defined. */
function timingEngine(engine: DockerEngine, sink: () => Map<Timed, number> | undefined): Engine {
  return new Proxy(engine, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as (...a: unknown[]) => unknown;
      if (!(TIMED as readonly string[]).includes(String(prop))) return fn.bind(t);
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return await fn.apply(t, args);
        } finally {
          const m = sink();
          if (m) m.set(prop as Timed, (m.get(prop as Timed) ?? 0) + msSince(t0));
        }
      };
    },
  });
}

async function run(opts: BenchOptions) {
  const runs = opts.runs ?? (opts.quick ? 2 : 15);
  const engine = new DockerEngine();
  await engine.ping();
  await buildDemoImage(engine);
  const prefix = `bp1${process.pid}`;
  const img = await engine.image(DEMO_IMAGE);
  if (!img) throw new Error(`${DEMO_IMAGE} is missing`);
  const owner = containerOwner(img.user);
  const settings: PipelineSettings = { ...DEFAULT_SETTINGS, prefix, image: DEMO_IMAGE, stopGraceSeconds: 1, hardening: DEFAULT_HARDENING };
  const store = await Store.open(path.join(opts.scratch, 'borg.sqlite'));
  const stateDirs = new StateDirs(path.join(opts.scratch, 'agents'));
  let times: Map<Timed, number> | undefined;
  // No gateway (none in this process): the agent's network is `none` either way, as in the raw spec.
  const pipeline = new Pipeline({ engine: timingEngine(engine, () => times), store, stateDirs, workspaceId: WS, settings: () => settings });
  const timeout = settings.agentTimeoutSeconds;
  /** What launch creates, written out for dockerode and the CLI (see Pipeline.createContainer and DockerEngine.create). */
  const labels = agentLabels(PERSONA, WS, { [LABEL_LIMITS]: describeLimits(DEFAULT_HARDENING), [LABEL_TIMEOUT]: String(timeout), [LABEL_GATEWAY]: 'false' });
  const env = [`BORG_PERSONA=${PERSONA}`, `BORG_TIMEOUT_SECONDS=${timeout}`];
  const host = hardenedHostConfig(DEFAULT_HARDENING);
  let n = 0;
  const bind = () => {
    const name = `${prefix}-raw-${n++}`;
    return { name, bind: `${stateDirs.ensure(name, owner)}:${STATE_MOUNT}` };
  };

  const raw = async (): Promise<{ ms: number; id: string }> => {
    const { name, bind: b } = bind();
    const t0 = performance.now();
    const c = await engine.docker.createContainer({
      name,
      Image: DEMO_IMAGE,
      Labels: labels,
      Env: env,
      User: ownerSpec(owner),
      Tty: false,
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: { AutoRemove: false, Binds: [b], ...host },
    });
    await c.start();
    return { ms: msSince(t0), id: c.id };
  };
  const cli = async (): Promise<{ ms: number; id: string }> => {
    const { name, bind: b } = bind();
    const args = ['run', '-d', '-i', '--name', name, '--user', ownerSpec(owner), '-v', b];
    for (const [k, v] of Object.entries(labels)) args.push('--label', `${k}=${v}`);
    for (const e of env) args.push('-e', e);
    args.push('--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--pids-limit', String(host.PidsLimit), '--memory', `${host.Memory}b`, '--memory-swap', `${host.MemorySwap}b`);
    args.push('--cpus', String(DEFAULT_HARDENING.cpus), '--init', '--network', String(host.NetworkMode), DEMO_IMAGE);
    const t0 = performance.now();
    const { stdout } = await run$('docker', args);
    return { ms: msSince(t0), id: stdout.trim() };
  };
  const calls: Array<Map<Timed, number>> = [];
  const launch = async (record: boolean): Promise<{ ms: number; id: string; done: Promise<unknown> }> => {
    const t = new Map<Timed, number>();
    times = record ? t : undefined;
    const t0 = performance.now();
    const r = await pipeline.launch(PERSONA, { input: { sleepSeconds: 60 } });
    const ms = msSince(t0);
    times = undefined;
    if (record) calls.push(t);
    return { ms, id: r.id, done: r.agent.done };
  };

  const sides = { raw: [] as number[], launch: [] as number[], cli: [] as number[] };
  try {
    // Warm-up, untimed: the first connection, the CLI's own start, the image's first use.
    for (const f of [raw, cli, () => launch(false)]) {
      const r = await f();
      await engine.remove(r.id, { force: true });
    }
    await pipeline.joinAgents();
    const order = ['raw', 'launch', 'cli'] as const;
    for (let i = 0; i < runs; i++) {
      const line: string[] = [];
      for (let k = 0; k < order.length; k++) {
        const side = order[(i + k) % order.length]; // rotate, so no side always runs first
        const r = side === 'raw' ? await raw() : side === 'cli' ? await cli() : await launch(true);
        sides[side].push(r.ms);
        line.push(`${side} ${r.ms.toFixed(1)}`);
        await engine.remove(r.id, { force: true }); // untimed
        if ('done' in r) await r.done;
      }
      opts.log(`run ${i + 1}/${runs}: ${line.join(' · ')} ms`);
    }
    const vsRaw = pairRatios(sides.launch, sides.raw);
    const vsCli = pairRatios(sides.launch, sides.cli);
    const per = (k: Timed) => median(calls.map((m) => m.get(k) ?? 0));
    const rest = median(calls.map((m, i) => sides.launch[i] - TIMED.reduce((s, k) => s + (m.get(k) ?? 0), 0)));
    const notes = [
      `launch's Docker calls (medians, ms): ${TIMED.map((k) => `${k} ${per(k).toFixed(1)}`).join(' · ')}; rest (slot, name check, state dir, input.json, stdin, database rows) ${rest.toFixed(1)}`,
      "on launch's path beyond raw create+start: an image inspect (USER, and the image-missing error), one inspect of the candidate name (claim.ts), the attach before start (so no output or stdin is missed), writing input.json and the stdin line, two in-memory database writes",
      'the CLI side pays the docker binary starting and its own API round trips (version, create, start) each run',
    ];
    return {
      figures: [
        { label: 'raw dockerode createContainer + start (baseline)', unit: 'ms', spread: spreadOf(sides.raw) },
        { label: 'Pipeline.launch() → running', unit: 'ms', spread: spreadOf(sides.launch) },
        { label: 'docker run -d (CLI, baseline)', unit: 'ms', spread: spreadOf(sides.cli) },
        { label: 'per-run ratio launch / raw', unit: '×', spread: spreadOf(vsRaw) },
        { label: 'per-run ratio launch / CLI', unit: '×', spread: spreadOf(vsCli) },
      ],
      verdicts: [
        verdict('launch / raw dockerode', '×', median(sides.launch) / median(sides.raw), 1.1, opts.quick, spreadOf(vsRaw)),
        verdict('launch / docker run -d', '×', median(sides.launch) / median(sides.cli), 1.0, opts.quick, spreadOf(vsCli)),
      ],
      notes,
    };
  } finally {
    times = undefined;
    await pipeline.shutdown('stop').catch(() => undefined);
    pipeline.dispose();
    const left = await engine.list({ namePrefix: `${prefix}-` }).catch(() => []);
    await Promise.all(left.map((c) => engine.remove(c.id, { force: true }).catch(() => undefined)));
    await store.close().catch(() => undefined);
    fs.rmSync(path.join(opts.scratch, 'agents'), { recursive: true, force: true });
  }
}

export const launchBenchmark: Benchmark = {
  id: 'P1',
  what: 'launch: Pipeline.launch() until the container is running',
  baseline: 'raw dockerode createContainer + start of the same image and spec; docker run -d through the CLI',
  target: '≤ 1.10× raw, below the CLI',
  needs: 'docker',
  run,
};
