/**
 * UTF-8 one byte at a time, for tokens that are only part of a character (byte-level BPE pieces,
 * byte-fallback `<0xNN>` tokens): which characters a run of bytes completes, and which characters a
 * still-incomplete tail can become.
 */

/** Bytes of the character a lead byte starts (0: not a lead byte of well-formed UTF-8). */
function sequenceLength(b: number): number {
  return b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
}

/** The smallest code point a sequence of that many bytes may spell (smaller ones are overlong). */
const MIN_CODE_POINT = [0, 0, 0x80, 0x800, 0x10000];

/** The characters `bytes` complete (as UTF-16) and the incomplete tail; null when they are not valid UTF-8. */
export function utf8Split(bytes: readonly number[]): { text: string; tail: number[] } | null {
  let text = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const need = sequenceLength(b);
    if (need === 0) return null;
    for (let k = 1; k < need && i + k < bytes.length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return null;
    if (i + need > bytes.length) {
      const tail = bytes.slice(i);
      return codePointRange(tail) ? { text, tail } : null;
    }
    let cp = need === 1 ? b : b & (0xff >> (need + 1));
    for (let k = 1; k < need; k++) cp = (cp << 6) | (bytes[i + k]! & 0x3f);
    if (cp < MIN_CODE_POINT[need]! || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    text += String.fromCodePoint(cp);
    i += need;
  }
  return { text, tail: [] };
}

/**
 * The code points an incomplete tail (a lead byte and fewer continuation bytes than it needs) can
 * still become, as ranges lo..hi; null when none is valid. Surrogate code points are not
 * characters (a UTF-8 tail cannot become one).
 */
export function codePointRange(tail: readonly number[]): [number, number][] | null {
  const b = tail[0]!;
  const need = sequenceLength(b);
  if (need < 2 || tail.length >= need) return null;
  const fill = (x: number) => {
    let cp = b & (0xff >> (need + 1));
    for (let k = 1; k < need; k++) cp = (cp << 6) | ((k < tail.length ? tail[k]! : x) & 0x3f);
    return cp;
  };
  const lo = Math.max(fill(0x80), MIN_CODE_POINT[need]!);
  const hi = Math.min(fill(0xbf), 0x10ffff);
  if (lo > hi) return null;
  if (lo >= 0x10000) return [[lo, hi]];
  const out: [number, number][] = [];
  if (lo < 0xd800) out.push([lo, Math.min(hi, 0xd7ff)]);
  if (hi > 0xdfff) out.push([Math.max(lo, 0xe000), hi]);
  return out.length ? out : null;
}
