/**
 * A text buffer that keeps only the last `maxChars` characters (UTF-16 code units) of what was
 * appended, cut at a line boundary: the kept text starts right after a `\n`, unless the last
 * `maxChars` hold no line break at all (then it is cut mid-line). Used for the hardline
 * terminal's transcript, so a chatty agent cannot grow the extension's memory without bound.
 *
 * Appending is amortised O(length): the buffer is compacted only once it holds `maxChars` plus a
 * slack of a quarter of that, and {@link BoundedText.text} compacts to the bound before reading.
 */
export class BoundedText {
  private chunks: string[] = [];
  private length = 0;
  private droppedChars = 0;
  private readonly slack: number;

  /**
   * @param maxChars the most characters {@link text} returns (≥ 1).
   * @throws RangeError when `maxChars` is not a positive integer.
   */
  constructor(readonly maxChars: number) {
    if (!Number.isInteger(maxChars) || maxChars < 1) throw new RangeError(`BoundedText: maxChars must be a positive integer, got ${maxChars}`);
    this.slack = Math.max(1, Math.floor(maxChars / 4));
  }

  /** Adds `s` at the end. */
  append(s: string): void {
    if (!s) return;
    this.chunks.push(s);
    this.length += s.length;
    if (this.length > this.maxChars + this.slack) this.compact();
  }

  /** The kept text: at most `maxChars` characters, starting at a line start when it was cut (see the class). */
  text(): string {
    this.compact();
    return this.chunks[0] ?? '';
  }

  /**
   * {@link text}, preceded by `note(dropped)` and a line break when anything was dropped (e.g.
   * "… older output is in Show Logs"), so a reader knows the text is not the whole output.
   */
  textWithNote(note: (dropped: number) => string): string {
    const kept = this.text();
    return this.droppedChars ? `${note(this.droppedChars)}\n${kept}` : kept;
  }

  /** How many characters were dropped from the front so far (0: `text()` is everything appended). */
  get dropped(): number {
    this.compact();
    return this.droppedChars;
  }

  private compact(): void {
    if (this.chunks.length <= 1 && this.length <= this.maxChars) return;
    let s = this.chunks.join('');
    if (s.length > this.maxChars) {
      const cut = s.length - this.maxChars;
      // The kept part must start at a line start: after the first '\n' at or after cut - 1.
      const nl = s.indexOf('\n', cut - 1);
      const from = nl === -1 ? cut : nl + 1;
      this.droppedChars += from;
      s = s.slice(from);
    }
    this.chunks = s ? [s] : [];
    this.length = s.length;
  }
}
