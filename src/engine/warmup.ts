/**
 * Start-up warm-up steps that go the way a request goes: one prompt row prefilled at batch 1, forked
 * into `batch` sampled candidates (forkSampled), then decode steps of those rows under one plan with
 * sampling in the worker, and the rows freed. onnxruntime's first runs of these shapes, the graph of
 * the plan's core and the sampler's first calls are paid here instead of by the first request; the
 * step times are returned for the speedup meter (Engine.warmUp).
 */
import type { CycleResult } from '../model/speculative-cycle.ts';
import type { SamplerSpec, SamplingRunner, SeqId, SpeculativeConfig } from '../model/runner-types.ts';
import type { SkipPlan } from '../plans/plan.ts';
import { filler, type StepSample } from './speedup-meter.ts';

/** The sampler of row `row` in synthetic decode steps (warm-up, core check): T 0.8, full vocabulary, seeded per row. */
export function warmupSampler(row: number): SamplerSpec {
  return { temperature: 0.8, topP: 1, topK: 0, seed: row + 1 };
}

/**
 * Runs `steps` decode steps of `batch` forked candidates under `plan` after a `context`-token
 * prompt; each step's run time (ms). With `speculative` (its draft already on top of the
 * plan's core), two speculative cycles sampled and two greedy follow, so the first speculating
 * request pays no first runs of the draft's and the verification's shapes either; `aroundCycle`,
 * when given, runs each of them (the engine's speedup meter measures the verification beside a
 * dense probe of its shape; `first`: the first cycle, whose runs are the shapes' first).
 */
export async function warmRequestPath(
  runner: SamplingRunner,
  o: { batch: number; plan: SkipPlan; context: number; steps: number; speculative?: SpeculativeConfig; aroundCycle?: (cycle: () => Promise<CycleResult>, c: { sampled: boolean; first: boolean }) => Promise<CycleResult> },
): Promise<StepSample[]> {
  const seqs: SeqId[] = [];
  const samples: StepSample[] = [];
  try {
    const prompt = await runner.createSeq();
    seqs.push(prompt);
    const length = Math.max(1, Math.min(o.context, runner.info.maxPositions - o.steps - 2));
    await runner.step([{ seq: prompt, tokens: Array.from({ length }, (_, t) => filler(t)), plan: o.plan, logits: 'none' }]);
    const specs: SamplerSpec[] = Array.from({ length: o.batch }, (_, i) => warmupSampler(i));
    const forked = await runner.forkSampled(prompt, specs);
    seqs.push(...forked.seqs);
    let last = forked.sampled.map((t) => t.token);
    for (let i = 0; i < o.steps; i++) {
      const out = await runner.step(forked.seqs.map((seq, r) => ({ seq, tokens: [last[r]!], plan: o.plan, logits: 'none' as const, sample: specs[r] })));
      samples.push({ ms: out.runMs, graph: out.graphs?.[0] });
      last = out.sampled!.map((t, r) => t?.token ?? last[r]!);
    }
    const cfg = o.speculative;
    if (cfg && runner.speculate && length + o.steps + 2 * (cfg.tokens + 1) + 2 < runner.info.maxPositions) {
      // A sequence keeps one sampler spec: the greedy cycles run on greedy children of the prompt.
      const greedySpecs = specs.map((s) => ({ ...s, temperature: 0 }));
      const greedy = await runner.forkSampled(prompt, greedySpecs);
      seqs.push(...greedy.seqs);
      for (const [rowSeqs, rowSpecs, first] of [[forked.seqs, specs, last], [greedy.seqs, greedySpecs, greedy.sampled.map((t) => t.token)]] as const) {
        let prev = [...first];
        for (let c = 0; c < 2; c++) {
          const cycle = () => runner.speculate!(rowSeqs.map((seq, r) => ({ seq, last: prev[r]!, spec: rowSpecs[r]!, plan: o.plan, maxDraft: cfg.tokens })), cfg);
          const sampled = rowSpecs[0]!.temperature > 0;
          const out = await (o.aroundCycle ? o.aroundCycle(cycle, { sampled, first: sampled && c === 0 }) : cycle());
          prev = out.tokens.map((t, r) => t.at(-1)?.token ?? prev[r]!);
        }
      }
    }
  } finally {
    for (const s of seqs) await runner.freeSeq(s);
  }
  return samples;
}
