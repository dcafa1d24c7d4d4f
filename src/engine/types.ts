/**
 * Domain types of the engine: what callers ask for (RequestSpec: the same shape for HTTP, gRPC,
 * the CLI and the evaluation tools), what a request is once prepared (GenerationRequest), what
 * the engine streams back and what it returns. No wire names: src/api/ maps them.
 */
import type { GuideFields } from './guided-request.ts';
import type { ToolDef, ToolFields } from './tool-calls.ts';
import type { SkipPlan, SkipPlanWire } from '../plans/plan.ts';
import type { PolicyOptions, SkipPolicy } from '../plans/policies/policy.ts';
import type { SamplingParams } from '../sampling/sampler.ts';
import type { ChatMessage } from '../text/chat-template.ts';
import type { DiversityFigures } from './diversity.ts';
import type { SelectMode } from './vote.ts';

export type { SamplingParams };

/** The prompt of a request: chat messages (rendered with the model's template), text, or token ids. */
export type PromptSpec = { kind: 'chat'; messages: ChatMessage[]; tools?: ToolDef[] } & ChatRendering | { kind: 'text'; text: string } | { kind: 'tokens'; tokens: number[] };

/** How chat messages become the prompt (vLLM's fields). */
export interface ChatRendering {
  /** Open an assistant turn after the messages (default: true, false with continueFinalMessage). */
  addGenerationPrompt?: boolean;
  /** Leave the final (assistant) message open, so the candidates continue its text (default false). */
  continueFinalMessage?: boolean;
  /** More variables for the chat template (vLLM's chat_template_kwargs). */
  templateKwargs?: Record<string, unknown>;
}

/** The skip options of a request (the `skip` extension on the wire). */
export interface SkipSpec {
  policy?: string;
  /** One plan for every candidate (plan JSON form; the explicit policy validates it). */
  plan?: SkipPlanWire;
  /** One plan per candidate. */
  plans?: SkipPlanWire[];
  k?: number;
  targetSpeedup?: number;
  domain?: string;
  /** sub-networks: the share of the sublayer FLOPs each sub-network skips. */
  coreFraction?: number;
  select?: SelectMode;
  answerPattern?: string;
  /** The known right answer (evaluations, load tests): the record says whether the vote matched it. */
  referenceAnswer?: string;
}

/** A request as callers state it; `prepareRequest` checks it once and fills the defaults. */
export interface RequestSpec extends GuideFields, ToolFields {
  model?: string;
  prompt: PromptSpec;
  /** Candidates returned (and generated, unless `bestOf` asks for more). */
  n?: number;
  /** OpenAI's `best_of`: candidates generated (>= n); the n best under the request's select rule are returned. */
  bestOf?: number;
  /** The caller streams deltas (best_of > n cannot be streamed: the best are known only at the end). */
  stream?: boolean;
  /**
   * vLLM's use_beam_search: `bestOf` (else `n`) beams ranked by their summed log-probability over
   * their length to the power `lengthPenalty`, the best `n` returned; deterministic (no sampling).
   */
  useBeamSearch?: boolean;
  /** Beam search's length penalty (vLLM's and Hugging Face's; default 1: the mean log-probability over prompt and output). */
  lengthPenalty?: number;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  /** min-p (0 = off): tokens below this share of the most likely token's probability are not drawn. */
  minP?: number;
  /** OpenAI's penalties over the tokens each candidate has generated, in [-2, 2] (0 = off). */
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** OpenAI's logit_bias: token id (as a string, as JSON keys are) -> bias in [-100, 100]. */
  logitBias?: Record<string, number>;
  /** vLLM's allowed_token_ids: only these tokens are drawn. */
  allowedTokenIds?: number[];
  /** vLLM's bad_words: words never generated (each as written and after a space, as token sequences). */
  badWords?: string[];
  /** vLLM's repetition penalty over the prompt's and the generated tokens, in (0, 10] (1 = off). */
  repetitionPenalty?: number;
  seed?: number;
  stop?: string[];
  /** vLLM's stop_token_ids: tokens that end a candidate as end-of-sequence does (not part of its text; also with ignoreEos). */
  stopTokenIds?: number[];
  /** vLLM's include_stop_str_in_output: keep the stop string that ended a candidate in its text. */
  includeStopStrInOutput?: boolean;
  /** vLLM's skip_special_tokens: false keeps special tokens' text in the output (default true). */
  skipSpecialTokens?: boolean;
  /** vLLM's min_tokens: no end-of-sequence, stop token or stop string ends a candidate before this many tokens. */
  minTokens?: number;
  ignoreEos?: boolean;
  logprobs?: boolean;
  topLogprobs?: number;
  /**
   * Return the prompt with the result (OpenAI completions' `echo`): with `logprobs`, each prompt
   * token's log-probability given the tokens before it (and `topLogprobs` alternatives); `maxTokens`
   * may then be 0 (score the prompt, generate nothing).
   */
  echo?: boolean;
  /** vLLM's prompt_logprobs: return each prompt token's log-probability with this many alternatives (not streamed). */
  promptLogprobs?: number;
  skip?: SkipSpec;
  /** Admission priority, as vLLM's: lower is admitted first, equal ones in arrival order (default 0). */
  priority?: number;
  /** vLLM's truncate_prompt_tokens: keep only the prompt's last this many tokens (absent: all). */
  truncatePromptTokens?: number;
  /** Sticky A/B key of the caller. */
  key?: string;
  /** The API it came through, when its id takes that API's prefix (OpenAI's `resp_` for the Responses API). */
  api?: 'responses';
  /** Keep no record of it in the request store (the Responses API's `store: false`). */
  unrecorded?: boolean;
  /**
   * What a Responses API answer keeps with its record, for GET /v1/responses/{id} and
   * `previous_response_id`: its input items and, built from the result under the request's id,
   * the response object as answered.
   */
  keepResponse?: { input: unknown[]; object: (id: string, r: GenerationResult) => unknown };
  /** The caller's tags, recorded with the request (the OpenAI `metadata` field: at most 16 string pairs). */
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  /** Absolute deadline (ms since epoch). */
  deadline?: number;
  /** When the transport read the request (performance.now()): its reported speedup counts the server's time from there, as the client does. */
  receivedAt?: number;
}

