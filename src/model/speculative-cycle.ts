/**
 * One cycle of self-speculative decoding (Draft & Verify, LayerSkip), run where the model is (the
 * worker: runner-worker.ts), so its k + 1 runs cost no round trips: the same weights under a skip
 * plan that leaves out whole layers draft up to k tokens one cheap step at a time; each row's own
 * plan (the full model, or a skip core with its head masks) then checks them all in one run of
 * k + 1 positions. A greedy row keeps the drafts up to the first its plan would not have chosen,
 * plus its plan's own token there (or after the last draft): its plan's greedy output, token for
 * token. A sampled row keeps or replaces each draft by speculative sampling
 * (sampling/speculative-sampling.ts), which draws exactly as plain sampling would. Each cycle gains
 * between one and k + 1 tokens for k draft steps and one verification. The draft's positions are
 * dropped before the verification (its skipped layers left no keys there) and the rejected ones
 * after it. Which rows qualify is the engine's call (engine/speculation.ts).
 */
import type { GraphUse } from './graph-sessions.ts';
import type { SampledToken, SeqId, SpecRow, SpeculativeConfig, StepOutput, StepRow } from './runner-types.ts';
import { logSumExp, topLogprobs } from '../sampling/logprobs.ts';
import { acceptOrResample, DRAW, drawFrom, positionalUniform } from '../sampling/speculative-sampling.ts';
import { samplingDistribution } from '../sampling/sampler.ts';

/** What a cycle needs from the model: steps (sampling and scoring in place), truncation, lengths. */
export interface CycleRuntime {
  step(rows: StepRow[]): Promise<Pick<StepOutput, 'logits' | 'sampled' | 'scored' | 'runMs' | 'buildMs' | 'graphs'>>;
  readonly vocabSize: number;
  truncateSeqs(cuts: { seq: SeqId; length: number }[]): void;
  seqLength(seq: SeqId): number;
}

export interface CycleResult {
  /** Per row, the tokens the full model chose, in order (the accepted drafts, then its own). */
  tokens: SampledToken[][];
  /** Per row, tokens drafted and accepted. */
  drafted: number[];
  accepted: number[];
  /** onnxruntime time of the draft steps and the verification (ms). */
  runMs: number;
  /** The verification's own run time (one full-model run over every row's k + 1 positions). */
  verifyMs: number;
  /** The verification's graph and the core-graph build time waited for (ms). */
  graph?: GraphUse;
  buildMs: number;
}

/** True for a row that samples (temperature > 0): speculative sampling; else greedy. */
const sampling = (r: SpecRow): boolean => r.spec.temperature > 0;

/** The token chosen at a verified position of a sampled row, with the model's own log-probability there. */
function chosenAt(logits: Float32Array, token: number, k: number): SampledToken {
  const lse = logSumExp(logits);
  return { token, logprob: logits[token]! - lse, top: k > 0 ? topLogprobs(logits, k, lse) : [] };
}

/** One draft-and-verify cycle over `rows` (each row's alternatives as its spec asks). */
export async function speculativeCycle(runner: CycleRuntime, rows: readonly SpecRow[], cfg: SpeculativeConfig): Promise<CycleResult> {
  const V = runner.vocabSize;
  const start = rows.map((r) => runner.seqLength(r.seq));
  const drafts: number[][] = rows.map(() => []);
  /** Sampled rows: each draft's distribution (the draft plan's, tempered and cut by top-k / top-p as plain sampling cuts). */
  const qs: Float64Array[][] = rows.map(() => []);
  const ended = rows.map((r) => r.maxDraft === 0);
  let runMs = 0;
  let buildMs = 0;
  for (let k = 0; k < cfg.tokens; k++) {
    const active = rows.map((_, i) => i).filter((i) => !ended[i]);
    if (active.length === 0) break;
    const out = await runner.step(
      active.map((i) => {
        const r = rows[i]!;
        const step = { seq: r.seq, tokens: [drafts[i]!.at(-1) ?? r.last], plan: cfg.draft };
        return sampling(r) ? { ...step, logits: 'last' as const } : { ...step, logits: 'none' as const, sample: r.spec };
      }),
    );
    runMs += out.runMs;
    buildMs += out.buildMs ?? 0;
    active.forEach((i, j) => {
      const r = rows[i]!;
      let t: number;
      if (sampling(r)) {
        const q = samplingDistribution(out.logits[j]!, r.spec);
        t = drawFrom(q, positionalUniform(r.spec.seed, start[i]! + 1 + drafts[i]!.length, DRAW.draft));
        qs[i]!.push(q);
      } else t = out.sampled![j]!.token;
      drafts[i]!.push(t);
      // A draft that ends the text, or the row's room used up: nothing after it can count.
      if (r.spec.stopTokenIds?.includes(t) || drafts[i]!.length >= r.maxDraft) ended[i] = true;
    });
  }
  runner.truncateSeqs(rows.flatMap((r, i) => (drafts[i]!.length ? [{ seq: r.seq, length: start[i]! }] : [])));
  const verify = await runner.step(
    rows.map((r, i) =>
      sampling(r)
        ? { seq: r.seq, tokens: [r.last, ...drafts[i]!], plan: r.plan, logits: 'all' as const }
        : { seq: r.seq, tokens: [r.last, ...drafts[i]!], plan: r.plan, logits: 'none' as const, sample: r.spec, score: { targets: [...drafts[i]!, -1], k: Math.max(1, r.spec.topLogprobs ?? 0) } },
    ),
  );
  runMs += verify.runMs;
  buildMs += verify.buildMs ?? 0;
  const tokens: SampledToken[][] = [];
  const accepted: number[] = [];
  const cuts: { seq: SeqId; length: number }[] = [];
  rows.forEach((r, i) => {
    const d = drafts[i]!;
    const k = r.spec.topLogprobs ?? 0;
    const mine: SampledToken[] = [];
    let a = 0;
    if (sampling(r)) {
      const all = verify.logits[i]!;
      const at = (j: number) => all.subarray(j * V, (j + 1) * V);
      for (; a < d.length; a++) {
        const pos = start[i]! + 1 + a;
        const p = samplingDistribution(at(a), r.spec);
        const { token, accepted: kept } = acceptOrResample(p, qs[i]![a]!, d[a]!, positionalUniform(r.spec.seed, pos, DRAW.accept), positionalUniform(r.spec.seed, pos, DRAW.residual));
        mine.push(chosenAt(at(a), token, k));
        if (!kept) break;
      }
      if (a === d.length) mine.push(chosenAt(at(a), drawFrom(samplingDistribution(at(a), r.spec), positionalUniform(r.spec.seed, start[i]! + 1 + a, DRAW.bonus)), k));
    } else {
      const scored = verify.scored![i]!;
      for (; a < d.length; a++) {
        const at = scored[a]!;
        const best = at.top[0]!;
        if (best.token !== d[a]) {
          mine.push({ token: best.token, logprob: best.logprob, top: at.top.slice(0, k) });
          break;
        }
        mine.push({ token: d[a]!, logprob: at.logprob, top: at.top.slice(0, k) });
      }
      if (a === d.length) mine.push(verify.sampled![i]!);
    }
    tokens.push(mine);
    accepted.push(a);
    // Keep the fed token and the accepted drafts; the rejected ones go.
    if (a < d.length) cuts.push({ seq: r.seq, length: start[i]! + 1 + a });
  });
  runner.truncateSeqs(cuts);
  return { tokens, drafted: drafts.map((d) => d.length), accepted, runMs, verifyMs: verify.runMs, graph: verify.graphs?.[0], buildMs };
}
