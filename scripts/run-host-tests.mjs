// Runs the extension's mocha suite (out/test/extension) inside a real VS Code extension host:
// code-server 4.100.3 (VS Code 1.100.3) from .vscode-test/, driven by headless Chromium through
// playwright-core, because VS Code itself cannot be downloaded on these machines.
// Prints the host's console output and a final "host: N passed, N failed" line; exits 0 when all passed.
//   node scripts/run-host-tests.mjs
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { format } from 'node:util';
import { launchChromium } from './chromium.mjs';
import { codeServerEnv, requireCodeServer, startCodeServer } from './codeServer.mjs';

const root = resolve(import.meta.dirname, '..');
const testsModule = join(root, 'out/test/extension/index');
requireCodeServer();

const port = 20000 + Math.floor(Math.random() * 20000);
const scratch = mkdtempSync(join(tmpdir(), 'borg-host-'));
const workspace = join(scratch, 'workspace');
mkdirSync(workspace);
writeFileSync(join(workspace, 'README.md'), '# Borg test workspace\n');
let serverLog = '';
const serverStarted = startCodeServer({
  scratch,
  workspace,
  port,
  env: codeServerEnv(scratch, {
    BORG_TEST_SCRATCH: scratch,
    BORG_HOME: join(scratch, 'borg-home'), // the workspace homes (database, state dirs, worktrees) of these runs only
  }),
  onOutput: (d) => {
    serverLog += d;
  },
  describeLog: () => `:\n${serverLog}`,
});
serverStarted.catch(() => {}); // awaited below, after Chromium is up; a failure is thrown there

let passed = 0;
let failed = 0;
// Workbench chatter that says nothing about the tests.
const NOISE =
  /^(Ignoring fetching additional builtin extensions|Creating a socket|Resolving connection token|Resolved connection token|\[Service Worker\]|ChatSessionStore|Updating additional builtin extensions cache)/;
const browser = await launchChromium();

/**
 * Opens the workbench on `folder` with `testsModule` as extensionTestsPath and waits until the
 * suite reports its exit code, or — with `until` — until that condition holds (for a phase whose
 * extension host is killed on purpose). Adds the suite's counts to the totals.
 */
async function runSuite(folder, testsModule, { until } = {}) {
  const page = await browser.newPage();
  let finish;
  const finished = new Promise((r) => {
    finish = r;
  });
  let counted = false;
  await page.exposeFunction('codeAutomationLog', (_type, args) => {
    const line = format(...(args ?? []));
    const m = /BORG-HOST-RESULT passed=(\d+) failed=(\d+)/.exec(line);
    if (m) {
      passed += Number(m[1]);
      failed += Number(m[2]);
      counted = true;
      return;
    }
    if (!NOISE.test(line)) console.log(line);
  });
  await page.exposeFunction('codeAutomationExit', (code) => finish(code));
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [
    ['extensionDevelopmentPath', remote(root)],
    ['extensionTestsPath', remote(testsModule)],
  ];
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
  const deadline = Date.now() + 10 * 60_000;
  const condition = until
    ? (async () => {
        while (Date.now() < deadline) {
          if (await until()) return 'done';
          await new Promise((r) => setTimeout(r, 200));
        }
        return 'timeout';
      })()
    : new Promise((r) => setTimeout(() => r('timeout'), deadline - Date.now()));
  let code = await Promise.race([finished, condition]);
  if (until && code !== 'done' && code !== 'timeout') {
    // The workbench may report the killed host's exit before the kill is visible here: keep
    // checking the condition for a while before calling the phase failed.
    for (let i = 0; i < 75 && code !== 'done'; i++) {
      if (await until()) code = 'done';
      else await new Promise((r) => setTimeout(r, 200));
    }
    if (code !== 'done') console.error(`phase ended with ${code} before its condition held`);
  }
  await page.close();
  if (until) return code === 'done';
  if (code !== 0 && !counted) failed += 1;
  if (code !== 0) console.error(`extension tests ended with ${code}; code-server log tail:\n${serverLog.slice(-3000)}`);
  return code === 0;
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

let ok = false;
let server;
try {
  server = await serverStarted;
  ok = await runSuite(workspace, testsModule);
  // Recovery after a crash: phase 1 launches agents and kills its own extension host with
  // SIGKILL; phase 2 opens the same folder in a new host, which must adopt them.
  const recoveryWs = join(scratch, 'recovery-workspace');
  mkdirSync(recoveryWs);
  const marker = join(scratch, 'recovery.json');
  const killed = await runSuite(recoveryWs, join(root, 'out/test/host-recovery/phase1'), {
    until: () => existsSync(marker) && !alive(JSON.parse(readFileSync(marker, 'utf8')).pid),
  });
  if (!killed) {
    console.error('recovery phase 1 did not launch its agents and die');
    failed += 1;
    ok = false;
  } else {
    ok = (await runSuite(recoveryWs, join(root, 'out/test/host-recovery/phase2'))) && ok;
  }
} catch (e) {
  console.error(`extension host run failed: ${e?.stack ?? e}`);
  failed = Math.max(failed, 1);
  ok = false;
} finally {
  await browser.close();
  try {
    process.kill(-server.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`host: ${passed} passed, ${failed} failed`);
process.exit(ok && failed === 0 ? 0 : 1);
