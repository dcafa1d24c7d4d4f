/**
 * Recycled KV-cache buffers. A sequence's per-layer key and value arrays are a few hundred KiB each
 * on a 135M-shaped model; allocating them fresh (a fork for best-of-N, a copied cached prefix, a
 * new prompt) touches new pages, about a millisecond per array here, and freed ones wait for the
 * garbage collector: forking a 500-token prompt into two candidates took 70-90 ms in the worker.
 * Freed sequences give their arrays back and new ones take an array of the same length, up to a
 * bound on what is kept idle. Stale contents are fine: a cache only reads positions it wrote.
 */
export class KvBuffers {
  private readonly free = new Map<number, Float32Array[]>();
  private idle = 0;

  constructor(
    /** Most floats kept idle for reuse (default 256 MiB: 16 candidates of 512 positions of a 135M-shaped model). */
    private readonly maxIdleFloats = (256 * 2 ** 20) / 4,
  ) {}

  /** An array of `n` floats (recycled when one is idle; contents unspecified). */
  take(n: number): Float32Array {
    const list = this.free.get(n);
    const a = list?.pop();
    if (a) {
      this.idle -= n;
      return a;
    }
    return new Float32Array(n);
  }

  /** Gives an array back for reuse (dropped when the idle bound is reached). */
  give(a: Float32Array): void {
    if (a.length === 0 || this.idle + a.length > this.maxIdleFloats) return;
    let list = this.free.get(a.length);
    if (!list) this.free.set(a.length, (list = []));
    list.push(a);
    this.idle += a.length;
  }

  /** Floats kept idle now. */
  idleFloats(): number {
    return this.idle;
  }
}
