/**
 * Text features of a prompt for the learned selector, beside the mean-pooled embedding: its length,
 * how many sentences and numbers it has, how large the numbers are, and counts of the cue words
 * that mark the operations a word problem asks for (percentages, multiplication, division,
 * comparison, removal, addition). The generator's problem kind and step count are not known at
 * serving time; these are what the prompt itself says about them, computed the same way at
 * calibration (from the rendered prompt) and at serving (from the request's rendered prompt).
 */

/** Names of the features, in vector order (the selector's `features` input has this width). */
export const TEXT_FEATURE_NAMES = [
  'log_prompt_tokens',
  'sentences',
  'numbers',
  'max_digits',
  'mean_log10_number',
  'percent',
  'times',
  'groups_of',
  'division',
  'comparison',
  'removal',
  'addition',
] as const;

/** Number of text features. */
export const TEXT_FEATURE_COUNT: number = TEXT_FEATURE_NAMES.length;

const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;

/** The feature vector of a rendered prompt and its token count (see TEXT_FEATURE_NAMES). */
export function textFeatures(text: string, promptTokens: number): Float32Array {
  const t = text.toLowerCase();
  const numbers = (t.match(/\d+(?:\.\d+)?/g) ?? []).map(Number);
  const digits = numbers.map((x) => String(Math.trunc(x)).length);
  const logs = numbers.map((x) => Math.log10(1 + x));
  return Float32Array.from([
    Math.log(1 + promptTokens),
    count(t, /[.?!](?:\s|$)/g),
    numbers.length,
    digits.length ? Math.max(...digits) : 0,
    logs.length ? logs.reduce((a, b) => a + b, 0) / logs.length : 0,
    count(t, /%|\bpercent\b/g),
    count(t, /\btimes\b/g),
    count(t, /\b(?:packs?|bags?|boxes|groups?) (?:of|with)\b|\beach\b/g),
    count(t, /\bequal(?:ly)?\b|\bone out of every\b|\bsplits?\b|\bshares?\b|\bhalf\b/g),
    count(t, /\b(?:more|fewer|less) \w+ than\b|\bthan\b/g),
    count(t, /\b(?:gives?|loses?|uses?|sells?|takes?|eats?|spends?)\b|\baway\b/g),
    count(t, /\bmore\b|\b(?:gets?|finds?|buys?|wins?|makes?)\b/g),
  ]);
}
