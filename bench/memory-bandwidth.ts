/**
 * Memory bandwidth right now, with as many threads as the model uses: a summing read loop over a
 * shared 512 MiB array and a memcpy of it, each thread on its own slice, best of three. Decoding a
 * token reads every weight once, so bytes per token / bandwidth is the floor of the step time.
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { sab, dst, from, to, mode } = workerData;
const a = new Float64Array(sab);
const b = new Float64Array(dst);
parentPort.on('message', () => {
  const t0 = performance.now();
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  if (mode === 'read') {
    for (let i = from; i < to; i += 4) { s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3]; }
  } else {
    b.set(a.subarray(from, to), from);
  }
  parentPort.postMessage({ ms: performance.now() - t0, sink: s0 + s1 + s2 + s3 });
});`;

/** Aggregate GB/s (1e9 bytes read per second) of `threads` threads reading, and copying, 512 MiB. */
export async function measureBandwidth(threads: number): Promise<{ readGBs: number; copyGBs: number }> {
  const bytes = 512 * 2 ** 20;
  const sab = new SharedArrayBuffer(bytes);
  const dst = new SharedArrayBuffer(bytes);
  new Float64Array(sab).fill(1);
  new Float64Array(dst).fill(0);
  const n = bytes / 8;
  const result: Record<string, number> = {};
  for (const mode of ['read', 'copy']) {
    const workers = Array.from({ length: threads }, (_, t) => new Worker(WORKER, { eval: true, workerData: { sab, dst, mode, from: Math.floor((n * t) / threads / 4) * 4, to: Math.floor((n * (t + 1)) / threads / 4) * 4 } }));
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      await Promise.all(workers.map((w) => new Promise((res) => (w.once('message', res), w.postMessage(0)))));
      best = Math.min(best, performance.now() - t0);
    }
    await Promise.all(workers.map((w) => w.terminate()));
    result[mode] = bytes / (best / 1000) / 1e9;
  }
  return { readGBs: result.read, copyGBs: result.copy };
}
