// Driving the code-server workbench from the UI scripts (ui-test.mjs, ui-hosts.mjs): panes, the
// command palette, opening the Borg view, screenshots.
/* global document */ // read inside page.waitForFunction callbacks, which run in the browser
import { join } from 'node:path';

/** The view pane whose header reads `name` (Agents, Tasks). */
export function pane(page, name) {
  return page.locator('.pane', { has: page.locator(`.pane-header[aria-label^="${name}"]`) }).first();
}

/**
 * Runs a command from the palette (F1) by its title, picking the row that reads exactly
 * `<category>: <title>`. A key press can land in a webview that holds the focus (the
 * walkthrough's Markdown): F1 is pressed again until the palette is open, at most 5 times, the
 * last wait `stepMs` long.
 */
export async function palette(page, title, category = 'Borg', stepMs = 90_000) {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (let i = 1; ; i++) {
    await page.keyboard.press('F1');
    try {
      await input.waitFor({ timeout: i < 5 ? 5_000 : stepMs });
      break;
    } catch (e) {
      if (i >= 5) throw e;
    }
  }
  await input.fill(`>${category}: ${title}`);
  const name = new RegExp(`^${escapeRegExp(`${category}: ${title}`)}$`);
  const row = page.locator('.quick-input-list .monaco-list-row', { has: page.locator('.label-name', { hasText: name }) }).first();
  await row.waitFor();
  await row.click();
}

/**
 * Opens `workspace` in the workbench at `port`, shows the Borg view from the activity bar and
 * widens the sidebar by `widenPx` (dragging its sash), so rows show their descriptions.
 */
export async function openBorgView(page, port, workspace, widenPx) {
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator('.monaco-workbench').waitFor();
  await page.locator('.activitybar [aria-label^="Borg"]').first().click();
  await pane(page, 'Agents').waitFor();
  const sidebar = await page.locator('.part.sidebar').boundingBox();
  const edge = sidebar.x + sidebar.width;
  await page.mouse.move(edge, 300);
  await page.mouse.down();
  await page.mouse.move(edge + widenPx, 300, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(([w, by]) => (document.querySelector('.part.sidebar')?.getBoundingClientRect().width ?? 0) > w + by, [sidebar.width, widenPx - 60]);
}

/** `shot(name)`: a PNG of the page as `<dir>/<name>.png`, logged. */
export function screenshotter(page, dir, log) {
  return async (name) => {
    const file = join(dir, `${name}.png`);
    await page.screenshot({ path: file });
    log(`screenshot ${file}`);
  };
}

export function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
