/**
 * The Node side of the host benchmarks (P6–P9): one code-server session (scripts/codeServer.mjs)
 * driven by headless Chromium (scripts/chromium.mjs), as the host test stage does, in which
 * workbench windows run suite.ts in a real extension host. The first host benchmark of a runner
 * process starts it and measures every host benchmark that process will run (`--only`, else all
 * four); the others read the cached result.
 *
 * Borg is staged for it: its production bundle (`node scripts/build.mjs --production`, whose
 * sizes P6 reports) with a copy of package.json without `activationEvents`, so nothing activates
 * it before the suite's timed `ext.activate()` (its views start hidden; VS Code's implied
 * onView/onCommand events are not triggered). The empty extension is installed in the session's
 * extensions dir (the workbench payload keeps only one extensionDevelopmentPath: the last).
 * Each window opens its own folder (so no window waits for the lock of the one before), whose
 * Borg database is created beforehand: the activations timed are the usual, not first-ever, ones.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { format, promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Store } from '../../src/core/store';
import { workspaceHome, workspaceId, workspaceKeyOf } from '../../src/core/workspace';
import type { BenchOptions } from '../benchmark';
import { HOST_BENCH_IDS, PLAN_ENV, type HostBenchId, type Plan, type WindowPlan, type WindowResult } from './protocol';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SUITE = path.join(ROOT, 'out', 'bench', 'host', 'suite');
const EMPTY_EXTENSION = path.join(ROOT, 'bench', 'host', 'empty-extension');

/** What one session measured: every window's result (window 0 measured P7–P9 too) and the production bundle. */
export interface HostSession {
  windows: WindowResult[];
  /** Sizes of the production build's dist/*.js files (the wasm excluded), bytes. */
  bundle: Record<string, number>;
  /** Which host benchmarks window 0 measured. */
  measured: HostBenchId[];
  quick: boolean;
}

interface CodeServerModule {
  requireCodeServer(): void;
  codeServerEnv(scratch: string, extra: Record<string, string>): NodeJS.ProcessEnv;
  startCodeServer(o: { scratch: string; workspace: string; port: number; env: NodeJS.ProcessEnv; onOutput: (d: Buffer) => void; describeLog: () => string }): Promise<{ pid: number }>;
}
interface Page {
  exposeFunction(name: string, fn: (...a: never[]) => unknown): Promise<void>;
  goto(url: string): Promise<unknown>;
  close(): Promise<void>;
}
interface ChromiumModule {
  launchChromium(): Promise<{ newPage(): Promise<Page>; close(): Promise<void> }>;
}

let cached: { ids: HostBenchId[]; session: Promise<HostSession> } | undefined;

/**
 * The session's results for `id`: measured now (with the other host benchmarks this process
 * runs) or by an earlier call in this process. The first caller's options (quick, runs, log) apply.
 * @throws Error when code-server is not installed, a window's suite fails or gives no result.
 */
export async function hostSession(id: HostBenchId, opts: BenchOptions): Promise<HostSession> {
  if (cached && (id === 'P6' || cached.ids.includes(id))) return cached.session; // a failed session fails each of its benchmarks, once
  const wanted = wantedHostIds();
  const ids = wanted.includes(id) ? wanted : [...wanted, id];
  cached = { ids, session: measure(ids, opts) };
  return cached.session;
}

/** The host benchmarks this runner process will run: those of `--only` (if given), else all. */
function wantedHostIds(): HostBenchId[] {
  const i = process.argv.indexOf('--only');
  const only = i >= 0 ? process.argv[i + 1]?.split(',').map((s) => s.trim().toUpperCase()) : undefined;
  return HOST_BENCH_IDS.filter((id) => !only || only.includes(id));
}

