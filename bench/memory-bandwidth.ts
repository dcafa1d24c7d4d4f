/**
 * Memory bandwidth with as many threads as the model uses: each thread sums its slice of a shared
 * array (a read loop) or copies it (memcpy). Decoding a token reads every weight once, so the time
 * to read the weights' bytes is the floor of a decode step; bench:skip runs `readMs` as a variant of
 * its round-robin, so the floor sees the same machine load as the steps it bounds.
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const a = new Float64Array(workerData.sab);
const b = new Float64Array(workerData.dst);
parentPort.on('message', ({ mode, from, to }) => {
  const t0 = performance.now();
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  if (mode === 'read') {
    for (let i = from; i < to; i += 4) { s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3]; }
  } else {
    b.set(a.subarray(from, to), from);
  }
  parentPort.postMessage({ ms: performance.now() - t0, sink: s0 + s1 + s2 + s3 });
});`;

/** A pool of reader threads over a shared buffer of `bytes` bytes. */
export class BandwidthProbe {
  private workers: Worker[];
  private n: number;

  constructor(
    private threads: number,
    readonly bytes: number,
  ) {
    this.n = Math.floor(bytes / 32) * 4;
    const sab = new SharedArrayBuffer(this.n * 8);
    const dst = new SharedArrayBuffer(this.n * 8);
    new Float64Array(sab).fill(1);
    new Float64Array(dst).fill(0);
    this.workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData: { sab, dst } }));
  }

  /** Wall ms for the threads to read (or copy) the first `bytes` bytes, each its own slice. */
  async timeMs(mode: 'read' | 'copy', bytes = this.bytes): Promise<number> {
    const n = Math.min(this.n, Math.floor(bytes / 32) * 4);
    const t0 = performance.now();
    await Promise.all(
      this.workers.map(
        (w, t) =>
          new Promise((res) => {
            w.once('message', res);
            w.postMessage({ mode, from: Math.floor((n * t) / this.threads / 4) * 4, to: Math.floor((n * (t + 1)) / this.threads / 4) * 4 });
          }),
      ),
    );
    return performance.now() - t0;
  }

  /** Stops the threads. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Aggregate GB/s (1e9 bytes read per second) of `threads` threads reading, and copying, 512 MiB; best of five. */
export async function measureBandwidth(threads: number): Promise<{ readGBs: number; copyGBs: number }> {
  const probe = new BandwidthProbe(threads, 512 * 2 ** 20);
  const best = async (mode: 'read' | 'copy') => {
    let ms = Infinity;
    for (let r = 0; r < 5; r++) ms = Math.min(ms, await probe.timeMs(mode));
    return probe.bytes / (ms / 1000) / 1e9;
  };
  try {
    return { readGBs: await best('read'), copyGBs: await best('copy') };
  } finally {
    await probe.close();
  }
}
