// The checks of a UI script (ui-test.mjs, ui-hosts.mjs): one line per check with its time, later
// checks skipped after a failure, and the closing "<tag>: N passed, N failed" line.

/**
 * A check runner for UI script `tag`. `check(name, fn)` counts passed when `fn` resolves and
 * failed (with its error) when it throws; once one failed, later checks are skipped (and counted
 * failed). `fail(e)` counts a failure outside a check; `failed` tells whether any failed.
 * `finish(extra)` prints the total and the closing line, then exits 0 when all passed, else 1.
 */
export function uiChecks(tag) {
  const started = Date.now();
  let passed = 0;
  let failed = 0;
  const log = (line) => console.log(`[${tag}] ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s ${line}`);
  return {
    log,
    get failed() {
      return failed > 0;
    },
    async check(name, fn) {
      if (failed) {
        log(`skip ${name}`);
        failed += 1;
        return;
      }
      const t0 = Date.now();
      try {
        await fn();
        passed += 1;
        log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed += 1;
        log(`FAIL ${name}: ${e?.message ?? e}`);
      }
    },
    fail(e) {
      failed += 1;
      log(`FAIL ${e?.stack ?? e}`);
    },
    finish(extra = '') {
      log(`total ${((Date.now() - started) / 1000).toFixed(1)} s${extra}`);
      console.log(`${tag}: ${passed} passed, ${failed} failed`);
      process.exit(failed === 0 ? 0 : 1);
    },
  };
}
