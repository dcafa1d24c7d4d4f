/**
 * Serving-time selector: runs selector.onnx on onnxruntime-node and returns plan scores for
 * question embeddings (and the prompts' text features, when the selector was trained with them).
 * Loaded once; checked against its catalog and the server's feature extractor on load.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { PlanCatalog } from './catalog.ts';
import { TEXT_FEATURE_COUNT } from './text-features.ts';

/** A loaded selector: scores catalog plans for question embeddings (+ text features). */
export class SelectorSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputDim: number,
    readonly numPlans: number,
    /** Width of the `features` input (0 when the selector reads the embedding alone). */
    readonly featureDim: number,
  ) {}

  /**
   * Loads the ONNX selector and checks that its output width equals the catalog size, its
   * embedding width equals `inputDim` (the model's hidden size) and, when it takes text features,
   * that their width is `featureDim` (what src/router/text-features.ts computes).
   */
  static async load(path: string, catalog: PlanCatalog, inputDim: number, featureDim = TEXT_FEATURE_COUNT): Promise<SelectorSession> {
    if (!existsSync(path)) throw new Error(`selector not found: ${path}`);
    const session = await ort.InferenceSession.create(readFileSync(path), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const takesFeatures = session.inputNames.includes('features');
    const s = new SelectorSession(session, inputDim, catalog.entries.length, takesFeatures ? featureDim : 0);
    let probe: Float32Array[];
    try {
      probe = await s.score([new Float32Array(inputDim)], takesFeatures ? [new Float32Array(featureDim)] : undefined);
    } catch (err) {
      const what = takesFeatures ? `${inputDim}-wide embeddings (the model's hidden size) and ${featureDim} text features` : `${inputDim}-wide embeddings (the model's hidden size)`;
      throw new Error(`selector ${path} does not take ${what}: ${(err as Error).message}`);
    }
    if (probe[0]!.length !== catalog.entries.length) {
      throw new Error(`selector ${path} scores ${probe[0]!.length} plans but the catalog has ${catalog.entries.length}`);
    }
    return s;
  }

  /** Cosine scores of every catalog plan, one Float32Array per embedding (features: one vector per embedding). */
  async score(embeddings: Float32Array[], features?: Float32Array[]): Promise<Float32Array[]> {
    const b = embeddings.length;
    if (b === 0) return [];
    const flat = new Float32Array(b * this.inputDim);
    embeddings.forEach((x, i) => {
      if (x.length !== this.inputDim) throw new Error(`embedding ${i} has ${x.length} values, selector expects ${this.inputDim}`);
      flat.set(x, i * this.inputDim);
    });
    const feeds: Record<string, ort.Tensor> = { embedding: new ort.Tensor('float32', flat, [b, this.inputDim]) };
    if (this.featureDim > 0) {
      if (!features || features.length !== b) throw new Error(`the selector needs text features for each of the ${b} embeddings`);
      const f = new Float32Array(b * this.featureDim);
      features.forEach((x, i) => {
        if (x.length !== this.featureDim) throw new Error(`features ${i} has ${x.length} values, selector expects ${this.featureDim}`);
        f.set(x, i * this.featureDim);
      });
      feeds.features = new ort.Tensor('float32', f, [b, this.featureDim]);
    }
    const out = await this.session.run(feeds);
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
