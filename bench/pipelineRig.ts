/**
 * A Pipeline (and, on demand, a Scheduler over a fresh git repository) on the real dockerd for
 * the P3 and P4 benchmarks, with the Engine wrapped by {@link timedEngine}. Containers get a
 * unique name prefix (with process.pid); {@link PipelineRig.dispose} shuts everything down and
 * force-removes every container of that prefix, also after a failure.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildDemoImage, DEMO_IMAGE } from '../src/core/demoImage';
import { DockerEngine } from '../src/core/engine';
import { Git } from '../src/core/git';
import { DEFAULT_SETTINGS, Pipeline, PipelineSettings } from '../src/core/pipeline';
import { Prompts } from '../src/core/prompts';
import { DEFAULT_TASK_SETTINGS, Scheduler } from '../src/core/scheduler';
import { StateDirs } from '../src/core/stateDirs';
import { Store } from '../src/core/store';
import { TaskStore } from '../src/core/taskStore';
import { timedEngine, TimedEngine } from './timedEngine';

const PROMPTS = path.join(__dirname, '..', '..', 'media', 'prompts');

export interface PipelineRig {
  docker: DockerEngine;
  timed: TimedEngine;
  pipeline: Pipeline;
  store: Store;
  prefix: string;
  /** Force-removes this rig's containers (any state): untimed clean-up between runs. */
  removeContainers(): Promise<void>;
  /** A Scheduler over a new git repository (one commit on main, no test command: the test phase is skipped). */
  scheduler(): { scheduler: Scheduler; tasks: TaskStore; repo: string };
  dispose(): Promise<void>;
}

let rigs = 0;

/** A rig in `scratch` with `maxParallelAgents` slots. */
export async function pipelineRig(scratch: string, tag: string, settings: Partial<PipelineSettings> = {}): Promise<PipelineRig> {
  const docker = new DockerEngine();
  await docker.ping();
  await buildDemoImage(docker);
  const n = ++rigs;
  const dir = path.join(scratch, `rig-${n}`);
  fs.mkdirSync(dir, { recursive: true });
  const prefix = `${tag}${process.pid}x${n}`;
  const timed = timedEngine(docker);
  const store = await Store.open(path.join(dir, 'borg.sqlite'));
  const stateDirs = new StateDirs(path.join(dir, 'agents'));
  const all: PipelineSettings = { ...DEFAULT_SETTINGS, prefix, image: DEMO_IMAGE, agentTimeoutSeconds: 120, stopGraceSeconds: 1, ...settings };
  const pipeline = new Pipeline({ engine: timed.engine, store, stateDirs, workspaceId: `ws-${prefix}`, settings: () => all });
  const schedulers: Scheduler[] = [];
  const removeContainers = async () => {
    const rows = await docker.docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
    await Promise.all(
      rows.map((r) =>
        docker.docker
          .getContainer(r.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  };
  return {
    docker,
    timed,
    pipeline,
    store,
    prefix,
    removeContainers,
    scheduler() {
      const repo = makeRepo(path.join(dir, `repo-${schedulers.length}`));
      const tasks = new TaskStore(store);
      const scheduler = new Scheduler({
        pipeline,
        tasks,
        git: new Git(),
        prompts: new Prompts(PROMPTS),
        worktreeRoot: path.join(dir, `worktrees-${schedulers.length}`),
        settings: () => ({ ...DEFAULT_TASK_SETTINGS, testCommand: '' }),
      });
      schedulers.push(scheduler);
      scheduler.start();
      return { scheduler, tasks, repo };
    },
    async dispose() {
      for (const s of schedulers) s.stop();
      await pipeline.shutdown('stop');
      for (const s of schedulers) {
        await s.join();
        s.dispose();
      }
      pipeline.dispose();
      await removeContainers();
      await store.close().catch(() => undefined);
    },
  };
}

/** A git repository in `dir` with one commit on `main`. */
function makeRepo(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'README.md'), '# bench repo\n');
  git('add', '-A');
  git('-c', 'user.name=Bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '-m', 'initial');
  return dir;
}
