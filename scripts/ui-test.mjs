// The real-browser test of the packaged extension: `npm run package` builds borg-pipeline.vsix,
// `code-server --install-extension` installs it into a fresh extensions folder, and headless
// Chromium (playwright-core) drives the workbench as a person would — the Borg view from the
// activity bar, then from the command palette (F1): Build Demo Agent Image, Launch Agent
// (worker), Add Task (title and description typed), an agent's context menu, Show Task Details,
// Get Started, the Settings editor, the warning a bad setting gets — each step
// waiting for what the workbench shows (a DOM condition), never for a fixed time. The task runs
// on the busybox demo agent (manager, qa, worker phases) and `sh run-tests.sh` in a test
// container, so it reaches done without a model. Screenshots go to .scratch/ui/ (gitignored).
// Prints one line per check and "ui: N passed, N failed"; exits 0 when all passed.
//   node scripts/ui-test.mjs
/* global document, getComputedStyle */ // read inside page.waitForFunction callbacks, which run in the browser
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { launchChromium } from './chromium.mjs';
import { uiChecks } from './uiChecks.mjs';
import { openBorgView, palette, pane, screenshotter } from './workbench.mjs';
import { CODE_SERVER, codeServerEnv, requireCodeServer, startCodeServer } from './codeServer.mjs';

const root = resolve(import.meta.dirname, '..');
const vsix = join(root, 'borg-pipeline.vsix');
const artifacts = join(root, '.scratch/ui');
/** Longest wait for one step (ms); the whole run takes well under a minute here. */
const STEP_MS = 90_000;

requireCodeServer();
mkdirSync(artifacts, { recursive: true });
const { log, check, fail, finish } = uiChecks('ui');

// A fresh everything: user data, extensions, XDG dirs, Borg's home, a git repository with a commit.
const scratch = mkdtempSync(join(tmpdir(), 'borg-ui-'));
const port = 20000 + Math.floor(Math.random() * 20000);
const prefix = `borgui${process.pid}`;
const workspace = join(scratch, 'workspace');
const env = codeServerEnv(scratch, { BORG_HOME: join(scratch, 'borg-home') });
/** The workspace's settings: this run's container prefix, the demo agent, the sample's tests. */
const SETTINGS = { 'borg.containerPrefix': prefix, 'borg.agentImage': 'borg-agent-demo:latest', 'borg.testCommand': 'sh run-tests.sh' };
sampleRepository(workspace);
mkdirSync(join(scratch, 'user/User'), { recursive: true });
writeFileSync(join(scratch, 'user/User/settings.json'), JSON.stringify({ 'workbench.startupEditor': 'none', 'workbench.colorTheme': 'Default Dark Modern', 'workbench.tips.enabled': false }));
const serverLog = join(artifacts, 'code-server.log');
writeFileSync(serverLog, '');

