/**
 * Runs the skip suite (single heads, single sublayers, random 25% / 50% skip cores) and turns it
 * into a markdown table plus the summary the model card's targets are checked against.
 */
import { planToWire } from '../../../src/plans/plan.ts';
import { formatDiff, pairedDiff, type PairedDiff } from '../../../src/util/intervals.ts';
import { mapConcurrent } from '../../../src/util/map-concurrent.ts';
import { greedyResults, type EvalContext } from './run-requests.ts';
import { breakdown, scoreResult, type Figures } from './scoring.ts';
import { suitePlans, type SuitePlan } from './skip-suite.ts';

export interface SuiteRow {
  name: string;
  group: SuitePlan['group'];
  removedSublayerFlops: number;
  accuracy: number;
  drop: number;
  /** Accuracy under this plan minus the full model's, paired over the same problems, with its 95% interval. */
  paired: PairedDiff;
  byGroup: Record<string, Figures>;
  /** 0/1 per problem (for `--baseline` pairing across runs). */
  correct: number[];
}

export interface SuiteSummary {
  full: number;
  worstHeadDrop: number;
  meanHeadDrop: number;
  worstSublayerDrop: number;
  meanCore25Drop: number;
  worstCore25Drop: number;
  meanCore50Drop: number;
  worstCore50Drop: number;
}

const pct = (x: number) => (100 * x).toFixed(1);

/** Measures greedy accuracy under every suite plan (all plans in flight together, so batches stay full). */
export async function runSkipSuite(ctx: EvalContext, cores: number, seed: number, groups?: readonly SuitePlan['group'][]): Promise<{ rows: SuiteRow[]; summary: SuiteSummary; markdown: string }> {
  const plans = suitePlans(ctx.local.info, cores, seed).filter((sp) => sp.group === 'full' || !groups || groups.includes(sp.group));
  const rows: SuiteRow[] = [];
  let full = 0;
  let fullCorrect: number[] = [];
  const all = await mapConcurrent(plans, 4, (sp) => greedyResults(ctx, { policy: 'explicit', plan: planToWire(sp.plan) }));
  for (const [k, sp] of plans.entries()) {
    const scored = ctx.problems.map((p, i) => scoreResult(p, all[k]![i]!));
    const correct = scored.map((r) => (r.correct[0] ? 1 : 0));
    const byGroup = breakdown(scored);
    const acc = byGroup.all!.sampleAcc;
    if (sp.group === 'full') [full, fullCorrect] = [acc, correct];
    rows.push({ name: sp.name, group: sp.group, removedSublayerFlops: sp.removed, accuracy: acc, drop: full - acc, paired: pairedDiff(fullCorrect, correct), byGroup, correct });
    process.stderr.write(`  ${sp.name}: ${pct(acc)}%\n`);
  }
  const drops = (g: SuitePlan['group']) => rows.filter((r) => r.group === g).map((r) => r.drop);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
  const summary: SuiteSummary = {
    full,
    worstHeadDrop: max(drops('head')),
    meanHeadDrop: mean(drops('head')),
    worstSublayerDrop: max(drops('sublayer')),
    meanCore25Drop: mean(drops('core25')),
    worstCore25Drop: max(drops('core25')),
    meanCore50Drop: mean(drops('core50')),
    worstCore50Drop: max(drops('core50')),
  };
  const ran = (g: SuitePlan['group']) => rows.some((r) => r.group === g);
  const steps = [...new Set(ctx.problems.map((p) => p.steps))].sort((a, b) => a - b);
  const lo = [steps[0] ?? 0, steps[1] ?? steps[0] ?? 0];
  const hi = [steps.at(-2) ?? 0, steps.at(-1) ?? 0];
  const lines = [
    `| plan | removed sublayer FLOPs % | greedy % | drop (points) | vs full, paired, 95% | ${lo[0]}-${lo[1]} steps % | ${hi[0]}-${hi[1]} steps % |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${pct(r.removedSublayerFlops)} | ${pct(r.accuracy)} | ${pct(r.drop)} | ${r.group === 'full' ? '' : formatDiff(r.paired)} | ${pct(avgSteps(r.byGroup, lo))} | ${pct(avgSteps(r.byGroup, hi))} |`),
    '',
    `Summary: full ${pct(full)}%` +
      (ran('head') ? `; single head: worst drop ${pct(summary.worstHeadDrop)}, mean ${pct(summary.meanHeadDrop)} points` : '') +
      (ran('sublayer') ? `; single sublayer: worst drop ${pct(summary.worstSublayerDrop)}` : '') +
      (ran('core25') ? `; 25% cores: mean drop ${pct(summary.meanCore25Drop)}, worst ${pct(summary.worstCore25Drop)}` : '') +
      (ran('core50') ? `; 50% cores: mean drop ${pct(summary.meanCore50Drop)}, worst ${pct(summary.worstCore50Drop)}` : '') +
      ' (points).',
  ];
  return { rows, summary, markdown: lines.join('\n') };
}

/** Problem-weighted accuracy over the given step counts. */
function avgSteps(g: Record<string, Figures>, steps: number[]): number {
  let n = 0, c = 0;
  for (const s of steps) {
    const f = g[`steps=${s}`];
    if (f) {
      n += f.problems;
      c += f.sampleAcc * f.problems;
    }
  }
  return n ? c / n : 0;
}
