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

interface GateRun {
  margin: number;
  threads: number;
  maxTokens: number;
  seed: number;
}

/** Per-problem correctness of both sides and the judged report (paired, same seeds). */
async function compare(baseline: string, candidate: string, slices: readonly GateSlice[], o: GateRun & { setting: GateSetting }): Promise<{ report: GateReport; base: number[][]; cand: number[][] }> {
  const base = await correctness(baseline, slices, o);
  const cand = await correctness(candidate, slices, o);
  return { report: { baseline, candidate, setting: o.setting, margin: o.margin, ...judge(base, cand, slices, o.margin) }, base, cand };
}

/** Evaluates baseline and candidate on every slice (paired, same seeds) and applies the rules. */
export async function runGate(baseline: string, candidate: string, slices: readonly GateSlice[], o: GateRun & { setting?: GateSetting }): Promise<GateReport> {
  return (await compare(baseline, candidate, slices, { ...o, setting: o.setting ?? { kind: 'greedy' } })).report;
}

/** The selector gate's report: the gate's, plus vanilla best-of-N on the hard slice and learned minus vanilla (paired). */
export type SelectorGateReport = GateReport & { vanillaHard: Proportion; minusVanilla: { serving: PairedDiff; candidate: PairedDiff } };

/**
 * The selector's gate: the `learned` policy's best-of-n vote served with the candidate selector
 * against the serving one (both directories hold the same model), and vanilla best-of-n on the
 * slice named 'hard tier' beside them.
 */
export async function runSelectorGate(baseline: string, candidate: string, slices: readonly GateSlice[], o: GateRun & { n: number; temperature: number }): Promise<SelectorGateReport> {
  const { report, base, cand } = await compare(baseline, candidate, slices, { ...o, setting: { kind: 'vote', policy: 'learned', n: o.n, temperature: o.temperature } });
  const hard = slices.findIndex((s) => s.name === 'hard tier');
  const [vanilla] = await correctness(baseline, [slices[hard]!], { ...o, setting: { kind: 'vote', policy: 'none', n: o.n, temperature: o.temperature } });
  return {
    ...report,
    vanillaHard: wilson(vanilla!.reduce((a, b) => a + b, 0), vanilla!.length),
    minusVanilla: { serving: pairedDiff(vanilla!, base[hard]!), candidate: pairedDiff(vanilla!, cand[hard]!) },
  };
}
