/**
 * The contract between the engine (main thread) and the model runtime (worker thread).
 * The runtime owns every tensor and the KV cache; the engine refers to sequences by id.
 *
 * Sampling can run in the runtime too: a row that carries a `sample` spec gets its next token
 * drawn there (same code and seeded stream as src/sampling/sampler.ts on the main thread, so the
 * same seed gives the same tokens), and only the token, its logprob and the asked-for alternatives
 * come back instead of a vocabulary of logits. A later row with `feedSampled` feeds that token
 * without the engine having seen it, so the engine may queue step t+1 before step t's result has
 * arrived and detokenize / stream step t while step t+1 runs.
 */
import type { SkipPlan } from '../plans/plan.ts';
import type { SamplingParams } from '../sampling/sampler.ts';
import type { GraphUse } from './graph-sessions.ts';
import type { RuntimeInfo } from './load-options.ts';
import type { ModelInfo } from './model-info.ts';
import type { CycleResult } from './speculative-cycle.ts';

/** Handle to one sequence's KV cache inside the runtime. */
export type SeqId = number;

/** How the runtime samples a sequence: parameters, seed, and what to report. */
export interface SamplerSpec extends SamplingParams {
  /** Seeds the sequence's random stream (created at the first row that carries this spec). */
  seed: number;
  /** Alternatives to report per token (OpenAI top_logprobs); 0 or absent = none. */
  topLogprobs?: number;
  /** Tokens that end the sequence: a later `feedSampled` row after one of them is dropped, not run. */
  stopTokenIds?: readonly number[];
  /** vLLM's min_tokens: none of `stopTokenIds` is drawn before the sequence has this many tokens (0 or absent = off). */
  minTokens?: number;
}

/** One token drawn by the runtime. */
export interface SampledToken {
  token: number;
  /** Log-probability under the unmodified distribution (log-softmax of the raw logits). */
  logprob: number;
  /** The `topLogprobs` most likely tokens, most likely first (empty when not asked). */
  top: { token: number; logprob: number }[];
}

/** One row of a batched step: feed `tokens` to sequence `seq` under `plan`. */
export interface StepRow {
  seq: SeqId;
  /** New tokens to append (many for prefill, one for decode); ignored with `feedSampled`. */
  tokens: number[];
  /** The row's skip plan; must be the same plan for every step of a sequence. */
  plan: SkipPlan;
  /** Which logits to return: only the last new position, every new position, or none (sampling only). */
  logits: 'last' | 'all' | 'none';
  /** When true, also return the mean-pooled hidden state of the router's embedding layer over the new tokens. */
  embed?: boolean;
  /** Draw the next token in the runtime from the last position's logits (same spec for every step of a sequence). */
  sample?: SamplerSpec;
  /** Feed the token the runtime drew for this sequence at its previous sampled step (one decode token). */
  feedSampled?: boolean;
  /**
   * Score each new position's next token (prompt logprobs, as OpenAI's `echo` with `logprobs`
   * returns them): `targets[i]` is the token that follows new token i (-1: none, e.g. the prompt's
   * last), `k` the alternatives to report. The runtime computes them; no logits cross. Runners that sample only.
   */
  score?: { targets: number[]; k: number };
}

/** A scored position: the log-probability of the token that followed, and the `k` most likely tokens there. */
export interface ScoredPosition {
  logprob: number;
  top: { token: number; logprob: number }[];
}

/** How a step runs. */
export interface StepOptions {
  /**
   * `switched`: run through the switched graph even where the dense path would take the step
   * (latency profiles time the full plan with the switches' cost, which every skip core pays).
   */
  graph?: 'switched';
}

/** Where one step's time went, in milliseconds (the runner's timeline). */
export interface StepTiming {
  /** Main thread posts the request -> the worker starts it (message latency + queue wait). */
  toWorkerMs: number;
  /** Feeds, KV staging and input tensors before the onnxruntime run. */
  prepMs: number;
  /** The onnxruntime run(s). */
  runMs: number;
  /** KV bookkeeping after the run. */
  afterMs: number;
  /** Sampling in the runtime. */
  sampleMs: number;
  /** The worker posts the reply -> the main thread resolves the step. */
  toMainMs: number;
}

