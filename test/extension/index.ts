import * as path from 'node:path';
import * as fs from 'node:fs';
import Mocha from 'mocha';

/**
 * Entry the extension host calls (`extensionTestsPath`): runs every `*.test.js` beside this file
 * with mocha and reports the counts on one console line the runner reads.
 */
export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  const dir = __dirname;
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).sort()) mocha.addFile(path.join(dir, f));
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      console.log(`BORG-HOST-RESULT passed=${runner.stats?.passes ?? 0} failed=${failures}`);
      if (failures > 0) reject(new Error(`${failures} extension test(s) failed`));
      else resolve();
    });
  });
}
