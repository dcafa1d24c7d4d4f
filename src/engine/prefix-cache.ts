/**
 * Automatic prefix caching (vLLM's APC, llama.cpp's `cache_prompt`): the KV of prompts already
 * prefilled is kept, per prefill plan (a request's skip core with the head masks all its candidates
 * share: ParentRequest's `prefillKey`), and a new prompt that starts with the same tokens copies that
 * prefix instead of computing it. Keys and values of a position depend only on the tokens before it
 * and on the sublayers and heads that ran, so a prefix prefilled under the same plan is exactly the
 * one the new prompt would compute (up to float rounding of the run's shapes). (Keyed by the
 * sublayers alone, a prompt prefilled with a head masked answered a later request that masks
 * another head, or none, from the wrong keys and values: test/api-prefix-cache-differential.test.ts.)
 *
 * Entries are whole prompts, least recently used dropped first beyond a budget of cached positions
 * (each prompt counted as the runtime allocates its KV: rounded up to a power of two).
 * A lookup takes the longest common prefix with any entry of the core, at most the prompt's length
 * minus one (the last position is always run: the candidates' first tokens are drawn from its
 * logits) and only from `minTokens` on (a shared `<s>Q:` is not worth a copy).
 */
import { kvCapacity } from '../model/kv-cache.ts';
import type { ModelInfo } from '../model/model-info.ts';
import type { ModelRunner, SeqId } from '../model/runner-types.ts';

/** Cached positions that fit in `mib` MiB: f32 keys and values of every layer (a skip core's entries take less). */
export function prefixCacheTokens(info: Pick<ModelInfo, 'numLayers' | 'numKvHeads' | 'headDim'>, mib: number): number {
  return Math.floor((mib * 2 ** 20) / (info.numLayers * 2 * info.numKvHeads * info.headDim * 4));
}

interface Entry {
  core: string;
  tokens: readonly number[];
  seq: SeqId;
}

/** What a lookup found: a new sequence holding the first `reused` positions of the prompt. */
export interface PrefixHit {
  seq: SeqId;
  reused: number;
}

export class PrefixCache {
  /** Least recently used first. */
  private entries: Entry[] = [];
  private held = 0;

  constructor(
    private readonly runner: ModelRunner,
    /** Most cached positions, summed over entries (0: off). */
    readonly capacityTokens: number,
    readonly minTokens = 16,
  ) {}

  /** Positions held now (as allocated). */
  tokens(): number {
    return this.held;
  }

  /** Positions of `prompt` a lookup would copy now (0: none). */
  reusable(core: string, prompt: readonly number[]): number {
    return this.longest(core, prompt).reused;
  }

  /** A copy of the longest cached prefix of `prompt` under `core`, or null. */
  async lookup(core: string, prompt: readonly number[]): Promise<PrefixHit | null> {
    const { best, reused } = this.longest(core, prompt);
    if (!best) return null;
    this.touch(best);
    const [seq] = await this.runner.forkSeq(best.seq, 1, reused);
    return { seq: seq!, reused };
  }

  /**
   * Takes ownership of `seq`, a sequence holding exactly the prefill of `prompt` under `core`: keeps
   * it (dropping entries it covers and the least recently used beyond the budget) or frees it.
   */
  async retain(core: string, prompt: readonly number[], seq: SeqId): Promise<void> {
    const covering = this.entries.find((e) => e.core === core && commonPrefix(e.tokens, prompt, prompt.length) === prompt.length);
    if (covering || prompt.length < this.minTokens || kvCapacity(prompt.length) > this.capacityTokens) {
      if (covering) this.touch(covering);
      await this.runner.freeSeq(seq);
      return;
    }
    const covered = this.entries.filter((e) => e.core === core && commonPrefix(e.tokens, prompt, e.tokens.length) === e.tokens.length);
    for (const e of covered) await this.drop(e);
    this.entries.push({ core, tokens: prompt.slice(), seq });
    this.held += kvCapacity(prompt.length);
    while (this.held > this.capacityTokens) await this.drop(this.entries[0]!);
  }

  /** Frees every entry. */
  async clear(): Promise<void> {
    while (this.entries.length) await this.drop(this.entries[0]!);
  }

  /** The entry sharing the longest prefix with `prompt` (at most all but its last position, from minTokens on). */
  private longest(core: string, prompt: readonly number[]): { best: Entry | null; reused: number } {
    let best: Entry | null = null;
    let reused = 0;
    for (const e of this.entries) {
      if (e.core !== core) continue;
      const n = sharedPrefix(e.tokens, prompt);
      if (n > reused) [best, reused] = [e, n];
    }
    return reused < this.minTokens ? { best: null, reused: 0 } : { best, reused };
  }

  private touch(e: Entry): void {
    this.entries.splice(this.entries.indexOf(e), 1);
    this.entries.push(e);
  }

  private async drop(e: Entry): Promise<void> {
    this.entries.splice(this.entries.indexOf(e), 1);
    this.held -= kvCapacity(e.tokens.length);
    await this.runner.freeSeq(e.seq);
  }
}

/** Positions of `prompt` that `cached` (another prompt's tokens) can stand for: their common prefix, at most all but the prompt's last. */
export function sharedPrefix(cached: readonly number[], prompt: readonly number[]): number {
  return commonPrefix(cached, prompt, prompt.length - 1);
}

/** Length of the common prefix of `a` and `b`, at most `limit`. */
function commonPrefix(a: readonly number[], b: readonly number[], limit: number): number {
  const n = Math.min(a.length, b.length, limit);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
