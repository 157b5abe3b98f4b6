/**
 * Shared helpers for the Docker integration tests (real dockerd on the local socket, demo image
 * `borg-agent-demo:latest`). Every harness gets its own temp dir (database + state dirs), a
 * unique container prefix and a unique workspace id, so tests never see each other's
 * containers. {@link cleanupAll} (call it from `afterEach` and `after`) shuts every pipeline
 * down and force-removes every container whose name starts with a harness prefix, also when
 * the test failed.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { DEMO_IMAGE } from '../../src/core/demoImage';
import { DockerEngine } from '../../src/core/engine';
import { agentLabels } from '../../src/core/labels';
import { DEFAULT_SETTINGS, Pipeline, PipelineSettings } from '../../src/core/pipeline';
import { StateDirs } from '../../src/core/stateDirs';
import { Store } from '../../src/core/store';

/** A dockerode client on the real local daemon, independent of any engine under test. */
export const docker = new Docker();

export { DEMO_IMAGE };

let counter = 0;

export interface Harness {
  /** Temp dir holding `borg.sqlite` and `agents/`. */
  dir: string;
  dbFile: string;
  stateRoot: string;
  /** Unique container prefix (`bt<pid>x<n>`). */
  prefix: string;
  workspaceId: string;
  engine: DockerEngine;
  store: Store;
  stateDirs: StateDirs;
  /** Mutable: the pipeline reads it at every launch. */
  settings: PipelineSettings;
  pipeline: Pipeline;
  /**
   * Another Pipeline on the same store, state dirs, prefix and workspace (and engine, unless
   * given), with its own `containerSeq` from 0: a reloaded or second window. Cleaned up too.
   * `store` replaces the harness's store (e.g. one reopened from another file); `settings`
   * overrides the harness settings for this pipeline only (read live, overrides win).
   */
  newPipeline(opts?: { engine?: DockerEngine; store?: Store; settings?: Partial<PipelineSettings>; adoptBeforeLaunch?: boolean }): Pipeline;
  /**
   * Registers a cleanup step (kill a child process, close an extra store…). Steps run in
   * {@link cleanupAll}, newest first, after the pipelines are shut down and before the
   * containers are removed; a failing step is logged, never thrown.
   */
  defer(fn: () => unknown): void;
  /** `<prefix>-<persona>-<n>`. */
  nameOf(n: number, persona?: string): string;
}

interface Tracked {
  h: Harness;
  pipelines: Pipeline[];
  deferred: Array<() => unknown>;
}

const live: Tracked[] = [];

/**
 * Builds a harness. `settings` overrides the defaults (prefix is always the unique one unless
 * overridden); `engine` replaces the real-daemon engine (e.g. an unreachable one).
 */
