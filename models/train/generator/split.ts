/**
 * Train/dev/test split decided by a hash of the question text alone, so a question lands in the
 * same split whatever seed or tier produced it: no test question of any tier appears in any
 * seed's train split.
 */
import { fnv1a, Rng } from '../../../src/util/rng.ts';
import { generateProblem, type Problem, type Tier } from './problems.ts';
import { generateHardProblem } from './hard.ts';

export type Split = 'train' | 'dev' | 'test';
export const SPLITS: readonly Split[] = ['train', 'dev', 'test'];
/** What `--tier` accepts: one tier, or `mixed` (each problem hard with probability 1/2). */
export type TierChoice = Tier | 'mixed';
export const TIERS: readonly TierChoice[] = ['standard', 'hard', 'mixed'];
/** Seed salt per tier choice, so the tiers draw from unrelated streams; `standard`'s is 0 (unchanged streams). */
const TIER_SALT: Record<TierChoice, number> = { standard: 0, hard: 0x5bd1e995, mixed: 0x27d4eb2f };

/** The split a question belongs to: 5% test, 5% dev, 90% train. */
export function splitOf(question: string): Split {
  const bucket = fnv1a(question) % 20;
  return bucket === 0 ? 'test' : bucket === 1 ? 'dev' : 'train';
}

/** Options for {@link generateSplit}. */
export interface GenerateOptions {
  split: Split;
  seed: number;
  count: number;
  /** Default `standard`. */
  tier?: TierChoice;
}

/** Deterministically generates `count` distinct problems of one split and tier from `seed`. */
export function* generateSplit(opts: GenerateOptions): Generator<Problem> {
  const tier = opts.tier ?? 'standard';
  // Each split draws from its own stream so asking for dev does not walk through all of train.
  const rng = new Rng(((opts.seed * 3 + SPLITS.indexOf(opts.split)) ^ TIER_SALT[tier]) >>> 0);
  const prefix = tier === 'standard' ? opts.split : `${tier}-${opts.split}`;
  const seen = new Set<string>();
  let made = 0;
  let tries = 0;
  const maxTries = opts.count * 200 + 10_000;
  while (made < opts.count) {
    if (++tries > maxTries) throw new Error(`could not generate ${opts.count} distinct ${opts.split} problems`);
    const id = `${prefix}-${opts.seed}-${made}`;
    const hard = tier === 'hard' || (tier === 'mixed' && rng.chance(0.5));
    const p = hard ? generateHardProblem(rng, id) : generateProblem(rng, id);
    if (splitOf(p.question) !== opts.split || seen.has(p.question)) continue;
    seen.add(p.question);
    made++;
    yield p;
  }
}
