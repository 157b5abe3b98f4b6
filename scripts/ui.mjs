// Drives the VS Code workbench (code-server) in headless Chromium the way a person would: opens
// the Borg view from the activity bar; optionally runs "Borg: Launch Agent" from the command
// palette and picks a persona, or adds a task (palette → "Borg: Add Task…" → title → "Write in
// Editor" → the description typed into the draft → the draft's "Add Task" button), waits until
// the Tasks view shows it in a status group, then takes screenshots (the workbench, and the
// task's detail panel through "Borg: Show Task Details").
//   node scripts/ui.mjs --url URL [--launch PERSONA] [--screenshot FILE.png] [--wait-text TEXT]
//     [--add-task TITLE [--description TEXT]] [--wait-task-status done [--timeout SECONDS]]
//     [--task-detail FILE.png]
// Exit 0; 1 when the task ends in another group (failed, blocked, cancelled) or the wait times
// out (screenshots are taken all the same); 2 on usage errors.
import { launchChromium } from './chromium.mjs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    launch: { type: 'string' },
    screenshot: { type: 'string' },
    'wait-text': { type: 'string' },
    'context-menu': { type: 'string' },
    'add-task': { type: 'string' },
    description: { type: 'string', default: '' },
    'wait-task-status': { type: 'string' },
    timeout: { type: 'string', default: '600' },
    'task-detail': { type: 'string' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '760' },
  },
});
/** The Tasks view's groups (src/vscode/taskItems.ts GROUP_LABELS), by the status word given. */
const GROUPS = { running: 'Running', queued: 'Queued', blocked: 'Blocked', failed: 'Failed', done: 'Done', cancelled: 'Cancelled' };
const usage = 'usage: node scripts/ui.mjs --url URL [--launch PERSONA] [--add-task TITLE [--description D]] [--wait-task-status done] [--screenshot FILE.png] [--task-detail FILE.png]';
if (!args.url || (args['wait-task-status'] && !GROUPS[args['wait-task-status']]) || ((args['wait-task-status'] || args['task-detail']) && !args['add-task'])) {
  console.error(usage);
  process.exit(2);
}
const started = Date.now();
const log = (line) => console.log(`[ui] ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s ${line}`);

