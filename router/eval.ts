/**
 * Evaluation of the policies on held-out problems: for each policy and N, maj@N, pass@N, unique
 * answers, answer entropy, distinct-2 and the measured speedup. Every candidate comes from the
 * server's engine (the same requests a client sends: policy by name, seed per problem), so the
 * plans, the candidates and the vote are the server's; every configuration sees the same problems
 * and the same seeds (a paired comparison).
 */
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { GenerationResult, SkipSpec } from '../src/engine/types.ts';
import { mapConcurrent } from '../src/util/map-concurrent.ts';
import type { EvalRow } from './eval-report.ts';
import { promptSpec, type RouterPrompt } from './problems.ts';
import { measureSpeedup } from './speed.ts';

/** One evaluated configuration: a policy with fixed options, at each of `ns`. */
export interface EvalConfig {
  label: string;
  /** Policy name and options, as a request's skip options. */
  skip: SkipSpec;
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
}

export interface EvalHooks {
  onConfig?: (label: string, n: number, problems: number) => void;
  onProblem?: () => void;
}

/** Request seed of problem i: the same for every configuration. */
const problemSeed = (seed: number, i: number): number => seed * 100_003 + i * 97;

/** Scores one configuration's results into one table row. */
function scoreRow(cfg: EvalConfig, n: number, problems: RouterPrompt[], results: GenerationResult[]): Omit<EvalRow, 'speedup'> {
  let maj = 0, pass = 0, unique = 0, entropy = 0, d2 = 0, skipped = 0;
  problems.forEach((p, i) => {
    const r = results[i]!;
    const answers = r.candidates.map((c) => c.answer);
    if (r.selectedIndex !== null && answers[r.selectedIndex] === p.answer) maj++;
    if (answers.some((a) => a === p.answer)) pass++;
    unique += new Set(answers.filter((a) => a !== null)).size;
    entropy += r.diversity.answerEntropy;
    d2 += r.diversity.distinct2;
    skipped += r.skippedComputeRatio;
  });
  const k = problems.length;
  return { label: cfg.label, policy: cfg.skip.policy ?? '', n, problems: k, majAtN: maj / k, passAtN: pass / k, uniqueAnswers: unique / k, answerEntropy: entropy / k, distinct2: d2 / k, skippedCompute: skipped / k };
}

/** Runs every configuration over the problems; returns one row per configuration and N. */
export async function runEval(local: LocalEngine, problems: RouterPrompt[], configs: EvalConfig[], s: EvalSettings, hooks: EvalHooks = {}): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  for (const cfg of configs) {
    for (const n of [...cfg.ns].sort((a, b) => b - a)) {
      hooks.onConfig?.(cfg.label, n, problems.length);
      const inFlight = Math.max(1, Math.floor(local.limits.maxBatch / n) * 2);
      const results = await mapConcurrent(problems, inFlight, async (p, i) => {
        const r = await local.generate({
          prompt: promptSpec(local, p),
          n,
          temperature: cfg.temperature ?? s.temperature,
          topP: s.topP,
          maxTokens: s.maxTokens,
          seed: problemSeed(s.seed, i),
          skip: { ...cfg.skip, referenceAnswer: p.answer },
        });
        hooks.onProblem?.();
        return r;
      });
      const plans = results[0]!.candidates.map((c) => c.plan);
      const speed = await local.engine.exclusive(() => measureSpeedup(local.runner, plans, { repeats: s.speedRepeats }));
      rows.push({ ...scoreRow(cfg, n, problems, results), speedup: speed.speedup });
    }
  }
  return rows;
}
