/**
 * Chunked prefill: an admitted prompt is fed to the model in chunks of at most `chunkTokens`
 * tokens per engine step (shared by all prompts being prefilled), so a long prompt never stalls
 * the decode steps of running rows for long (vLLM's chunked prefill). Each prompt runs under its
 * request's skip core on its own sequence; when the last chunk is in, the runtime keeps the prompt's
 * last logits and the request forks its candidates (each drawing its first token) from that sequence.
 * A request that asked for its prompt's logprobs (echo) has each chunk's positions scored in the
 * runtime, the token after each one as the target (the next chunk's first for a chunk's last).
 * With a prefix cache (prefix-cache.ts), a prompt starts from the longest prefix cached under its
 * core (shared head masks included: `prefillKey`), or waits for an earlier prompt being fed that will
 * leave more of it there.
 */
import type { ModelRunner, StepRow } from '../model/runner-types.ts';
import type { ParentRequest } from './parent-request.ts';
import { sharedPrefix, type PrefixCache } from './prefix-cache.ts';

export class ChunkedPrefill {
  private readonly active: ParentRequest[] = [];
  /**
   * Prompts waiting for an earlier prompt being fed under the same plan that starts like them:
   * once it is done and cached, they copy the prefix they share instead of computing it beside it
   * (a burst of requests with one system prompt or one set of few-shot examples computes it once).
   */
  private readonly waiting = new Map<ParentRequest, ParentRequest>();

  constructor(
    private readonly runner: ModelRunner,
    private readonly chunkTokens: number,
    private readonly cache: PrefixCache | null = null,
  ) {}

  /** Queues a request's prompt, or parks it behind the earlier prompt it shares a prefix with (leaderOf). */
  async start(p: ParentRequest): Promise<void> {
    const leader = this.leaderOf(p);
    if (leader) this.waiting.set(p, leader);
    else await this.begin(p);
  }

  /**
   * An earlier prompt being fed that would leave more of `p`'s prefix in the cache than it holds
   * now, or null. Only one whose shared part is at least half of it: the wait lasts until all of it
   * is fed, and should not cost more than the copy saves.
   */
  private leaderOf(p: ParentRequest): ParentRequest | null {
    const cache = this.cache;
    if (!cache || p.req.promptLogprobs !== null) return null;
    let best: ParentRequest | null = null;
    let most = Math.max(cache.minTokens - 1, cache.reusable(p.prefillKey, p.req.promptTokens));
    for (const q of this.active) {
      const n = q.prefillKey === p.prefillKey ? sharedPrefix(q.req.promptTokens, p.req.promptTokens) : 0;
      if (n > most && 2 * n >= q.req.promptTokens.length) [best, most] = [q, n];
    }
    return best;
  }

  /**
   * Allocates the request's prompt sequence and queues its prompt; a prefix the cache holds under
   * the request's skip core is copied, not fed (not for a prompt whose logprobs are asked: each of
   * its positions is scored as it is fed).
   */
  private async begin(p: ParentRequest): Promise<void> {
    const hit = this.cache && p.req.promptLogprobs === null ? await this.cache.lookup(p.prefillKey, p.req.promptTokens) : null;
    p.promptSeq = hit ? hit.seq : await this.runner.createSeq();
    p.prefilled = p.cachedTokens = hit?.reused ?? 0;
    this.active.push(p);
  }

  /** True while some prompt is not fully fed. */
  pending(): boolean {
    return this.active.length > 0 || this.waiting.size > 0;
  }

  /** Starts the prompts whose leader is no longer being fed (done, and cached by now, or dropped). */
  private async releaseWaiting(): Promise<void> {
    for (const [p, leader] of this.waiting) {
      if (this.active.includes(leader)) continue;
      this.waiting.delete(p);
      await this.begin(p);
    }
  }

  /**
   * Feeds the next chunks (arrival order, within the token budget). Returns the prompts completed by
   * this step, every request the step fed with its tokens, and the step's run time.
   */
  async step(): Promise<{ done: ParentRequest[]; fed: { p: ParentRequest; tokens: number }[]; runMs: number }> {
    await this.releaseWaiting();
    let budget = this.chunkTokens;
    const batch: { p: ParentRequest; take: number }[] = [];
    for (const p of this.active) {
      if (budget <= 0) break;
      const take = Math.min(budget, p.req.promptTokens.length - p.prefilled);
      batch.push({ p, take });
      budget -= take;
    }
    const rows: StepRow[] = batch.map(({ p, take }) => {
      const tokens = p.req.promptTokens.slice(p.prefilled, p.prefilled + take);
      const k = p.req.promptLogprobs;
      const targets = k === null ? null : tokens.map((_, j) => p.req.promptTokens[p.prefilled + j + 1] ?? -1);
      return { seq: p.promptSeq!, tokens, plan: p.core, logits: 'none', ...(targets ? { score: { targets, k: k! } } : {}) };
    });
    const out = await this.runner.step(rows);
    const done: ParentRequest[] = [];
    batch.forEach(({ p, take }, i) => {
      const scored = out.scored?.[i];
      if (p.req.promptLogprobs !== null) {
        if (!scored) throw new Error('the runtime returned no prompt logprobs (a runner that does not score)');
        // Position j's target is token j + 1 of the prompt.
        scored.forEach((s, j) => s && (p.promptScores[p.prefilled + j + 1] = { token: p.req.promptTokens[p.prefilled + j + 1]!, logprob: s.logprob, top: s.top }));
      }
      p.prefilled += take;
      if (p.prefilled === p.req.promptTokens.length) {
        done.push(p);
        this.active.splice(this.active.indexOf(p), 1);
      }
    });
    return { done, fed: batch.map((b) => ({ p: b.p, tokens: b.take })), runMs: out.runMs };
  }

  /** Forgets a request (cancelled) and frees its prompt sequence. */
  drop(p: ParentRequest): void {
    this.waiting.delete(p);
    const i = this.active.indexOf(p);
    if (i >= 0) this.active.splice(i, 1);
    if (p.promptSeq !== null) void this.runner.freeSeq(p.promptSeq);
    p.promptSeq = null;
  }
}
