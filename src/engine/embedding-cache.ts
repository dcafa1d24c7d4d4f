/**
 * Prompt embeddings already computed, by their prompt's tokens (least recently used dropped past
 * `capacity`). A policy that needs the embedding (`learned`) pays an extra prefill of the layers
 * below the embedding layer; the embedding is a function of the tokens alone, so a prompt seen
 * again (a retry, a popular prompt, the prefix cache's repeated prompts) skips it.
 */
export class EmbeddingCache {
  private readonly entries = new Map<string, Float32Array>();

  constructor(readonly capacity = 1024) {}

  get(tokens: readonly number[]): Float32Array | undefined {
    const key = tokens.join(',');
    const e = this.entries.get(key);
    if (e) {
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  set(tokens: readonly number[], embedding: Float32Array): void {
    const key = tokens.join(',');
    this.entries.delete(key);
    this.entries.set(key, embedding);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
