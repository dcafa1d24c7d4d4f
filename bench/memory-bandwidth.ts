/**
 * Memory bandwidth as the model's runtime sees it: onnxruntime, with the model's intra-op threads,
 * summing a large f32 array (ReduceSum streams it once with vector loads, split across the
 * threads). Decoding a token reads every weight once, so the time to read the weights' bytes is the
 * floor of a decode step; bench:skip runs `timeMs` as a variant of its round-robin, so the floor
 * sees the same machine load as the steps it bounds.
 */
import ort from 'onnxruntime-node';
import { DT, GraphBuilder, encodeModel } from '../src/model/graph/onnx-builder.ts';

/** A ReduceSum session over a shared array of `bytes` bytes. */
export class BandwidthProbe {
  private data: Float32Array;
  private session: Promise<ort.InferenceSession>;

  constructor(
    threads: number,
    readonly bytes: number,
  ) {
    this.data = new Float32Array(Math.floor(bytes / 4)).fill(1);
    const g = new GraphBuilder('bandwidth', { fd: null, location: '', offset: 0 });
    g.input('x', DT.FLOAT, ['N']);
    g.output(g.o('ReduceSum', ['x'], { keepdims: 0 }), 'y', DT.FLOAT);
    this.session = ort.InferenceSession.create(encodeModel(g.graph()), { intraOpNumThreads: threads, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } });
  }

  /** Wall ms to read the first `bytes` bytes once. */
  async timeMs(bytes = this.bytes): Promise<number> {
    const s = await this.session;
    const x = this.data.subarray(0, Math.min(this.data.length, Math.floor(bytes / 4)));
    const t0 = performance.now();
    await s.run({ x: new ort.Tensor('float32', x, [x.length]) });
    return performance.now() - t0;
  }

  /** Releases the session. */
  async close(): Promise<void> {
    await (await this.session).release();
  }
}

/** Read bandwidth in GB/s (1e9 bytes per second) over 512 MiB with `threads` threads; best of five. */
export async function measureBandwidth(threads: number): Promise<number> {
  const probe = new BandwidthProbe(threads, 512 * 2 ** 20);
  try {
    let ms = Infinity;
    for (let r = 0; r < 5; r++) ms = Math.min(ms, await probe.timeMs());
    return probe.bytes / (ms / 1000) / 1e9;
  } finally {
    await probe.close();
  }
}
