// The headless Chromium the scripts drive the workbench with (playwright-core, the system's
// /usr/bin/chromium): one set of flags for the host tests (run-host-tests.mjs) and the UI driver
// (ui.mjs) — no GPU, sandbox, sync, first-run UI, background or QUIC traffic.
import { chromium } from 'playwright-core';

/** Launches it; the caller closes the browser. */
export function launchChromium() {
  return chromium.launch({
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
}
