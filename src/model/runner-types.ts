/**
 * The contract between the engine (main thread) and the model runtime (worker thread).
 * The runtime owns every tensor and the KV cache; the engine refers to sequences by id.
 */
import type { SkipPlan } from '../plans/plan.ts';
import type { ModelInfo } from './model-info.ts';

/** Handle to one sequence's KV cache inside the runtime. */
export type SeqId = number;

/** One row of a batched step: feed `tokens` to sequence `seq` under `plan`. */
export interface StepRow {
  seq: SeqId;
  /** New tokens to append (many for prefill, one for decode). */
  tokens: number[];
  /** The row's skip plan; must be the same plan for every step of a sequence. */
  plan: SkipPlan;
  /** Which logits to return: only the last new position, or every new position. */
  logits: 'last' | 'all';
  /** When true, also return the mean-pooled hidden state of the router's embedding layer over the new tokens. */
  embed?: boolean;
}

/** Result of one batched step; arrays are indexed like the input rows. */
export interface StepOutput {
  /** Per row: float32 logits, `positions * vocabSize` values (positions = 1 for 'last'). */
  logits: Float32Array[];
  /** Per row: the pooled embedding when `embed` was asked, else null. */
  embeddings: (Float32Array | null)[];
  /** Wall time of the onnxruntime run(s) for this step, in milliseconds. */
  runMs: number;
}

/** The model runtime as the engine uses it. Every method is safe to call from the event loop. */
export interface ModelRunner {
  readonly info: ModelInfo;
  /** Allocates an empty sequence (no tokens yet). */
  createSeq(): Promise<SeqId>;
  /** Creates `count` new sequences whose KV cache is a copy of `src`'s (best-of-N shares one prefill). */
  forkSeq(src: SeqId, count: number): Promise<SeqId[]>;
  /** Frees a sequence's KV cache. Unknown ids are ignored. */
  freeSeq(seq: SeqId): Promise<void>;
  /** Number of tokens a sequence has consumed so far (its next position). */
  seqLength(seq: SeqId): number;
  /** Runs one step for a batch of rows in one onnxruntime run where shapes allow. */
  step(rows: StepRow[]): Promise<StepOutput>;
  /** Stops the worker and releases the session. */
  close(): Promise<void>;
}
