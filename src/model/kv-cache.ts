/**
 * KV cache outside the graph. Each sequence owns, per layer whose attention it computes, a
 * growable `[kvH, cap, D]` buffer for keys and one for values. A run's past inputs
 * `[B, kvH, P, D]` are assembled in a staging area that is kept between steps: while the same
 * sequences decode together only the new position is written, instead of copying the whole past.
 */

import type { KvBuffers } from './kv-buffers.ts';

/** Positions allocated for a sequence of `n`: a power of two, at least 16 (a few lengths, so freed arrays fit new sequences). */
export function kvCapacity(n: number): number {
  return Math.max(16, 2 ** Math.ceil(Math.log2(n)));
}

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
    /** Where its arrays come from and go back to (kv-buffers.ts). */
    private readonly buffers: KvBuffers,
  ) {
    this.k = buffers.take(kvH * cap * D);
    this.v = buffers.take(kvH * cap * D);
  }

  /** Gives its arrays back (the sequence was freed); the cache must not be used after. */
  release(): void {
    this.buffers.give(this.k);
    this.buffers.give(this.v);
    this.k = this.v = new Float32Array(0);
    this.len = this.cap = 0;
  }

  /** Appends `n` positions from a new-k/v output `[B, kvH, T, D]` at batch row `b`. */
  append(newK: Float32Array, newV: Float32Array, b: number, T: number, n: number): void {
    if (this.len + n > this.cap) this.grow(kvCapacity(this.len + n));
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
    const old = { k: this.k, v: this.v, cap: this.cap };
    this.k = this.buffers.take(this.kvH * cap * this.D);
    this.v = this.buffers.take(this.kvH * cap * this.D);
    this.cap = cap;
    this.copyFrom(old, this.len);
    this.buffers.give(old.k);
    this.buffers.give(old.v);
  }

  /** A copy of the first `n` positions (default all), with room to grow. */
  clone(n = this.len): LayerKv {
    const c = new LayerKv(this.kvH, this.D, n === this.len ? this.cap : kvCapacity(n + 1), this.buffers);
    c.copyFrom(this, n);
    c.len = n;
    return c;
  }

  /** Copies the first `n` positions of each head from `src` (another layout of the same heads). */
  private copyFrom(src: { k: Float32Array; v: Float32Array; cap: number }, n: number): void {
    const { kvH, D } = this;
    for (let h = 0; h < kvH; h++) {
      this.k.set(src.k.subarray(h * src.cap * D, (h * src.cap + n) * D), h * this.cap * D);
      this.v.set(src.v.subarray(h * src.cap * D, (h * src.cap + n) * D), h * this.cap * D);
    }
  }
}

/** One sequence: its length and per-layer caches (null where its plan skips attention). */
export interface SeqState {
  len: number;
  layers: (LayerKv | null)[];
}

/**
 * Backing memory a staging keeps when its group ends, up to this size: a fresh typed array of a
 * few hundred KiB costs about a millisecond here (new pages), so a prefill with a long past (a
 * cached prefix, a chunk of a long prompt) or a new group's first decode step of a 135M-shaped
 * model paid 60-100 ms allocating its 60 layer buffers; larger backings are released.
 */
const KEEP_BACKING_FLOATS = (64 * 2 ** 20) / 4;

/** Staged past inputs for one group of rows, reused across steps while the group is unchanged. */
export class KvStaging {
  key = '';
  B = 0;
  P = 0;
  /** Per layer `[B, kvH, P, D]` views of `backing` (empty until a row computes the layer). */
  k: Float32Array[] = [];
  v: Float32Array[] = [];
  /** valid[b][l]: positions of row b already staged for layer l. */
  valid: number[][] = [];
  /** Every layer's keys and values, 2 * numLayers * B * kvH * P * D floats, carved into the views. */
  private backing = new Float32Array(0);

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
      // Same shape: keep the views; another shape re-carves the backing (stale values are finite
      // and masked or multiplied by 0).
      if (seqIds.length !== this.B || P !== this.P) this.carve(seqIds.length, P);
      this.key = key;
      this.B = seqIds.length;
      this.P = P;
      this.valid = seqIds.map(() => new Array(this.numLayers).fill(0));
    }
    const { kvH, D, P, B } = this;
    for (let l = 0; l < this.numLayers; l++) {
      if (!layersOn[l]) continue;
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

  /** Lays out views of `B` rows and `P` positions over the backing, growing it when too small. */
  private carve(B: number, P: number): void {
    const size = B * this.kvH * P * this.D;
    if (this.backing.length < 2 * this.numLayers * size) this.backing = new Float32Array(2 * this.numLayers * size);
    this.k = Array.from({ length: this.numLayers }, (_, l) => this.backing.subarray(2 * l * size, (2 * l + 1) * size));
    this.v = Array.from({ length: this.numLayers }, (_, l) => this.backing.subarray((2 * l + 1) * size, (2 * l + 2) * size));
  }

  /** Forgets the staged group (e.g. after a sequence is freed); keeps the backing when it is small enough to reuse. */
  reset(): void {
    this.key = '';
    this.B = 0;
    this.P = 0;
    this.k = [];
    this.v = [];
    if (this.backing.length > KEEP_BACKING_FLOATS) this.backing = new Float32Array(0);
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
