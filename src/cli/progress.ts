/**
 * A one-line progress bar with rate and ETA for long CLI jobs (calibration, training, eval).
 * Redraws in place on a TTY; elsewhere prints a line every few percent so logs stay short.
 */

/** Formats seconds as h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Progress of `total` units of work, `done` of which may be finished already (resumed runs). */
export class ProgressBar {
  private readonly start = Date.now();
  private readonly startDone: number;
  private lastPrinted = -1;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private done = 0,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.startDone = done;
  }

  /** Adds `by` finished units and redraws; `note` is appended (e.g. a running loss). */
  tick(by = 1, note = ''): void {
    this.done += by;
    const frac = this.total ? this.done / this.total : 1;
    const elapsed = (Date.now() - this.start) / 1000;
    const rate = (this.done - this.startDone) / Math.max(elapsed, 1e-3);
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const width = 24;
    const fill = Math.round(frac * width);
    const line = `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${this.done}/${this.total} ${(100 * frac).toFixed(0)}% ${rate.toFixed(2)}/s ETA ${formatDuration(eta)}${note ? ' ' + note : ''}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line}\x1b[K${this.done >= this.total ? '\n' : ''}`);
    } else {
      const bucket = Math.floor(frac * 20);
      if (bucket !== this.lastPrinted || this.done >= this.total) {
        this.lastPrinted = bucket;
        this.stream.write(line + '\n');
      }
    }
  }

  /** Seconds since the bar was created. */
  elapsedSeconds(): number {
    return (Date.now() - this.start) / 1000;
  }
}
