/** A one-line progress display on stderr (only on a terminal; elsewhere silent until the end). */

export class Progress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly label: string) {}

  /** Redraws at most ten times a second; `fraction` is 0..1 when the total is known. */
  update(count: number, fraction?: number, force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    let bar = '';
    if (fraction !== undefined && Number.isFinite(fraction)) {
      const width = 30;
      const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
      bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% `;
    }
    process.stderr.write(`\r${bar}${count.toLocaleString('en')} ${this.label}\x1b[K`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
