/**
 * How best-of-N picks its answer matters as much as where the candidates come from. This study
 * runs policies on held-out problems through the engine (the same problems and request seeds as
 * `router eval`), keeps every candidate's answer, mean log-probability and token count, and scores
 * each selection rule of the server (src/engine/vote.ts) on the same candidates: a paired
 * comparison of rules within a policy and of policies under one rule. Per-problem candidates are
 * appended to a JSONL file, so an interrupted run resumes.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { SkipSpec } from '../src/engine/types.ts';
import { selectCandidate, type Scored, type SelectMode } from '../src/engine/vote.ts';
import { planToWire, type SkipPlan } from '../src/plans/plan.ts';
import { mapConcurrent } from '../src/util/map-concurrent.ts';
import { pairedDiff, wilson, type PairedDiff, type Proportion } from '../src/util/intervals.ts';
import { problemSeed } from './eval.ts';
import { promptSpec, type RouterPrompt } from './problems.ts';

/** One studied configuration: a label and the skip options of its requests. */
export interface VoteConfig {
  label: string;
  skip: SkipSpec;
  /** One greedy candidate instead of the study's N sampled ones (the reference every vote should beat). */
  greedy?: boolean;
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

/** Reads the records made with exactly this header (other settings: an error naming the file). */
function readRecords(path: string, header: unknown): Map<string, VoteRecord> {
  const done = new Map<string, VoteRecord>();
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(header) + '\n');
    return done;
  }
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
  if (lines[0] !== JSON.stringify(header)) throw new Error(`${path} was made with other settings (problems, seed, sampling, N or model); delete it or run with --fresh`);
  for (const line of lines.slice(1)) {
    try {
      const r = JSON.parse(line) as VoteRecord;
      done.set(`${r.label}|${r.i}`, r);
    } catch {
      // an interrupted write
    }
  }
  return done;
}

/** Runs every configuration at N = n over the problems (resuming from `path`); returns the records by configuration. */
export async function runVoteStudy(
  local: LocalEngine,
  problems: readonly RouterPrompt[],
  configs: readonly VoteConfig[],
  s: { n: number; seed: number; temperature: number; maxTokens: number },
  store: { path: string; header: unknown },
  onProblem?: (label: string) => void,
): Promise<Map<string, VoteRecord[]>> {
  const done = readRecords(store.path, store.header);
  for (const cfg of configs) {
    const todo = problems.map((p, i) => ({ p, i })).filter(({ i }) => !done.has(`${cfg.label}|${i}`));
    await mapConcurrent(todo, Math.max(1, Math.floor(local.limits.maxBatch / s.n) * 2), async ({ p, i }) => {
      const r = await local.generate({ prompt: promptSpec(local, p), n: cfg.greedy ? 1 : s.n, temperature: cfg.greedy ? 0 : s.temperature, maxTokens: s.maxTokens, seed: problemSeed(s.seed, i), skip: cfg.skip });
      const rec: VoteRecord = { label: cfg.label, i, truth: p.answer ?? null, cands: r.candidates.map((c) => ({ answer: c.answer, meanLogprob: Number.isFinite(c.meanLogprob) ? c.meanLogprob : -1e9, tokens: c.tokenIds.length })) };
      done.set(`${cfg.label}|${i}`, rec);
      appendFileSync(store.path, JSON.stringify(rec) + '\n');
      onProblem?.(cfg.label);
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
  const rows: VoteRow[] = [];
  const greedyRecs = byLabel.get('greedy');
  const greedy = greedyRecs ? ruleHits(greedyRecs, 'vote') : null;
  for (const [label, recs] of byLabel) {
    if (label === 'greedy') {
      const hits = ruleHits(recs, 'vote');
      rows.push({ label, rule: 'vote', acc: wilson(hits.reduce((a, b) => a + b, 0), hits.length), vsVote: null, vsBaseline: null, vsGreedy: null });
      continue;
    }
    const vote = ruleHits(recs, 'vote');
    for (const rule of rules) {
      const hits = ruleHits(recs, rule);
      const base = byLabel.get(baseline);
      rows.push({
        label,
        rule,
        acc: wilson(hits.reduce((a, b) => a + b, 0), hits.length),
        vsVote: rule === 'vote' ? null : pairedDiff(vote, hits),
        vsBaseline: base && label !== baseline ? pairedDiff(ruleHits(base, rule), hits) : null,
        vsGreedy: greedy && label !== 'greedy' ? pairedDiff(greedy, hits) : null,
      });
    }
  }
  return rows;
}
