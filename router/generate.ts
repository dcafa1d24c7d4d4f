/**
 * Batched sampling for calibration and evaluation, with the server's best-of-N semantics: each
 * prompt is prefilled once under its skip core and forked into one row per candidate (seed + i,
 * own plan; the first token comes from the shared prefill). Decode steps batch rows of many
 * prompts, grouped by skip core so shared skips are really skipped.
 */
import { extractAnswer } from '../src/engine/answers.ts';
import type { ModelRunner, SeqId } from '../src/model/runner-types.ts';
import { planKey, type SkipPlan } from '../src/plans/plan.ts';
import { Rng } from '../src/util/rng.ts';
import { sample, type SampleParams } from '../src/sampling/sampler.ts';
import type { TextTokenizer } from '../src/text/tokenizer.ts';

/** One prompt and its candidates. */
export interface GenerateJob {
  promptIds: number[];
  core: SkipPlan;
  plans: SkipPlan[];
  /** Candidate i samples with seed + i. */
  seed: number;
}

export interface Candidate {
  tokens: number[];
  text: string;
  answer: string | null;
  meanLogprob: number;
}

export interface GenerateOptions {
  sampling: SampleParams;
  maxTokens: number;
  /** Most rows in one decode step (default 64). */
  maxRows?: number;
  /** Called with the number of jobs finished so far. */
  onJobDone?: (done: number) => void;
}

interface Row {
  job: number;
  seq: SeqId;
  plan: SkipPlan;
  coreKey: string;
  rng: Rng;
  tokens: number[];
  logprobs: number[];
  done: boolean;
}

/** Runs every job to completion; returns the candidates of each job in order. */
export async function generateJobs(runner: ModelRunner, tok: TextTokenizer, jobs: GenerateJob[], opts: GenerateOptions): Promise<Candidate[][]> {
  const eos = new Set(runner.info.eosTokenIds);
  const maxRows = opts.maxRows ?? 64;
  const rowsOf: Row[][] = jobs.map(() => []);
  const remaining = jobs.map((j) => j.plans.length);
  let finishedJobs = 0;
  const accept = (row: Row, logits: Float32Array): void => {
    const s = sample(logits, opts.sampling, row.rng);
    row.logprobs.push(s.logprob);
    if (eos.has(s.token)) row.done = true;
    else row.tokens.push(s.token);
    if (row.tokens.length >= opts.maxTokens || runner.seqLength(row.seq) + 1 >= runner.info.maxPositions) row.done = true;
  };
  const finish = async (row: Row): Promise<void> => {
    await runner.freeSeq(row.seq);
    if (--remaining[row.job]! === 0) opts.onJobDone?.(++finishedJobs);
  };
  let next = 0;
  const active: Row[] = [];
  try {
    while (next < jobs.length || active.length > 0) {
      // Admit prompts while there is room.
      while (next < jobs.length && active.length + jobs[next]!.plans.length <= Math.max(maxRows, jobs[next]!.plans.length)) {
        const j = next++;
        const job = jobs[j]!;
        const root = await runner.createSeq();
        const out = await runner.step([{ seq: root, tokens: job.promptIds, plan: job.core, logits: 'last' }]);
        const seqs = await runner.forkSeq(root, job.plans.length);
        await runner.freeSeq(root);
        const coreKey = planKey(job.core);
        for (const [i, seq] of seqs.entries()) {
          const row: Row = { job: j, seq, plan: job.plans[i]!, coreKey, rng: new Rng(job.seed + i), tokens: [], logprobs: [], done: false };
          rowsOf[j]!.push(row);
          accept(row, out.logits[0]!);
          if (row.done) await finish(row);
          else active.push(row);
        }
      }
      if (active.length === 0) continue;
      // One decode step for the rows that share the most common core.
      const counts = new Map<string, number>();
      for (const r of active) counts.set(r.coreKey, (counts.get(r.coreKey) ?? 0) + 1);
      const key = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
      const group = active.filter((r) => r.coreKey === key).slice(0, maxRows);
      const out = await runner.step(group.map((r) => ({ seq: r.seq, tokens: [r.tokens[r.tokens.length - 1]!], plan: r.plan, logits: 'last' as const })));
      for (const [i, row] of group.entries()) {
        accept(row, out.logits[i]!);
        if (row.done) {
          active.splice(active.indexOf(row), 1);
          await finish(row);
        }
      }
    }
  } finally {
    for (const r of active) await runner.freeSeq(r.seq);
  }
  return rowsOf.map((rows) =>
    rows.map((r) => {
      const text = r.tokens.length ? tok.decode(r.tokens) : '';
      const meanLogprob = r.logprobs.length ? r.logprobs.reduce((a, b) => a + b, 0) / r.logprobs.length : 0;
      return { tokens: r.tokens, text, answer: extractAnswer(text), meanLogprob };
    }),
  );
}
