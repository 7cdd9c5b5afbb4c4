/**
 * A block of lines at the bottom of a terminal that is redrawn in place, with ordinary lines
 * (log lines, one line per finished rung) printed above it. Without a terminal it is plain:
 * print() writes through and render() does nothing (the caller prints its own lines).
 */
export class LiveRegion {
  private drawn = 0;
  private frame: string[] = [];
  private closed = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  get interactive(): boolean {
    return this.out.isTTY === true && !this.closed;
  }

  /** Writes `text` (one or more lines) above the region, then draws the region again. */
  print(text: string): void {
    const block = text.endsWith('\n') ? text : `${text}\n`;
    if (!this.interactive) {
      this.out.write(block);
      return;
    }
    this.out.write(this.erase() + block + this.draw(this.frame));
  }

  /** Replaces the region's lines (each cut to the terminal's width so none wraps). */
  render(lines: string[]): void {
    if (!this.interactive) return;
    this.frame = lines;
    this.out.write(this.erase() + this.draw(lines));
  }

  /** Leaves the last frame on screen; later output goes below it. */
  close(): void {
    this.drawn = 0;
    this.closed = true;
  }

  private erase(): string {
    // Up to the region's first line, column 1, then clear to the end of the screen.
    const text = this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[0J` : '';
    this.drawn = 0;
    return text;
  }

  private draw(lines: string[]): string {
    const width = Math.max(20, (this.out.columns || 100) - 1);
    this.drawn = lines.length;
    return lines.map((l) => `${l.length > width ? `${l.slice(0, width - 1)}…` : l}\n`).join('');
  }
}
