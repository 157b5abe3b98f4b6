/**
 * P5: the cost of shutting down. Two parts, each against a baseline measured in the same run:
 *
 * (a) **DB flush** (`Store.flush()`: sql.js `export()` of the whole database, then the atomic
 *     write: temp file, fsync, rename over the old file, fsync of the folder) of a big database:
 *     10k tasks (titles of ~150 bytes, descriptions of ~400, a last error of ~200 on every third)
 *     and 100k events: 60k container events (`events`, JSON details of ~150 bytes), 20k task runs
 *     (outputs of ~300 bytes, errors of ~120 on every fourth) and 20k model-usage rows (a refusal
 *     message on every 50th): ~36 MB. Filled with one bulk SQL statement per table through the store's
 *     own `execute` (each one transaction). Baseline: the flush of an empty database (schema
 *     only) in the same folder, in alternation (empty, big, empty, big …); before each flush one
 *     event is added, so every flush writes a changed database as shutdown does. Verdicts: the
 *     big flush's median ms (absolute target ≤ 150 ms); the ratio to the empty flush is a figure.
 *     The file size of the big database is a figure (bytes).
 * (b) **`Pipeline.shutdown(mode)`** (what `deactivate()` and the CLI's signals end in) with 4
 *     running demo agents, modes `detach` and `stop`, against the same shutdown with no agents; the
 *     store holds the same filled database in both, so the time includes the final flush.
 *     Verdicts: each mode's median ms with agents (absolute target ≤ 2000 ms: VS Code ends the
 *     extension host ~5 s after `deactivate()`). In full mode one more case stops 4 agents that
 *     ignore SIGTERM with `borg.stopGraceSeconds` 10: shutdown caps the grace at
 *     SHUTDOWN_GRACE_SECONDS, so it still fits (a figure and a note, no verdict).
 *
 * Quick mode: 1k tasks / 10k events (6k + 2k runs + 2k usage rows), 3 flush pairs, 1 shutdown each.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildDemoImage } from '../src/core/demoImage';
import { DockerEngine } from '../src/core/engine';
import { DEFAULT_SETTINGS, Pipeline, SHUTDOWN_GRACE_SECONDS, type ShutdownMode } from '../src/core/pipeline';
import { StateDirs } from '../src/core/stateDirs';
import { Store } from '../src/core/store';
import type { Benchmark, BenchOptions, BenchResult, Figure, Verdict } from './benchmark';
import { verdict } from './benchmark';
import { median, msSince, pairRatios, spreadOf } from './stats';

const FLUSH_LIMIT_MS = 150;
const SHUTDOWN_LIMIT_MS = 2000;
const AGENTS = 4;

/** How big a database {@link fill} makes. */
export interface DbSize {
  tasks: number;
  events: number;
  runs: number;
  usage: number;
}

/** The 10k tasks and 100k events: the events are the rows of the three event-like tables (container events, task runs, model requests). */
export const BIG_DB: DbSize = { tasks: 10_000, events: 60_000, runs: 20_000, usage: 20_000 };
export const SMALL_DB: DbSize = { tasks: 1_000, events: 6_000, runs: 2_000, usage: 2_000 };

/** Prose of a model's or a user's (a few hundred bytes are cut from it at varying offsets). */
const PROSE =
  'Implement the retry of a failed phase: the scheduler picks a task in retry before the others, its agent resumes the session of the last run. ' +
  'Keep the worktree; "attempt" counts the runs of the phase, naïve retries spend the budget. See src/core/scheduler.ts and the tests in test/unit. ' +
  'Error: the agent exited with code 1 after 312 s: npm test failed (3 of 214 tests), see the stream file for the output of the last command. ';

/**
 * Fills `store` with `size` rows through its own `execute`: one `INSERT … SELECT` over a
 * recursive counter per table (each statement one transaction). Rows carry realistic text:
 * titles ~150 bytes, descriptions ~400, last errors ~200 (every third task), event details ~150
 * (JSON), run outputs ~300, usage messages on refusals only.
 */
