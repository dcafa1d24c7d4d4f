/**
 * Incremental detokenizer: turns a growing list of token ids into text deltas without re-decoding
 * the whole sequence and without emitting half of a multi-byte character. It keeps a small window
 * (prefix offset .. read offset) as in vLLM and text-generation-inference: the delta is the decode
 * of the window plus the new tokens, minus the decode of the window alone; while the newest text
 * ends in U+FFFD (an incomplete UTF-8 sequence) nothing is emitted yet.
 */

/** What the detokenizer needs from a tokenizer: ids -> text (special tokens skipped). */
export interface TokenDecoder {
  decode(ids: number[]): string;
}

const CONTEXT_TOKENS = 5;

export class IncrementalDetokenizer {
  private ids: number[];
  private prefixOffset: number;
  private readOffset: number;
  private readonly start: number;

  /**
   * @param decoder the tokenizer
   * @param context the last prompt tokens, so the first generated token keeps its leading space
   */
  constructor(
    private readonly decoder: TokenDecoder,
    context: number[] = [],
  ) {
    this.ids = context.slice(-CONTEXT_TOKENS);
    this.start = this.ids.length;
    this.prefixOffset = 0;
    this.readOffset = this.ids.length;
  }

  /** Appends one token and returns the text it completes (possibly empty). */
  push(token: number): string {
    this.ids.push(token);
    const prefixText = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const newText = this.decoder.decode(this.ids.slice(this.prefixOffset));
    if (newText.length > prefixText.length && !newText.endsWith('\uFFFD')) {
      const delta = newText.startsWith(prefixText) ? newText.slice(prefixText.length) : newText.slice(commonPrefix(prefixText, newText));
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return delta;
    }
    return '';
  }

  /** An independent copy in the same state (a beam that forks keeps its text so far). */
  clone(): IncrementalDetokenizer {
    const c = Object.assign(Object.create(IncrementalDetokenizer.prototype) as IncrementalDetokenizer, this);
    c.ids = this.ids.slice();
    return c;
  }

  /** Returns whatever text is still held back (e.g. a trailing incomplete character) at the end. */
  flush(): string {
    if (this.readOffset >= this.ids.length) return '';
    const prefixText = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const newText = this.decoder.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return newText.length > prefixText.length ? newText.slice(commonPrefix(prefixText, newText)) : '';
  }

  /** The generated ids so far (without the prompt context). */
  generated(): number[] {
    return this.ids.slice(this.start);
  }
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
