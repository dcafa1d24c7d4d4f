/**
 * KV cache outside the graph. Each sequence owns, per layer whose attention it computes, a
 * growable `[kvH, cap, D]` buffer for keys and one for values. A run's past inputs
 * `[B, kvH, P, D]` are assembled in a staging area that is kept between steps: while the same
 * sequences decode together only the new position is written, instead of copying the whole past.
 */

/**
 * Copies `n` floats. A decode step copies one head's position (head_dim floats) per row, layer and
 * head; a loop does that without the view object `subarray` allocates for `set`.
 */
export function copyFloats(dst: Float32Array, at: number, src: Float32Array, from: number, n: number): void {
  if (n > 256) {
    dst.set(src.subarray(from, from + n), at);
    return;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[from + i];
}

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
      copyFloats(this.k, dst, newK, src, n * D);
      copyFloats(this.v, dst, newV, src, n * D);
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

  /** A copy of the first `n` positions (default all), with room to grow. */
  clone(n = this.len): LayerKv {
    if (n === this.len) {
      const c = new LayerKv(this.kvH, this.D, this.cap);
      c.k.set(this.k);
      c.v.set(this.v);
      c.len = this.len;
      return c;
    }
    const { kvH, D } = this;
    const c = new LayerKv(kvH, D, Math.max(16, n * 2));
    for (let h = 0; h < kvH; h++) {
      c.k.set(this.k.subarray(h * this.cap * D, (h * this.cap + n) * D), h * c.cap * D);
      c.v.set(this.v.subarray(h * this.cap * D, (h * this.cap + n) * D), h * c.cap * D);
    }
    c.len = n;
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
      const P = Math.max(64, Math.ceil(need / 64) * 64);
      // Same shape: keep the buffers (stale values are finite and masked or multiplied by 0).
      if (seqIds.length !== this.B || P !== this.P) {
        this.k = new Array(this.numLayers).fill(null);
        this.v = new Array(this.numLayers).fill(null);
      }
      this.key = key;
      this.B = seqIds.length;
      this.P = P;
      this.valid = seqIds.map(() => new Array(this.numLayers).fill(0));
    }
    const { kvH, D, P, B } = this;
    for (let l = 0; l < this.numLayers; l++) {
      if (!layersOn[l]) continue;
      if (!this.k[l]) {
        this.k[l] = new Float32Array(B * kvH * P * D);
        this.v[l] = new Float32Array(B * kvH * P * D);
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
      copyFloats(this.k[l], dst, kv.k, src, n * D);
      copyFloats(this.v[l], dst, kv.v, src, n * D);
    }
    this.valid[b][l] = kv.len;
  }

  /** Forgets everything (e.g. after a sequence is freed). */
  reset(): void {
    this.key = '';
    this.B = 0;
    this.k = [];
    this.v = [];
  }

  /** True when this staging currently holds sequence `id`. */
  holds(id: number): boolean {
    return this.key !== '' && this.key.split(',').includes(String(id));
  }
}

/**
 * A few staging areas for decode groups, most recently used first: groups that alternate (or a
 * benchmark interleaving variants) each keep their own staged past instead of rebuilding it.
 */
export class StagingPool {
  private slots: KvStaging[] = [];

  constructor(
    private size: number,
    private make: () => KvStaging,
  ) {}

  /** The staging for this group of sequences (an exact match, else the least recently used one). */
  get(seqIds: number[]): KvStaging {
    const key = seqIds.join(',');
    let i = this.slots.findIndex((s) => s.key === key);
    if (i < 0) {
      if (this.slots.length < this.size) this.slots.push(this.make());
      i = this.slots.length - 1;
    }
    const [s] = this.slots.splice(i, 1);
    this.slots.unshift(s);
    return s;
  }

  /** Drops stagings that hold a freed sequence (their memory is released). */
  release(id: number): void {
    for (const s of this.slots) if (s.holds(id)) s.reset();
  }
}
