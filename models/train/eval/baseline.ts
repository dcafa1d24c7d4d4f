/**
 * `skipserve eval ... --baseline FILE`: this run against an earlier run's JSON (`--json`) on the same
 * problems, typically another model (a retrain against the committed one). Each figure both runs
 * measured per problem (greedy, the vote, pass@n; every skip-suite plan by name) becomes a paired
 * difference, this run minus the baseline, with its 95% interval.
 */
import { readFileSync } from 'node:fs';
import { formatDiff, pairedDiff, type PairedDiff } from '../../../src/util/intervals.ts';

/** What a run keeps per problem, so that a later run can be paired with it. */
export interface PerProblem {
  /** Problem ids, in order: a baseline must have the same. */
  problemIds: string[];
  /** 0/1 per problem, by figure name ("greedy", "maj@8", "pass@8", or a suite plan's name). */
  correct: Record<string, number[]>;
}

export interface BaselineDiff {
  figure: string;
  baseline: string;
  diff: PairedDiff;
}

/** Reads a baseline JSON written by `--json` and checks it ran on the same problems. */
export function readBaseline(path: string, problemIds: readonly string[]): PerProblem & { model: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`--baseline ${path}: not readable JSON (${(e as Error).message})`);
  }
  const r = raw as Partial<PerProblem> & { model?: string };
  if (!Array.isArray(r.problemIds) || typeof r.correct !== 'object' || r.correct === null) {
    throw new Error(`--baseline ${path}: no per-problem results (write it with --json from this version of skipserve eval)`);
  }
  const same = r.problemIds.length === problemIds.length && r.problemIds.every((id, i) => id === problemIds[i]);
  if (!same) throw new Error(`--baseline ${path}: ran on other problems (${r.problemIds.length} problems); use the same --tier, --split, --seed and --count`);
  return { problemIds: r.problemIds, correct: r.correct, model: r.model ?? path };
}

/** Paired differences (this run minus the baseline) for every figure both runs measured. */
export function compareToBaseline(run: PerProblem, base: PerProblem & { model: string }): { diffs: BaselineDiff[]; markdown: string } {
  const diffs: BaselineDiff[] = [];
  for (const [figure, bits] of Object.entries(run.correct)) {
    const b = base.correct[figure];
    if (b && b.length === bits.length) diffs.push({ figure, baseline: base.model, diff: pairedDiff(b, bits) });
  }
  const pct = (x: number) => (100 * x).toFixed(1);
  const lines = [
    `| vs baseline ${base.model} | this run % | baseline % | this run - baseline, paired, 95% |`,
    '|---|---:|---:|---:|',
    ...diffs.map((d) => {
      const mean = (xs: number[]) => xs.reduce((a, c) => a + c, 0) / (xs.length || 1);
      return `| ${d.figure} | ${pct(mean(run.correct[d.figure]!))} | ${pct(mean(base.correct[d.figure]!))} | ${formatDiff(d.diff)} |`;
    }),
  ];
  if (diffs.length === 0) lines.push('| (no figure in common) | | | |');
  return { diffs, markdown: lines.join('\n') };
}
