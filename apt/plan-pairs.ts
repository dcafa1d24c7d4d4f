/**
 * The selector's preference pairs of an APT round: on each acquired training case the serving
 * model answers greedily under a few catalog plans (the current selector's top choices, which the
 * `learned` policy would serve, and as many random catalog plans to explore). Greedy, so a label is
 * what the plan does to the answer, not sampling noise. Every plan that answered right against
 * every plan that answered wrong on the same question is a pair (right > wrong).
 */
import type { LocalEngine } from '../src/engine/local-engine.ts';
import { normalizeAnswer } from '../src/engine/answers.ts';
import { renderPrompt } from '../src/engine/render-prompt.ts';
import { entryPlan, type PlanCatalog } from '../src/router/catalog.ts';
import { SelectorSession, topN } from '../src/router/selector-session.ts';
import { textFeatures } from '../src/router/text-features.ts';
import { mapConcurrent } from '../src/util/map-concurrent.ts';
import { Rng } from '../src/util/rng.ts';
import { embedPrompt, encodeEmbedding } from '../router/calibrate.ts';
import { sampleAnswers } from '../router/plan-answers.ts';
import { promptSpec, type RouterPrompt } from '../router/problems.ts';
import type { PairRecord } from '../router/selector/fit.ts';
import type { Problem } from '../models/train/generator/problems.ts';

export interface PlanPairOptions {
  /** The current selector's top plans tried per question. */
  top: number;
  /** Random other catalog plans tried per question. */
  explore: number;
  maxTokens: number;
  seed: number;
}

/** A case's record: the pairs and, for the report, which plans were tried and which answered right. */
export interface PlanPairCase extends PairRecord {
  plans: number[];
  correct: boolean[];
}

/**
 * Tries the plans on every case and returns one record per case (cases whose tried plans all agree
 * carry no pairs). `selector` null: every tried plan is random.
 */
export async function planPairs(local: LocalEngine, catalog: PlanCatalog, selector: SelectorSession | null, cases: readonly Problem[], o: PlanPairOptions): Promise<PlanPairCase[]> {
  const m = catalog.entries.length;
  const plansTried = Math.min(m, o.top + o.explore);
  return mapConcurrent(cases, 4, async (p, i) => {
    const rp: RouterPrompt = { id: p.id, question: p.question, answer: normalizeAnswer(String(p.answer)) };
    const rendered = renderPrompt(local, promptSpec(local, rp));
    const embedding = await embedPrompt(local, rendered.tokens);
    let chosen: number[] = [];
    if (selector) {
      const features = selector.featureDim > 0 ? [textFeatures(rendered.text, rendered.tokens.length)] : undefined;
      chosen = topN((await selector.score([embedding], features))[0]!, Math.min(o.top, m));
    }
    const rng = new Rng(o.seed * 1_000_003 + i);
    const rest = Array.from({ length: m }, (_, j) => j).filter((j) => !chosen.includes(j));
    rng.shuffle(rest);
    const plans = [...chosen, ...rest.slice(0, plansTried - chosen.length)];
    const answers = await sampleAnswers(local, rp, plans.map((j) => entryPlan(catalog.entries[j]!)), o.seed, { temperature: 0, topP: 1, maxTokens: o.maxTokens });
    const correct = answers.map((a) => a === rp.answer);
    const pairs: [number, number][] = [];
    plans.forEach((a, x) => plans.forEach((b, y) => correct[x] && !correct[y] && pairs.push([a, b])));
    return { id: p.id, embedding: encodeEmbedding(embedding), prompt: rendered.text, promptTokens: rendered.tokens.length, pairs, plans, correct };
  });
}
