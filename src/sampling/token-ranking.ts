/**
 * Ranking helpers for the sampler: each token gets one float64 order key (larger logit first,
 * lower index first on ties) so the ranking is a plain numeric sort of a Float64Array, and a
 * quickselect that brings the k best keys to the front without sorting the rest.
 */

const IDX = 2 ** 21;

/** Number of coarse bins tokens are sorted into before ranking (see bins). */
export const NBINS = 256;

/** Order keys for one row of logits; key j decodes to its token with token(j). */
export class TokenOrder {
  keys = new Float64Array(0);
  /**
   * Per-token coarse bin (0 = best), filled by the caller: a monotone function of the logit, so
   * the tokens of bins 0..c are exactly the best-ranked tokens and only they need keys.
   */
  bins = new Uint8Array(0);

  /** Makes room for a vocabulary of V tokens. */
  reserve(V: number): void {
    if (V > IDX) throw new Error(`sampler: vocabulary of ${V} tokens exceeds the supported ${IDX}`);
    if (this.keys.length < V) this.keys = new Float64Array(V);
    if (this.bins.length < V) this.bins = new Uint8Array(V);
  }

  /**
   * keys[i] = rank(logit_i) * 2^21 + i, where rank is the float32 bit pattern mapped to an unsigned
   * integer that grows as the logit falls (-0 counts as +0, as in a numeric comparison). Ascending
   * keys are therefore descending logits, ties broken by the lower index. Vocabularies up to 2^21.
   */
  fill(logits: Float32Array): void {
    this.fillUpTo(logits, NBINS);
  }

  /**
   * Writes keys (to the front of `keys`) only for the tokens whose bin is at most `maxBin`
   * (every token when maxBin >= NBINS); returns how many.
   */
  fillUpTo(logits: Float32Array, maxBin: number): number {
    const V = logits.length;
    this.reserve(V);
    const bits = new Uint32Array(logits.buffer, logits.byteOffset, V);
    const { keys, bins } = this;
    const all = maxBin >= NBINS;
    let n = 0;
    for (let i = 0; i < V; i++) {
      if (!all && bins[i] > maxBin) continue;
      let b = bits[i];
      if (b === 0x80000000) b = 0;
      // Monotone in the float: negatives invert all bits, positives set the sign bit.
      const asc = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
      keys[n++] = (0xffffffff - asc) * IDX + i;
    }
    return n;
  }

  /** The token whose key sits at position j. */
  token(j: number): number {
    const k = this.keys[j];
    return k - Math.floor(k / IDX) * IDX;
  }
}

/**
 * Rearranges a[lo, hi) so that its `k` smallest values occupy a[lo, lo + k) (in no particular
 * order) and everything after them is larger. Hoare partitioning with a median-of-three pivot;
 * expected linear time. Values must be distinct (order keys are).
 */
export function selectSmallest(a: Float64Array, lo: number, hi: number, k: number): void {
  if (k <= 0 || k >= hi - lo) return;
  const target = lo + k - 1;
  let l = lo;
  let r = hi - 1;
  while (r > l) {
    const m = (l + r) >>> 1;
    if (a[m] < a[l]) swap(a, l, m);
    if (a[r] < a[l]) swap(a, l, r);
    if (a[r] < a[m]) swap(a, m, r);
    const pivot = a[m];
    let i = l;
    let j = r;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (target <= j) r = j;
    else if (target >= i) l = i;
    else return;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