/** A checked request, in domain terms, with its policy resolved. */
export interface GenerationRequest {
  promptTokens: number[];
  /** The rendered prompt (policies may read it). */
  promptText: string;
  /** Number of candidates generated (best-of-N). */
  n: number;
  /** Candidates the response returns (<= n; fewer with best_of): the best under `select`. */
  returnN: number;
  /** Tokens to generate per candidate at most. */
  maxTokens: number;
  /** Beam search instead of sampling: `n` beams (beam-search.ts), the best `returnN` returned. */
  beam?: { lengthPenalty: number };
  sampling: SamplingParams;
  /** Candidate i samples with seed + i. */
  seed: number;
  stop: string[];
  /** Tokens that end a candidate beside the model's end-of-sequence ids (absent: none). */
  stopTokenIds?: number[];
  /** Tokens each candidate generates before anything may end it but max_tokens (absent: 0). */
  minTokens?: number;
  /** The stop string that ends a candidate stays in its text. */
  includeStopStr?: boolean;
  /** Special tokens' text stays in the candidates' text (vLLM's skip_special_tokens false). */
  keepSpecialTokens?: boolean;
  /** Generate exactly maxTokens tokens, ignoring the model's end-of-sequence ids (benchmarks). */
  ignoreEos: boolean;
  /** Report the chosen token's logprob (and `topLogprobs` alternatives) per token. */
  logprobs: boolean;
  topLogprobs: number;
  /** Return the prompt's tokens with the result (echo). */
  echo: boolean;
  /** Score the prompt's tokens with this many alternatives (echo with logprobs, or prompt_logprobs), or null. */
  promptLogprobs: number | null;
  /** Return the prompt's scores with the result (prompt_logprobs, beside any echo). */
  returnPromptLogprobs?: boolean;
  policy: SkipPolicy;
  /** Admission priority (lower first; absent: 0). */
  priority?: number;
  /** A/B arm name when the policy came from an arm. */
  arm?: string;
  policyOptions: PolicyOptions;
  select: SelectMode;
  answerPattern?: RegExp;
  referenceAnswer?: string;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
  deadline?: number;
  receivedAt?: number;
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

/** How a candidate ended (also the `finish_reason` label of skipserve_candidates_total). */
export const FINISH_REASONS = ['stop', 'length', 'cancelled'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

export interface CandidateResult {
  index: number;
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
  plan: SkipPlan;
  answer: string | null;
  /** Mean log-probability of the generated tokens (end-of-sequence excluded): the vote's tie-break. */
  meanLogprob: number;
  logprobs: TokenLogprob[];
}

/** Wall-clock milestones of a request (ms). */
export interface RequestTimings {
  queueMs: number;
  firstTokenMs: number | null;
  totalMs: number;
}

/** A prompt returned with its completions (echo): its text, token ids and, with logprobs, their scores. */
export interface EchoedPrompt {
  text: string;
  tokenIds: number[];
  logprobs: (TokenLogprob | null)[] | null;
}

export interface GenerationResult {
  candidates: CandidateResult[];
  /** With echo: the prompt's token ids and, with logprobs, each one's log-probability given those before it (null for the first). */
  prompt?: EchoedPrompt;
  /** With prompt_logprobs: the prompt's token ids and each one's log-probability and alternatives (null for the first). */
  promptLogprobs?: { tokenIds: number[]; logprobs: (TokenLogprob | null)[] };
  /** null when select = none. */
  selectedIndex: number | null;
  /**
   * Set when the request returns fewer candidates than it generated (best_of > n): the returned
   * candidates' indices, best first under the select rule (by mean log-probability when select = none).
   */
  returned?: number[];
  policy: string;
  arm?: string;
  policyDetail?: Record<string, unknown>;
  /**
   * Measured end-to-end speedup: this request's wall time with its steps' time replaced by what the
   * same steps take on the full model (measured by dense probe steps of the same batch), divided by
   * its wall time. 1 for requests that skip nothing; null when nothing was measured.
   */
  speedup: number | null;
  /** FLOP fraction removed by the skip core all candidates share. */
  skippedComputeRatio: number;
  diversity: DiversityFigures;
  promptTokens: number;
  /** Prompt tokens whose KV came from the prefix cache instead of a prefill (OpenAI's `cached_tokens`). */
  cachedTokens: number;
  completionTokens: number;
  referenceAnswer?: string;
  /** Whether the selected candidate's answer equals the reference answer (when one was given). */
  matchedReference?: boolean;
  timings: RequestTimings;
}

/** Tokenizer as the engine and API use it. */
export interface TextTokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
  /** ids -> text, special tokens skipped. */
  decode(ids: number[]): string;
  /** ids -> text, special tokens as their literal content. */
  decodeWithSpecial(ids: number[]): string;
  /** The token's own text (for logprobs). */
  tokenText(id: number): string;
}

/** Picks the next token from one row's logits, with its log-probability under the unmodified distribution. */
export type TokenSampler = (logits: Float32Array) => { token: number; logprob: number };
