/**
 * The APT gate: a round's candidate is promoted only if, against the serving version on the same
 * problems (paired), accuracy on the held-out slice of the weakness set rises (the 95% interval of
 * the paired difference lies above 0) and accuracy on the general held-out sets does not fall by
 * more than `margin` (non-inferiority: the interval's lower end is above -margin). A model is judged
 * by its greedy answers; a selector by the majority vote of the `learned` policy's best-of-N.
 */
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { pairedDiff, wilson, type PairedDiff, type Proportion } from '../src/util/intervals.ts';
import { runProblems, type RequestSetting } from '../models/train/eval/run-requests.ts';
import { scoreResult, votedCorrect } from '../models/train/eval/scoring.ts';
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

/** What the gate compares: greedy answers (a model) or the vote of a best-of-N policy (a selector). */
export type GateSetting = { kind: 'greedy' } | { kind: 'vote'; policy: string; n: number; temperature: number };

export interface GateReport {
  baseline: string;
  candidate: string;
  setting?: GateSetting;
  margin: number;
  slices: SliceReport[];
  promote: boolean;
}

/** Correctness (0/1) of every problem of every slice on one model directory (one engine open). */
export async function correctness(modelDir: string, slices: readonly Pick<GateSlice, 'problems'>[], o: { threads: number; maxTokens: number; seed: number; setting?: GateSetting }): Promise<number[][]> {
  const st = o.setting ?? { kind: 'greedy' };
  const req: RequestSetting =
    st.kind === 'greedy' ? { n: 1, temperature: 0, maxTokens: o.maxTokens, skip: { policy: 'none' } } : { n: st.n, temperature: st.temperature, maxTokens: o.maxTokens, skip: { policy: st.policy } };
  const local = await openLocalEngine({ modelDir, threads: o.threads, maxBatch: st.kind === 'greedy' ? 32 : 64, maxQueue: 100_000, measureSpeedup: false });
  try {
    const out: number[][] = [];
    for (const s of slices) {
      const rs = await runProblems(local, s.problems, o.seed, req);
      out.push(votedCorrect(s.problems.map((p, i) => scoreResult(p, rs[i]!))));
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

/** Evaluates baseline and candidate on every slice (paired, same seeds) and applies the rules. */
export async function runGate(baseline: string, candidate: string, slices: readonly GateSlice[], o: { margin: number; threads: number; maxTokens: number; seed: number; setting?: GateSetting }): Promise<GateReport> {
  const base = await correctness(baseline, slices, o);
  const cand = await correctness(candidate, slices, o);
  return { baseline, candidate, setting: o.setting ?? { kind: 'greedy' }, margin: o.margin, ...judge(base, cand, slices, o.margin) };
}
