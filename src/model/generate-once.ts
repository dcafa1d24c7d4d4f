/**
 * Single-sequence generation over a ModelRunner: prefill, then decode until an eos id or the
 * token limit. Used by the `generate` CLI and by tests; the server uses the engine instead.
 */
import { type SkipPlan } from '../plans/plan.ts';
import { createDetailedSampler, type SampleParams } from '../sampling/sampler.ts';
import type { ModelRunner } from './runner-types.ts';

export interface GenerateOnceOptions {
  maxTokens: number;
  sampling: SampleParams;
  seed: number;
  plan: SkipPlan;
  /** Stop ids (default: the model's eos ids). */
  eosTokenIds?: number[];
}

export interface GenerateOnceResult {
  tokenIds: number[];
  logprobs: number[];
  finishReason: 'stop' | 'length';
  prefillMs: number;
  /** Wall time of the decode steps (the steps after the prefill). */
  decodeMs: number;
  decodeSteps: number;
}

/** Generates one completion for `prompt` (token ids). The sequence is freed afterwards. */
export async function generateOnce(runner: ModelRunner, prompt: number[], o: GenerateOnceOptions): Promise<GenerateOnceResult> {
  if (!prompt.length) throw new Error('prompt must contain at least one token');
  const eos = new Set(o.eosTokenIds ?? runner.info.eosTokenIds);
  const pick = createDetailedSampler(o.sampling, o.seed);
  const maxTokens = Math.min(o.maxTokens, runner.info.maxPositions - prompt.length);
  const seq = await runner.createSeq();
  const res: GenerateOnceResult = { tokenIds: [], logprobs: [], finishReason: 'length', prefillMs: 0, decodeMs: 0, decodeSteps: 0 };
  try {
    let t0 = performance.now();
    let out = await runner.step([{ seq, tokens: prompt, plan: o.plan, logits: 'last' }]);
    res.prefillMs = performance.now() - t0;
    t0 = performance.now();
    while (res.tokenIds.length < maxTokens) {
      const s = pick(out.logits[0]);
      res.tokenIds.push(s.token);
      res.logprobs.push(s.logprob);
      if (eos.has(s.token)) {
        res.finishReason = 'stop';
        break;
      }
      if (res.tokenIds.length >= maxTokens) break;
      out = await runner.step([{ seq, tokens: [s.token], plan: o.plan, logits: 'last' }]);
      res.decodeSteps++;
    }
    res.decodeMs = performance.now() - t0;
    return res;
  } finally {
    await runner.freeSeq(seq);
  }
}
