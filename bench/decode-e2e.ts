/**
 * End-to-end decode through the worker runner, driven as the engine drives it, with a per-token
 * timeline. Modes: 'main' (logits back to the main thread, sampled there: the engine today),
 * 'worker' (sampled in the worker, only tokens back), 'pipelined' (sampled in the worker and step
 * t+1 queued before step t's result arrives, so main-thread work overlaps the next run). With a
 * tokenizer the main thread also detokenizes every token, as the engine does before streaming.
 */
import type { SamplerSpec, SamplingRunner, SeqId, StepOutput, StepRow, StepTiming } from '../src/model/runner-types.ts';
import type { SkipPlan } from '../src/plans/plan.ts';
import { createDetailedSampler } from '../src/sampling/sampler.ts';
import { IncrementalDetokenizer, type TokenDecoder } from '../src/text/detokenizer.ts';

export type E2eMode = 'main' | 'worker' | 'pipelined';

/** Milliseconds per decode step, split by where they went (sums over the round / steps). */
export interface E2eRound {
  wallMs: number;
  cpuMs: number;
  stages: StepTiming & { mainMs: number };
}

export interface E2eOptions {
  batch: number;
  steps: number;
  mode: E2eMode;
  spec: Omit<SamplerSpec, 'seed'>;
  plan: SkipPlan;
  decoder?: TokenDecoder;
}

/**
 * `batch` children of `parent`, forked once and decoded round after round (so every round is in the
 * steady state the engine runs in: staged KV, one new position per step).
 */
export class E2eSession {
  private kids: SeqId[] = [];
  private specs: SamplerSpec[] = [];
  private draws: ((logits: Float32Array) => { token: number })[] = [];
  private detoks: (IncrementalDetokenizer | null)[] = [];
  private last: number[] = [];

  constructor(
    private runner: SamplingRunner,
    private parent: SeqId,
    private o: E2eOptions,
  ) {}

  /** Decodes `o.steps` tokens for every child; returns per-step wall, CPU and timeline. */
  async round(): Promise<E2eRound> {
    const { runner, o } = this;
    if (!this.kids.length) {
      this.kids = await runner.forkSeq(this.parent, o.batch);
      this.specs = this.kids.map((_, i) => ({ ...o.spec, seed: 1000 + i }));
      this.draws = this.specs.map((s) => createDetailedSampler(s, s.seed));
      this.detoks = this.kids.map(() => (o.decoder ? new IncrementalDetokenizer(o.decoder, [7, 7, 7]) : null));
      this.last = this.kids.map(() => 7);
    }
    const stages = { toWorkerMs: 0, prepMs: 0, runMs: 0, afterMs: 0, sampleMs: 0, toMainMs: 0, mainMs: 0 };
    const rows = (first: boolean): StepRow[] =>
      this.kids.map((seq, i) => {
        if (o.mode === 'main') return { seq, tokens: [this.last[i]], plan: o.plan, logits: 'last' };
        return { seq, tokens: [this.last[i]], plan: o.plan, logits: 'none', sample: this.specs[i], feedSampled: o.mode === 'pipelined' && !first };
      });
    const handle = (out: StepOutput) => {
      const t0 = performance.now();
      for (const k of ['toWorkerMs', 'prepMs', 'runMs', 'afterMs', 'sampleMs', 'toMainMs'] as const) stages[k] += out.timing![k];
      this.last = this.kids.map((_, i) => (o.mode === 'main' ? this.draws[i](out.logits[i]).token : out.sampled![i]!.token));
      this.detoks.forEach((d, i) => d?.push(this.last[i]));
      stages.mainMs += performance.now() - t0;
    };
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    if (o.mode === 'pipelined') {
      // A round starts from the tokens handled so far: its first step feeds them explicitly.
      let inflight: Promise<StepOutput> | null = runner.step(rows(true));
      for (let s = 0; s < o.steps; s++) {
        const next: Promise<StepOutput> | null = s + 1 < o.steps ? runner.step(rows(false)) : null;
        handle(await inflight!);
        inflight = next;
      }
    } else {
      for (let s = 0; s < o.steps; s++) handle(await runner.step(rows(s === 0)));
    }
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    for (const k of Object.keys(stages) as (keyof typeof stages)[]) stages[k] /= o.steps;
    return { wallMs: wall / o.steps, cpuMs: (c.user + c.system) / 1000 / o.steps, stages };
  }

  /** Frees the children. */
  async close(): Promise<void> {
    for (const k of this.kids) await this.runner.freeSeq(k);
    this.kids = [];
  }
}
