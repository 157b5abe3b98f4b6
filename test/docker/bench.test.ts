/**
 * Every benchmark of `npm run bench` runs here in quick mode, through the runner, only to prove it
 * still works: it must finish, exit 0 and report figures that are numbers measured from samples.
 * Nothing here asserts a time (speed targets live in bench/, these machines are noisy).
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { BENCHMARKS } from '../../bench/index';
import type { ResultsFile } from '../../bench/run';

const RUNNER = path.resolve(__dirname, '..', '..', 'bench', 'run.js');

/** Runs `node out/bench/run.js --quick --only ID --json FILE`; resolves with its exit code, output and the JSON. */
function runQuick(id: string): Promise<{ code: number | null; out: string; results?: ResultsFile }> {
  const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'borg-bench-test-')), 'results.json');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER, '--quick', '--only', id, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const results = fs.existsSync(json) ? (JSON.parse(fs.readFileSync(json, 'utf8')) as ResultsFile) : undefined;
      fs.rmSync(path.dirname(json), { recursive: true, force: true });
      resolve({ code, out, results });
    });
  });
}

describe('benchmarks, quick mode (they run; no timing is asserted)', () => {
  for (const b of BENCHMARKS) {
    it(`${b.id} runs and reports measured figures`, { timeout: 240_000 }, async () => {
      const { code, out, results } = await runQuick(b.id);
      assert.equal(code, 0, `the runner failed:\n${out}`);
      assert.ok(results, `no results file:\n${out}`);
      const [r] = results.results;
      assert.equal(results.results.length, 1);
      assert.equal(r.id, b.id);
      assert.equal(r.quick, true);
      assert.ok(r.figures.length > 0, 'no figures');
      for (const f of r.figures) {
        assert.ok(f.spread.n > 0, `${f.label}: no samples`);
        for (const k of ['median', 'min', 'p25', 'p75', 'max'] as const) assert.ok(Number.isFinite(f.spread[k]), `${f.label}: ${k} is ${f.spread[k]}`);
        assert.ok(f.spread.min <= f.spread.median && f.spread.median <= f.spread.max, `${f.label}: the spread is not ordered`);
      }
      assert.ok(r.verdicts.length > 0, 'no verdicts');
      for (const v of r.verdicts) {
        assert.ok(Number.isFinite(v.value) && Number.isFinite(v.limit), `${v.label}: ${v.value} against ${v.limit}`);
        assert.equal(v.met, undefined, 'quick mode judges nothing');
      }
      assert.match(out, new RegExp(`\\| ${b.id} \\|`), 'the table has no row for it');
    });
  }
});
