/**
 * The guides the server has checked lately, so a client that sends the same schema, grammar or
 * regex with every request (the usual case) pays for turning it into a pattern and compiling that
 * once: a large grammar takes tens of milliseconds of the event loop (llama.cpp's JSON grammar
 * about 80), each time. What a check found, a pattern or the error it raised, is kept by its input,
 * most recent first, within a bound on entries and characters.
 */

const MAX_ENTRIES = 64;
const MAX_CHARS = 8_000_000;

type Found = { pattern: string } | { error: Error };

export class GuideCheckCache {
  private readonly found = new Map<string, Found>();
  private chars = 0;

  /** The pattern `check` gives for `key` (or the error it throws), computed once while it is kept. */
  get(key: string, check: () => string): string {
    let f = this.found.get(key);
    if (f) {
      this.found.delete(key);
      this.found.set(key, f);
    } else {
      try {
        f = { pattern: check() };
      } catch (error) {
        f = { error: error as Error };
      }
      this.keep(key, f);
    }
    if ('error' in f) throw f.error;
    return f.pattern;
  }

  private keep(key: string, f: Found): void {
    const size = (k: string, x: Found) => k.length + ('pattern' in x ? x.pattern.length : 0);
    if (size(key, f) > MAX_CHARS / 4) return;
    this.found.set(key, f);
    this.chars += size(key, f);
    while (this.found.size > MAX_ENTRIES || this.chars > MAX_CHARS) {
      const [k, x] = this.found.entries().next().value!;
      this.found.delete(k);
      this.chars -= size(k, x);
    }
  }
}
