/**
 * P7: the Docker API calls Borg makes while idle, in a real extension host on the real dockerd
 * (bench/host/): every method of Borg's engine counted (each Docker call goes through it), first
 * with the Borg views hidden (as after start-up), then visible; and every HTTP request its dockerode
 * client sends (the figure: what dockerd receives). Each state: a settle period (its
 * calls reported, not judged), then the counted period.
 */
import type { Benchmark } from './benchmark';
import { verdict } from './benchmark';
import { callsText, callTotal } from './host/protocol';
import { hostSession } from './host/session';
import { spreadOf } from './stats';

export const dockerCallsBenchmark: Benchmark = {
  id: 'P7',
  what: 'Docker API calls per minute, idle, views hidden and visible (every Engine method counted, real host)',
  baseline: '— (absolute)',
  target: '0 hidden; ≤ 1/min visible',
  needs: 'host',
  async run(opts) {
    const s = await hostSession('P7', opts);
    const r = s.windows[0].dockerCalls;
    if (!r) throw new Error('the host session measured no Docker calls');
    const perMin = (st: typeof r.hidden) => callTotal(st.counted.http) / (st.countedMs / 60_000);
    const hidden = perMin(r.hidden);
    const visible = perMin(r.visible);
    return {
      figures: [
        { label: 'Docker API requests, views hidden', unit: 'calls/min', spread: spreadOf([hidden]) },
        { label: 'Docker API requests, views visible', unit: 'calls/min', spread: spreadOf([visible]) },
      ],
      verdicts: [verdict('idle, views hidden', 'calls/min', hidden, 0, opts.quick), verdict('idle, views visible', 'calls/min', visible, 1, opts.quick)],
      notes: [
        `hidden: counted ${(r.hidden.countedMs / 1000).toFixed(1)} s: ${callsText(r.hidden.counted)}; the settle period before (${(r.hidden.settleMs / 1000).toFixed(1)} s, right after activation): ${callsText(r.hidden.settle)}`,
        `visible: counted ${(r.visible.countedMs / 1000).toFixed(1)} s: ${callsText(r.visible.counted)}; the settle period after the view opened (${(r.visible.settleMs / 1000).toFixed(1)} s): ${callsText(r.visible.settle)} (the event stream opened then stays open)`,
      ],
    };
  },
};
