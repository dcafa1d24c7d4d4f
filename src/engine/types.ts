/**
 * Domain types of the engine: what a generation request is once validated at the edge, what the
 * engine streams back, and the small ports it needs from the tokenizer and sampler.
 */
import type { PolicyOptions } from '../plans/policies/policy.ts';
import type { SkipPlan } from '../plans/plan.ts';
import type { SelectMode } from './answers.ts';
import type { DiversityFigures } from './diversity.ts';

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  /** 1 = off. */
  topP: number;
  /** 0 = off. */
  topK: number;
}

/** A validated request, in domain terms (no wire names). */
export interface GenerationRequest {
  promptTokens: number[];
  /** The rendered prompt (policies may read it). */
  promptText: string;
  /** Number of candidates (best-of-N). */
  n: number;
  /** Tokens to generate per candidate at most. */
  maxTokens: number;
  sampling: SamplingParams;
  /** Candidate i samples with seed + i. */
  seed: number;
  stop: string[];
  /** Generate exactly maxTokens tokens, ignoring the model's end-of-sequence ids (benchmarks). */
  ignoreEos?: boolean;
  /** Top alternatives to report per token (0 = only the chosen token's logprob when `logprobs`). */
  logprobs: boolean;
  topLogprobs: number;
  policy: string;
  /** A/B arm name when the policy came from an arm. */
  arm?: string;
  policyOptions: PolicyOptions;
  select: SelectMode;
  answerPattern?: RegExp;
  /** Aborts the request (client gone, gRPC cancel). */
  signal?: AbortSignal;
  /** Absolute deadline (ms since epoch). */
  deadline?: number;
}

export interface TokenLogprob {
  token: number;
  logprob: number;
  top: { token: number; logprob: number }[];
}

/** One piece of one candidate's output, streamed as it is produced. */
export interface CandidateDelta {
  index: number;
  text: string;
  tokenIds: number[];
  logprobs: TokenLogprob[];
  /** Set on the candidate's last delta. */
  finishReason?: FinishReason;
}

export type FinishReason = 'stop' | 'length' | 'cancelled';

export interface CandidateResult {
  index: number;
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
  plan: SkipPlan;
  answer: string | null;
  meanLogprob: number;
  logprobs: TokenLogprob[];
}

export interface GenerationResult {
  candidates: CandidateResult[];
  /** null when select = none. */
  selectedIndex: number | null;
  policy: string;
  arm?: string;
  policyDetail?: Record<string, unknown>;
  /** Measured: dense step time from the startup profile / this request's step time, same batch sizes. */
  speedup: number | null;
  /** FLOP fraction removed by the skip core all candidates share. */
  skippedComputeRatio: number;
  diversity: DiversityFigures;
  promptTokens: number;
  completionTokens: number;
}

/** Tokenizer as the engine and API use it. */
export interface TextTokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
  /** ids -> text, special tokens skipped. */
  decode(ids: number[]): string;
  /** The token's own text (for logprobs). */
  tokenText(id: number): string;
}

/** Picks the next token from one row's logits, with its log-probability under the unmodified distribution. */
export type TokenSampler = (logits: Float32Array) => { token: number; logprob: number };
/** Creates a seeded sampler; the same params and seed give the same tokens. */
export type SamplerFactory = (params: SamplingParams, seed: number) => TokenSampler;
