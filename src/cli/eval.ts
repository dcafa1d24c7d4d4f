/**
 * `skipserve eval --model DIR --split test --count N --n 8 [--plan JSON | --policy NAME]`:
 * accuracy of a model on generated arithmetic problems, measured on the project's own runtime.
 * Greedy accuracy; with --n > 1 also temperature sampling (one-sample accuracy, pass@n,
 * majority-vote@n as the server votes, distinct answers), by steps and kind. `--suite skips` instead measures greedy
 * accuracy under every single head mask, every single sublayer skip and random skip cores.
 * `--dump-greedy FILE` / `--compare-greedy FILE` write / check greedy token ids (torch parity).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadRunner } from '../model/runner.ts';
import type { ModelRunner } from '../model/runner-types.ts';
import { FULL_PLAN, parsePlan, type SkipPlan } from '../plans/plan.ts';
import { argmax, createDetailedSampler } from '../sampling/sampler.ts';
import { TextTokenizer } from '../text/tokenizer.ts';
import { generateSplit, SPLITS, type Split } from '../../models/train/generator/split.ts';
import type { Problem } from '../../models/train/generator/problems.ts';
import { generateMany, generateManyScored, type GenJob } from '../../models/train/eval/batch-generate.ts';
import { breakdown, markdownTable, scoreProblem, type ProblemResult } from '../../models/train/eval/scoring.ts';
import { policyPlans } from '../../models/train/eval/policy-plans.ts';
import { runSkipSuite } from '../../models/train/eval/skip-report.ts';

function usage(): string {
  return 'usage: skipserve eval --model DIR [--split test] [--count N] [--seed S] [--n 8] [--temperature 0.7] [--top-p 1] [--plan JSON | --policy NAME] [--suite skips] [--cores 3] [--threads 2] [--batch 32] [--json FILE] [--dump-greedy FILE] [--compare-greedy FILE]';
}

function num(name: string, raw: string | undefined, dflt: number, check: (x: number) => boolean, what: string): number {
  if (raw === undefined) return dflt;
  const x = Number(raw);
  if (!Number.isFinite(x) || !check(x)) throw new Error(`--${name} must be ${what}, got '${raw}'\n${usage()}`);
  return x;
}

/** Shared state of one evaluation. */
export interface EvalContext {
  runner: ModelRunner;
  tok: TextTokenizer;
  problems: Problem[];
  prompts: number[][];
  maxTokens: number;
  batch: number;
}

/** Greedy completion ids of every problem under each plan (plan-major order). */
export async function greedyIds(ctx: EvalContext, plans: SkipPlan[]): Promise<number[][]> {
  const jobs: GenJob[] = plans.flatMap((plan) => ctx.prompts.map((prompt) => ({ prompt, plan, pick: argmax })));
  return generateMany(ctx.runner, jobs, { maxTokens: ctx.maxTokens, eosTokenIds: ctx.runner.info.eosTokenIds, maxBatch: ctx.batch });
}

/** Scores greedy completions. */
export function scoreGreedy(ctx: EvalContext, ids: number[][]): ProblemResult[] {
  return ctx.problems.map((p, i) => scoreProblem(p, [ctx.tok.decode(ids[i]!)]));
}

