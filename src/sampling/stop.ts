/**
 * Stop strings for streamed text. Text that might be the beginning of a stop string is held back
 * until it is known not to be one, so a client never sees part of a stop string; when a stop string
 * appears, the text is cut just before it (or, with `include`, just after it: vLLM's
 * include_stop_str_in_output) and generation ends with finish_reason "stop". Text pushed unchecked
 * (before vLLM's min_tokens) is released at once and cannot stop the text: a stop string must start
 * in checked text (what was sent is never taken back).
 */

export interface StopPush {
  /** Text that is now safe to send. */
  emit: string;
  /** True when a stop string was found (the candidate must finish). */
  stopped: boolean;
}

export class StopChecker {
  private text = '';
  private emitted = 0;
  private done = false;
  /** Where checked text starts (the end of the last unchecked push). */
  private checkedFrom = 0;
  private readonly maxLen: number;

  /**
   * @param stops stop strings (empty strings are ignored)
   * @param include keep the stop string that ends the text
   */
  constructor(
    private readonly stops: readonly string[],
    private readonly include = false,
  ) {
    this.stops = stops.filter((s) => s.length > 0);
    this.maxLen = Math.max(0, ...this.stops.map((s) => s.length));
  }

  /** Adds a text delta; returns what may be sent and whether a stop string ended the text (never when `check` is false). */
  push(delta: string, check = true): StopPush {
    if (this.done) return { emit: '', stopped: true };
    this.text += delta;
    if (!check) this.checkedFrom = this.text.length;
    if (this.stops.length === 0 || !check) return this.release(this.text.length, false);
    const from = Math.max(this.checkedFrom, this.emitted - this.maxLen + 1);
    let cut = -1;
    for (const s of this.stops) {
      const i = this.text.indexOf(s, from);
      const end = this.include ? i + s.length : i;
      if (i >= 0 && (cut < 0 || end < cut)) cut = end;
    }
    if (cut >= 0) {
      this.text = this.text.slice(0, cut);
      this.done = true;
      return this.release(cut, true);
    }
    return this.release(this.text.length - this.heldBack(), false);
  }

  /** An independent copy in the same state (a beam that forks keeps its text so far). */
  clone(): StopChecker {
    return Object.assign(Object.create(StopChecker.prototype) as StopChecker, this);
  }

  /** Releases everything still held back (the text ended without a stop string). */
  flush(): string {
    return this.release(this.text.length, this.done).emit;
  }

  /** True once a stop string was found. */
  get stopped(): boolean {
    return this.done;
  }

  /** The whole text so far, cut before the stop string when one was found. */
  get fullText(): string {
    return this.text;
  }

  private release(end: number, stopped: boolean): StopPush {
    const emit = this.text.slice(this.emitted, Math.max(this.emitted, end));
    this.emitted = Math.max(this.emitted, end);
    return { emit, stopped };
  }

  /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
  private heldBack(): number {
    const limit = Math.min(this.maxLen - 1, this.text.length - this.emitted);
    for (let k = limit; k > 0; k--) {
      const tail = this.text.slice(this.text.length - k);
      if (this.stops.some((s) => s.startsWith(tail))) return k;
    }
    return 0;
  }
}
