/**
 * How best-of-N picks its answer matters as much as where the candidates come from. This study
 * runs policies on held-out problems through the engine (the same problems and request seeds as
 * `router eval`), keeps every candidate's answer, mean log-probability and token count, and scores
 * each selection rule of the server (src/engine/vote.ts) on the same candidates: a paired
 * comparison of rules within a policy and of policies under one rule. Per-problem candidates are
 * appended to a JSONL file, so an interrupted run resumes.
 */
import { appendFileSync } from 'node:fs';
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { SkipSpec } from '../src/engine/types.ts';
import { scoredCandidate, selectCandidate, type Scored, type SelectMode } from '../src/engine/vote.ts';
import { planToWire, type SkipPlan } from '../src/plans/plan.ts';
import { mapConcurrent } from '../src/util/map-concurrent.ts';
import { pairedDiff, wilson, type PairedDiff, type Proportion } from '../src/util/intervals.ts';
import { problemSeed, type EvalHooks } from './eval.ts';
import { readResumable } from './resumable-records.ts';
import { promptSpec, type RouterPrompt } from './problems.ts';

/** One studied configuration: a label and the skip options of its requests. */
export interface VoteConfig {
  label: string;
  skip: SkipSpec;
  /** One greedy candidate instead of the study's N sampled ones (the reference every vote should beat). */
  greedy?: boolean;
  /** min-p for its sampling (absent: none). */
  minP?: number;
  /** Its N candidates decoded at this temperature instead of the study's (0: each greedy under its own plan). */
  temperature?: number;
}

/** What one problem's candidates were under one configuration. */
export interface VoteRecord {
  label: string;
  i: number;
  truth: string | null;
  cands: Scored[];
}

/** The explicit-policy skip options of a sub-network ensemble. */
export const subNetworkSkip = (plans: readonly SkipPlan[]): SkipSpec => ({ policy: 'explicit', plans: plans.map(planToWire) });

/** Runs every configuration at N = n over the problems (resuming from `path`); returns the records by configuration. */
export async function runVoteStudy(
  local: LocalEngine,
  problems: readonly RouterPrompt[],
  configs: readonly VoteConfig[],
  s: { n: number; seed: number; temperature: number; maxTokens: number },
  store: { path: string; header: unknown },
  hooks: EvalHooks = {},
): Promise<Map<string, VoteRecord[]>> {
  const done = readResumable<VoteRecord>(store.path, store.header, (r) => `${r.label}|${r.i}`, 'problems, seed, sampling, N or model');
  for (const cfg of configs) {
    const todo = problems.map((p, i) => ({ p, i })).filter(({ i }) => !done.has(`${cfg.label}|${i}`));
    hooks.onConfig?.(cfg.label, cfg.greedy ? 1 : s.n, todo.length, problems.length);
    await mapConcurrent(todo, Math.max(1, Math.floor(local.limits.maxBatch / s.n) * 2), async ({ p, i }) => {
      const r = await local.generate({ prompt: promptSpec(local, p), n: cfg.greedy ? 1 : s.n, temperature: cfg.greedy ? 0 : (cfg.temperature ?? s.temperature), maxTokens: s.maxTokens, seed: problemSeed(s.seed, i), skip: cfg.skip, ...(cfg.minP ? { minP: cfg.minP } : {}) });
      const rec: VoteRecord = { label: cfg.label, i, truth: p.answer ?? null, cands: r.candidates.map((c) => {
        // JSON has no -Infinity (a candidate with no tokens): keep it a number the rules still rank last.
        const sc = scoredCandidate(c);
        return { ...sc, meanLogprob: Number.isFinite(sc.meanLogprob) ? sc.meanLogprob : -1e9 };
      }) };
      done.set(`${cfg.label}|${i}`, rec);
      appendFileSync(store.path, JSON.stringify(rec) + '\n');
      hooks.onProblem?.();
    });
  }
  return new Map(configs.map((c) => [c.label, problems.map((_, i) => done.get(`${c.label}|${i}`)!)]));
}

/** 1 when the rule's pick is right, per problem. */
export function ruleHits(records: readonly VoteRecord[], rule: SelectMode): number[] {
  return records.map((r) => {
    const k = selectCandidate(r.cands, rule);
    return k !== null && r.truth !== null && r.cands[k]!.answer === r.truth ? 1 : 0;
  });
}

/** One configuration scored under each rule, with the paired difference of each rule against `vote`. */
export interface VoteRow {
  label: string;
  rule: SelectMode;
  acc: Proportion;
  vsVote: PairedDiff | null;
  /** Against the baseline configuration under the same rule. */
  vsBaseline: PairedDiff | null;
  /** Against the one greedy answer (the configuration labelled `greedy`, when studied). */
  vsGreedy: PairedDiff | null;
}

/** Scores every configuration under each rule; `baseline` is the configuration the others are paired with. */
export function scoreVoteStudy(byLabel: Map<string, VoteRecord[]>, rules: readonly SelectMode[], baseline: string): VoteRow[] {
  const accuracy = (hits: number[]): Proportion => wilson(hits.reduce((a, b) => a + b, 0), hits.length);
  const greedyRecs = byLabel.get('greedy');
  const greedy = greedyRecs ? ruleHits(greedyRecs, 'vote') : null;
  const base = byLabel.get(baseline);
  const rows: VoteRow[] = [];
  for (const [label, recs] of byLabel) {
    // One greedy answer: every rule picks it, so it is one row.
    if (label === 'greedy') {
      rows.push({ label, rule: 'vote', acc: accuracy(greedy!), vsVote: null, vsBaseline: null, vsGreedy: null });
      continue;
    }
    const vote = ruleHits(recs, 'vote');
    for (const rule of rules) {
      const hits = rule === 'vote' ? vote : ruleHits(recs, rule);
      rows.push({
        label,
        rule,
        acc: accuracy(hits),
        vsVote: rule === 'vote' ? null : pairedDiff(vote, hits),
        vsBaseline: base && label !== baseline ? pairedDiff(ruleHits(base, rule), hits) : null,
        vsGreedy: greedy ? pairedDiff(greedy, hits) : null,
      });
    }
  }
  return rows;
}
