/**
 * Evaluation of the policies on held-out problems: for each policy and N, the majority vote and
 * pass@N (each with its 95% interval), the diversity figures, the speedup the engine reports, and
 * (router/eval-speed.ts) the end-to-end speedup measured against the same requests on the full
 * model. Every candidate comes from the server's engine (the same requests a client sends: policy
 * by name, seed per problem), so the plans, the candidates and the vote are the server's; every
 * configuration sees the same problems and the same seeds (a paired comparison). Per-problem
 * results are appended to a JSONL file as they finish, so an interrupted run resumes.
 */
import { appendFileSync } from 'node:fs';
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { GenerationResult, SkipSpec } from '../src/engine/types.ts';
import { mapConcurrent } from '../src/util/map-concurrent.ts';
import { wilson } from '../src/util/intervals.ts';
import type { EvalRow } from './eval-report.ts';
import { promptSpec, type RouterPrompt } from './problems.ts';
import { prefixResult } from './eval-prefix.ts';
import { readResumable } from './resumable-records.ts';

/** One evaluated configuration: a policy with fixed options, at each of `ns`. */
export interface EvalConfig {
  label: string;
  /** Policy name and options, as a request's skip options. */
  skip: SkipSpec;
  ns: number[];
  /** Overrides the sampling temperature (0 = greedy). */
  temperature?: number;
  /**
   * Candidate i does not depend on n (router/eval-prefix.ts): the largest N runs, the smaller N are
   * scored on its first candidates.
   */
  prefixes?: boolean;
  /**
   * Names the skip core all candidates share at N (latency-budget, learned fast mode), when candidate
   * i depends on N only through that core: N with the same core run as one request at the largest of
   * them, the smaller scored on its first candidates.
   */
  sharedCore?: (n: number) => Promise<string>;
  /**
   * What else the configuration's results depend on (the selector's hash for the learned policy):
   * a stored result made under another version is run again, the other configurations' are kept.
   */
  version?: string | null;
}

export interface EvalSettings {
  seed: number;
  temperature: number;
  topP: number;
  maxTokens: number;
}

export interface EvalHooks {
  onConfig?: (label: string, n: number, todo: number, total: number) => void;
  onProblem?: () => void;
}

/** What one problem contributed to one configuration at one N. */
export interface ProblemResult {
  label: string;
  n: number;
  /** Problem index. */
  i: number;
  maj: 0 | 1;
  pass: 0 | 1;
  unique: number;
  entropy: number;
  distinct2: number;
  pairwise: number;
  planDistance: number;
  /** Speedup the engine reported (null when it measured none). */
  speedup: number | null;
  skipped: number;
  /** EvalConfig.version the result was made under (absent: none). */
  version?: string;
}

/** Request seed of problem i: the same for every configuration. */
export const problemSeed = (seed: number, i: number): number => seed * 100_003 + i * 97;

function problemResult(label: string, n: number, i: number, p: RouterPrompt, r: GenerationResult): ProblemResult {
  const answers = r.candidates.map((c) => c.answer);
  return {
    label,
    n,
    i,
    maj: r.selectedIndex !== null && answers[r.selectedIndex] === p.answer ? 1 : 0,
    pass: answers.some((a) => a === p.answer) ? 1 : 0,
    unique: new Set(answers.filter((a) => a !== null)).size,
    entropy: r.diversity.answerEntropy,
    distinct2: r.diversity.distinct2,
    pairwise: r.diversity.meanPairwiseDistance,
    planDistance: r.diversity.planDistance,
    speedup: r.speedup,
    skipped: r.skippedComputeRatio,
  };
}

