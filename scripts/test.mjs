// Runs the test stages one after another and sums their counts into one closing line
// "N passed, N failed". Stages: lint (eslint and prettier --check: two checks), unit (node:test,
// plain Node), docker (node:test, real dockerd), host (mocha in a real VS Code extension host),
// ui (the packaged .vsix installed into code-server, driven in headless Chromium: scripts/ui-test.mjs).
// Pick stages by name: node scripts/test.mjs unit docker
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const testFiles = (dir) =>
  existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.test.js'))
        .sort()
        .map((f) => join(dir, f))
    : [];
const nodeTest = (dir, extra = []) => ['node', ['--test', '--test-reporter=spec', ...extra, ...testFiles(dir)]];

const bin = (name) => join('node_modules', '.bin', name);
/** Kept in step with the "lint" and "format" scripts of package.json. */
const FORMAT_PATHS = ['src', 'test', 'bench', 'scripts'];
/** The lint stage's checks: each counts 1 passed or 1 failed; a failure does not stop the later stages. */
const lintChecks = {
  eslint: [bin('eslint'), ['.']],
  prettier: [bin('prettier'), ['--check', ...FORMAT_PATHS]],
};

const stages = {
  lint: 'lint',
  unit: nodeTest('out/test/unit'),
  docker: nodeTest('out/test/docker', ['--test-concurrency=1']),
  host: ['node', ['scripts/run-host-tests.mjs']],
  ui: ['node', ['scripts/ui-test.mjs']],
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(stages);
let passed = 0;
let failed = 0;
for (const name of wanted) {
  const stage = stages[name];
  if (!stage) {
    console.error(`unknown stage ${name}; stages: ${Object.keys(stages).join(', ')}`);
    process.exit(2);
  }
  console.log(`\n=== ${name} ===`);
  if (name === 'lint') {
    for (const [check, cmd] of Object.entries(lintChecks)) {
      const { code } = await run(...cmd);
      console.log(`lint: ${check} ${code === 0 ? 'ok' : `failed (exit ${code})`}`);
      if (code === 0) passed += 1;
      else failed += 1;
    }
    continue;
  }
  const { code, out } = await run(...stage);
  const counts = countsOf(name, out);
  if (!counts || (code !== 0 && counts.failed === 0)) {
    console.log(`stage ${name} exited with ${code} without a usable count`);
    passed += counts?.passed ?? 0;
    failed += Math.max(1, counts?.failed ?? 0);
  } else {
    passed += counts.passed;
    failed += counts.failed;
  }
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.on('error', (e) => {
      out += String(e);
      console.error(String(e));
      resolve({ code: 127, out });
    });
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** node:test's spec reporter ends with "ℹ pass N" / "ℹ fail N"; the host and ui runners print "host: N passed, N failed" ("ui: …"). */
function countsOf(name, out) {
  if (name === 'host' || name === 'ui') {
    const m = new RegExp(`^${name}: (\\d+) passed, (\\d+) failed$`, 'm').exec(out);
    return m && { passed: Number(m[1]), failed: Number(m[2]) };
  }
  const p = /^ℹ pass (\d+)$/m.exec(out);
  const f = /^ℹ fail (\d+)$/m.exec(out);
  return p && f && { passed: Number(p[1]), failed: Number(f[1]) };
}