/** Result of one batched step; arrays are indexed like the input rows. */
export interface StepOutput {
  /** Per row: float32 logits, `positions * vocabSize` values (positions = 1 for 'last', empty for 'none'). */
  logits: Float32Array[];
  /** Per row: the pooled embedding when `embed` was asked, else null. */
  embeddings: (Float32Array | null)[];
  /** Per row: the token drawn when `sample` was given (null otherwise, or when the row was dropped); runners that sample only. */
  sampled?: (SampledToken | null)[];
  /** Per row: tokens appended to the sequence (0 for a `feedSampled` row dropped after a stop token); runners that sample only. */
  fed?: number[];
  /** Per row with `score`: one entry per new position (null where its target is -1). */
  scored?: ((ScoredPosition | null)[] | null)[];
  /** Wall time of the onnxruntime run(s) for this step, in milliseconds. */
  runMs: number;
  /** The graph each run took (switched, dense, or a core's own graph; graph-sessions.ts), when the runner says. */
  graphs?: GraphUse[];
  /** Time the runtime spent building core graphs since the previous step (the step waited for it). */
  buildMs?: number;
  /** The step's timeline (worker runner only). */
  timing?: StepTiming;
}

/** Result of forking with sampling: the children and each one's first token. */
export interface ForkSampled {
  seqs: SeqId[];
  sampled: SampledToken[];
}

/** The model runtime as the engine uses it. Every method is safe to call from the event loop. */
export interface ModelRunner {
  readonly info: ModelInfo;
  /** Allocates an empty sequence (no tokens yet). */
  createSeq(): Promise<SeqId>;
  /**
   * Creates `count` new sequences whose KV cache is a copy of `src`'s (best-of-N shares one
   * prefill), or of its first `length` positions (a cached prompt prefix).
   */
  forkSeq(src: SeqId, count: number, length?: number): Promise<SeqId[]>;
  /** Frees a sequence's KV cache. Unknown ids are ignored. */
  freeSeq(seq: SeqId): Promise<void>;
  /** Number of tokens a sequence has consumed so far (its next position), as of the last resolved step. */
  seqLength(seq: SeqId): number;
  /** Runs one step for a batch of rows in one onnxruntime run where shapes allow. */
  step(rows: StepRow[], opts?: StepOptions): Promise<StepOutput>;
  /** Stops the worker and releases the session. */
  close(): Promise<void>;
  /**
   * Builds ahead the graphs of skip cores that requests are expected to share, so the first of them
   * pays no build; resolves to how many are ready (runners without core graphs: absent or 0).
   */
  prepareCores?(cores: SkipCore[]): Promise<number>;
}

/** The sublayers a skip core leaves out: layers whose attention and whose MLP no row runs. */
export interface SkipCore {
  attention: number[];
  mlp: number[];
}

/** Self-speculative decoding's setting: the draft's skip plan and the tokens it drafts per cycle. */
export interface SpeculativeConfig {
  draft: SkipPlan;
  tokens: number;
  /**
   * vLLM's `disable_by_batch_size`, in candidate rows: a request that would decode beside more rows
   * than this (the running and waiting rows with its own, at most the batch) does not speculate.
   * Absent: no limit. (The engine's, not the runtime's.)
   */
  disableByBatchSize?: number;
}

/** One row of a speculative cycle. */
export interface SpecRow {
  seq: SeqId;
  /** The token to feed first (the row's newest, not yet in its KV). */
  last: number;
  /** Its sampler spec (greedy or sampled; the same for the draft's steps and the verification). */
  spec: SamplerSpec;
  /** Its plan (the verification's: the full model's, or a skip core with the row's head masks). */
  plan: SkipPlan;
  /** Drafts it may take at most (room left under max_tokens and in the context; 0: a plain step). */
  maxDraft: number;
}

/** A runner that also samples in the runtime (the worker runner). */
export interface SamplingRunner extends ModelRunner {
  /** Weight format, threads and spinning of the session. */
  readonly runtime: RuntimeInfo;
  /**
   * Forks one child per spec and draws each child's first token from `src`'s last logits with the
   * child's own sampler (best-of-N: one prefill, N seeds), all in the runtime.
   */
  forkSampled(src: SeqId, specs: SamplerSpec[]): Promise<ForkSampled>;
  /**
   * One self-speculative cycle over greedy rows, in the runtime (speculative-cycle.ts): the draft
   * plan proposes up to `cfg.tokens` tokens per row, the rows' own plan checks them in one run.
   * Runners without it serve no speculative decoding.
   */
  speculate?(rows: SpecRow[], cfg: SpeculativeConfig): Promise<CycleResult>;
  /**
   * Calls `cb` once if the runtime dies on its own (its worker exits or throws; not on close):
   * every call pending then and after fails, so the runner must be replaced.
   */
  onFailure?(cb: (err: Error) => void): void;
}
