/**
 * The host benchmarks' side inside a real VS Code extension host (the `extensionTestsPath` module
 * session.ts opens each workbench window with). It reads its window's {@link WindowPlan} from the
 * plan file named by `BORG_BENCH_PLAN`, measures, and writes a {@link WindowResult} JSON to the
 * plan's `out`. Progress lines start with `BORG-BENCH ` (the driver shows them).
 *
 * P6: `ext.activate()` of Borg and of the empty extension, neither active before (the driver
 * stages Borg with no `activationEvents`, so only this call activates it; its views are hidden).
 * P7: Borg's Docker calls, counted by wrapping every method of its engine, views hidden then visible.
 * P8: getChildren + getTreeItem over the Agents tree with few and many labelled containers.
 * P9: `docker rm -f` through the CLI → the Agents tree's change event after which the row is gone.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import * as vscode from 'vscode';
import { DEMO_IMAGE } from '../../src/core/demoImage';
import { LABEL_MANAGED, LABEL_PERSONA, LABEL_PHASE, LABEL_TASK, LABEL_WORKSPACE } from '../../src/core/labels';
import { borgHomeOf, workspaceHome, workspaceId, workspaceKeyOf } from '../../src/core/workspace';
import type { BorgApi } from '../../src/vscode/extension';
import type { AgentsView, ViewNode } from '../../src/vscode/agentsView';
import type { BorgContext } from '../../src/vscode/ctx';
import {
  BORG_ID,
  EMPTY_ID,
  PLAN_ENV,
  callsText,
  type ActivationSample,
  type AgentsTreeResult,
  type CallCounts,
  type Calls,
  type DockerCallsResult,
  type OutsideRemoveResult,
  type Plan,
  type WindowPlan,
  type WindowResult,
} from './protocol';

const run$ = promisify(execFile);
const docker = new Docker();

function log(line: string): void {
  console.log(`BORG-BENCH ${line}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` every 20 ms until it holds; throws after `ms`. */