/** Scores one configuration's per-problem results into one table row (no measured speedup yet). */
export function scoreRow(cfg: EvalConfig, n: number, results: readonly ProblemResult[]): EvalRow {
  const k = results.length;
  const mean = (f: (r: ProblemResult) => number): number => results.reduce((s, r) => s + f(r), 0) / Math.max(1, k);
  const reported = results.map((r) => r.speedup).filter((s): s is number => s !== null);
  return {
    label: cfg.label,
    policy: cfg.skip.policy ?? '',
    n,
    problems: k,
    maj: wilson(results.reduce((s, r) => s + r.maj, 0), k),
    pass: wilson(results.reduce((s, r) => s + r.pass, 0), k),
    majBits: results.map((r) => r.maj).join(''),
    uniqueAnswers: mean((r) => r.unique),
    answerEntropy: mean((r) => r.entropy),
    distinct2: mean((r) => r.distinct2),
    pairwiseDistance: mean((r) => r.pairwise),
    planDistance: mean((r) => r.planDistance),
    reportedSpeedup: reported.length ? reported.reduce((a, b) => a + b, 0) / reported.length : null,
    measuredSpeedup: null,
    skippedCompute: mean((r) => r.skipped),
  };
}

/** N (largest first) grouped by the core they share: each group runs at its largest N and scores all of its N. */
export async function runsByCore(ns: readonly number[], coreOf: (n: number) => Promise<string>): Promise<{ n: number; scores: number[] }[]> {
  const groups = new Map<string, number[]>();
  for (const n of [...ns].sort((a, b) => b - a)) {
    const key = await coreOf(n);
    groups.set(key, [...(groups.get(key) ?? []), n]);
  }
  return [...groups.values()].map((scores) => ({ n: scores[0]!, scores }));
}

/**
 * Runs every configuration over the problems; returns one row per configuration and N. With
 * `progressPath`, finished problems are appended there and skipped when the run is repeated.
 */
export async function runEval(
  local: LocalEngine,
  problems: RouterPrompt[],
  configs: EvalConfig[],
  s: EvalSettings,
  hooks: EvalHooks = {},
  progress?: { path: string; header: unknown },
): Promise<EvalRow[]> {
  const done = progress ? readResumable<ProblemResult>(progress.path, progress.header, (r) => `${r.label}|${r.n}|${r.i}`, 'problems, seed, sampling or model') : new Map<string, ProblemResult>();
  const rows: EvalRow[] = [];
  const key = (label: string, n: number, i: number): string => `${label}|${n}|${i}`;
  for (const cfg of configs) {
    const ns = [...cfg.ns].sort((a, b) => b - a);
    // With prefixes, one request at the largest N answers every N of the problem.
    const runs = cfg.prefixes ? [{ n: ns[0]!, scores: ns }] : cfg.sharedCore ? await runsByCore(ns, cfg.sharedCore) : ns.map((n) => ({ n, scores: [n] }));
    for (const { n, scores } of runs) {
      const current = (m: number, i: number): boolean => {
        const r = done.get(key(cfg.label, m, i));
        return r !== undefined && (r.version ?? null) === (cfg.version ?? null);
      };
      const todo = problems.map((p, i) => ({ p, i })).filter(({ i }) => scores.some((m) => !current(m, i)));
      hooks.onConfig?.(cfg.label, n, todo.length, problems.length);
      const inFlight = Math.max(1, Math.floor(local.limits.maxBatch / n) * 2);
      await mapConcurrent(todo, inFlight, async ({ p, i }) => {
        const r = await local.generate({
          prompt: promptSpec(local, p),
          n,
          temperature: cfg.temperature ?? s.temperature,
          topP: s.topP,
          maxTokens: s.maxTokens,
          seed: problemSeed(s.seed, i),
          // maj@N is the majority vote whatever the policy's default rule (router vote-rules scores the others).
          skip: { ...cfg.skip, select: 'vote', referenceAnswer: p.answer },
        });
        for (const m of scores) {
          const res = problemResult(cfg.label, m, i, p, prefixResult(r, m, local.info));
          if (cfg.version) res.version = cfg.version;
          done.set(key(cfg.label, m, i), res);
          if (progress) appendFileSync(progress.path, JSON.stringify(res) + '\n');
        }
        hooks.onProblem?.();
      });
    }
    for (const n of ns) rows.push(scoreRow(cfg, n, problems.map((_, i) => done.get(key(cfg.label, n, i))!)));
  }
  return rows;
}
