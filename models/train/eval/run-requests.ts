/**
 * Evaluation requests through the engine, exactly as a client would send them to the server:
 * one chat request per problem (the question as the user message), seeds fixed per problem, the
 * known answer attached as the reference and the problem tagged (id, tier, kind, steps) in the
 * request metadata, so a store records evaluations like served traffic. Runs many at once so the
 * engine batches them.
 */
import type { LocalEngine } from '../../../src/engine/local-engine.ts';
import { renderPrompt } from '../../../src/engine/render-prompt.ts';
import type { GenerationResult, RequestSpec, SkipSpec } from '../../../src/engine/types.ts';
import { mapConcurrent } from '../../../src/util/map-concurrent.ts';
import type { Problem } from '../generator/problems.ts';

/** The request seed of problem i (candidate c samples with it + c): the same for every setting compared. */
export const problemSeed = (seed: number, i: number): number => seed * 1_000_003 + i * 64;

/** What one evaluation setting asks of every problem. */
export interface RequestSetting {
  n: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  /** Truncations as a request sets them (0: off). */
  topK?: number;
  minP?: number;
  maxTokens: number;
  skip: SkipSpec;
  /** Beam search of width `n` instead of sampling (temperature and truncations then unused). */
  beam?: { lengthPenalty: number };
}

/** The request a client would send for problem `i` under a setting. */
export function problemRequest(p: Problem, i: number, seed: number, s: RequestSetting): RequestSpec {
  return {
    prompt: { kind: 'chat', messages: [{ role: 'user', content: p.question }] },
    n: s.n,
    temperature: s.temperature,
    topP: s.topP,
    ...(s.topK ? { topK: s.topK } : {}),
    ...(s.minP ? { minP: s.minP } : {}),
    maxTokens: s.maxTokens,
    ...(s.beam ? { useBeamSearch: true, lengthPenalty: s.beam.lengthPenalty } : {}),
    seed: problemSeed(seed, i),
    skip: { ...s.skip, referenceAnswer: String(p.answer) },
    metadata: { problem: p.id, tier: p.tier, kind: p.kind, steps: String(p.steps) },
  };
}

/** Runs every problem under a setting, keeping the engine's batch full; results in problem order. */
export async function runProblems(
  local: LocalEngine,
  problems: readonly Problem[],
  seed: number,
  s: RequestSetting,
  onDone?: () => void,
): Promise<GenerationResult[]> {
  const inFlight = Math.max(1, Math.floor(local.limits.maxBatch / s.n) * 2);
  return mapConcurrent(problems, inFlight, async (p, i) => {
    const spec = problemRequest(p, i, seed, s);
    // A long problem on a short-context model gets what room the context leaves (as a client would ask).
    spec.maxTokens = Math.min(spec.maxTokens!, local.info.maxPositions - renderPrompt(local, spec.prompt).tokens.length);
    const r = await local.generate(spec);
    onDone?.();
    return r;
  });
}

/** Shared state of one evaluation. */
export interface EvalContext {
  local: LocalEngine;
  problems: Problem[];
  seed: number;
  maxTokens: number;
}

/** Greedy results of every problem under one skip setting. */
export function greedyResults(ctx: EvalContext, skip: SkipSpec): Promise<GenerationResult[]> {
  return runProblems(ctx.local, ctx.problems, ctx.seed, { n: 1, temperature: 0, maxTokens: ctx.maxTokens, skip });
}
