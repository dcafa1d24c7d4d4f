/**
 * Train/dev/test split decided by a hash of the question text alone, so a question lands in the
 * same split whatever seed produced it: no seed's test split shares a question with any train split.
 */
import { fnv1a, Rng } from './rng.ts';
import { generateProblem, type Problem } from './problems.ts';

export type Split = 'train' | 'dev' | 'test';
export const SPLITS: readonly Split[] = ['train', 'dev', 'test'];

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
}

/** Deterministically generates `count` distinct problems of one split from `seed`. */
export function* generateSplit(opts: GenerateOptions): Generator<Problem> {
  // Each split draws from its own stream so asking for dev does not walk through all of train.
  const rng = new Rng((opts.seed * 3 + SPLITS.indexOf(opts.split)) >>> 0);
  const seen = new Set<string>();
  let made = 0;
  let tries = 0;
  const maxTries = opts.count * 200 + 10_000;
  while (made < opts.count) {
    if (++tries > maxTries) throw new Error(`could not generate ${opts.count} distinct ${opts.split} problems`);
    const p = generateProblem(rng, `${opts.split}-${opts.seed}-${made}`);
    if (splitOf(p.question) !== opts.split || seen.has(p.question)) continue;
    seen.add(p.question);
    made++;
    yield p;
  }
}
