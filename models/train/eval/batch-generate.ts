/**
 * Batched generation for evaluation over the project's ModelRunner: many independent jobs
 * (prompt, plan, sampler), up to `maxBatch` sequences in flight, new jobs prefilled as others
 * finish, one runner step per iteration for all rows (continuous batching).
 */
import type { SkipPlan } from '../../../src/plans/plan.ts';
import type { ModelRunner, SeqId, StepRow } from '../../../src/model/runner-types.ts';
import type { Sampled } from '../../../src/sampling/sampler.ts';

/** One generation job. */
export interface GenJob {
  prompt: number[];
  plan: SkipPlan;
  /** Picks the next token from the row's logits (greedy or a seeded sampler), with its logprob when known. */
  pick: (logits: Float32Array) => number | Sampled;
}

/** One finished job: its ids (eos excluded) and the mean logprob of its picked tokens (eos included; NaN when the picker gives none). */
export interface GenResult {
  ids: number[];
  meanLogprob: number;
}

export interface GenOptions {
  maxTokens: number;
  eosTokenIds: number[];
  maxBatch?: number;
  /** Called after each finished job (progress). */
  onDone?: (finished: number, total: number) => void;
}

interface Active {
  job: number;
  seq: SeqId;
  out: number[];
  pending: number[];
  logprobSum: number;
}

/** Runs every job to eos or maxTokens; returns the generated ids per job (eos excluded). */
export async function generateMany(runner: ModelRunner, jobs: GenJob[], o: GenOptions): Promise<number[][]> {
  return (await generateManyScored(runner, jobs, o)).map((r) => r.ids);
}

/** Like generateMany, with each job's mean token logprob (what the server's vote breaks ties by). */
export async function generateManyScored(runner: ModelRunner, jobs: GenJob[], o: GenOptions): Promise<GenResult[]> {
  const results: GenResult[] = new Array(jobs.length);
  const eos = new Set(o.eosTokenIds);
  const maxBatch = o.maxBatch ?? 32;
  const active: Active[] = [];
  let next = 0;
  let finished = 0;
  while (finished < jobs.length) {
    while (active.length < maxBatch && next < jobs.length) {
      const seq = await runner.createSeq();
      active.push({ job: next, seq, out: [], pending: jobs[next]!.prompt, logprobSum: 0 });
      next++;
    }
    const rows: StepRow[] = active.map((a) => ({ seq: a.seq, tokens: a.pending, plan: jobs[a.job]!.plan, logits: 'last' }));
    const step = await runner.step(rows);
    const keep: Active[] = [];
    for (let i = 0; i < active.length; i++) {
      const a = active[i]!;
      const picked = jobs[a.job]!.pick(step.logits[i]!);
      const tok = typeof picked === 'number' ? picked : picked.token;
      a.logprobSum += typeof picked === 'number' ? NaN : picked.logprob;
      const limit = Math.min(o.maxTokens, runner.info.maxPositions - jobs[a.job]!.prompt.length);
      const stop = eos.has(tok);
      if (!stop) a.out.push(tok);
      if (stop || a.out.length >= limit) {
        results[a.job] = { ids: a.out, meanLogprob: a.logprobSum / (a.out.length + (stop ? 1 : 0)) };
        await runner.freeSeq(a.seq);
        finished++;
        o.onDone?.(finished, jobs.length);
      } else {
        a.pending = [tok];
        keep.push(a);
      }
    }
    active.splice(0, active.length, ...keep);
  }
  return results;
}
