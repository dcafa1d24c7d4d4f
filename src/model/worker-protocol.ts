/**
 * Messages between the main-thread runner (runner.ts) and the model worker (runner-worker.ts).
 * Plans travel once: a step names each row's plan by id and defines only ids the worker has not
 * seen; ids of plans the engine no longer holds are dropped on a later step. A row's sampler spec
 * likewise travels once per sequence (`1` = the spec sent before).
 */
import type { SkipPlan } from '../plans/plan.ts';
import type { GraphUse } from './graph-sessions.ts';
import type { SampledToken, SamplerSpec, ScoredPosition, SkipCore, StepOptions } from './runner-types.ts';

/** A step row as sent to the worker. */
export interface WireRow {
  seq: number;
  tokens: number[];
  plan: number;
  logits: 'last' | 'all' | 'none';
  embed?: boolean;
  sample?: SamplerSpec | 1;
  feedSampled?: boolean;
  score?: { targets: number[]; k: number };
}

export type WorkerRequest =
  | { id: number; op: 'create' }
  | { id: number; op: 'fork'; src: number; count: number; length?: number }
  | { id: number; op: 'forkSampled'; src: number; specs: SamplerSpec[] }
  | { id: number; op: 'free'; seq: number }
  /** A speculative cycle (speculative-cycle.ts): rows name their plan and spec as step rows do. */
  | { id: number; op: 'speculate'; rows: { seq: number; last: number; plan: number; spec: SamplerSpec | 1; maxDraft: number }[]; draft: number; tokens: number; plans: [number, SkipPlan][]; drop: number[] }
  | { id: number; op: 'step'; rows: WireRow[]; plans: [number, SkipPlan][]; drop: number[]; sentAt: number; opts?: StepOptions }
  | { id: number; op: 'prepareCores'; cores: SkipCore[] }
  | { id: number; op: 'close' }
  /** Fault injection: blocks the worker thread for `ms`, as a hung run would (the stall watchdog's test). */
  | { id: number; op: 'block'; ms: number };

/** A step's result as posted back; logits are views into transferred buffers. */
export interface PackedStep {
  buffers: ArrayBuffer[];
  logits: ({ buf: number; offset: number; length: number } | null)[];
  embeddings: (Float32Array | null)[];
  sampled: (SampledToken | null)[];
  scored: ((ScoredPosition | null)[] | null)[];
  fed: number[];
  runMs: number;
  graphs: GraphUse[];
  buildMs: number;
  /** Epoch milliseconds and durations of the worker's part of the timeline. */
  timing: { startedAt: number; prepMs: number; runMs: number; afterMs: number; sampleMs: number; repliedAt: number };
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across threads. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
