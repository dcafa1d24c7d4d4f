/**
 * Weakness-case acquisition (APT, step 1): the served requests the system got wrong (by feedback or
 * reference answer) or whose candidates disagreed most, described (tier, kind, steps, digits: from
 * the request's metadata when an evaluation tagged it, else read from the question), grouped, and
 * multiplied into fresh cases of the same description by the problem generator. The acquired cases
 * are split by question hash into a training part and a held-out slice for the gate.
 */
import { fnv1a } from '../src/util/rng.ts';
import type { StoredRecord } from '../src/store/types.ts';
import { describeQuestion, type ProblemDescription } from '../models/train/generator/describe.ts';
import { generateLike } from '../models/train/generator/like.ts';
import type { Problem } from '../models/train/generator/problems.ts';

/** One mined weakness: the served record it came from, the question and its description. */
export interface WeaknessCase {
  recordId: string;
  question: string;
  policy: string;
  reason: 'wrong' | 'disagreement';
  description: ProblemDescription;
}

/** An acquired problem, with the weakness it imitates and the part it belongs to. */
export interface AcquiredCase extends Problem {
  from: string;
  part: 'train' | 'heldout';
}

/** The question of a rendered prompt in the default model's format (`... Q: question\nA:`), or null. */
export function questionOf(promptText: string): string | null {
  const m = /Q: ([\s\S]*?)\nA:\s*$/.exec(promptText);
  return m ? m[1]!.trim() : null;
}

/** A record's description: its metadata when complete, else parsed from the question. */
function describe(r: StoredRecord, question: string): ProblemDescription {
  const md = r.metadata;
  const parsed = describeQuestion(question);
  if (md?.tier && md.kind && md.steps) return { ...parsed, tier: md.tier as ProblemDescription['tier'], kind: md.kind as ProblemDescription['kind'], steps: Number(md.steps) };
  return parsed;
}

/** True when a record's candidates did not all give the same answer. */
function split(r: StoredRecord): boolean {
  return new Set(r.candidates.map((c) => c.answer)).size > 1;
}

/**
 * Weakness cases from mined records: every wrong one, and the disagreeing ones whose candidates
 * really split (the store ranks records by agreement; unanimous ones are not weaknesses). Records
 * whose prompt is not a generated question are skipped.
 */
export function weaknessCases(wrong: StoredRecord[], disagreeing: StoredRecord[]): WeaknessCase[] {
  const out = new Map<string, WeaknessCase>();
  for (const [reason, rs] of [['wrong', wrong], ['disagreement', disagreeing.filter(split)]] as const) {
    for (const r of rs) {
      const question = questionOf(r.promptText);
      if (!question || out.has(r.id)) continue;
      out.set(r.id, { recordId: r.id, question, policy: r.policy, reason, description: describe(r, question) });
    }
  }
  return [...out.values()];
}

/** Group key of a case: tier, kind, steps and policy. */
export function groupKey(c: WeaknessCase): string {
  return `${c.description.tier}/${c.description.kind}/${c.description.steps} steps/${c.policy}`;
}

/** Case counts per group, largest first. */
export function groupSizes(cases: readonly WeaknessCase[]): [string, number][] {
  const m = new Map<string, number>();
  for (const c of cases) m.set(groupKey(c), (m.get(groupKey(c)) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/**
 * `perCase` fresh problems like each weakness case (train split of the generator, never a test
 * question), deterministic in `seed`; one in `heldoutEvery` acquired questions (by hash) is held out.
 */
export function acquire(cases: readonly WeaknessCase[], perCase: number, seed: number, heldoutEvery = 5): AcquiredCase[] {
  const seen = new Set<string>();
  const out: AcquiredCase[] = [];
  cases.forEach((c, i) => {
    for (const p of generateLike(c.description, perCase, seed * 100_003 + i, `apt-${seed}-${i}`)) {
      if (seen.has(p.question)) continue;
      seen.add(p.question);
      out.push({ ...p, from: c.recordId, part: fnv1a(`heldout:${p.question}`) % heldoutEvery === 0 ? 'heldout' : 'train' });
    }
  });
  return out;
}