export function fill(store: Store, size: DbSize): void {
  const text = (len: number, col = 'i') => `printf('%d ', ${col}) || substr(${sqlString(PROSE.repeat(3))}, 1 + (${col} * 37) % ${PROSE.length}, ${len})`;
  const counter = (n: number) => `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${n})`;
  const t0 = Date.now() - 86_400_000;
  store.execute(
    `${counter(size.tasks)}
     INSERT INTO tasks (title, description, repo, base_branch, branch, worktree, status, phase, attempt, max_attempts, last_error, created_at, updated_at, dispatched_at)
     SELECT ${text(150)}, ${text(400)}, '/home/dev/src/project-' || (i % 7), 'main', 'borg/task-' || i, '/home/dev/.borg/worktrees/task-' || i,
            CASE i % 5 WHEN 0 THEN 'done' WHEN 1 THEN 'failed' WHEN 2 THEN 'backlog' WHEN 3 THEN 'merged' ELSE 'retry' END,
            'impl', i % 5, 5, CASE WHEN i % 3 = 0 THEN ${text(200)} END, ${t0} + i * 1000, ${t0} + i * 1000 + 500, ${t0} + i * 1000 + 100
     FROM n`,
    [],
  );
  store.execute(
    `${counter(size.events)}
     INSERT INTO events (at, container, kind, detail)
     SELECT ${t0} + i * 100, 'borg-worker-' || (i % 4000), CASE i % 4 WHEN 0 THEN 'launched' WHEN 1 THEN 'exited' WHEN 2 THEN 'adopted' ELSE 'task-phase' END,
            json_object('taskId', 1 + i % ${size.tasks}, 'exitCode', i % 3, 'image', 'borg-agent-demo:latest', 'note', ${text(60)})
     FROM n`,
    [],
  );
  store.execute(
    `${counter(size.runs)}
     INSERT INTO task_runs (task_id, phase, attempt, agent, outcome, exit_code, duration_ms, session_id, cost_usd, input_tokens, output_tokens, output, stream_file, error, commit_sha, started_at, finished_at)
     SELECT 1 + i % ${size.tasks}, CASE i % 3 WHEN 0 THEN 'spec' WHEN 1 THEN 'qa' ELSE 'impl' END, i % 5, 'borg-worker-' || i,
            CASE WHEN i % 4 = 0 THEN 'failed' ELSE 'ok' END, i % 2, 30000 + i, lower(hex(randomblob(16))), 0.01 * (i % 90), 20000 + i, 3000 + i,
            ${text(300)}, '/home/dev/.borg/agents/borg-worker-' || i || '/stream.jsonl', CASE WHEN i % 4 = 0 THEN ${text(120)} END,
            lower(hex(randomblob(20))), ${t0} + i * 500, ${t0} + i * 500 + 30000
     FROM n`,
    [],
  );
  store.execute(
    `${counter(size.usage)}
     INSERT INTO model_usage (at, agent, run_started_at, task_id, phase, model, status, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, refusal, retry_at, message)
     SELECT ${t0} + i * 400, 'borg-worker-' || (i % 4000), ${t0} + (i % 4000) * 500, 1 + i % ${size.tasks}, 'impl', 'claude-sonnet-4-5-20250929',
            CASE WHEN i % 50 = 0 THEN 429 ELSE 200 END, 2500 + i % 1000, 800 + i % 3000, 0, 12000, 0.02, CASE WHEN i % 50 = 0 THEN 'quota' END,
            CASE WHEN i % 50 = 0 THEN ${t0} + i * 400 + 60000 END, CASE WHEN i % 50 = 0 THEN ${text(100)} END
     FROM n`,
    [],
  );
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A store at `file`, filled with `size` (or empty: schema only) and flushed once. */
async function openFilled(file: string, size: DbSize | undefined): Promise<Store> {
  const store = await Store.open(file);
  if (size) fill(store, size);
  await store.flush();
  return store;
}

/** ms of one flush of `store` after one change (so it writes a changed database, as shutdown does). */
async function timedFlush(store: Store): Promise<number> {
  store.addEvent('bench-flush', null, { at: Date.now() });
  const t = performance.now();
  await store.flush();
  return msSince(t);
}

async function flushPart(opts: BenchOptions, size: DbSize): Promise<Pick<BenchResult, 'figures' | 'verdicts' | 'notes'>> {
  const pairs = opts.runs ?? (opts.quick ? 3 : 15);
  const dir = path.join(opts.scratch, 'flush');
  const fillStart = performance.now();
  const big = await openFilled(path.join(dir, 'big.sqlite'), size);
  const fillMs = msSince(fillStart);
  const empty = await openFilled(path.join(dir, 'empty.sqlite'), undefined);
  try {
    await timedFlush(empty); // warm both paths (wasm, file handles) before measuring
    await timedFlush(big);
    const emptyMs: number[] = [];
    const bigMs: number[] = [];
    for (let i = 0; i < pairs; i++) {
      emptyMs.push(await timedFlush(empty));
      bigMs.push(await timedFlush(big));
    }
    const bytes = fs.statSync(big.file).size;
    const emptyBytes = fs.statSync(empty.file).size;
    const ratios = pairRatios(bigMs, emptyMs);
    const rows = `${size.tasks} tasks, ${size.events} events, ${size.runs} task runs, ${size.usage} model-usage rows`;
    opts.log(`flush: ${rows}, ${(bytes / 1e6).toFixed(1)} MB: median ${median(bigMs).toFixed(1)} ms, empty ${median(emptyMs).toFixed(1)} ms (${pairs} pairs)`);
    return {
      figures: [
        { label: `flush, ${rows}`, unit: 'ms', spread: spreadOf(bigMs) },
        { label: 'flush, empty database (baseline)', unit: 'ms', spread: spreadOf(emptyMs) },
        { label: 'flush big / empty (per pair)', unit: '×', spread: spreadOf(ratios) },
        { label: 'big database file', unit: 'bytes', spread: spreadOf([bytes]) },
      ],
      verdicts: [verdict('flush with the big database (absolute)', 'ms', median(bigMs), FLUSH_LIMIT_MS, opts.quick, spreadOf(bigMs))],
      notes: [
        `flush big / empty: ${(median(bigMs) / median(emptyMs)).toFixed(1)}× (ratio of medians; the target is the absolute ${FLUSH_LIMIT_MS} ms); empty file ${emptyBytes} bytes`,
        `filling the big database (one INSERT … SELECT per table): ${fillMs.toFixed(0)} ms`,
      ],
    };
  } finally {
    await big.close();
    await empty.close();
  }
}

/** ms of one `Pipeline.shutdown(mode)` + close of a fresh pipeline holding `agents` running demo agents and a copy of the database `template`. */
async function timedShutdown(engine: DockerEngine, opts: BenchOptions, c: { mode: ShutdownMode; agents: number; template: string; run: number; input?: Record<string, unknown> }): Promise<number> {
  const dir = fs.mkdtempSync(path.join(opts.scratch, 'shutdown-'));
  const prefix = `benchp5${process.pid}r${c.run}${c.mode[0]}${c.agents}${c.input ? 'i' : ''}`;
  fs.copyFileSync(c.template, path.join(dir, 'borg.sqlite'));
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const p = new Pipeline({
    engine,
    store,
    stateDirs: new StateDirs(path.join(dir, 'agents')),
    workspaceId: `bench-${prefix}`,
    settings: () => ({ ...DEFAULT_SETTINGS, prefix, stopGraceSeconds: 10 }),
  });
  try {
    await Promise.all(Array.from({ length: c.agents }, () => p.launch('worker', { input: c.input ?? { sleepSeconds: 120 } })));
    if (c.agents > 0) await new Promise((res) => setTimeout(res, 1500)); // the agents are past reading stdin and printing
    store.addEvent('bench-shutdown', null, { agents: c.agents }); // a change to write, with agents or without
    const t = performance.now();
    await p.shutdown(c.mode);
    await store.close();
    return msSince(t);
  } finally {
    p.dispose();
    await store.close();
    for (const row of await engine.list({ namePrefix: `${prefix}-` })) await engine.remove(row.id, { force: true }).catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function shutdownPart(opts: BenchOptions, size: DbSize): Promise<Pick<BenchResult, 'figures' | 'verdicts' | 'notes'>> {
  const runs = opts.runs ?? (opts.quick ? 1 : 5);
  const engine = new DockerEngine();
  await engine.ping();
  await buildDemoImage(engine);
  const template = path.join(opts.scratch, 'template.sqlite');
  await (await openFilled(template, size)).close();
  const figures: Figure[] = [];
  const verdicts: Verdict[] = [];
  const notes: string[] = [];
  for (const mode of ['detach', 'stop'] as ShutdownMode[]) {
    const base: number[] = [];
    const loaded: number[] = [];
    for (let r = 0; r < runs; r++) {
      base.push(await timedShutdown(engine, opts, { mode, agents: 0, template, run: r }));
      loaded.push(await timedShutdown(engine, opts, { mode, agents: AGENTS, template, run: r }));
    }
    opts.log(`shutdown('${mode}'): ${AGENTS} agents ${median(loaded).toFixed(0)} ms, none ${median(base).toFixed(0)} ms`);
    figures.push(
      { label: `shutdown('${mode}'), ${AGENTS} running agents`, unit: 'ms', spread: spreadOf(loaded) },
      { label: `shutdown('${mode}'), no agents (baseline)`, unit: 'ms', spread: spreadOf(base) },
    );
    verdicts.push(verdict(`shutdown('${mode}') with ${AGENTS} agents (absolute)`, 'ms', median(loaded), SHUTDOWN_LIMIT_MS, opts.quick, spreadOf(loaded)));
    notes.push(`shutdown('${mode}'): ${(median(loaded) / median(base)).toFixed(1)}× the same shutdown with no agents (${median(base).toFixed(0)} ms, the flush included)`);
  }
  if (!opts.quick) {
    const stubborn: number[] = [];
    for (let r = 0; r < Math.min(runs, 3); r++) {
      stubborn.push(await timedShutdown(engine, opts, { mode: 'stop', agents: AGENTS, template, run: r, input: { mode: 'ignore-term', sleepSeconds: 120 } }));
    }
    figures.push({ label: `shutdown('stop'), ${AGENTS} agents ignoring SIGTERM, stopGraceSeconds 10`, unit: 'ms', spread: spreadOf(stubborn) });
    notes.push(`agents ignoring SIGTERM: shutdown('stop') ${median(stubborn).toFixed(0)} ms (grace capped at ${SHUTDOWN_GRACE_SECONDS} s; VS Code allows ~5000 ms)`);
  }
  return { figures, verdicts, notes };
}

export const shutdownBenchmark: Benchmark = {
  id: 'P5',
  what: 'DB flush with 10k tasks and 100k events; deactivate (Pipeline.shutdown) with 4 running agents, both shutdown modes',
  baseline: 'flush of an empty DB; the same shutdown with no agents',
  target: 'flush ≤ 150 ms; deactivate ≤ 2 s',
  needs: 'docker',
  async run(opts) {
    const flush = await flushPart(opts, opts.quick ? SMALL_DB : BIG_DB);
    const shutdown = await shutdownPart(opts, opts.quick ? SMALL_DB : BIG_DB);
    return {
      figures: [...flush.figures, ...shutdown.figures],
      verdicts: [...flush.verdicts, ...shutdown.verdicts],
      notes: [...flush.notes, ...shutdown.notes],
    };
  },
};
