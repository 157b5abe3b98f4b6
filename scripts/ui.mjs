// Drives the VS Code workbench (code-server) in headless Chromium the way a person would: opens
// the Borg view from the activity bar, optionally runs "Borg: Launch Agent" from the command
// palette and picks a persona, then takes a screenshot.
//   node scripts/ui.mjs --url URL [--launch PERSONA] [--screenshot FILE.png] [--wait-text TEXT]
import { chromium } from 'playwright-core';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    launch: { type: 'string' },
    screenshot: { type: 'string' },
    'wait-text': { type: 'string' },
    'context-menu': { type: 'string' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '760' },
  },
});
if (!args.url) {
  console.error('usage: node scripts/ui.mjs --url URL [--launch PERSONA] [--screenshot FILE.png]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-quic',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: Number(args.width), height: Number(args.height) } });
  await page.goto(args.url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  const borg = page.locator('.activitybar [aria-label^="Borg"]').first();
  await borg.waitFor({ timeout: 60_000 });
  await borg.click();
  await page.waitForSelector('.pane-header[aria-label^="Agents"], [id="workbench.view.extension.borg"]', { timeout: 30_000 });
  if (args.launch) {
    await page.keyboard.press('F1');
    await page.waitForSelector('.quick-input-widget', { state: 'visible' });
    await page.keyboard.type('Borg: Launch Agent');
    await page.waitForSelector('.quick-input-list .monaco-list-row:has-text("Launch Agent")');
    await page.keyboard.press('Enter');
    await page.waitForSelector(`.quick-input-list .monaco-list-row:has-text("${args.launch}")`);
    await page.keyboard.type(args.launch);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`.monaco-list-row:has-text("-${args.launch}-")`, { timeout: 60_000 });
  }
  if (args['context-menu']) {
    await page.waitForTimeout(800);
    await page.locator(`.monaco-list-row:has-text("${args['context-menu']}")`).first().click({ button: 'right' });
    await page.waitForSelector('.context-view .monaco-menu', { timeout: 10_000 });
  }
  if (args['wait-text']) await page.waitForSelector(`text=${args['wait-text']}`, { timeout: 60_000 });
  await page.waitForTimeout(1500); // let the debounced tree and status bar settle
  if (args.screenshot) {
    await page.screenshot({ path: args.screenshot });
    console.log(`[ui] screenshot ${args.screenshot}`);
  }
} finally {
  await browser.close();
}
