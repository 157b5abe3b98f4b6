/**
 * P9: a `docker rm -f` done outside Borg (the docker CLI) → the Agents tree drops the row, in a
 * real extension host (bench/host/) with the view visible: from the CLI returning, and from
 * Docker's destroy event (as the host receives it), to the tree's `onDidChangeTreeData` after
 * which `getChildren` lacks the row. Borg's Docker calls are counted around each removal and in
 * an idle period before it, to show the tree follows events and does not poll the list.
 */
import type { Benchmark } from './benchmark';
import { verdict } from './benchmark';
import { callsText, callTotal } from './host/protocol';
import { hostSession } from './host/session';
import { median, spreadOf } from './stats';

/** "A (×9), B (×1)": each distinct text with how many times it occurs. */
function tally(texts: string[]): string {
  const n = new Map<string, number>();
  for (const t of texts) n.set(t, (n.get(t) ?? 0) + 1);
  return [...n].map(([t, k]) => `${t} (in ${k} of ${texts.length})`).join('; ');
}

export const outsideRemoveBenchmark: Benchmark = {
  id: 'P9',
  what: 'a docker rm -f done outside Borg → the Agents tree drops the row (view visible)',
  baseline: '— (absolute)',
  target: '≤ 1 s (events, not polling)',
  needs: 'host',
  async run(opts) {
    const s = await hostSession('P9', opts);
    const r = s.windows[0].outsideRemove;
    if (!r) throw new Error('the host session measured no outside removal');
    const lists = r.callsPerRemoval.map((c) => c.http['GET /containers/json'] ?? 0);
    return {
      figures: [
        { label: 'docker rm returned → row gone', unit: 'ms', spread: spreadOf(r.fromCliMs) },
        { label: 'destroy event → row gone', unit: 'ms', spread: spreadOf(r.fromEventMs) },
        { label: 'Borg container-list requests per removal', unit: 'calls', spread: spreadOf(lists) },
        { label: 'Borg Docker calls while idle before the removals', unit: 'calls', spread: spreadOf([callTotal(r.idleCalls.http)]) },
      ],
      verdicts: [verdict('docker rm → row gone', 'ms', median(r.fromCliMs), 1000, opts.quick, spreadOf(r.fromCliMs))],
      notes: [
        `${r.fromCliMs.length} removals of a running labelled container; Borg's calls per removal: ${tally(r.callsPerRemoval.map(callsText))}`,
        `idle ${(r.idleMs / 1000).toFixed(1)} s in all before the removals (the event stream open): ${callsText(r.idleCalls)} — no list polling`,
      ],
    };
  },
};
