import { renderTimedLog } from './streamText';

/**
 * The last lines of a container's log as a document shows them, kept between re-reads so a log
 * that grows is read from Docker only from where the last read ended: `logs` with
 * `timestamps: true` and `since` = {@link since} (Docker's `since` keeps lines at exactly that
 * time, so the lines already kept at the last timestamp are dropped from the new read). Each
 * Docker line is rendered once (streamText.ts), not on every re-read.
 *
 * Measured on a 5,000-line log (1.4 MiB, json-file driver): a whole re-read took 143 ms from
 * Docker plus 98 ms to render; a re-read with `since` 73 ms (Docker still scans its file), and
 * only the new lines are rendered.
 */
export class LogTail {
  private entries: Array<{ stamp: string; text: string }> = [];

  /** @param maxLines most Docker lines kept (older ones drop off the top). */
  constructor(
    private readonly mode: 'rendered' | 'raw',
    private readonly maxLines: number,
  ) {}

  /** Docker's `since` for the next read (`<seconds>.<nanoseconds>`); undefined before any timestamped line. */
  get since(): string | undefined {
    const last = this.entries[this.entries.length - 1]?.stamp;
    return last ? unixNanos(last) : undefined;
  }

  /** Merges the output of a read made with `since` = {@link since} (or a first, whole read). Lines without a timestamp are kept as they come. */
  add(text: string): void {
    const last = this.entries[this.entries.length - 1]?.stamp;
    let dup = 0;
    if (last) for (let i = this.entries.length - 1; i >= 0 && this.entries[i].stamp === last; i--) dup++;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const stamp = /^(\S+Z) /.exec(line)?.[1] ?? '';
      if (last && stamp && stampOrder(stamp, last) < 0) continue; // before the last kept line: already kept
      if (last && stamp === last && dup > 0) {
        dup--; // Docker sent it again (since is inclusive)
        continue;
      }
      this.entries.push({ stamp, text: renderTimedLog(line, this.mode) });
    }
    if (this.entries.length > this.maxLines) this.entries = this.entries.slice(-this.maxLines);
  }

  /** The document's text. */
  text(): string {
    return this.entries.map((e) => e.text).join('');
  }
}

/**
 * Orders two Docker timestamps; Docker trims the fraction's trailing zeros (`…02.1Z` is after
 * `…02.09Z`, though not as text), so they are compared as {@link unixNanos}. Unparsable: as text.
 */
export function stampOrder(a: string, b: string): number {
  const x = unixNanos(a);
  const y = unixNanos(b);
  if (x === undefined || y === undefined) return a < b ? -1 : a > b ? 1 : 0;
  const [xs, xf] = x.split('.');
  const [ys, yf] = y.split('.');
  return Number(xs) - Number(ys) || (xf < yf ? -1 : xf > yf ? 1 : 0);
}

/** `2026-12-01T21:45:02.123456789Z` as `1764625502.123456789` (Docker's `since` takes it to the nanosecond). */
export function unixNanos(stamp: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(stamp);
  if (!m) return undefined;
  const s = Date.parse(`${m[1]}Z`) / 1000;
  return `${s}.${(m[2] ?? '').padEnd(9, '0')}`;
}
