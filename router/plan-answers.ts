/**
 * Answers of many plans to one prompt through the server's engine, for calibration labels: one
 * answer per plan (greedy: plans packed into best-of-N requests), or several samples per plan whose
 * seeds every plan shares (paired). Plans are ordered so that the plans of a request share nothing:
 * every prompt is prefilled on the full model, and every request's rows share the empty skip core,
 * so the engine batches all of them together.
 */
import type { LocalEngine } from '../src/engine/local-engine.ts';
import type { CandidateResult } from '../src/engine/types.ts';
import { FULL_PLAN, planKey, planToWire, skipCore, type SkipPlan } from '../src/plans/plan.ts';
import { followsGreedyPath } from './greedy-check.ts';
import { promptIds, promptSpec, type RouterPrompt } from './problems.ts';

/** Sampling settings of the answers. */
export interface AnswerSettings {
  temperature: number;
  topP: number;
  maxTokens: number;
  /** Plans per request for one answer per plan (default: the engine's max batch). */
  requestRows?: number;
}

/**
 * One answer per plan for a prompt through the engine: best-of-N requests of at most `requestRows`
 * candidates (default the engine's max batch), each candidate under its own explicit plan, with
 * seed `seed + j * requestRows` for the j-th request. Answers in plan order.
 */
export async function sampleAnswers(
  local: LocalEngine,
  p: RouterPrompt,
  plans: SkipPlan[],
  seed: number,
  cfg: AnswerSettings,
  read: ReadCandidate = readAnswer,
): Promise<(string | null)[]> {
  const size = Math.min(cfg.requestRows ?? local.limits.maxBatch, local.limits.maxBatch);
  const order = disjointOrder(plans);
  const chunks: number[][] = [];
  for (let i = 0; i < order.length; i += size) chunks.push(order.slice(i, i + size));
  const out = new Array<string | null>(plans.length).fill(null);
  await Promise.all(
    chunks.map(async (chunk, j) => {
      const answers = await ask(local, p, chunk.map((i) => plans[i]!), seed + j * size, cfg, read);
      answers.forEach((a, c) => (out[chunk[c]!] = a));
    }),
  );
  return out;
}

const disjoint = (a: SkipPlan, b: SkipPlan): boolean => planKey(skipCore([a, b])) === planKey(FULL_PLAN);

/**
 * An order of the plans in which neighbours (the last and the first too) share nothing where it can
 * be helped, so any request of two or more neighbouring plans has an empty skip core: its prompt is
 * prefilled on the full model, as for every other plan, whatever the request's other plans are.
 */
export function disjointOrder(plans: readonly SkipPlan[]): number[] {
  // Plans that clash with many others go first, while there are still plans to put between them.
  const clashes = plans.map((a) => plans.filter((b) => !disjoint(a, b)).length);
  const left = plans.map((_, i) => i);
  const order: number[] = [];
  while (left.length) {
    const last = order.length ? plans[order[order.length - 1]!]! : null;
    const first = order.length ? plans[order[0]!]! : null;
    const fits = (i: number): boolean => (!last || disjoint(last, plans[i]!)) && (left.length > 1 || !first || disjoint(plans[i]!, first));
    let best = -1;
    for (let k = 0; k < left.length; k++) {
      const i = left[k]!;
      if (fits(i) && (best < 0 || clashes[i]! > clashes[left[best]!]!)) best = k;
    }
    order.push(left.splice(best < 0 ? 0 : best, 1)[0]!);
  }
  return order;
}

/** What a calibration run reads of a candidate: its extracted answer (tests read the text). */
export type ReadCandidate = (c: CandidateResult) => string | null;
const readAnswer: ReadCandidate = (c) => c.answer;

/**
 * One greedy answer per plan, decoding only the plans that leave the full model's path: the full
 * model answers first, a teacher-forced pass finds the plans that follow its answer token for token
 * (greedy-check.ts), and the rest are decoded as `sampleAnswers` does (beside the full plan, so their
 * requests keep an empty skip core). The same answers as `sampleAnswers` at temperature 0.
 */
export async function greedyAnswers(
  local: LocalEngine,
  p: RouterPrompt,
  plans: SkipPlan[],
  seed: number,
  cfg: AnswerSettings,
  read: ReadCandidate = readAnswer,
): Promise<{ answers: (string | null)[]; decoded: number }> {
  if (cfg.temperature !== 0) throw new Error(`greedy answers need temperature 0, got ${cfg.temperature}`);
  const [full] = await askCandidates(local, p, [FULL_PLAN], seed, cfg);
  const follows = await followsGreedyPath(local, promptIds(local, p), full!, plans);
  const left = plans.flatMap((_, i) => (follows[i] ? [] : [i]));
  const answers = plans.map(() => read(full!));
  if (left.length) {
    const decoded = await sampleAnswers(local, p, [...left.map((i) => plans[i]!), FULL_PLAN], seed, cfg, read);
    left.forEach((i, k) => (answers[i] = decoded[k]!));
  }
  return { answers, decoded: left.length };
}

/** One best-of-N request with one explicit plan per candidate (candidate c samples with seed + c). */
async function ask(local: LocalEngine, p: RouterPrompt, plans: SkipPlan[], seed: number, cfg: AnswerSettings, read: ReadCandidate): Promise<(string | null)[]> {
  return (await askCandidates(local, p, plans, seed, cfg)).map(read);
}

async function askCandidates(local: LocalEngine, p: RouterPrompt, plans: SkipPlan[], seed: number, cfg: AnswerSettings): Promise<CandidateResult[]> {
  const r = await local.generate({
    prompt: promptSpec(local, p),
    n: plans.length,
    temperature: cfg.temperature,
    topP: cfg.topP,
    maxTokens: cfg.maxTokens,
    seed,
    skip: { policy: 'explicit', plans: plans.map(planToWire) },
  });
  return r.candidates;
}

/**
 * `samples` answers per plan with seeds shared by every plan: sample s of any plan uses seed
 * `seed + s`, so two plans' answers differ only through what the plans do (a paired comparison).
 * Since candidate c of a request samples with the request's seed + c, request r holds sample c of
 * plan (r + c) mod m at position c (in `disjointOrder`): m requests of `samples` rows, each mixing
 * plans that share nothing (so the prompt is prefilled on the full model and the rows of all
 * requests share an empty skip core: the engine batches them together). Returns answers[s][j].
 */
export async function pairedAnswers(
  local: LocalEngine,
  p: RouterPrompt,
  plans: SkipPlan[],
  samples: number,
  seed: number,
  cfg: AnswerSettings,
  read: ReadCandidate = readAnswer,
): Promise<(string | null)[][]> {
  const m = plans.length;
  if (samples < 2 || samples > local.limits.maxBatch) {
    throw new Error(`paired samples need 2 to ${local.limits.maxBatch} (the engine's max batch) samples per plan, got ${samples}; for one answer per plan use temperature 0`);
  }
  const order = disjointOrder(plans);
  const out = Array.from({ length: samples }, () => new Array<string | null>(m).fill(null));
  await Promise.all(
    Array.from({ length: m }, async (_, r) => {
      const idx = Array.from({ length: samples }, (_, c) => order[(r + c) % m]!);
      const answers = await ask(local, p, idx.map((i) => plans[i]!), seed, cfg, read);
      answers.forEach((a, c) => (out[c]![idx[c]!] = a));
    }),
  );
  return out;
}
