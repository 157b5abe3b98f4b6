import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The compiled store module as the Docker tests and `node out/src/cli.js` load it (unbundled). */
const STORE_JS = path.join(__dirname, '..', '..', 'src', 'core', 'store.js');

describe('Store from the unbundled build (out/)', () => {
  // Regression: store.ts once resolved "sql.js/package.json", which sql.js's "exports" hide
  // (ERR_PACKAGE_PATH_NOT_EXPORTED, thrown uncaught inside sql.js's init: the process died).
  it('opens a database in a fresh process', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-store-'));
    try {
      const script =
        `require(${JSON.stringify(STORE_JS)}).Store.open(${JSON.stringify(path.join(dir, 'borg.sqlite'))})` +
        `.then((s) => s.close()).then(() => console.log('opened'), (e) => { console.log('rejected', e.message); process.exit(3); });`;
      let out = '';
      let failure = '';
      try {
        out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        const err = e as { status?: number; stdout?: string; stderr?: string };
        failure = `exit ${err.status}: ${err.stdout ?? ''}${(err.stderr ?? '').split('\n').find((l) => l.startsWith('Error')) ?? ''}`;
      }
      assert.equal(failure, '');
      assert.equal(out.trim(), 'opened');
      assert.ok(fs.existsSync(path.join(dir, 'borg.sqlite')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