let server;
let browser;
try {
  await check('npm run package builds the .vsix', async () => {
    const r = spawnSync('npm', ['run', '--silent', 'package'], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`npm run package exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    log(`borg-pipeline.vsix: ${(statSync(vsix).size / 1024).toFixed(0)} KiB`);
  });

  await check('code-server --install-extension installs it', async () => {
    const r = spawnSync(CODE_SERVER, ['--extensions-dir', join(scratch, 'extensions'), '--user-data-dir', join(scratch, 'user'), '--install-extension', vsix], { env, encoding: 'utf8' });
    if (r.status !== 0 || !/successfully installed/i.test(r.stdout)) throw new Error(`exit ${r.status}: ${r.stdout}${r.stderr}`);
  });

  server = await startCodeServer({ scratch, workspace, port, env, onOutput: (d) => appendFileSync(serverLog, d), describeLog: () => ` (log: ${serverLog})` });
  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  page.setDefaultTimeout(STEP_MS);
  const shot = screenshotter(page, artifacts, log);

  await check('the workbench opens the folder and shows the Borg view from the activity bar', async () => {
    // Wider than the default 300 px, so rows show their descriptions.
    await openBorgView(page, port, workspace, 160);
    await pane(page, 'Tasks').waitFor();
  });

  await check('Borg: Build Demo Agent Image (palette) builds or finds the demo image', async () => {
    await palette(page, 'Build Demo Agent Image');
    await page
      .locator('.notification-list-item-message', { hasText: /^(Built borg-agent-demo:latest\.|borg-agent-demo:latest is up to date\.)$/ })
      .first()
      .waitFor();
    await palette(page, 'Clear All Notifications', 'Notifications');
    await page.locator('.notification-list-item').first().waitFor({ state: 'detached' });
  });

  await check('Borg: Launch Agent (palette) → worker: the agent appears in the Agents view, running', async () => {
    await palette(page, 'Launch Agent');
    const worker = page.locator('.quick-input-list .monaco-list-row', { hasText: 'worker' }).first();
    await worker.waitFor();
    await worker.click();
    const row = pane(page, 'Agents')
      .locator('.monaco-list-row', { hasText: `${prefix}-worker-` })
      .first();
    await row.waitFor();
    await page.waitForFunction(
      (p) => [...document.querySelectorAll('.monaco-list-row')].some((r) => r.textContent?.includes(`${p}-worker-`) && /running/i.test(r.getAttribute('aria-label') ?? r.textContent ?? '')),
      prefix,
    );
    await shot('agents');
  });

  const title = 'Add the done marker';
  let taskLabel = '';
  await check('Borg: Add Task… (palette): title and description typed, the task appears in the Tasks view', async () => {
    await palette(page, 'Add Task…');
    const box = page.locator('.quick-input-widget');
    await box.locator('.quick-input-title', { hasText: 'Add Task (1/2)' }).waitFor();
    await page.keyboard.type(title);
    await page.keyboard.press('Enter');
    await box.locator('.quick-input-title', { hasText: 'Add Task (2/2)' }).waitFor();
    await page.keyboard.type('The demo personas write spec.md, a failing test and the fix.');
    await page.keyboard.press('Enter');
    const row = pane(page, 'Tasks')
      .locator('.monaco-list-row .label-name', { hasText: new RegExp(`^#\\d+ ${title}$`) })
      .first();
    await row.waitFor();
    taskLabel = (await row.innerText()).trim();
  });

  await check('the task runs spec → qa → impl → test and shows under Done', async () => {
    await page.waitForFunction(
      (label) => {
        const pane = [...document.querySelectorAll('.pane')].find((p) => p.querySelector('.pane-header')?.getAttribute('aria-label')?.startsWith('Tasks'));
        const rows = [...(pane?.querySelectorAll('.monaco-list-row') ?? [])].sort((a, b) => parseFloat(a.style.top || '0') - parseFloat(b.style.top || '0'));
        let group = '';
        for (const r of rows) {
          const name = r.querySelector('.label-name')?.textContent?.trim() ?? '';
          if (r.getAttribute('aria-level') === '1') group = name;
          else if (name === label) return group === 'Done';
        }
        return false;
      },
      taskLabel,
      { timeout: STEP_MS, polling: 250 },
    );
  });

  await check("an exited agent's context menu offers what its state allows (Reclaim, Remove)", async () => {
    await pane(page, 'Agents')
      .locator('.monaco-list-row', { hasText: `${prefix}-manager-` })
      .first()
      .click({ button: 'right', position: { x: 60, y: 10 } });
    const menu = page.locator('.context-view .monaco-menu');
    await menu.locator('.action-label', { hasText: /^Reclaim$/ }).waitFor();
    await menu.locator('.action-label', { hasText: /^Remove Agent…$/ }).waitFor();
    // The menu fades in: wait until it is opaque, or the screenshot shows it half drawn.
    await page.waitForFunction(() => [...document.querySelectorAll('.context-view .monaco-menu-container, .context-view')].every((e) => getComputedStyle(e).opacity === '1'));
    await shot('agent-menu');
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
  });

  await check('Borg: Show Task Details (palette) shows the done task with its runs', async () => {
    await palette(page, 'Show Task Details');
    const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: taskLabel }).first();
    await pick.waitFor();
    await pick.click();
    // The panel is a webview: its page is a frame inside the webview's frame.
    const panel = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
    await panel.getByText('Runs', { exact: true }).waitFor();
    await panel.getByText('done', { exact: true }).first().waitFor();
    // The "task added" status bar message lasts 5 s: wait it out so the screenshot shows the counts.
    await page.locator('.statusbar-item', { hasText: 'added' }).waitFor({ state: 'detached' });
    await shot('tasks');
  });

  await check('Borg: Get Started (palette) opens the walkthrough with its steps', async () => {
    await palette(page, 'Get Started');
    await page.getByText('Get Started with Borg Pipeline').first().waitFor();
    await page.locator('.getting-started-step', { hasText: 'Build or pick an agent image' }).first().waitFor();
    await page.locator('.getting-started-step', { hasText: 'Hardline and Reclaim' }).first().waitFor();
    await shot('walkthrough');
  });

  await check('the Settings editor shows the Borg settings in their categories', async () => {
    await palette(page, 'Open Settings (UI)', 'Preferences');
    const search = page.locator('.settings-editor .suggest-input-container .monaco-editor textarea').first();
    await search.waitFor();
    await search.focus();
    await page.keyboard.type('@ext:borg-pipeline.borg-pipeline');
    for (const category of ['Agents', 'Tasks', 'Docker', 'Security', 'Model', 'Budget']) {
      await page
        .locator('.settings-toc-container .monaco-list-row', { hasText: new RegExp(`^${category}`) })
        .first()
        .waitFor();
    }
    await page.locator('.setting-item-contents', { hasText: 'Agent Image' }).first().waitFor();
    await page
      .locator('.settings-toc-container .monaco-list-row', { hasText: /^Agents/ })
      .first()
      .click(); // closes the search's suggestions
    await page.locator('.settings-editor .suggest-widget.visible').waitFor({ state: 'detached' });
    await shot('settings');
  });

  await check('bad setting values: one warning each, naming the default, link-free, whose Open Settings shows that setting', async () => {
    // A hostile value (a worktree's settings.json an agent wrote) must not become a command link in the notification.
    writeFileSync(join(workspace, '.vscode/settings.json'), JSON.stringify({ ...SETTINGS, 'borg.maxParallelAgents': 100, 'borg.onShutdown': '[Fix it](command:borg.stopAll)' }, null, 2));
    const warning = page.locator('.notification-toast', { hasText: 'borg.maxParallelAgents is 100; it must be a whole number from 1 to 32. Using the default, 4.' });
    await warning.waitFor();
    const hostile = page.locator('.notification-toast', { hasText: 'borg.onShutdown is "[Fix it] (command:borg.stopAll)"; it must be one of detach, stop. Using detach.' });
    await hostile.waitFor();
    if (await hostile.locator('.notification-list-item-message a').count()) throw new Error('the hostile value shows as a link');
    await shot('setting-warning');
    await warning.getByRole('button', { name: 'Open Settings' }).click();
    await page.locator('.settings-editor .suggest-input-container', { hasText: '@id:borg.maxParallelAgents' }).waitFor();
    await page.locator('.settings-editor .setting-item-contents', { hasText: 'Max Parallel Agents' }).first().waitFor();
  });
} catch (e) {
  fail(e);
} finally {
  await browser?.close();
  if (server) {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  await removeContainers().catch((e) => log(`removing the test's containers failed: ${e.message}`));
  rmSync(scratch, { recursive: true, force: true });
}
finish(`; code-server log ${serverLog}`);

/** A git repository with one commit (a task branches from HEAD) and settings for this run; `.vscode/` stays out of git. */
function sampleRepository(dir) {
  mkdirSync(join(dir, '.vscode'), { recursive: true });
  const git = (...args) => {
    const r = spawnSync('git', ['-c', 'safe.directory=*', ...args], { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  };
  git('init', '-q', '-b', 'main');
  writeFileSync(join(dir, 'README.md'), '# Sample\n');
  writeFileSync(join(dir, 'run-tests.sh'), 'for t in tests/*.sh; do [ -e "$t" ] || continue; sh "$t" || exit 1; done\necho "all tests passed"\n');
  writeFileSync(join(dir, '.git/info/exclude'), '.vscode/\n');
  git('add', '-A');
  git('-c', 'user.name=Borg UI test', '-c', 'user.email=ui@borg.invalid', 'commit', '-q', '-m', 'initial');
  writeFileSync(join(dir, '.vscode/settings.json'), JSON.stringify(SETTINGS, null, 2));
}

/** Force-removes the containers this run created (agents and test containers, all named `<prefix>-…`). */
async function removeContainers() {
  const docker = new Docker();
  const left = await docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  if (left.length) log(`removed ${left.length} container(s) of this run`);
}