async function until(what: string, fn: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** `p`, or an error naming `what` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Entry the extension host calls: measures what this window's plan says; rejects when it cannot. */
export async function run(): Promise<void> {
  const planFile = process.env[PLAN_ENV];
  if (!planFile) throw new Error(`${PLAN_ENV} is not set: run through bench/host/session.ts`);
  const plan = (JSON.parse(fs.readFileSync(planFile, 'utf8')) as Plan).windows;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const mine = folder ? plan[folder] : undefined;
  if (!mine) throw new Error(`no plan for the folder ${folder}`);
  const notes: string[] = [];
  await sleep(mine.quick ? 300 : 1_500); // let the workbench's own start-up activations finish first
  const activation = await activations(mine, notes);
  const result: WindowResult = { pid: process.pid, activation, notes };
  const ctx = await vscode.extensions.getExtension<BorgApi>(BORG_ID)!.exports.ready;
  if (mine.measure.length) {
    const counter = countCalls(ctx);
    try {
      if (mine.measure.includes('P7')) result.dockerCalls = await dockerCalls(ctx, counter, mine);
      if (mine.measure.includes('P8') || mine.measure.includes('P9')) {
        await vscode.commands.executeCommand('workbench.view.extension.borg');
        await until('the Agents view visible and the event stream open', () => ctx.agentsView.treeView.visible && ctx.live.watch.connected);
      }
      if (mine.measure.includes('P8')) result.agentsTree = await agentsTree(ctx, mine);
      if (mine.measure.includes('P9')) result.outsideRemove = await outsideRemove(ctx, counter, mine);
    } finally {
      counter.restore();
      await removeContainers(mine.prefix);
    }
  }
  fs.writeFileSync(mine.out, JSON.stringify(result, null, 2));
}

/** P6: activates both extensions (the plan says which first), each timed around `ext.activate()`. */
async function activations(plan: WindowPlan, notes: string[]): Promise<ActivationSample> {
  const ms: Record<string, number> = {};
  const cpuMs: Record<string, number> = {};
  let readyMs = 0;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.toString();
  const dbExisted = fs.existsSync(workspaceHome(borgHomeOf(), workspaceId(workspaceKeyOf(folder))).db);
  for (const id of plan.emptyFirst ? [EMPTY_ID, BORG_ID] : [BORG_ID, EMPTY_ID]) {
    const ext = vscode.extensions.getExtension(id);
    if (!ext) throw new Error(`extension ${id} is not in this host`);
    if (ext.isActive) throw new Error(`extension ${id} was already active: its activation cannot be timed here`);
    const profile = id === BORG_ID ? await startProfile() : undefined;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const exported = (await ext.activate()) as Partial<BorgApi> | undefined;
    ms[id] = performance.now() - t0;
    if (id === BORG_ID) {
      await exported?.ready; // the start activate() left under way: database open, views and commands registered
      readyMs = performance.now() - t0;
    }
    const cpu = process.cpuUsage(cpu0);
    cpuMs[id] = (cpu.user + cpu.system) / 1000;
    await profile?.();
  }
  log(
    `activation: Borg ${ms[BORG_ID].toFixed(1)} ms, started ${readyMs.toFixed(1)} ms (CPU ${cpuMs[BORG_ID].toFixed(0)} ms), empty ${ms[EMPTY_ID].toFixed(1)} ms (CPU ${cpuMs[EMPTY_ID].toFixed(0)} ms) (${plan.emptyFirst ? 'empty first' : 'Borg first'}; database ${dbExisted ? 'existed' : 'created now'})`,
  );
  if (notes.length) log(notes.join('; '));
  return { borgMs: ms[BORG_ID], borgReadyMs: readyMs, emptyMs: ms[EMPTY_ID], borgCpuMs: cpuMs[BORG_ID], emptyCpuMs: cpuMs[EMPTY_ID], emptyFirst: plan.emptyFirst, dbExisted };
}

/**
 * With `BORG_BENCH_PROFILE` set (a folder): a CPU profile (inspector) of Borg's activation, written
 * there as `activate-<pid>.cpuprofile` by the function returned; else undefined. Not used for timed runs.
 */
async function startProfile(): Promise<(() => Promise<void>) | undefined> {
  const dir = process.env.BORG_BENCH_PROFILE;
  if (!dir) return undefined;
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (e, r) => (e ? reject(e) : resolve(r))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 200 });
  await post('Profiler.start');
  return async () => {
    const { profile } = (await post('Profiler.stop')) as { profile: object };
    fs.writeFileSync(`${dir}/activate-${process.pid}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  };
}

/** Methods of the engine that are not Docker calls (`call` is the private wrapper of the others). */
const NOT_CALLS = new Set(['constructor', 'tryConnect', 'connect', 'demux', 'call']);

interface Counter {
  /** Takes the counts since the last take (or since counting began) and starts again from zero. */
  take(): Calls;
  restore(): void;
}

/** `GET /containers/json` from a request's method and path (ids and names replaced by `{id}`, no query). */
function requestName(o: { method?: string; path?: string }): string {
  const p = (o.path ?? '').split('?')[0].replace(/^\/v[\d.]+\//, '/');
  return `${o.method ?? 'GET'} ${p.replace(/^\/(containers|images|exec)\/(?!json$|create$)[^/]+/, '/$1/{id}')}`;
}

/**
 * Counts every Docker call Borg makes, two ways: each method of its engine's class (every Docker
 * call goes through the Engine, core/engine.ts) shadowed on the instance by a counting wrapper —
 * only outermost calls count, not one method calling another — and each HTTP request its
 * dockerode client's modem dials (what dockerd actually receives).
 */
function countCalls(ctx: BorgContext): Counter {
  const engine = ctx.engine as unknown as Record<string, (...a: unknown[]) => unknown> & { client: { modem: { dial: (o: object, cb: unknown) => unknown } } };
  const proto = Object.getPrototypeOf(engine) as object;
  const names = Object.getOwnPropertyNames(proto).filter((n) => !NOT_CALLS.has(n) && typeof Object.getOwnPropertyDescriptor(proto, n)?.value === 'function');
  let calls: Calls = { engine: {}, http: {} };
  let depth = 0; // synchronous nesting only: an async method's inner calls start before it returns its promise
  const add = (c: CallCounts, k: string) => (c[k] = (c[k] ?? 0) + 1);
  for (const n of names) {
    const original = engine[n];
    engine[n] = (...a: unknown[]) => {
      if (depth === 0) add(calls.engine, n);
      depth++;
      try {
        return original.apply(engine, a);
      } finally {
        depth--;
      }
    };
  }
  const modem = engine.client.modem;
  const dial = modem.dial;
  modem.dial = function (o: { method?: string; path?: string }, cb: unknown) {
    add(calls.http, requestName(o));
    return dial.call(this, o, cb);
  };
  return {
    take: () => {
      const c = calls;
      calls = { engine: {}, http: {} };
      return c;
    },
    restore: () => {
      names.forEach((n) => delete engine[n]);
      modem.dial = dial;
    },
  };
}

/** P7: views hidden (as at start-up), then visible: a settle period, then a counted period, each state. */
async function dockerCalls(ctx: BorgContext, counter: Counter, plan: WindowPlan): Promise<DockerCallsResult> {
  const state = async (name: string) => {
    let t0 = performance.now();
    await sleep(plan.settleMs);
    const settle = counter.take();
    const settleMs = performance.now() - t0;
    t0 = performance.now();
    await sleep(plan.countMs);
    const counted = counter.take();
    const countedMs = performance.now() - t0;
    log(`Docker calls, ${name}: settle ${(settleMs / 1000).toFixed(1)} s: ${callsText(settle)}; counted ${(countedMs / 1000).toFixed(1)} s: ${callsText(counted)}`);
    return { settle, settleMs, counted, countedMs };
  };
  await vscode.commands.executeCommand('workbench.action.closeSidebar');
  await until('no Borg view visible', () => !ctx.agentsView.treeView.visible && !ctx.tasksView.treeView.visible);
  const hidden = await state('views hidden');
  await vscode.commands.executeCommand('workbench.view.extension.borg');
  await until('the event stream open', () => ctx.agentsView.treeView.visible && ctx.live.watch.connected);
  const visible = await state('views visible');
  return { hidden, visible };
}

/** Every node of the Agents tree, through the view's own getChildren + getTreeItem (groups expanded, containers not: their Files read Docker). */
function walk(view: AgentsView): number {
  let n = 0;
  const visit = (element?: ViewNode) => {
    const kids = view.getChildren(element);
    if (!Array.isArray(kids)) throw new Error('getChildren of an Agents row returned a promise');
    for (const k of kids) {
      view.getTreeItem(k);
      n++;
      if (!('kind' in k) || k.kind !== 'group') continue;
      visit(k);
    }
  };
  visit(undefined);
  return n;
}

/** The container names the Agents tree shows now (its own rows, through childrenOf). */
function shownNames(view: AgentsView): Set<string> {
  const names = new Set<string>();
  const visit = (nodes: ReturnType<AgentsView['childrenOf']>) => {
    for (const n of nodes) {
      if (n.kind === 'container') names.add(n.name);
      else if (n.kind === 'group') visit(n.children);
    }
  };
  visit(view.childrenOf());
  return names;
}

/** Creates containers `prefix-tree-<from..to-1>` (created, never started) with Borg's labels for this workspace, 16 at a time. */
async function createTreeContainers(ctx: BorgContext, prefix: string, from: number, to: number): Promise<string[]> {
  const names: string[] = [];
  const phases = ['spec', 'qa', 'impl', 'test'];
  for (let i = from; i < to; i += 16) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(to, i + 16); j++) {
      const name = `${prefix}-tree-${j}`;
      names.push(name);
      const labels: Record<string, string> = { [LABEL_MANAGED]: 'true', [LABEL_PERSONA]: 'worker', [LABEL_WORKSPACE]: ctx.pipeline.workspaceId };
      if (j % 5 !== 0) Object.assign(labels, { [LABEL_TASK]: String(1 + (j % 40)), [LABEL_PHASE]: phases[j % 4] }); // task groups, and some loose agents
      batch.push(docker.createContainer({ name, Image: DEMO_IMAGE, Entrypoint: ['true'], Labels: labels, HostConfig: { NetworkMode: 'none' } }));
    }
    await Promise.all(batch);
  }
  return names;
}

/** P8: the small tree, then the large one (the same containers plus more): per repetition a refresh, then a timed walk. */
async function agentsTree(ctx: BorgContext, plan: WindowPlan): Promise<AgentsTreeResult> {
  const view = ctx.agentsView;
  const sizes: AgentsTreeResult['sizes'] = [];
  let made = 0;
  const names = new Set<string>();
  for (const n of [plan.small, plan.large]) {
    const t0 = performance.now();
    for (const name of await createTreeContainers(ctx, plan.prefix, made, n)) names.add(name);
    const createMs = performance.now() - t0;
    made = n;
    await ctx.pipeline.refresh();
    await until(`the tree to show ${n} containers`, () => {
      const shown = shownNames(view);
      return [...names].every((x) => shown.has(x));
    });
    await sleep(plan.quick ? 200 : 1_000); // the workbench renders the new rows (it calls the same provider)
    const walkMs: number[] = [];
    const refreshMs: number[] = [];
    let nodes = 0;
    for (let r = 0; r < plan.reps; r++) {
      let t = performance.now();
      await ctx.pipeline.refresh();
      refreshMs.push(performance.now() - t);
      await sleep(50);
      t = performance.now();
      nodes = walk(view);
      walkMs.push(performance.now() - t);
    }
    log(`Agents tree, ${n} containers (${nodes} rows): walk ${median(walkMs).toFixed(2)} ms, refresh ${median(refreshMs).toFixed(1)} ms (medians of ${plan.reps})`);
    sizes.push({ containers: n, walkMs, refreshMs, nodes, createMs });
  }
  await removeContainers(`${plan.prefix}-tree`);
  await ctx.pipeline.refresh();
  return { sizes };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Resolves with the time (performance.now()) this host receives Docker's destroy event of `name`; `stop()` ends the stream. */
async function destroyEvent(name: string): Promise<{ at: Promise<number>; stop: () => void }> {
  const stream = (await docker.getEvents({ filters: { container: [name], event: ['destroy'] } })) as NodeJS.ReadableStream & { destroy(): void };
  const at = new Promise<number>((resolve) => stream.once('data', () => resolve(performance.now())));
  return { at, stop: () => stream.destroy() };
}

/** P9: per run, a running labelled container appears in the tree; `docker rm -f` it through the CLI; time until the tree drops it. */
async function outsideRemove(ctx: BorgContext, counter: Counter, plan: WindowPlan): Promise<OutsideRemoveResult> {
  const view = ctx.agentsView;
  const out: OutsideRemoveResult = { fromCliMs: [], fromEventMs: [], callsPerRemoval: [], idleCalls: { engine: {}, http: {} }, idleMs: 0 };
  const idleMs = plan.quick ? 500 : 2_000;
  for (let r = 0; r < plan.removals; r++) {
    const name = `${plan.prefix}-rm-${r}`;
    const c = await docker.createContainer({
      name,
      Image: DEMO_IMAGE,
      Entrypoint: ['sleep'],
      Cmd: ['600'],
      Labels: { [LABEL_MANAGED]: 'true', [LABEL_PERSONA]: 'worker', [LABEL_WORKSPACE]: ctx.pipeline.workspaceId },
      HostConfig: { NetworkMode: 'none' },
    });
    await c.start();
    await until('the container to show', () => shownNames(view).has(name));
    await sleep(500); // the start's events, refreshes and repaints end
    counter.take();
    await sleep(idleMs);
    const idle = counter.take();
    for (const kind of ['engine', 'http'] as const) for (const [k, v] of Object.entries(idle[kind])) out.idleCalls[kind][k] = (out.idleCalls[kind][k] ?? 0) + v;
    out.idleMs += idleMs;
    const destroyed = await destroyEvent(name);
    let goneAt: number | undefined;
    let resolveGone!: () => void;
    const gone = new Promise<void>((r) => (resolveGone = r));
    const sub = view.onDidChangeTreeData(() => {
      if (goneAt === undefined && !shownNames(view).has(name)) {
        goneAt = performance.now();
        resolveGone();
      }
    });
    try {
      await run$('docker', ['rm', '-f', name]);
      const cliAt = performance.now();
      await within(gone, 10_000, `the tree to drop ${name} after docker rm`);
      const eventAt = await within(destroyed.at, 10_000, `Docker's destroy event of ${name}`);
      out.fromCliMs.push(goneAt! - cliAt);
      out.fromEventMs.push(goneAt! - eventAt);
      await sleep(300); // the calls made for this removal, after the repaint, are counted with it
      out.callsPerRemoval.push(counter.take());
      log(
        `outside docker rm ${r + 1}/${plan.removals}: gone ${(goneAt! - cliAt).toFixed(0)} ms after the CLI returned, ${(goneAt! - eventAt).toFixed(0)} ms after the destroy event; calls ${callsText(out.callsPerRemoval[r])}`,
      );
    } finally {
      sub.dispose();
      destroyed.stop();
    }
  }
  return out;
}

/** Force-removes every container whose name starts with `prefix-`. */
async function removeContainers(prefix: string): Promise<void> {
  const left = await docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
  for (let i = 0; i < left.length; i += 16)
    await Promise.all(
      left.slice(i, i + 16).map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
}
