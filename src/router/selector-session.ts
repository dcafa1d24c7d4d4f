/**
 * Serving-time selector: runs selector.onnx on onnxruntime-node and returns plan scores
 * for question embeddings. Loaded once; checked against its catalog on load.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { PlanCatalog } from './catalog.ts';

/** A loaded selector: scores catalog plans for question embeddings. */
export class SelectorSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputDim: number,
    readonly numPlans: number,
  ) {}

  /**
   * Loads the ONNX selector and checks that its output width equals the catalog size and its
   * input width equals `inputDim` (the model's hidden size).
   */
  static async load(path: string, catalog: PlanCatalog, inputDim: number): Promise<SelectorSession> {
    if (!existsSync(path)) throw new Error(`selector not found: ${path}`);
    const session = await ort.InferenceSession.create(readFileSync(path), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const s = new SelectorSession(session, inputDim, catalog.entries.length);
    let probe: Float32Array[];
    try {
      probe = await s.score([new Float32Array(inputDim)]);
    } catch (err) {
      throw new Error(`selector ${path} does not take ${inputDim}-wide embeddings (the model's hidden size): ${(err as Error).message}`);
    }
    if (probe[0]!.length !== catalog.entries.length) {
      throw new Error(`selector ${path} scores ${probe[0]!.length} plans but the catalog has ${catalog.entries.length}`);
    }
    return s;
  }

  /** Cosine scores of every catalog plan, one Float32Array per embedding. */
  async score(embeddings: Float32Array[]): Promise<Float32Array[]> {
    const b = embeddings.length;
    if (b === 0) return [];
    const flat = new Float32Array(b * this.inputDim);
    embeddings.forEach((x, i) => {
      if (x.length !== this.inputDim) throw new Error(`embedding ${i} has ${x.length} values, selector expects ${this.inputDim}`);
      flat.set(x, i * this.inputDim);
    });
    const out = await this.session.run({ embedding: new ort.Tensor('float32', flat, [b, this.inputDim]) });
    const scores = out.scores!.data as Float32Array;
    const m = scores.length / b;
    return embeddings.map((_, i) => scores.slice(i * m, (i + 1) * m));
  }

  /** Releases the onnxruntime session. */
  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Indices of the `n` highest scores (ties: lower index first), excluding `exclude`. */
export function topN(scores: ArrayLike<number>, n: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const idx: number[] = [];
  for (let i = 0; i < scores.length; i++) if (!exclude.has(i)) idx.push(i);
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return idx.slice(0, n);
}
