/**
 * `skipserve eval --model DIR [--tier standard|hard|mixed] --split test --count N --n 8 [--plan JSON | --policy NAME]`:
 * accuracy of a model on generated arithmetic problems, measured through the server's own engine
 * (the same requests a client would send: the vote, the answers and the candidates are the
 * server's). Greedy accuracy; with --n > 1 also sampling (one-sample accuracy, pass@n, the vote
 * at n, distinct answers), by tier, steps and kind, with 95% intervals; `--beam` runs beam search of
 * width n instead of sampling (the top beam against greedy, paired; the vote and pass@n over the beams). `--suite skips` instead
 * measures greedy accuracy under every single head mask, every single sublayer skip and random
 * skip cores. `--dump-greedy FILE` / `--compare-greedy FILE` write / check greedy token ids (torch parity).
 * `--baseline FILE` pairs every per-problem figure with an earlier run's `--json` on the same problems
 * (another model, say): this run minus the baseline, with 95% intervals.
 * `--store SPEC` records every request (tagged with its problem) in a request store, as the server does.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../../../src/engine/local-engine.ts';
import { openStore } from '../../../src/store/open-store.ts';
import type { SkipSpec } from '../../../src/engine/types.ts';
import type { SkipPlanWire } from '../../../src/plans/plan.ts';
import { generateSplit, SPLITS, TIERS, type Split, type TierChoice } from '../generator/split.ts';
import type { Problem } from '../generator/problems.ts';
import { greedyResults, runProblems, type EvalContext, type RequestSetting } from './run-requests.ts';
import { breakdown, markdownTable, scoreResult, votedCorrect } from './scoring.ts';
import { formatDiff, formatProportion, pairedDiff, wilson } from '../../../src/util/intervals.ts';
import { runSkipSuite } from './skip-report.ts';
import { compareToBaseline, readBaseline, type PerProblem } from './baseline.ts';

function usage(): string {
  return 'usage: skipserve eval --model DIR [--tier standard|hard|mixed] [--split test] [--count N] [--seed S] [--n 8] [--temperature 0.7] [--top-p 1] [--top-k 0] [--min-p 0] [--plan JSON | --policy NAME] [--suite skips] [--cores 3] [--groups head,sublayer,core25,core50] [--threads 2] [--batch 32] [--max-tokens N] [--beam [--length-penalty 1]] [--json FILE] [--dump-greedy FILE] [--compare-greedy FILE] [--baseline FILE] [--store FILE|postgres://...]';
}

function num(name: string, raw: string | undefined, dflt: number, check: (x: number) => boolean, what: string): number {
  if (raw === undefined) return dflt;
  const x = Number(raw);
  if (!Number.isFinite(x) || !check(x)) throw new Error(`--${name} must be ${what}, got '${raw}'\n${usage()}`);
  return x;
}

/** Parses the command line, runs the evaluation, prints markdown tables (and JSON with --json). */
export async function run(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, split: { type: 'string' }, tier: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' },
      n: { type: 'string' }, temperature: { type: 'string' }, plan: { type: 'string' }, policy: { type: 'string' },
      suite: { type: 'string' }, groups: { type: 'string' }, cores: { type: 'string' }, threads: { type: 'string' }, batch: { type: 'string' },
      json: { type: 'string' }, 'dump-greedy': { type: 'string' }, 'compare-greedy': { type: 'string' },
      'max-tokens': { type: 'string' }, beam: { type: 'boolean' }, 'length-penalty': { type: 'string' }, 'top-p': { type: 'string' }, 'top-k': { type: 'string' }, 'min-p': { type: 'string' }, store: { type: 'string' }, baseline: { type: 'string' },
    },
    strict: true,
  });
  if (!values.model) throw new Error(`--model is required\n${usage()}`);
  const split = (values.split ?? 'test') as Split;
  if (!SPLITS.includes(split)) throw new Error(`--split must be one of ${SPLITS.join(', ')}, got '${values.split}'`);
  const tier = (values.tier ?? 'standard') as TierChoice;
  if (!TIERS.includes(tier)) throw new Error(`--tier must be one of ${TIERS.join(', ')}, got '${values.tier}'`);
  const count = num('count', values.count, 200, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const seed = num('seed', values.seed, 1, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
  const n = num('n', values.n, 1, (x) => Number.isInteger(x) && x >= 1 && x <= 64, 'an integer in [1, 64]');
  const temperature = num('temperature', values.temperature, 0.7, (x) => x > 0 && x <= 2, 'a number in (0, 2]');
  const topP = num('top-p', values['top-p'], 1, (x) => x > 0 && x <= 1, 'a number in (0, 1]');
  const topK = num('top-k', values['top-k'], 0, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0 (0: off)');
  const minP = num('min-p', values['min-p'], 0, (x) => x >= 0 && x <= 1, 'a number in [0, 1] (0: off)');
  const lengthPenalty = num('length-penalty', values['length-penalty'], 1, (x) => Math.abs(x) <= 100, 'a number from -100 to 100');
  if (values['length-penalty'] !== undefined && !values.beam) throw new Error('--length-penalty needs --beam');
  if (values.beam && n < 2) throw new Error('--beam needs --n >= 2 (the beam width)');
  const cores = num('cores', values.cores, 3, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const threads = num('threads', values.threads, 2, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  const batch = num('batch', values.batch, 32, (x) => Number.isInteger(x) && x >= 1 && x <= 256, 'an integer in [1, 256]');
  const maxTokens = num('max-tokens', values['max-tokens'], tier === 'standard' ? 160 : 360, (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
  if (values.plan !== undefined && values.policy !== undefined) throw new Error('--plan and --policy are mutually exclusive');
  if (values.suite !== undefined && values.suite !== 'skips') throw new Error(`--suite must be 'skips', got '${values.suite}'`);
  const SUITE_GROUPS = ['head', 'sublayer', 'core25', 'core50'] as const;
  const groups = values.groups?.split(',').map((g) => g.trim()) as (typeof SUITE_GROUPS)[number][] | undefined;
  for (const g of groups ?? []) if (!SUITE_GROUPS.includes(g)) throw new Error(`--groups must list some of ${SUITE_GROUPS.join(', ')}, got '${g}'`);
  if (groups && values.suite !== 'skips') throw new Error('--groups needs --suite skips');
  let skip: SkipSpec = { policy: 'none' };
  if (values.plan !== undefined) {
    try {
      skip = { policy: 'explicit', plan: JSON.parse(values.plan) as SkipPlanWire };
    } catch {
      throw new Error(`--plan must be JSON (e.g. '{"skip_attention":[3],"mask_heads":{"1":[0]}}'), got '${values.plan}'`);
    }
  }
  if (values.policy !== undefined) skip = { policy: values.policy };

  const store = values.store ? await openStore(values.store, { queueSize: 100_000 }) : null;
  const local = await openLocalEngine({ modelDir: values.model, threads, maxBatch: Math.max(batch, n), maxQueue: 100_000, defaultMaxTokens: maxTokens, measureSpeedup: false, store });
  try {
    const problems = [...generateSplit({ split, seed, count, tier })];
    const perProblem: PerProblem = { problemIds: problems.map((p) => p.id), correct: {} };
    const baseline = values.baseline ? readBaseline(values.baseline, perProblem.problemIds) : null;
    const ctx: EvalContext = { local, problems, seed, maxTokens };
    const t0 = performance.now();
    const report: Record<string, unknown> = { model: values.model, tier, split, seed, count, n, temperature, topP, topK, minP, skip, ...(values.beam ? { beam: { lengthPenalty } } : {}) };

    if (values.suite === 'skips') {
      const suite = await runSkipSuite(ctx, cores, seed, groups);
      process.stdout.write(suite.markdown + '\n');
      report.suite = suite.rows.map(({ correct: _, ...row }) => row);
      for (const r of suite.rows) perProblem.correct[r.name] = r.correct;
      report.summary = suite.summary;
    } else {
      const greedyRuns = await greedyResults(ctx, skip);
      const ids = greedyRuns.map((r) => r.candidates[0]!.tokenIds);
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
      const greedyScored = problems.map((p, i) => scoreResult(p, greedyRuns[i]!));
      const greedy = breakdown(greedyScored);
      const greedyCorrect = greedyScored.map((r) => (r.correct[0] ? 1 : 0));
      perProblem.correct.greedy = greedyCorrect;
      let sampled = null;
      let paired = '';
      if (n > 1) {
        const setting: RequestSetting = { n, temperature, topP, topK, minP, maxTokens, skip, ...(values.beam ? { beam: { lengthPenalty } } : {}) };
        const runs = await runProblems(local, problems, seed, setting);
        const scored = problems.map((p, i) => scoreResult(p, runs[i]!));
        sampled = breakdown(scored);
        report.policyPlansSample = runs[0]!.candidates.map((c) => c.plan);
        // The same problems greedy and best-of-n: differences paired per problem, with 95% intervals.
        const majorityCorrect = votedCorrect(scored);
        const passCorrect = scored.map((r) => (r.correct.some(Boolean) ? 1 : 0));
        const majority = pairedDiff(greedyCorrect, majorityCorrect);
        const pass = pairedDiff(greedyCorrect, passCorrect);
        report.paired = { majorityMinusGreedy: majority, passMinusGreedy: pass };
        perProblem.correct[`maj@${n}`] = majorityCorrect;
        perProblem.correct[`pass@${n}`] = passCorrect;
        paired = `paired over the same problems: maj@${n} - greedy ${formatDiff(majority)}; pass@${n} - greedy ${formatDiff(pass)}\n`;
        if (values.beam) {
          // The best beam (the one a client with n = 1 would get) against greedy.
          const topBeam: number[] = scored.map((r) => (r.correct[0] ? 1 : 0));
          const top = pairedDiff(greedyCorrect, topBeam);
          report.paired = { ...(report.paired as object), topBeamMinusGreedy: top };
          perProblem.correct['top-beam'] = topBeam;
          paired += `beam search, width ${n}, length_penalty ${lengthPenalty} (maj@ and pass@ over the beams): top beam ${formatProportion(wilson(topBeam.reduce((a, b) => a + b, 0), topBeam.length))}, top beam - greedy ${formatDiff(top)}\n`;
        }
      }
      report.greedy = greedy;
      report.sampled = sampled;
      process.stdout.write(markdownTable(greedy, sampled, n) + '\n' + paired);
    }
    report.problemIds = perProblem.problemIds;
    report.correct = perProblem.correct;
    if (baseline) {
      const cmp = compareToBaseline(perProblem, baseline);
      report.vsBaseline = cmp.diffs;
      process.stdout.write('\n' + cmp.markdown + '\n');
    }
    report.seconds = (performance.now() - t0) / 1000;
    process.stdout.write(`(${problems.length} ${tier} ${split} problems, seed ${seed}, ${(report.seconds as number).toFixed(1)} s)\n`);
    if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 1));
  } finally {
    await local.close();
    if (store) {
      await store.flush();
      const { written, dropped, failed } = store.stats();
      await store.close();
      process.stdout.write(`recorded ${written} requests in the store (${dropped} dropped, ${failed} failed)\n`);
    }
  }
}
