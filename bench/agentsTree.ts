/**
 * P8: the Agents tree's getChildren + getTreeItem over the whole tree (groups expanded; a
 * container's Files are not read), in a real extension host (bench/host/), with many labelled
 * containers against few: real containers on the real dockerd (created, never started, Borg's
 * labels for the host's workspace, grouped by task and phase), removed afterwards. Each
 * repetition refreshes the view's snapshot (`Pipeline.refresh()`, a figure of its own) first.
 */
import type { Benchmark } from './benchmark';
import { verdict } from './benchmark';
import { hostSession } from './host/session';
import { median, pairRatios, spreadOf } from './stats';

export const agentsTreeBenchmark: Benchmark = {
  id: 'P8',
  what: 'Agents tree getChildren + getTreeItem with 500 labelled containers',
  baseline: 'the same with 5',
  target: '≤ 50 ms',
  needs: 'host',
  async run(opts) {
    const s = await hostSession('P8', opts);
    const r = s.windows[0].agentsTree;
    if (!r) throw new Error('the host session measured no Agents tree');
    const [small, large] = r.sizes;
    return {
      figures: [
        { label: `walk, ${large.containers} containers (${large.nodes} rows)`, unit: 'ms', spread: spreadOf(large.walkMs) },
        { label: `walk, ${small.containers} containers (${small.nodes} rows) (baseline)`, unit: 'ms', spread: spreadOf(small.walkMs) },
        { label: `walk ${large.containers} / ${small.containers} containers (repetition by repetition)`, unit: '×', spread: spreadOf(pairRatios(large.walkMs, small.walkMs)) },
        { label: `Pipeline.refresh(), ${large.containers} containers`, unit: 'ms', spread: spreadOf(large.refreshMs) },
        { label: `Pipeline.refresh(), ${small.containers} containers`, unit: 'ms', spread: spreadOf(small.refreshMs) },
      ],
      verdicts: [verdict(`walk with ${large.containers} containers`, 'ms', median(large.walkMs), 50, opts.quick, spreadOf(large.walkMs))],
      notes: [
        `ratio of medians ${(median(large.walkMs) / median(small.walkMs)).toFixed(1)}×`,
        `${large.walkMs.length} repetitions each; the small tree first, then the large one (its containers plus more: the two cannot alternate in one workspace)`,
        `creating the containers took ${(small.createMs / 1000).toFixed(1)} s and ${(large.createMs / 1000).toFixed(1)} s (16 at a time)`,
      ],
    };
  },
};
