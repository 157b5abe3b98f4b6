/**
 * Relative times for the views ("up 3 min", "exited 2 min ago") as a pure rule, so a view knows
 * both the words and when they next change (it repaints a row only then, never on a fixed tick).
 * Units: under a minute "<1 min"; then whole minutes, hours, days (rounded down, so a row's
 * words change exactly at a unit boundary).
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "<1 min", "2 min", "3 h", "4 d" for an elapsed time in ms (negative counts as 0: clocks may disagree). */
export function elapsedWords(ms: number): string {
  const t = Math.max(0, ms);
  if (t < MINUTE) return '<1 min';
  if (t < HOUR) return `${Math.floor(t / MINUTE)} min`;
  if (t < DAY) return `${Math.floor(t / HOUR)} h`;
  return `${Math.floor(t / DAY)} d`;
}

/** Ms until {@link elapsedWords}(`ms`) next changes: to the next minute, hour or day boundary (≥ 1). */
export function nextChangeIn(ms: number): number {
  const t = Math.max(0, ms);
  const unit = t < HOUR ? MINUTE : t < DAY ? HOUR : DAY;
  return Math.max(1, unit - (t % unit));
}
