/**
 * KV cache outside the graph. Each sequence owns, per layer whose attention it computes, a
 * growable `[kvH, cap, D]` buffer for keys and one for values. A run's past inputs
 * `[B, kvH, P, D]` are assembled in a staging area that is kept between steps: while the same
 * sequences decode together only the new position is written, instead of copying the whole past.
 */
export class LayerKv {
  k: Float32Array;
  v: Float32Array;
  len = 0;

  constructor(
    readonly kvH: number,
    readonly D: number,
    public cap: number,
  ) {
    this.k = new Float32Array(kvH * cap * D);
    this.v = new Float32Array(kvH * cap * D);
  }

  /** Appends `n` positions from a new-k/v output `[B, kvH, T, D]` at batch row `b`. */
  append(newK: Float32Array, newV: Float32Array, b: number, T: number, n: number): void {
    if (this.len + n > this.cap) this.grow(Math.max(this.cap * 2, this.len + n));
    const { kvH, D } = this;
    for (let h = 0; h < kvH; h++) {
      const src = ((b * kvH + h) * T) * D;
      const dst = (h * this.cap + this.len) * D;
      this.k.set(newK.subarray(src, src + n * D), dst);
      this.v.set(newV.subarray(src, src + n * D), dst);
    }
    this.len += n;
  }

  private grow(cap: number): void {
    const { kvH, D } = this;
    const k = new Float32Array(kvH * cap * D);
    const v = new Float32Array(kvH * cap * D);
    for (let h = 0; h < kvH; h++) {
      k.set(this.k.subarray(h * this.cap * D, (h * this.cap + this.len) * D), h * cap * D);
      v.set(this.v.subarray(h * this.cap * D, (h * this.cap + this.len) * D), h * cap * D);
    }
    this.k = k;
    this.v = v;
    this.cap = cap;
  }

  clone(): LayerKv {
    const c = new LayerKv(this.kvH, this.D, this.cap);
    c.k.set(this.k);
    c.v.set(this.v);
    c.len = this.len;
    return c;
  }
}

/** One sequence: its length and per-layer caches (null where its plan skips attention). */
export interface SeqState {
  len: number;
  layers: (LayerKv | null)[];
}

/** Staged past inputs for one group of rows, reused across steps while the group is unchanged. */
export class KvStaging {
  key = '';
  B = 0;
  P = 0;
  k: Float32Array[] = [];
  v: Float32Array[] = [];
  /** valid[b][l]: positions of row b already staged for layer l. */
  valid: number[][] = [];

  constructor(
    private numLayers: number,
    private kvH: number,
    private D: number,
  ) {}

  /**
   * Makes the staging hold the past of `seqs` for the layers in `layersOn`, with capacity at least
   * `maxLen` (rounded up to 64 so it stays put for many decode steps). Copies only what is missing.
   */
  prepare(seqIds: number[], seqs: SeqState[], layersOn: boolean[], maxLen: number): void {
    const key = seqIds.join(',');
    const need = Math.max(1, maxLen);
    if (key !== this.key || need > this.P) {
      this.key = key;
      this.B = seqIds.length;
      this.P = Math.max(64, Math.ceil(need / 64) * 64);
      this.k = new Array(this.numLayers).fill(null);
      this.v = new Array(this.numLayers).fill(null);
      this.valid = seqIds.map(() => new Array(this.numLayers).fill(0));
    }
    const { kvH, D, P, B } = this;
    for (let l = 0; l < this.numLayers; l++) {
      if (!layersOn[l]) continue;
      if (!this.k[l]) {
        this.k[l] = new Float32Array(B * kvH * P * D);
        this.v[l] = new Float32Array(B * kvH * P * D);
        for (const row of this.valid) row[l] = 0;
      }
      for (let b = 0; b < B; b++) {
        const kv = seqs[b].layers[l];
        if (!kv) continue;
        const from = this.valid[b][l];
        if (from >= kv.len) continue;
        for (let h = 0; h < kvH; h++) {
          const src = (h * kv.cap + from) * D;
          const dst = ((b * kvH + h) * P + from) * D;
          this.k[l].set(kv.k.subarray(src, (h * kv.cap + kv.len) * D), dst);
          this.v[l].set(kv.v.subarray(src, (h * kv.cap + kv.len) * D), dst);
        }
        this.valid[b][l] = kv.len;
      }
    }
  }

  /** Mirrors freshly appended positions into the staging (keeps it valid for the next step). */
  mirror(b: number, l: number, kv: LayerKv, n: number): void {
    if (!this.k[l] || this.valid[b][l] !== kv.len - n || kv.len > this.P) return;
    const { kvH, D, P } = this;
    const from = kv.len - n;
    for (let h = 0; h < kvH; h++) {
      const src = (h * kv.cap + from) * D;
      const dst = ((b * kvH + h) * P + from) * D;
      this.k[l].set(kv.k.subarray(src, src + n * D), dst);
      this.v[l].set(kv.v.subarray(src, src + n * D), dst);
    }
    this.valid[b][l] = kv.len;
  }

  /** Forgets everything (e.g. after a sequence is freed). */
  reset(): void {
    this.key = '';
    this.k = [];
    this.v = [];
  }
}
