/**
 * `npm run bench`: runs the benchmarks P1–P11 (`bench/index.ts`) one after another on this
 * machine, prints one table (each figure a median with its spread, each verdict a ratio against a
 * baseline measured in the same run, or an absolute value where the target is absolute) and
 * writes `bench/results.json`; `--readme` also rewrites the README's benchmark table (between the
 * `<!-- bench:table -->` markers) from that file. A benchmark that throws is reported as failed
 * and the others still run; the exit code is 1 then, never for a missed target (these machines
 * are noisy: a target is read from the table, not enforced).
 *   node out/bench/run.js [--quick] [--only P1,P3] [--runs N] [--json FILE] [--readme]
 * --quick: few, small runs (the test suite's mode); its results go only to --json, never to
 * bench/results.json or the README.
 * With --only, bench/results.json keeps the other benchmarks' last results (each has its date).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { BenchResult } from './benchmark';
import { BENCHMARKS } from './index';
import { machineFacts, type MachineFacts } from './machine';
import { spreadText } from './stats';

/** bench/results.json: the latest result of each benchmark, with the machine and date it ran on. */
export interface ResultsFile {
  results: Array<BenchResult & { date: string; machine: MachineFacts; quick: boolean }>;
}

const ROOT = path.resolve(__dirname, '..', '..');
const RESULTS = path.join(ROOT, 'bench', 'results.json');
const README = path.join(ROOT, 'README.md');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'string' },
      readme: { type: 'boolean', default: false },
    },
  });
  const only = values.only?.split(',').map((s) => s.trim().toUpperCase());
  const unknown = only?.filter((id) => !BENCHMARKS.some((b) => b.id === id)) ?? [];
  if (unknown.length) throw new Error(`no benchmark ${unknown.join(', ')}; there are ${BENCHMARKS.map((b) => b.id).join(', ')}`);
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs must be a whole number above 0, not ${values.runs}`);
  const chosen = BENCHMARKS.filter((b) => !only || only.includes(b.id));
  const machine = await machineFacts();
  const date = new Date().toISOString();
  console.log(`borg benchmarks${values.quick ? ' (quick: proves they work, measures nothing worth reading)' : ''} · ${date.slice(0, 10)} · ${machineLine(machine)}`);

  const done: ResultsFile['results'] = [];
  const failed: string[] = [];
  for (const b of chosen) {
    console.log(`\n── ${b.id}: ${b.what}`);
    if (b.needs !== 'node' && !machine.docker) {
      failed.push(b.id);
      console.log(`   ${b.id} FAILED: Docker does not answer; start dockerd (bash scripts/setup.sh starts it), then run the benchmark again`);
      continue;
    }
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `borg-bench-${b.id}-`));
    const t0 = performance.now();
    try {
      const r = await b.run({ quick: values.quick, runs, scratch, log: (line) => console.log(`   ${line}`) });
      const result = { id: b.id, what: b.what, baseline: b.baseline, target: b.target, ...r, tookMs: Math.round(performance.now() - t0), date, machine, quick: values.quick };
      done.push(result);
      printResult(result);
    } catch (e) {
      failed.push(b.id);
      console.log(`   ${b.id} FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }

  console.log(`\n${summaryTable(done)}`);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ results: done }, null, 2) + '\n');
  if (!values.quick) {
    const kept = readResults().results.filter((r) => !done.some((d) => d.id === r.id) && BENCHMARKS.some((b) => b.id === r.id));
    const all = [...kept, ...done].sort((a, b) => order(a.id) - order(b.id));
    fs.writeFileSync(RESULTS, JSON.stringify({ results: all }, null, 2) + '\n');
    console.log(`written: ${path.relative(process.cwd(), RESULTS)}`);
    if (values.readme) {
      writeReadmeTable(all);
      console.log(`written: the table in ${path.relative(process.cwd(), README)}`);
    }
  }
  if (failed.length) {
    console.log(`failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

function order(id: string): number {
  return BENCHMARKS.findIndex((b) => b.id === id);
}

function machineLine(m: MachineFacts): string {
  return `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, dockerd ${m.docker ?? 'not reachable'}`;
}

function printResult(r: BenchResult): void {
  for (const f of r.figures) console.log(`   ${f.label}: ${spreadText(f.spread, digitsFor(f.unit))} ${f.unit}`);
  for (const v of r.verdicts) console.log(`   → ${v.label}: ${verdictText(v)}`);
  for (const n of r.notes) console.log(`   · ${n}`);
  console.log(`   (${(r.tookMs / 1000).toFixed(1)} s)`);
}

function digitsFor(unit: string): number {
  return unit === '×' ? 2 : unit === 'bytes' || unit === 'calls' ? 0 : 1;
}

function valueText(value: number, unit: string): string {
  if (unit === 'bytes') return value >= 1e6 ? `${(value / 1e6).toFixed(2)} MB` : `${(value / 1e3).toFixed(1)} kB`;
  return `${value.toFixed(digitsFor(unit))}${unit === '×' ? '×' : ` ${unit}`}`;
}

function verdictText(v: BenchResult['verdicts'][number]): string {
  const spread = v.spread ? ` (per-run ${v.spread.min.toFixed(2)}–${v.spread.max.toFixed(2)}, p25–p75 ${v.spread.p25.toFixed(2)}–${v.spread.p75.toFixed(2)})` : '';
  const met = v.met === undefined ? '' : v.met ? ' ✔ met' : ' ✘ missed';
  return `${valueText(v.value, v.unit)}${spread} · limit ${valueText(v.limit, v.unit)}${met}`;
}

/** The Markdown table of `results`: one row per verdict. */
function summaryTable(results: readonly BenchResult[]): string {
  const rows = ['| id | what | measured | target | met |', '|---|---|---|---|---|'];
  for (const r of results) {
    for (const v of r.verdicts) {
      const spread = v.spread ? ` (${v.spread.p25.toFixed(2)}–${v.spread.p75.toFixed(2)})` : '';
      const met = v.met === undefined ? '—' : v.met ? 'yes' : '**no**';
      rows.push(`| ${r.id} | ${v.label} | ${valueText(v.value, v.unit)}${spread} | ${r.target} | ${met} |`);
    }
  }
  return rows.join('\n');
}

function readResults(): ResultsFile {
  try {
    return JSON.parse(fs.readFileSync(RESULTS, 'utf8')) as ResultsFile;
  } catch {
    return { results: [] };
  }
}

const START = '<!-- bench:table -->';
const END = '<!-- /bench:table -->';

/** Rewrites the README between the markers: the date and machine of each run, then the table. Throws when the markers are missing. */
function writeReadmeTable(results: ResultsFile['results']): void {
  const text = fs.readFileSync(README, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} … ${END} section to write the table into`);
  const runs = [...new Set(results.map((r) => `${r.date.slice(0, 10)} on ${machineLine(r.machine)}`))];
  const head = runs.length === 1 ? `Measured ${runs[0]}.` : `Measured:\n${runs.map((r) => `- ${r}`).join('\n')}`;
  fs.writeFileSync(README, `${text.slice(0, a + START.length)}\n${head}\n\n${summaryTable(results)}\n${text.slice(b)}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
