/**
 * One cycle of self-speculative decoding for greedy rows (Draft & Verify, LayerSkip), run where the
 * model is (the worker: runner-worker.ts), so its k + 1 runs cost no round trips: the same weights under a
 * skip plan that leaves out whole layers draft up to k tokens one cheap step at a time; the full
 * model then checks them all in one run of k + 1 positions and keeps the drafts up to the first it
 * would not have chosen, plus its own token there (or after the last draft). The output is the full
 * model's greedy output, token for token; each cycle gains between one and k + 1 tokens for k draft
 * steps and one verification. The draft's positions are dropped before the verification (its
 * skipped layers left no keys there) and the rejected ones after it. Which rows qualify is the
 * engine's call (engine/speculation.ts).
 */
import type { GraphUse } from './graph-sessions.ts';
import type { SampledToken, SeqId, SpecRow, SpeculativeConfig, StepOutput, StepRow } from './runner-types.ts';

/** What a cycle needs from the model: steps (sampling and scoring in place), truncation, lengths. */
export interface CycleRuntime {
  step(rows: StepRow[]): Promise<Pick<StepOutput, 'sampled' | 'scored' | 'runMs' | 'buildMs' | 'graphs'>>;
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
  /** The verification's graph, core-graph build time waited for (ms), draft steps run. */
  graph?: GraphUse;
  buildMs: number;
  draftSteps: number;
}

/** One draft-and-verify cycle over `rows` (each row's alternatives as its spec asks). */
export async function speculativeCycle(runner: CycleRuntime, rows: readonly SpecRow[], cfg: SpeculativeConfig): Promise<CycleResult> {
  const start = rows.map((r) => runner.seqLength(r.seq));
  const drafts: number[][] = rows.map(() => []);
  const ended = rows.map((r) => r.maxDraft === 0);
  let runMs = 0;
  let buildMs = 0;
  let draftSteps = 0;
  for (let k = 0; k < cfg.tokens; k++) {
    const active = rows.map((_, i) => i).filter((i) => !ended[i]);
    if (active.length === 0) break;
    const out = await runner.step(active.map((i) => ({ seq: rows[i]!.seq, tokens: [drafts[i]!.at(-1) ?? rows[i]!.last], plan: cfg.draft, logits: 'none', sample: rows[i]!.spec })));
    runMs += out.runMs;
    buildMs += out.buildMs ?? 0;
    draftSteps++;
    active.forEach((i, j) => {
      const t = out.sampled![j]!.token;
      drafts[i]!.push(t);
      // A draft that ends the text, or the row's room used up: nothing after it can count.
      if (rows[i]!.spec.stopTokenIds?.includes(t) || drafts[i]!.length >= rows[i]!.maxDraft) ended[i] = true;
    });
  }
  runner.truncateSeqs(rows.flatMap((r, i) => (drafts[i]!.length ? [{ seq: r.seq, length: start[i]! }] : [])));
  const verify = await runner.step(
    rows.map((r, i) => ({ seq: r.seq, tokens: [r.last, ...drafts[i]!], plan: r.plan, logits: 'none', sample: r.spec, score: { targets: [...drafts[i]!, -1], k: Math.max(1, r.spec.topLogprobs ?? 0) } })),
  );
  runMs += verify.runMs;
  buildMs += verify.buildMs ?? 0;
  const tokens: SampledToken[][] = [];
  const accepted: number[] = [];
  const cuts: { seq: SeqId; length: number }[] = [];
  rows.forEach((r, i) => {
    const d = drafts[i]!;
    const scored = verify.scored![i]!;
    const k = r.spec.topLogprobs ?? 0;
    const mine: SampledToken[] = [];
    let a = 0;
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
    tokens.push(mine);
    accepted.push(a);
    // Keep the fed token and the accepted drafts; the rejected ones go.
    if (a < d.length) cuts.push({ seq: r.seq, length: start[i]! + 1 + a });
  });
  runner.truncateSeqs(cuts);
  return { tokens, drafted: drafts.map((d) => d.length), accepted, runMs, verifyMs: verify.runMs, graph: verify.graphs?.[0], buildMs, draftSteps };
}
