/**
 * Scoring of evaluation runs from the engine's own results: per candidate whether its answer is
 * right, the server's vote (the result's selected candidate: the same function the server uses),
 * pass@n, sample accuracy and distinct answers; broken down by steps, kind and tier, with 95%
 * Wilson intervals.
 */
import type { GenerationResult } from '../../../src/engine/types.ts';
import { normalizeAnswer } from '../../../src/engine/answers.ts';
import { formatProportion, wilson, type Proportion } from '../../../src/util/intervals.ts';
import type { Problem } from '../generator/problems.ts';

/** Per-problem outcome of n candidates. */
export interface ProblemResult {
  problem: Problem;
  answers: (string | null)[];
  correct: boolean[];
  /** The answer of the selected candidate (the vote), or null when none has one. */
  voted: string | null;
}

/** Aggregate figures for a set of problems. */
export interface Figures {
  problems: number;
  /** Mean correctness over all candidates (for n = 1 and greedy: greedy accuracy). */
  sampleAcc: number;
  /** At least one candidate correct. */
  passAtN: number;
  /** The voted answer is correct. */
  majorityAtN: number;
  /** Mean number of distinct extracted answers among the n candidates. */
  distinctAnswers: number;
  /** 95% intervals of passAtN and majorityAtN (and of sampleAcc when n = 1). */
  passCi: Proportion;
  majorityCi: Proportion;
}

/** Scores one engine result against its problem. */
export function scoreResult(problem: Problem, r: GenerationResult): ProblemResult {
  const want = normalizeAnswer(String(problem.answer));
  const answers = r.candidates.map((c) => c.answer);
  const voted = r.selectedIndex === null ? null : answers[r.selectedIndex] ?? null;
  return { problem, answers, correct: answers.map((a) => a === want), voted };
}

/** Whether the vote of each problem was right (1) or not (0), for paired comparisons. */
export function votedCorrect(rs: readonly ProblemResult[]): number[] {
  return rs.map((r) => (r.voted === normalizeAnswer(String(r.problem.answer)) ? 1 : 0));
}

/** Aggregates problem results. */
export function figures(rs: ProblemResult[]): Figures {
  const n = rs.length || 1;
  let sample = 0, pass = 0, distinct = 0;
  const maj = votedCorrect(rs).reduce((a, b) => a + b, 0);
  for (const r of rs) {
    sample += r.correct.filter(Boolean).length / r.correct.length;
    pass += r.correct.some(Boolean) ? 1 : 0;
    distinct += new Set(r.answers.filter((a) => a !== null)).size;
  }
  return {
    problems: rs.length,
    sampleAcc: sample / n,
    passAtN: pass / n,
    majorityAtN: maj / n,
    distinctAnswers: distinct / n,
    passCi: wilson(pass, rs.length),
    majorityCi: wilson(maj, rs.length),
  };
}

/** Figures overall and per group ("steps=…", "kind=…", "tier=…" when both tiers are present). */
export function breakdown(rs: ProblemResult[]): Record<string, Figures> {
  const groups = new Map<string, ProblemResult[]>([['all', rs]]);
  const add = (k: string, r: ProblemResult) => (groups.get(k) ?? groups.set(k, []).get(k)!).push(r);
  if (new Set(rs.map((r) => r.problem.tier)).size > 1) for (const r of rs) add(`tier=${r.problem.tier}`, r);
  for (const r of [...rs].sort((a, b) => a.problem.steps - b.problem.steps)) add(`steps=${r.problem.steps}`, r);
  for (const r of rs) add(`kind=${r.problem.kind}`, r);
  const out: Record<string, Figures> = {};
  for (const [k, v] of groups) out[k] = figures(v);
  return out;
}

const pct = (x: number) => (100 * x).toFixed(1);

/** Markdown table of greedy and sampled figures side by side, one row per group (intervals on `all`). */
export function markdownTable(greedy: Record<string, Figures>, sampled: Record<string, Figures> | null, n: number): string {
  const head = sampled
    ? `| group | problems | greedy % | sample % | pass@${n} % | maj@${n} % | distinct answers /${n} |\n|---|---:|---:|---:|---:|---:|---:|`
    : '| group | problems | greedy % |\n|---|---:|---:|';
  const rows = Object.keys(greedy).map((k) => {
    const g = greedy[k]!;
    const s = sampled?.[k];
    const gcell = k === 'all' ? formatProportion(g.majorityCi) : pct(g.sampleAcc);
    return s
      ? `| ${k} | ${g.problems} | ${gcell} | ${pct(s.sampleAcc)} | ${k === 'all' ? formatProportion(s.passCi) : pct(s.passAtN)} | ${k === 'all' ? formatProportion(s.majorityCi) : pct(s.majorityAtN)} | ${s.distinctAnswers.toFixed(2)} |`
      : `| ${k} | ${g.problems} | ${gcell} |`;
  });
  return [head, ...rows].join('\n');
}
