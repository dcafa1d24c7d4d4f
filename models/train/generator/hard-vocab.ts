/**
 * Phrasing only the hard tier uses: percentages, nested quantities (packs of, each), comparisons
 * with a third person, and more distractors. Placeholders as in vocab.ts, plus {pct} a percentage,
 * {a} a count of packs or friends, {b} the amount in each, {d} a difference, {t} the compared person.
 */

/** Removing pct percent of the current amount. */
export const PCT_SUB_PHRASES: readonly string[] = [
  '{p} gives away {pct}% of {q} {o}.',
  '{p} sells {pct}% of them.',
  '{p} loses {pct}% of {q} {o}.',
];

/** Adding pct percent of the current amount. */
export const PCT_ADD_PHRASES: readonly string[] = [
  '{p} gets {pct}% more {o}.',
  'The number of {o} grows by {pct}%.',
];

/** Adding a packs of b items each (a nested product). */
export const NESTED_ADD_PHRASES: readonly string[] = [
  '{p} buys {a} packs of {b} {o}.',
  '{p} gets {a} boxes with {b} {o} in each.',
  '{n} gives {m} {a} bags of {b} {o}.',
];

/** Removing a times b items (a nested product). */
export const NESTED_SUB_PHRASES: readonly string[] = [
  '{p} gives {a} friends {b} {o} each.',
  '{p} sells {a} packs of {b} {o}.',
  '{p} uses {b} {o} on each of {a} days.',
];

/** The compared person's amount, relative to the main person's current amount. */
export const COMPARE_MORE = '{t} has {d} more {o} than {name}.';
export const COMPARE_FEWER = '{t} has {d} fewer {o} than {name}.';
export const COMPARE_TIMES = '{t} has {k} times as many {o} as {name}.';

/** Extra irrelevant sentences (on top of vocab.ts's); {c} a number up to 4 digits. */
export const HARD_DISTRACTOR_PHRASES: readonly string[] = [
  '{n} has {c} more {o2} than {p} had last year.',
  'A box of {o2} weighs {c} grams.',
  '{n} walks {c} steps to school.',
  'The town has {c} houses.',
  '{n} saves {c} dollars.',
];
