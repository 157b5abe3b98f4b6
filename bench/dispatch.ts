/**
 * P4: dispatch latency, absolute (≤ 50 ms median), on the real dockerd with the demo image.
 * (a) `Scheduler.add()` called (what Add Task and `borg tasks add` → `borg run` call) → the task's
 *     first `createContainer` called (add() makes the worktree before it resolves: the figure
 *     from add() resolving is reported too);
 * (b) an agent's exit (its `wait()` resolving: Docker reported it) → the next phase's
 *     `createContainer` called (spec → qa, qa → impl).
 * Both read `performance.now()` through the timing wrapper around the Engine (timedEngine.ts).
 * Tasks run one at a time (the latency, not a queue), through spec → qa → impl with a 1 s agent.
 */
import type { Benchmark } from './benchmark';
import { verdict } from './benchmark';
import { LABEL_PHASE, LABEL_TASK } from '../src/core/labels';
import { pipelineRig } from './pipelineRig';
import { spreadOf, spreadText } from './stats';

const NEXT: Record<string, string> = { spec: 'qa', qa: 'impl' };

export const dispatchBenchmark: Benchmark = {
  id: 'P4',
  what: 'task added → createContainer; agent exit → next phase’s createContainer',
  baseline: '— (absolute)',
  target: '≤ 50 ms median',
  needs: 'docker',
  async run(opts) {
    const count = opts.runs ?? (opts.quick ? 3 : 20);
    const rig = await pipelineRig(opts.scratch, 'bp4');
    try {
      const s = rig.scheduler();
      const addToCreate: number[] = [];
      const addedToCreate: number[] = [];
      const exitToCreate: number[] = [];
      const oneTask = async (i: number) => {
        rig.timed.reset();
        const t0 = performance.now();
        const task = await s.scheduler.add({ title: `P4 task ${i}`, description: 'dispatch latency', repo: s.repo });
        const addedAt = performance.now();
        await new Promise<void>((resolve, reject) => {
          const check = () => {
            const t = s.tasks.get(task.id)!;
            if (t.status === 'done' && !s.scheduler.activeIds.includes(t.id)) {
              sub.dispose();
              resolve();
            } else if (['failed', 'blocked', 'cancelled'].includes(t.status)) {
              sub.dispose();
              reject(new Error(`P4 task ${t.id} ended ${t.status}: ${t.lastError ?? ''}`));
            }
          };
          const sub = s.scheduler.onDidChange(() => setImmediate(check));
          check();
        });
        const mine = rig.timed.timelines().filter((tl) => tl.labels[LABEL_TASK] === String(task.id));
        const byPhase = new Map(mine.map((tl) => [tl.labels[LABEL_PHASE], tl]));
        return {
          add: (mine[0]?.createCalled ?? NaN) - t0,
          added: (mine[0]?.createCalled ?? NaN) - addedAt,
          exits: Object.entries(NEXT).map(([from, to]) => (byPhase.get(to)?.createCalled ?? NaN) - (byPhase.get(from)?.exited ?? NaN)),
        };
      };
      await oneTask(-1); // warm-up: first git and Docker calls, not counted
      await rig.removeContainers();
      for (let i = 0; i < count; i++) {
        const r = await oneTask(i);
        if (!Number.isFinite(r.add) || r.exits.some((x) => !Number.isFinite(x))) throw new Error(`P4: task ${i} has an incomplete timeline`);
        addToCreate.push(r.add);
        addedToCreate.push(r.added);
        exitToCreate.push(...r.exits);
        await rig.removeContainers();
      }
      const a = spreadOf(addToCreate);
      const b = spreadOf(exitToCreate);
      opts.log(`task added → create: ${spreadText(a)} ms; exit → next create: ${spreadText(b)} ms`);
      return {
        figures: [
          { label: '(a) Scheduler.add() → first createContainer', unit: 'ms', spread: a },
          { label: '(a′) add() resolved (the worktree made) → first createContainer', unit: 'ms', spread: spreadOf(addedToCreate) },
          { label: '(b) agent exit (wait resolved) → next phase’s createContainer', unit: 'ms', spread: b },
        ],
        verdicts: [verdict('(a) task added → create, median', 'ms', a.median, 50, opts.quick), verdict('(b) exit → next phase’s create, median', 'ms', b.median, 50, opts.quick)],
        notes: [`${count} tasks one at a time through spec → qa → impl (test phase skipped); (b) has two samples per task`],
      };
    } finally {
      await rig.dispose();
    }
  },
};
