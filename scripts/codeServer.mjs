// One way to run code-server 4.100.3 (VS Code 1.100.3, installed by setup.sh into .vscode-test/)
// for the host tests (run-host-tests.mjs) and the ui test (ui-test.mjs): a scratch folder's
// config (loopback, no auth), user data, extensions and XDG dirs, no gallery, no workspace trust
// prompt. See ../shared/harness.md for why these flags.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** code-server's launcher script. */
export const CODE_SERVER = join(resolve(import.meta.dirname, '..'), '.vscode-test/code-server/node_modules/.bin/code-server');

/** Exits with a pointer to setup.sh when code-server is not installed. */
export function requireCodeServer() {
  if (existsSync(CODE_SERVER)) return;
  console.error('code-server is not installed: run scripts/setup.sh first');
  process.exit(1);
}

/** The environment code-server (and so the extension host) runs with: the scratch folder's XDG dirs, no extension gallery; `extra` on top. */
export function codeServerEnv(scratch, extra = {}) {
  return {
    ...process.env,
    EXTENSIONS_GALLERY: '{"serviceUrl":""}',
    XDG_CONFIG_HOME: join(scratch, 'xdg-config'),
    XDG_DATA_HOME: join(scratch, 'xdg-data'),
    XDG_CACHE_HOME: join(scratch, 'xdg-cache'),
    ...extra,
  };
}

/**
 * Starts code-server on 127.0.0.1:`port` over `workspace`, its state in `scratch` (config.yaml,
 * user, extensions), in its own process group (stop it with `process.kill(-child.pid)`); every
 * output chunk goes to `onOutput`. Resolves once `/healthz` answers (30 s at most).
 * @throws Error with `describeLog()` when it does not answer.
 */
export async function startCodeServer({ scratch, workspace, port, env, onOutput = () => {}, describeLog = () => '' }) {
  writeFileSync(join(scratch, 'config.yaml'), `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  const args = ['--config', join(scratch, 'config.yaml'), '--user-data-dir', join(scratch, 'user'), '--extensions-dir', join(scratch, 'extensions')];
  const child = spawn(CODE_SERVER, [...args, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', workspace], {
    detached: true,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  throw new Error(`code-server did not answer on port ${port}${describeLog()}`);
}