/** Parses the command line, runs the evaluation, prints markdown tables (and JSON with --json). */
export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, split: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' },
      n: { type: 'string' }, temperature: { type: 'string' }, plan: { type: 'string' }, policy: { type: 'string' },
      suite: { type: 'string' }, cores: { type: 'string' }, threads: { type: 'string' }, batch: { type: 'string' },
      json: { type: 'string' }, 'dump-greedy': { type: 'string' }, 'compare-greedy': { type: 'string' },
      'max-tokens': { type: 'string' }, 'top-p': { type: 'string' },
    },
    strict: true,
  });
  if (!values.model) throw new Error(`--model is required\n${usage()}`);
  const split = (values.split ?? 'test') as Split;
  if (!SPLITS.includes(split)) throw new Error(`--split must be one of ${SPLITS.join(', ')}, got '${values.split}'`);
  const count = num('count', values.count, 200, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const seed = num('seed', values.seed, 1, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
  const n = num('n', values.n, 1, (x) => Number.isInteger(x) && x >= 1 && x <= 64, 'an integer in [1, 64]');
  const temperature = num('temperature', values.temperature, 0.7, (x) => x > 0 && x <= 5, 'a number in (0, 5]');
  const topP = num('top-p', values['top-p'], 1, (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const cores = num('cores', values.cores, 3, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const threads = num('threads', values.threads, 2, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const batch = num('batch', values.batch, 32, (x) => Number.isInteger(x) && x >= 1 && x <= 256, 'an integer in [1, 256]');
  const maxTokens = num('max-tokens', values['max-tokens'], 160, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  if (values.plan !== undefined && values.policy !== undefined) throw new Error('--plan and --policy are mutually exclusive');
  if (values.suite !== undefined && values.suite !== 'skips') throw new Error(`--suite must be 'skips', got '${values.suite}'`);

  const tok = TextTokenizer.load(values.model);
  const runner = await loadRunner({ modelDir: values.model, threads, maxBatch: Math.max(batch, n) });
  try {
    let plan: SkipPlan = FULL_PLAN;
    if (values.plan !== undefined) {
      let wire: unknown;
      try {
        wire = JSON.parse(values.plan);
      } catch {
        throw new Error(`--plan must be JSON (e.g. '{"skip_attention":[3],"mask_heads":{"1":[0]}}'), got '${values.plan}'`);
      }
      plan = parsePlan(wire, runner.info);
    }
    const problems = [...generateSplit({ split, seed, count })];
    const prompts = problems.map((p) => tok.encode(`Q: ${p.question}\nA:`));
    const ctx: EvalContext = { runner, tok, problems, prompts, maxTokens, batch };
    const t0 = performance.now();
    const report: Record<string, unknown> = { model: values.model, split, seed, count, n, temperature, topP, policy: values.policy ?? null, plan };

    if (values.suite === 'skips') {
      const suite = await runSkipSuite(ctx, cores, seed, greedyIds, scoreGreedy);
      process.stdout.write(suite.markdown + '\n');
      report.suite = suite.rows;
      report.summary = suite.summary;
    } else {
      const ids = await greedyIds(ctx, [plan]);
      if (values['dump-greedy']) writeFileSync(values['dump-greedy'], JSON.stringify(ids));
      if (values['compare-greedy']) {
        const ref = JSON.parse(readFileSync(values['compare-greedy'], 'utf8')) as number[][];
        if (ref.length !== ids.length) throw new Error(`--compare-greedy has ${ref.length} rows, expected ${ids.length}`);
        const diff = ref.map((r, i) => (JSON.stringify(r) === JSON.stringify(ids[i]) ? -1 : i)).filter((i) => i >= 0);
        report.greedyMismatches = diff.length;
        process.stdout.write(`greedy token parity: ${ids.length - diff.length}/${ids.length} problems identical\n`);
        if (diff.length) {
          process.exitCode = 1;
          process.stdout.write(`first mismatch: problem ${problems[diff[0]!]!.id}\n  ref: ${JSON.stringify(ref[diff[0]!])}\n  ort: ${JSON.stringify(ids[diff[0]!])}\n`);
        }
      }
      const greedy = breakdown(scoreGreedy(ctx, ids));
      let sampled = null;
      if (n > 1) {
        const plans = values.policy ? await policyPlans(ctx, values.model, values.policy, n, seed) : problems.map(() => new Array<SkipPlan>(n).fill(plan));
        const jobs: GenJob[] = [];
        problems.forEach((_, i) => {
          for (let c = 0; c < n; c++) {
            jobs.push({ prompt: prompts[i]!, plan: plans[i]![c]!, pick: createDetailedSampler({ temperature, topP, topK: 0 }, seed * 1_000_003 + i * 64 + c) });
          }
        });
        const out = await generateManyScored(runner, jobs, { maxTokens, eosTokenIds: runner.info.eosTokenIds, maxBatch: batch });
        sampled = breakdown(
          problems.map((p, i) => {
            const cands = out.slice(i * n, (i + 1) * n);
            return scoreProblem(p, cands.map((r) => tok.decode(r.ids)), cands.map((r) => r.meanLogprob));
          }),
        );
        report.policyPlansSample = plans[0];
      }
      report.greedy = greedy;
      report.sampled = sampled;
      process.stdout.write(markdownTable(greedy, sampled, n) + '\n');
    }
    report.seconds = (performance.now() - t0) / 1000;
    process.stdout.write(`(${problems.length} ${split} problems, seed ${seed}, ${(report.seconds as number).toFixed(1)} s)\n`);
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1));
  } finally {
    await runner.close();
  }
}
