import type { BlockedReason } from './taskStore';

/**
 * The words every face (Agents view, status bar, task panel, Tasks view, `borg tasks show`) uses
 * for what the model gateway metered: money in USD, tokens as counts. Pure, so it is tested in
 * plain Node and the CLI and the extension say the same thing.
 */

/**
 * USD for a run or a task: four decimals under a dollar (agent runs cost cents), two from a dollar
 * up. `formatUsd(0.0312)` → `$0.0312`, `formatUsd(5)` → `$5.00`, `formatUsd(0)` → `$0.00`.
 */
export function formatUsd(usd: number): string {
  const v = Number.isFinite(usd) ? Math.max(0, usd) : 0;
  if (v === 0) return '$0.00';
  return v < 1 ? `$${v.toFixed(4)}` : `$${v.toFixed(2)}`;
}

/**
 * USD to the cent, for the status bar's day total: `$0.42`, `$12.00`; a spend under half a cent
 * reads `<$0.01` (something was spent, and `$0.00` would say nothing was).
 */
export function formatUsdCents(usd: number): string {
  const v = Number.isFinite(usd) ? Math.max(0, usd) : 0;
  if (v > 0 && v < 0.005) return '<$0.01';
  return `$${v.toFixed(2)}`;
}

/** A token count, short: `950`, `12.3k`, `120k`, `1.5M` (k = 1,000). */
export function formatTokens(n: number): string {
  const v = Number.isFinite(n) ? Math.max(0, Math.round(n)) : 0;
  if (v < 1000) return String(v);
  if (v < 999_500) return short(v / 1000, 'k');
  return short(v / 1_000_000, 'M');
}

/** A token count in full, with thousands separators: `1,234`. */
export function formatCount(n: number): string {
  return Math.max(0, Math.round(Number.isFinite(n) ? n : 0)).toLocaleString('en-US');
}

/** A run's metered totals, as the gateway reports them (gateway/ledger.ts `RunUsage`): tokens and USD. */
export interface MeteredUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/**
 * A run's cost for an Agents view description: `$0.0312 · 12.3k tok` (input, cache and output
 * tokens together).
 */
export function usageShort(u: MeteredUsage): string {
  return `${formatUsd(u.costUsd)} · ${formatTokens(u.inputTokens + u.outputTokens)} tok`;
}

/**
 * A run's tokens and cost in full, for `borg tasks show` and the task panel:
 * `in 1,234 · out 567 tok · $0.0123`; `-` when nothing was metered or reported (all null).
 */
export function usageLong(r: { inputTokens: number | null; outputTokens: number | null; costUsd: number | null }): string {
  if (r.inputTokens === null && r.outputTokens === null && r.costUsd === null) return '-';
  return `in ${formatCount(r.inputTokens ?? 0)} · out ${formatCount(r.outputTokens ?? 0)} tok · ${formatUsd(r.costUsd ?? 0)}`;
}

/** Spend against a cap (USD; 0 = no cap): `$0.0123 of $5.00`, `$0.0123 (no cap)`. */
export function spendOfCap(spentUsd: number, capUsd: number): string {
  return capUsd > 0 ? `${formatUsd(spentUsd)} of ${formatUsd(capUsd)}` : `${formatUsd(spentUsd)} (no cap)`;
}

/**
 * Why a blocked task waits, in one line: `blocked: budget`, `blocked: auth`,
 * `blocked: quota, retry after 14:05:00` (local time; with the date when not today),
 * `blocked: quota, retry now` once that time has passed.
 * @param retryAt ms since the epoch (the upstream's retry time), or null.
 */
export function blockedLine(reason: BlockedReason | null, retryAt: number | null, now = Date.now()): string {
  const words = `blocked: ${reason ?? 'other'}`;
  if (retryAt === null || !Number.isFinite(retryAt)) return words;
  return `${words}, ${retryAt <= now ? 'retry now' : `retry after ${localTime(retryAt, now)}`}`;
}

/** `HH:MM:SS` local when `ms` is on the day of `now`, else `YYYY-MM-DD HH:MM:SS`. */
export function localTime(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const n = new Date(now);
  const p = (x: number) => String(x).padStart(2, '0');
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate();
  return sameDay ? time : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
}

/** One decimal under 100 (`12.3k`), none from 100 up (`120k`); a trailing `.0` is dropped. */
function short(v: number, unit: string): string {
  const s = v < 100 ? v.toFixed(1) : v.toFixed(0);
  return `${s.replace(/\.0$/, '')}${unit}`;
}