async function measure(ids: HostBenchId[], opts: BenchOptions): Promise<HostSession> {
  const quick = opts.quick;
  const windows = ids.includes('P6') ? (opts.runs ?? (quick ? 1 : 10)) : 1; // one window per activation sample
  const reps = opts.runs ?? (quick ? (ids.includes('P8') ? 3 : 2) : 20);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-bench-host-'));
  const cs = (await import(path.join(ROOT, 'scripts', 'codeServer.mjs'))) as CodeServerModule;
  const { launchChromium } = (await import(path.join(ROOT, 'scripts', 'chromium.mjs'))) as ChromiumModule;
  cs.requireCodeServer();
  let server: { pid: number } | undefined;
  let browser: Awaited<ReturnType<ChromiumModule['launchChromium']>> | undefined;
  try {
    opts.log('building the production bundle (node scripts/build.mjs --production) into a staged copy of the extension');
    const staging = stageBorg(path.join(scratch, 'borg')); // while code-server and Chromium start
    staging.catch(() => undefined); // awaited below
    // The payload keeps one extensionDevelopmentPath only (the last): the empty extension is
    // installed instead, as a folder in the extensions dir, which code-server scans at its first start.
    fs.cpSync(EMPTY_EXTENSION, path.join(scratch, 'extensions', 'borg-bench.empty-extension-0.0.1'), { recursive: true });
    fs.mkdirSync(path.join(scratch, 'user', 'User'), { recursive: true });
    fs.writeFileSync(path.join(scratch, 'user', 'User', 'settings.json'), JSON.stringify({ 'workbench.startupEditor': 'none' }));
    const planFile = path.join(scratch, 'plan.json');
    const plan: Plan = { windows: {} };
    const folders: string[] = [];
    const borgHome = path.join(scratch, 'borg-home');
    for (let w = 0; w < windows; w++) {
      const folder = path.join(scratch, `window-${w}`);
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, 'README.md'), '# Borg benchmark workspace\n');
      folders.push(folder);
      await createDatabase(borgHome, folder);
      const p: WindowPlan = {
        out: path.join(scratch, `result-${w}.json`),
        measure: w === 0 ? ids.filter((x) => x !== 'P6') : [],
        emptyFirst: true,
        quick,
        reps,
        removals: opts.runs ?? (quick ? 2 : 10),
        countMs: quick ? 5_000 : 60_000,
        settleMs: quick ? 1_000 : 10_000,
        large: quick ? 20 : 500,
        small: 5,
        prefix: `borgbench${process.pid}`,
      };
      plan.windows[folder] = p;
    }
    fs.writeFileSync(planFile, JSON.stringify(plan, null, 2));
    let serverLog = '';
    const port = 20000 + Math.floor(Math.random() * 20000);
    const started = cs.startCodeServer({
      scratch,
      workspace: folders[0],
      port,
      env: cs.codeServerEnv(scratch, { [PLAN_ENV]: planFile, BORG_HOME: borgHome }),
      onOutput: (d) => (serverLog += String(d)),
      describeLog: () => `:\n${serverLog}`,
    });
    started.catch(() => undefined); // awaited below, once Chromium is up
    browser = await launchChromium();
    server = await started;
    const { dir: extension, bundle } = await staging;
    const results: WindowResult[] = [];
    for (let w = 0; w < windows; w++) {
      const t0 = performance.now();
      const code = await runWindow(browser, port, folders[w], extension, opts.log);
      const file = plan.windows[folders[w]].out;
      if (code !== 0 || !fs.existsSync(file))
        throw new Error(`window ${w}: the host suite ended with ${code}${fs.existsSync(file) ? '' : ' and wrote no result'}; code-server log tail:\n${serverLog.slice(-3000)}`);
      const r = JSON.parse(fs.readFileSync(file, 'utf8')) as WindowResult;
      results.push(r);
      if (w + 1 < windows) await gone(r.pid, 8_000); // the ended host's shutdown must not overlap the next activation
      opts.log(`window ${w + 1}/${windows} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    return { windows: results, bundle, measured: ids, quick };
  } finally {
    await browser?.close();
    if (server)
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * A copy of the extension in `dir` to run in the host: the production bundle built there (dist/),
 * media/ linked, package.json without activation events. Returns the folder and dist/*.js sizes.
 */
async function stageBorg(dir: string): Promise<{ dir: string; bundle: Record<string, number> }> {
  fs.mkdirSync(dir, { recursive: true });
  for (const link of ['src', 'media', 'agents', 'node_modules']) if (fs.existsSync(path.join(ROOT, link))) fs.symlinkSync(path.join(ROOT, link), path.join(dir, link));
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--production'], { cwd: dir });
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  manifest.activationEvents = [];
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
  const bundle: Record<string, number> = {};
  for (const f of fs.readdirSync(path.join(dir, 'dist')).filter((f) => f.endsWith('.js'))) bundle[f] = fs.statSync(path.join(dir, 'dist', f)).size;
  return { dir, bundle };
}

/**
 * Creates (and closes) the Borg database of `folder` in `borgHome`, as a first window on the
 * folder would have: the timed activations are the usual ones, which open an existing database
 * (a first-ever open also creates the schema: tens of ms more).
 */
async function createDatabase(borgHome: string, folder: string): Promise<void> {
  const home = workspaceHome(borgHome, workspaceId(workspaceKeyOf(pathToFileURL(folder).toString())));
  const store = await Store.open(home.db);
  await store.close();
}

/** Opens one workbench window on `folder` with `extension` under development and the suite; resolves with the suite's exit code (0: it measured). */
async function runWindow(browser: { newPage(): Promise<Page> }, port: number, folder: string, extension: string, log: (line: string) => void): Promise<number> {
  const page = await browser.newPage();
  try {
    let finish!: (code: number) => void;
    const finished = new Promise<number>((r) => (finish = r));
    await page.exposeFunction('codeAutomationLog', (_type: string, args?: unknown[]) => {
      const line = format(...(args ?? []));
      if (line.startsWith('BORG-BENCH ')) log(line.slice('BORG-BENCH '.length));
      else if (/Error|rejected|failed/i.test(line) && !/^\[Service Worker\]/.test(line)) log(`host: ${line.split('\n')[0]}`);
    });
    await page.exposeFunction('codeAutomationExit', (code: number) => finish(code));
    const remote = (p: string) => `vscode-remote://127.0.0.1:${port}${p}`;
    const payload = [
      ['extensionDevelopmentPath', remote(extension)],
      ['extensionTestsPath', remote(SUITE)],
    ];
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<number>((r) => (timer = setTimeout(() => r(-1), 15 * 60_000)));
    try {
      return await Promise.race([finished, late]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await page.close();
  }
}

/** Waits until process `pid` has ended, `ms` at most. */
async function gone(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
