/**
 * Scoring of evaluation runs: correctness per candidate, greedy accuracy, sample accuracy,
 * pass@n, majority-vote@n, distinct answers among n; broken down by steps and kind.
 */
import { extractAnswer, selectCandidate } from '../../../src/engine/answers.ts';
import type { Problem } from '../generator/problems.ts';

/** Per-problem outcome of n candidates. */
export interface ProblemResult {
  problem: Problem;
  answers: (string | null)[];
  correct: boolean[];
  /** The majority-vote answer (null when no candidate has one). */
  voted: string | null;
}

/** Aggregate figures for a set of problems. */
export interface Figures {
  problems: number;
  /** Mean correctness over all candidates (for n = 1 and greedy: greedy accuracy). */
  sampleAcc: number;
  /** At least one candidate correct. */
  passAtN: number;
  /** The voted answer is correct (the server's vote when logprobs are known; see scoreProblem). */
  majorityAtN: number;
  /** Mean number of distinct extracted answers among the n candidates. */
  distinctAnswers: number;
}

/**
 * Scores the candidates' texts of one problem. With their mean logprobs the vote is the server's
 * (`selectCandidate(..., 'vote')`: ties between answers go to the likelier answer); without, ties
 * go to the answer reached first.
 */
export function scoreProblem(problem: Problem, texts: string[], meanLogprobs?: number[]): ProblemResult {
  const answers = texts.map((t) => extractAnswer(t));
  const win = meanLogprobs ? selectCandidate(answers.map((answer, i) => ({ answer, meanLogprob: meanLogprobs[i]! })), 'vote') : null;
  const voted = meanLogprobs ? (win === null ? null : answers[win]!) : majority(answers);
  return { problem, answers, correct: answers.map((a) => a === String(problem.answer)), voted };
}

/** The majority answer (first reached wins ties), or null when no candidate has one. */
export function majority(answers: (string | null)[]): string | null {
  const counts = new Map<string, number>();
  let best: string | null = null;
  for (const a of answers) {
    if (a === null) continue;
    const c = (counts.get(a) ?? 0) + 1;
    counts.set(a, c);
    if (best === null || c > counts.get(best)!) best = a;
  }
  return best;
}

/** Aggregates problem results. */
export function figures(rs: ProblemResult[]): Figures {
  const n = rs.length || 1;
  let sample = 0, pass = 0, maj = 0, distinct = 0;
  for (const r of rs) {
    sample += r.correct.filter(Boolean).length / r.correct.length;
    pass += r.correct.some(Boolean) ? 1 : 0;
    maj += r.voted === String(r.problem.answer) ? 1 : 0;
    distinct += new Set(r.answers.filter((a) => a !== null)).size;
  }
  return { problems: rs.length, sampleAcc: sample / n, passAtN: pass / n, majorityAtN: maj / n, distinctAnswers: distinct / n };
}

/** Figures overall and per group ("steps=1".."steps=6", "kind=..."). */
export function breakdown(rs: ProblemResult[]): Record<string, Figures> {
  const groups = new Map<string, ProblemResult[]>([['all', rs]]);
  const add = (k: string, r: ProblemResult) => (groups.get(k) ?? groups.set(k, []).get(k)!).push(r);
  for (const r of [...rs].sort((a, b) => a.problem.steps - b.problem.steps)) add(`steps=${r.problem.steps}`, r);
  for (const r of rs) add(`kind=${r.problem.kind}`, r);
  const out: Record<string, Figures> = {};
  for (const [k, v] of groups) out[k] = figures(v);
  return out;
}

/** Accuracy over problems with steps in [lo, hi]. */
export function accuracyOnSteps(rs: ProblemResult[], lo: number, hi: number, key: keyof Omit<Figures, 'problems'> = 'sampleAcc'): number {
  return figures(rs.filter((r) => r.problem.steps >= lo && r.problem.steps <= hi))[key];
}

const pct = (x: number) => (100 * x).toFixed(1);

/** Markdown table of greedy and sampled figures side by side, one row per group. */
export function markdownTable(greedy: Record<string, Figures>, sampled: Record<string, Figures> | null, n: number): string {
  const head = sampled
    ? `| group | problems | greedy % | sample % | pass@${n} % | maj@${n} % | distinct answers /${n} |\n|---|---:|---:|---:|---:|---:|---:|`
    : '| group | problems | greedy % |\n|---|---:|---:|';
  const rows = Object.keys(greedy).map((k) => {
    const g = greedy[k]!;
    const s = sampled?.[k];
    return s
      ? `| ${k} | ${g.problems} | ${pct(g.sampleAcc)} | ${pct(s.sampleAcc)} | ${pct(s.passAtN)} | ${pct(s.majorityAtN)} | ${s.distinctAnswers.toFixed(2)} |`
      : `| ${k} | ${g.problems} | ${pct(g.sampleAcc)} |`;
  });
  return [head, ...rows].join('\n');
}
