/**
 * P6: Borg's activation in a real VS Code extension host (code-server, bench/host/) against an
 * empty extension's in the same host, and the size of the production bundle (dist/*.js, the
 * sql.js wasm excluded). One window per sample: each is a new extension host in which
 * `ext.activate()` of each extension (neither active before) is timed — the require of its
 * bundle plus its `activate()` — the empty one first (Borg leaves work running after its
 * activation that would slow the next). Borg's workspace database exists already (session.ts).
 * Borg's activate() returns before its database is open (extension.ts: what VS Code waits for is
 * only the require and the registrations); the time until its start finished (`BorgApi.ready`)
 * is a figure of its own.
 */
import type { Benchmark } from './benchmark';
import { verdict } from './benchmark';
import { hostSession } from './host/session';
import { median, pairRatios, spreadOf } from './stats';

/** The production bundle's limit, bytes (the issue's 1.5 MB). */
const BUNDLE_LIMIT = 1_500_000;

export const activationBenchmark: Benchmark = {
  id: 'P6',
  what: 'extension activation in the real host (ext.activate(): require + activate); production bundle size excl. wasm',
  baseline: 'an empty extension’s activation in the same host (the same window)',
  target: '≤ 150 ms; ≤ 1.5 MB',
  needs: 'host',
  async run(opts) {
    const s = await hostSession('P6', opts);
    const borg = s.windows.map((w) => w.activation.borgMs);
    const empty = s.windows.map((w) => w.activation.emptyMs);
    const ratios = pairRatios(borg, empty);
    const extensionBytes = s.bundle['extension.js'];
    const allBytes = Object.values(s.bundle).reduce((a, b) => a + b, 0);
    return {
      figures: [
        { label: 'Borg ext.activate()', unit: 'ms', spread: spreadOf(borg) },
        { label: 'empty extension ext.activate() (baseline)', unit: 'ms', spread: spreadOf(empty) },
        { label: 'Borg / empty extension', unit: '×', spread: spreadOf(ratios) },
        { label: 'Borg started: ext.activate() until BorgApi.ready (database open, views and commands registered)', unit: 'ms', spread: spreadOf(s.windows.map((w) => w.activation.borgReadyMs)) },
        { label: 'Borg activation, host CPU time', unit: 'ms', spread: spreadOf(s.windows.map((w) => w.activation.borgCpuMs)) },
        { label: 'empty extension activation, host CPU time', unit: 'ms', spread: spreadOf(s.windows.map((w) => w.activation.emptyCpuMs)) },
        { label: 'production bundle dist/extension.js (what the host loads)', unit: 'bytes', spread: spreadOf([extensionBytes]) },
        { label: 'dist/*.js: extension.js + cli.js (the borg CLI, a bundle of its own)', unit: 'bytes', spread: spreadOf([allBytes]) },
      ],
      verdicts: [
        verdict('Borg activation', 'ms', median(borg), 150, opts.quick, spreadOf(borg)),
        verdict('production bundle (extension.js) excl. wasm', 'bytes', extensionBytes, BUNDLE_LIMIT, opts.quick),
      ],
      notes: [
        `${s.windows.length} extension host(s), one activation of each extension in each (the empty one first); ratio of medians ${(median(borg) / median(empty)).toFixed(1)}×`,
        `bundle: ${Object.entries(s.bundle)
          .map(([f, b]) => `${f} ${b} bytes`)
          .join(', ')}`,
        `Borg's workspace database existed before ${s.windows.filter((w) => w.activation.dbExisted).length} of ${s.windows.length} activations (created beforehand: a first-ever open also creates the schema)`,
        ...s.windows.flatMap((w) => w.notes),
      ],
    };
  },
};
