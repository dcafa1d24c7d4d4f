/**
 * Evaluation of the policies on held-out problems: for each policy and N, maj@N, pass@N, unique
 * answers, answer entropy, distinct-2 and the measured speedup. Plans come from the same policy
 * objects the server uses; candidates are sampled with the server's best-of-N semantics; every
 * configuration sees the same problems and the same sampling seeds (a paired comparison).
 */
import { selectCandidate } from '../src/engine/answers.ts';
import { skipCore } from '../src/engine/best-of-n.ts';
import { diversity } from '../src/engine/diversity.ts';
import type { ModelRunner } from '../src/model/runner-types.ts';
import { planCost, planKey, type SkipPlan } from '../src/plans/plan.ts';
import type { PolicyOptions, SkipPolicy } from '../src/plans/policies/policy.ts';
import type { TextTokenizer } from '../src/text/tokenizer.ts';
import { embedPrompt } from './calibrate.ts';
import type { EvalRow } from './eval-report.ts';
import { generateJobs, type Candidate } from './generate.ts';
import { promptIds, promptText, type RouterPrompt } from './problems.ts';
import { measureSpeedup } from './speed.ts';

/** One evaluated configuration: a policy with fixed options, at each of `ns`. */
export interface EvalConfig {
  label: string;
  policy: SkipPolicy;
  options: PolicyOptions;
  ns: number[];
  /** Overrides the sampling temperature (0 = greedy). */
  temperature?: number;
}

export interface EvalSettings {
  seed: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  speedRepeats: number;
  maxRows?: number;
}

export interface EvalHooks {
  onConfig?: (label: string, n: number, problems: number) => void;
  onProblem?: () => void;
}

/** Sampling seed of problem i: the same for every configuration. */
const problemSeed = (seed: number, i: number): number => seed * 100_003 + i * 97;

/** Scores the first `n` candidates of each problem into one table row. */
function scoreRow(cfg: EvalConfig, n: number, problems: RouterPrompt[], cands: Candidate[][], plans: SkipPlan[][], shape: { numLayers: number; numHeads: number }): Omit<EvalRow, 'speedup' | 'skippedCompute'> {
  let maj = 0;
  let pass = 0;
  let unique = 0;
  let entropy = 0;
  let d2 = 0;
  problems.forEach((p, i) => {
    const cs = cands[i]!.slice(0, n);
    const win = selectCandidate(cs, 'vote');
    if (win !== null && cs[win]!.answer === p.answer) maj++;
    if (cs.some((c) => c.answer === p.answer)) pass++;
    const div = diversity(cs.map((c) => c.answer), cs.map((c) => c.tokens), plans[i]!.slice(0, n), shape);
    unique += new Set(cs.map((c) => c.answer).filter((a) => a !== null)).size;
    entropy += div.answerEntropy;
    d2 += div.distinct2;
  });
  const k = problems.length;
  return { label: cfg.label, policy: cfg.policy.name, n, problems: k, majAtN: maj / k, passAtN: pass / k, uniqueAnswers: unique / k, answerEntropy: entropy / k, distinct2: d2 / k };
}

/** Runs every configuration over the problems; returns one row per configuration and N. */
export async function runEval(
  runner: ModelRunner,
  tok: TextTokenizer,
  problems: RouterPrompt[],
  configs: EvalConfig[],
  s: EvalSettings,
  hooks: EvalHooks = {},
): Promise<EvalRow[]> {
  const info = runner.info;
  const ids = problems.map((p) => promptIds(tok, p));
  const embeddings = new Map<number, Promise<Float32Array>>();
  const embed = (i: number): Promise<Float32Array> => {
    let e = embeddings.get(i);
    if (!e) embeddings.set(i, (e = embedPrompt(runner, ids[i]!)));
    return e;
  };
  const rows: EvalRow[] = [];
  for (const cfg of configs) {
    const ns = [...cfg.ns].sort((a, b) => b - a);
    let reuse: { n: number; plans: SkipPlan[][]; cands: Candidate[][] } | null = null;
    for (const n of ns) {
      const plans: SkipPlan[][] = [];
      for (const [i, p] of problems.entries()) {
        const r = await cfg.policy.choose({
          info, n, seed: problemSeed(s.seed, i), promptTokens: ids[i]!, promptText: promptText(p), options: cfg.options, embedPrompt: () => embed(i),
        });
        plans.push(r.plans);
      }
      // A smaller N whose plans are the first N of a larger run's reuses its candidates exactly
      // (same seeds, same plans, same shared prefill): batched rows equal isolated ones.
      const prefix = reuse !== null && plans.every((ps, i) => planKey(skipCore(ps)) === planKey(skipCore(reuse!.plans[i]!)) && ps.every((pl, j) => planKey(pl) === planKey(reuse!.plans[i]![j]!)));
      let cands: Candidate[][];
      if (prefix) cands = reuse!.cands;
      else {
        hooks.onConfig?.(cfg.label, n, problems.length);
        cands = await generateJobs(
          runner,
          tok,
          problems.map((_, i) => ({ promptIds: ids[i]!, core: skipCore(plans[i]!), plans: plans[i]!, seed: problemSeed(s.seed, i) })),
          { sampling: { temperature: cfg.temperature ?? s.temperature, topP: s.topP, topK: 0 }, maxTokens: s.maxTokens, maxRows: s.maxRows, onJobDone: () => hooks.onProblem?.() },
        );
        reuse = { n, plans, cands };
      }
      const speed = await measureSpeedup(runner, plans[0]!, { repeats: s.speedRepeats });
      rows.push({
        ...scoreRow(cfg, n, problems, cands, plans, info),
        speedup: speed.speedup,
        skippedCompute: problems.reduce((acc, _, i) => acc + planCost(skipCore(plans[i]!), info).removedFraction, 0) / problems.length,
      });
    }
  }
  return rows;
}
