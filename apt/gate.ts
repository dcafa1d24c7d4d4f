/**
 * The APT gate: a round's candidate is promoted only if, against the serving version on the same
 * problems (paired, greedy), accuracy on the held-out slice of the weakness set rises (the 95%
 * interval of the paired difference lies above 0) and accuracy on the general held-out sets does
 * not fall by more than `margin` (non-inferiority: the interval's lower end is above -margin).
 */
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { pairedDiff, wilson, type PairedDiff, type Proportion } from '../src/util/intervals.ts';
import { greedyResults } from '../models/train/eval/run-requests.ts';
import { scoreResult } from '../models/train/eval/scoring.ts';
import type { Problem } from '../models/train/generator/problems.ts';

/** One evaluated slice. */
export interface GateSlice {
  name: string;
  /** `rise`: must improve; `no-drop`: must not fall by more than the margin. */
  rule: 'rise' | 'no-drop';
  problems: Problem[];
}

export interface SliceReport {
  name: string;
  rule: GateSlice['rule'];
  problems: number;
  baseline: Proportion;
  candidate: Proportion;
  diff: PairedDiff;
  passed: boolean;
}

export interface GateReport {
  baseline: string;
  candidate: string;
  margin: number;
  slices: SliceReport[];
  promote: boolean;
}

/** Greedy correctness (0/1) of every problem of every slice on one model (one engine open). */
async function correctness(modelDir: string, slices: readonly GateSlice[], o: { threads: number; maxTokens: number; seed: number }): Promise<number[][]> {
  const local = await openLocalEngine({ modelDir, threads: o.threads, maxBatch: 32, maxQueue: 100_000, measureSpeedup: false });
  try {
    const out: number[][] = [];
    for (const s of slices) {
      const rs = await greedyResults({ local, problems: s.problems, seed: o.seed, maxTokens: o.maxTokens }, { policy: 'none' });
      out.push(s.problems.map((p, i) => (scoreResult(p, rs[i]!).correct[0] ? 1 : 0)));
    }
    return out;
  } finally {
    await local.close();
  }
}

/** Applies the rules to per-problem correctness (0/1) of baseline and candidate, slice by slice. */
export function judge(base: readonly number[][], cand: readonly number[][], slices: readonly Pick<GateSlice, 'name' | 'rule' | 'problems'>[], margin: number): { slices: SliceReport[]; promote: boolean } {
  const reports = slices.map((s, k): SliceReport => {
    const diff = pairedDiff(base[k]!, cand[k]!);
    const passed = s.rule === 'rise' ? diff.lo > 0 : diff.lo > -margin;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    return { name: s.name, rule: s.rule, problems: s.problems.length, baseline: wilson(sum(base[k]!), s.problems.length), candidate: wilson(sum(cand[k]!), s.problems.length), diff, passed };
  });
  return { slices: reports, promote: reports.every((r) => r.passed) };
}

/** Evaluates baseline and candidate on every slice (greedy, paired) and applies the rules. */
export async function runGate(baseline: string, candidate: string, slices: readonly GateSlice[], o: { margin: number; threads: number; maxTokens: number; seed: number }): Promise<GateReport> {
  const base = await correctness(baseline, slices, o);
  const cand = await correctness(candidate, slices, o);
  return { baseline, candidate, margin: o.margin, ...judge(base, cand, slices, o.margin) };
}
