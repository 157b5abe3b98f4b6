import Mocha from 'mocha';

/**
 * Runs mocha over `files` inside the extension host and prints the counts on one console line
 * ("BORG-HOST-RESULT passed=N failed=M") that scripts/run-host-tests.mjs reads.
 */
export function runMocha(files: string[]): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, reporter: 'spec' });
  for (const f of files) mocha.addFile(f);
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      console.log(`BORG-HOST-RESULT passed=${runner.stats?.passes ?? 0} failed=${failures}`);
      if (failures > 0) reject(new Error(`${failures} extension test(s) failed`));
      else resolve();
    });
  });
}
