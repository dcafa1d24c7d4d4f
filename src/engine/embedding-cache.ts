import { LruMap } from '../util/lru-map.ts';

/**
 * Prompt embeddings already computed, by their prompt's tokens (least recently used dropped past
 * `capacity`). A policy that needs the embedding (`learned`) pays an extra prefill of the layers
 * below the embedding layer; the embedding is a function of the tokens alone, so a prompt seen
 * again (a retry, a popular prompt, the prefix cache's repeated prompts) skips it.
 */
export class EmbeddingCache {
  private readonly entries: LruMap<string, Float32Array>;

  constructor(readonly capacity = 1024) {
    this.entries = new LruMap(capacity);
  }

  get(tokens: readonly number[]): Float32Array | undefined {
    return this.entries.get(tokens.join(','));
  }

  set(tokens: readonly number[], embedding: Float32Array): void {
    this.entries.set(tokens.join(','), embedding);
  }

  get size(): number {
    return this.entries.size;
  }
}
