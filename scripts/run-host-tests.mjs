// Runs the extension's mocha suite (out/test/extension) inside a real VS Code extension host:
// code-server 4.100.3 (VS Code 1.100.3) from .vscode-test/, driven by headless Chromium through
// playwright-core, because VS Code itself cannot be downloaded on these machines.
// Prints the host's console output and a final "host: N passed, N failed" line; exits 0 when all passed.
//   node scripts/run-host-tests.mjs
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { format } from 'node:util';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '..');
const codeServer = join(root, '.vscode-test/code-server/node_modules/.bin/code-server');
const testsModule = join(root, 'out/test/extension/index');
if (!existsSync(codeServer)) {
  console.error('code-server is not installed: run scripts/setup.sh first');
  process.exit(1);
}

const port = 20000 + Math.floor(Math.random() * 20000);
const scratch = mkdtempSync(join(tmpdir(), 'borg-host-'));
const workspace = join(scratch, 'workspace');
mkdirSync(workspace);
writeFileSync(join(workspace, 'README.md'), '# Borg test workspace\n');
writeFileSync(join(scratch, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);

const server = spawn(codeServer, [
  '--config', join(scratch, 'config.yaml'), '--user-data-dir', join(scratch, 'user'),
  '--extensions-dir', join(scratch, 'extensions'), '--disable-telemetry',
  '--disable-update-check', '--disable-workspace-trust', workspace,
], {
  detached: true,
  env: {
    ...process.env,
    EXTENSIONS_GALLERY: '{"serviceUrl":""}',
    XDG_CONFIG_HOME: join(scratch, 'xdg-config'), XDG_DATA_HOME: join(scratch, 'xdg-data'),
    XDG_CACHE_HOME: join(scratch, 'xdg-cache'),
    BORG_TEST_SCRATCH: scratch,
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let serverLog = '';
server.stdout.on('data', (d) => { serverLog += d; });
server.stderr.on('data', (d) => { serverLog += d; });

async function waitForServer() {
  for (let i = 0; i < 150; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`code-server did not answer on port ${port}:\n${serverLog}`);
}

let passed = 0;
let failed = 0;
let exitCode = 1;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--no-first-run', '--disable-quic'],
});
try {
  await waitForServer();
  const page = await browser.newPage();
  let finish;
  const finished = new Promise((r) => { finish = r; });
  await page.exposeFunction('codeAutomationLog', (_type, args) => {
    const line = format(...(args ?? []));
    const m = /BORG-HOST-RESULT passed=(\d+) failed=(\d+)/.exec(line);
    if (m) { passed = Number(m[1]); failed = Number(m[2]); return; }
    console.log(line);
  });
  await page.exposeFunction('codeAutomationExit', (code) => finish(code));
  const remote = (p) => `vscode-remote://127.0.0.1:${port}${p}`;
  const payload = [['extensionDevelopmentPath', remote(root)], ['extensionTestsPath', remote(testsModule)]];
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
  exitCode = await Promise.race([finished, new Promise((r) => setTimeout(() => r('timeout'), 10 * 60_000))]);
  if (exitCode !== 0) {
    if (passed + failed === 0) failed = 1;
    console.error(`extension tests ended with ${exitCode}; code-server log tail:\n${serverLog.slice(-3000)}`);
  }
} catch (e) {
  console.error(`extension host run failed: ${e?.stack ?? e}`);
  failed = Math.max(failed, 1);
} finally {
  await browser.close();
  try { process.kill(-server.pid, 'SIGTERM'); } catch { /* already gone */ }
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`host: ${passed} passed, ${failed} failed`);
process.exit(exitCode === 0 && failed === 0 ? 0 : 1);