const browser = await launchChromium();
let exitCode = 0;
try {
  const page = await browser.newPage({ viewport: { width: Number(args.width), height: Number(args.height) } });
  await page.goto(args.url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  const borg = page.locator('.activitybar [aria-label^="Borg"]').first();
  await borg.waitFor({ timeout: 60_000 });
  await borg.click();
  await page.waitForSelector('.pane-header[aria-label^="Agents"], [id="workbench.view.extension.borg"]', { timeout: 30_000 });

  /** Runs a command from the palette (F1) by its title, picking the row that reads exactly `Borg: <title>`. */
  const palette = async (title) => {
    await page.keyboard.press('F1');
    await page.waitForSelector('.quick-input-widget', { state: 'visible' });
    await page.keyboard.type(`Borg: ${title}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { has: page.locator('.label-name', { hasText: new RegExp(`^Borg: ${escapeRegExp(title)}$`) }) }).first();
    await row.waitFor({ timeout: 30_000 });
    await row.click();
  };

  if (args.launch) {
    await palette('Launch Agent');
    await page.waitForSelector(`.quick-input-list .monaco-list-row:has-text("${args.launch}")`);
    await page.keyboard.type(args.launch);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`.monaco-list-row:has-text("-${args.launch}-")`, { timeout: 60_000 });
  }

  let task; // { id, label } once added
  if (args['add-task']) {
    task = await addTask(page, palette, args['add-task'], args.description);
    log(`added task ${task.label}`);
  }
  if (args['wait-task-status']) {
    const ok = await waitTaskGroup(page, task, GROUPS[args['wait-task-status']], Number(args.timeout) * 1000);
    if (!ok) exitCode = 1;
  }
  if (args['context-menu']) {
    await page.waitForTimeout(800);
    await page.locator(`.monaco-list-row:has-text("${args['context-menu']}")`).first().click({ button: 'right' });
    await page.waitForSelector('.context-view .monaco-menu', { timeout: 10_000 });
  }
  if (args['wait-text']) await page.waitForSelector(`text=${args['wait-text']}`, { timeout: 60_000 });
  await page.waitForTimeout(1500); // let the debounced tree and status bar settle
  // The draft's hint stays in the status bar for 15 s: a screenshot after the task ran should not show it.
  if (task)
    await page
      .locator('.statusbar-item', { hasText: 'write the task, then choose' })
      .waitFor({ state: 'detached', timeout: 15_000 })
      .catch(() => {});
  if (args.screenshot) {
    await page.screenshot({ path: args.screenshot });
    log(`screenshot ${args.screenshot}`);
  }
  if (args['task-detail']) {
    await palette('Show Task Details');
    const pick = page.locator('.quick-input-list .monaco-list-row', { hasText: task.label }).first();
    await pick.waitFor({ timeout: 15_000 });
    await pick.click();
    // The panel is a webview: its page is in a frame of its own (nested in the workbench's iframe).
    if (!(await waitForFrameText(page, 'Runs', 30_000))) log('the task detail panel did not show its runs within 30 s');
    await page.waitForTimeout(1000);
    await page.screenshot({ path: args['task-detail'] });
    log(`screenshot ${args['task-detail']}`);
  }
} finally {
  await browser.close();
}
process.exit(exitCode);

/** Waits until some frame of the page (a webview's, say) shows `text`; false after `ms`. */
async function waitForFrameText(page, text, ms) {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await page.waitForTimeout(250)) {
    for (const frame of page.frames()) {
      if (frame === page.mainFrame()) continue;
      if (
        await frame
          .getByText(text, { exact: true })
          .count()
          .catch(() => 0)
      )
        return true;
    }
  }
  return false;
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Borg: Add Task… as a person does it: the title in the first box, the pencil ("Write in Editor")
 * on the second, the description typed into the Markdown draft, then the draft's ✓ ("Add Task from
 * This Draft") in the editor title. Resolves with the task's row label, `#<id> <title>`.
 */
async function addTask(page, palette, title, description) {
  const tasks = tasksPane(page);
  const before = new Set(await tasks.locator('.monaco-list-row .label-name').allInnerTexts());
  await palette('Add Task…');
  const box = page.locator('.quick-input-widget');
  await box.locator('.quick-input-title', { hasText: 'Add Task (1/2)' }).waitFor({ timeout: 30_000 });
  await page.keyboard.type(title);
  await page.keyboard.press('Enter');
  await box.locator('.quick-input-title', { hasText: 'Add Task (2/2)' }).waitFor({ timeout: 15_000 });
  await box.locator('[aria-label="Write in Editor"], [title="Write in Editor"]').first().click();
  // The draft: "# title", a blank line, the cursor where the description goes.
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await editor
    .locator('.view-line', { hasText: `# ${title}` })
    .first()
    .waitFor({ timeout: 15_000 });
  await page.waitForTimeout(300);
  if (description) await page.keyboard.insertText(description); // as typed (no auto-closed brackets)
  await page.waitForTimeout(300);
  await page.locator('.editor-actions [aria-label^="Add Task from This Draft"]').first().click();
  const row = tasks.locator('.monaco-list-row .label-name', { hasText: new RegExp(`^#\\d+ ${escapeRegExp(title)}$`) });
  for (let waited = 0; waited < 30_000; waited += 250) {
    for (const label of await row.allInnerTexts()) {
      if (!before.has(label)) return { id: Number(label.slice(1).split(' ')[0]), label };
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`the task "${title}" did not appear in the Tasks view within 30 s`);
}

function tasksPane(page) {
  return page.locator('.pane', { has: page.locator('.pane-header[aria-label^="Tasks"]') }).first();
}

/** The Tasks view's rows, top to bottom: groups (aria-level 1) and tasks (2) with their descriptions. */
async function tasksRows(page) {
  return tasksPane(page)
    .locator('.monaco-list-row')
    .evaluateAll((rows) =>
      rows.map((r) => ({
        level: Number(r.getAttribute('aria-level') ?? '0'),
        label: r.querySelector('.label-name')?.textContent?.trim() ?? '',
        description: r.querySelector('.label-description')?.textContent?.trim() ?? '',
        top: parseFloat(r.style.top || '0'),
      })),
    )
    .then((rows) => rows.sort((a, b) => a.top - b.top));
}

/**
 * Waits until the task's row sits under the group `want` (e.g. "Done"), logging every change of
 * group and phase as the view shows it. False when it lands in another finished group (Failed,
 * Cancelled), is Blocked, or `ms` pass first.
 */
async function waitTaskGroup(page, task, want, ms) {
  const stuck = new Set(['Failed', 'Blocked', 'Cancelled'].filter((g) => g !== want));
  let shown = '';
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    let group = '';
    let row;
    for (const r of await tasksRows(page)) {
      if (r.level === 1) group = r.label;
      else if (r.label === task.label) row = r;
    }
    if (row) {
      const now = `${group} · ${row.description}`;
      if (now !== shown) log(`${task.label}: ${(shown = now)}`);
      if (group === want) return true;
      if (stuck.has(group)) {
        log(`${task.label} is ${group}, not ${want}`);
        return false;
      }
    }
    await page.waitForTimeout(1000);
  }
  log(`${task.label} is not ${want} after ${ms / 1000} s`);
  return false;
}