export async function harness(opts: { settings?: Partial<PipelineSettings>; engine?: DockerEngine; workspaceId?: string } = {}): Promise<Harness> {
  swept ??= sweepStale();
  await swept;
  const n = ++counter;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-dt-'));
  const prefix = `bt${process.pid}x${n}`;
  const workspaceId = opts.workspaceId ?? `ws${process.pid}x${n}`;
  const dbFile = path.join(dir, 'borg.sqlite');
  const stateRoot = path.join(dir, 'agents');
  const engine = opts.engine ?? new DockerEngine();
  const settings: PipelineSettings = { ...DEFAULT_SETTINGS, prefix, image: DEMO_IMAGE, stopGraceSeconds: 1, ...opts.settings };
  const tracked: Tracked = { h: undefined as unknown as Harness, pipelines: [], deferred: [] };
  live.push(tracked);
  let store: Store;
  try {
    store = await Store.open(dbFile);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const stateDirs = new StateDirs(stateRoot);
  const make = (o: { engine?: DockerEngine; store?: Store; settings?: Partial<PipelineSettings>; adoptBeforeLaunch?: boolean } = {}) => {
    const overrides = o.settings;
    const p = new Pipeline({
      engine: o.engine ?? engine,
      store: o.store ?? store,
      stateDirs,
      workspaceId,
      settings: overrides ? () => ({ ...settings, ...overrides }) : () => settings,
      adoptBeforeLaunch: o.adoptBeforeLaunch,
    });
    tracked.pipelines.push(p);
    return p;
  };
  const h: Harness = {
    dir,
    dbFile,
    stateRoot,
    prefix,
    workspaceId,
    engine,
    store,
    stateDirs,
    settings,
    pipeline: make(),
    newPipeline: (o) => make(o),
    defer: (fn) => {
      tracked.deferred.push(fn);
    },
    nameOf: (i, persona = 'worker') => `${prefix}-${persona}-${i}`,
  };
  tracked.h = h;
  return h;
}

let swept: Promise<void> | undefined;

/**
 * Removes containers a crashed earlier run of these tests left behind: named `bt<pid>x<n>-...`,
 * whose process is gone, and older than 10 minutes (so a concurrent run in another PID namespace
 * is never touched). Never throws.
 */
async function sweepStale(): Promise<void> {
  try {
    const rows = await docker.listContainers({ all: true, filters: { name: ['^/bt[0-9]+x[0-9]+-'] } });
    const stale = rows.filter((r) => {
      const pid = Number(/^\/bt(\d+)x/.exec(r.Names[0] ?? '')?.[1]);
      if (!pid || pid === process.pid || Date.now() - r.Created * 1000 < 10 * 60_000) return false;
      try {
        process.kill(pid, 0);
        return false; // still running
      } catch (e) {
        return (e as NodeJS.ErrnoException).code === 'ESRCH';
      }
    });
    await Promise.all(
      stale.map((r) =>
        docker
          .getContainer(r.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  } catch (e) {
    console.error('[sweep]', e);
  }
}

/** Shuts down and disposes every pipeline, force-removes every container of every harness, deletes the temp dirs. Never throws. */
export async function cleanupAll(): Promise<void> {
  const all = live.splice(0);
  for (const t of all) {
    for (const p of t.pipelines) {
      try {
        await withTimeout(p.shutdown('detach'), 15_000, 'pipeline shutdown in cleanup');
      } catch (e) {
        console.error('[cleanup]', e);
      }
      try {
        p.dispose();
      } catch (e) {
        console.error('[cleanup]', e);
      }
    }
    for (const fn of t.deferred.splice(0).reverse()) {
      try {
        await withTimeout(Promise.resolve().then(fn), 15_000, 'deferred cleanup step');
      } catch (e) {
        console.error('[cleanup]', e);
      }
    }
    await removeContainersWithPrefix(t.h.prefix);
    try {
      await withTimeout(t.h.store.close(), 5_000, 'store close');
    } catch (e) {
      console.error('[cleanup]', e);
    }
    fs.rmSync(t.h.dir, { recursive: true, force: true });
  }
}

/** Force-removes every container (any state, any labels) whose name starts with `<prefix>-`. */
export async function removeContainersWithPrefix(prefix: string): Promise<void> {
  try {
    const rows = await docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
    await Promise.all(
      rows.map((r) =>
        docker
          .getContainer(r.Id)
          .remove({ force: true })
          .catch((e: { statusCode?: number }) => {
            if (e.statusCode !== 404 && e.statusCode !== 409) console.error('[cleanup] remove', r.Names, e);
          }),
      ),
    );
  } catch (e) {
    console.error('[cleanup] list', e);
  }
}

/** Names of the containers (any state) whose name starts with `<prefix>-`, sorted. */
export async function containerNames(prefix: string): Promise<string[]> {
  const rows = await docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
  return rows.map((r) => r.Names[0].replace(/^\//, '')).sort();
}

/** Docker's inspect, or undefined on 404. */
export async function inspectOrUndefined(nameOrId: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(nameOrId).inspect();
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw e;
  }
}

/**
 * Creates a container under `<prefix>-<persona>-<n>` directly through dockerode, as another
 * window, an earlier run or someone else would have. `labels`: 'ours' (this harness's
 * workspace), 'none' (foreign) or explicit labels. `script` runs under `/bin/sh -c`.
 * `state`: 'created' (never started), 'running' (started, not waited) or 'exited' (waited).
 */
export async function preexisting(
  h: Harness,
  opts: { n: number; persona?: string; labels?: 'ours' | 'none' | Record<string, string>; script: string; state: 'created' | 'running' | 'exited' },
): Promise<{ id: string; name: string }> {
  const persona = opts.persona ?? 'worker';
  const name = h.nameOf(opts.n, persona);
  const labels = opts.labels === 'none' ? {} : opts.labels === undefined || opts.labels === 'ours' ? agentLabels(persona, h.workspaceId) : opts.labels;
  const c = await docker.createContainer({
    name,
    Image: DEMO_IMAGE,
    Entrypoint: ['/bin/sh', '-c', opts.script],
    Labels: labels,
    HostConfig: { AutoRemove: false },
  });
  if (opts.state !== 'created') await c.start();
  if (opts.state === 'exited') await c.wait();
  return { id: c.id, name };
}

/** Rejects with a clear message when `p` does not settle within `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every 50 ms until it is true; rejects after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The lines of a file in a state dir (empty when the file is missing). */
export function fileLines(h: Harness, name: string, file: string): string[] {
  // Borg's own records (agent.log, input.json) live outside the state dir; anything else there was written by the agent.
  const own = ['agent.log', 'input.json'].includes(file);
  const text = own ? h.stateDirs.readFile(name, file) : readOrUndefined(path.join(h.stateDirs.dir(name), file));
  return text === undefined ? [] : text.split('\n').filter((l) => l.length > 0);
}

/** Event kinds of one container, oldest first. */
export function eventKinds(store: Store, name: string): string[] {
  return store.listEvents(name).map((e) => e.kind);
}

/** The parsed detail of the last event of `kind` for `name`. */
export function lastEventDetail(store: Store, name: string, kind: string): Record<string, unknown> | undefined {
  const ev = store
    .listEvents(name)
    .filter((e) => e.kind === kind)
    .pop();
  return ev?.detail ? (JSON.parse(ev.detail) as Record<string, unknown>) : undefined;
}

/**
 * Counts every HTTP request the engine's dockerode client sends to the daemon (wraps the
 * modem's `dial`, through which every dockerode call goes).
 */
export function countDockerCalls(engine: DockerEngine): { readonly count: number; paths: string[] } {
  const modem = engine.docker.modem as unknown as { dial: (opts: { path?: string }, cb: unknown) => unknown };
  const original = modem.dial.bind(modem);
  const calls = { count: 0, paths: [] as string[] };
  modem.dial = (o, cb) => {
    calls.count++;
    calls.paths.push(String(o?.path));
    return original(o, cb);
  };
  return calls;
}

const derived: string[] = [];

/**
 * An image derived from the demo image whose entrypoint runs `script` with busybox sh (a silent
 * agent, one that fails authentication, a slow one...). Tagged `borg-test-<name>:<pid>`; remove
 * them with {@link removeDerivedImages} in an `after` hook.
 */
export async function deriveImage(name: string, script: string): Promise<string> {
  const tag = `borg-test-${name}:${process.pid}`;
  const c = await docker.createContainer({ Image: DEMO_IMAGE, Entrypoint: ['/bin/sh', '-c', 'true'] });
  try {
    await c.commit({ repo: `borg-test-${name}`, tag: String(process.pid), changes: `ENTRYPOINT ${JSON.stringify(['/bin/sh', '-c', script])}` });
  } finally {
    await c.remove({ force: true });
  }
  derived.push(tag);
  return tag;
}

/** Removes the images {@link deriveImage} made in this process. */
export async function removeDerivedImages(): Promise<void> {
  for (const tag of derived.splice(0))
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => undefined);
}

function readOrUndefined(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A git repository in `dir` with one commit on `main` (README.md, run-tests.sh running tests/*.sh). */
export function makeRepo(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'run-tests.sh'), '#!/bin/sh\nfor f in tests/*.sh; do\n  [ -e "$f" ] || continue\n  sh "$f" || exit 1\ndone\necho "all tests passed"\n');
  fs.writeFileSync(path.join(dir, 'README.md'), '# test repo\n');
  git('add', '-A');
  git('-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'initial');
  return dir;
}
