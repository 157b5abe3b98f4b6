/**
 * Runs the extension suite (test/extension) in a downloaded VS Code through @vscode/test-electron,
 * for machines that can download VS Code (`npm run test:electron`). Where VS Code cannot be
 * downloaded, `npm test` runs the same suite in code-server (scripts/run-host-tests.mjs).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-electron-'));
  fs.writeFileSync(path.join(workspace, 'README.md'), '# Borg test workspace\n');
  process.env.BORG_TEST_SCRATCH ??= workspace;
  try {
    await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, 'out', 'test', 'extension', 'index'),
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    });
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`extension tests failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
