/**
 * Calibration: runs the model over calibration prompts and records, per prompt, its embedding,
 * the importance of every head and sublayer (teacher-forced KL against the full model), and
 * each catalog plan's utility (answers right or not, log-probability of the reference). Labels
 * measure what a plan does to the answer, not sampling noise: greedy decoding under each plan
 * (temperature 0), or several samples per plan whose seeds are shared by every plan (sample s of
 * every plan draws from the same random stream, so plan differences are paired). Answers go
 * through the server's engine (best-of-N requests with explicit plans, several prompts in flight
 * so the engine batches them). Per-prompt records are appended to a JSONL file as they finish, so
 * an interrupted run resumes.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LocalEngine } from '../src/engine/local-engine.ts';
import { FULL_PLAN, type SkipPlan } from '../src/plans/plan.ts';
import { greedyAnswers, pairedAnswers, sampleAnswers } from './plan-answers.ts';
import { entryPlan, type PlanCatalog } from '../src/router/catalog.ts';
import { mapConcurrent } from '../src/util/map-concurrent.ts';
import { renderPrompt } from '../src/engine/render-prompt.ts';
import { promptSpec, referenceIds, type RouterPrompt } from './problems.ts';
import { teacherForcedScores } from './teacher-forced.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';

export interface CalibrateConfig {
  seed: number;
  /** Sampled answers per catalog plan per prompt. */
  samplesPerPlan: number;
  /** Full-model samples per prompt (the baseline accuracy). */
  fullSamples: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  /** Teacher-forced importance is measured on the first this-many prompts with a reference. */
  importancePrompts: number;
  /** Greedy labels: plans per best-of-N request (the engine batches requests up to its max batch). */
  requestRows?: number;
}

/** What calibration recorded for one prompt. */
export interface PromptRecord {
  id: string;
  kind?: string;
  steps?: number;
  /** Base64 of the float32 mean-pooled prompt embedding. */
  embedding: string;
  /** The rendered prompt and its token count (the selector's text features are computed from them). */
  prompt?: string;
  promptTokens?: number;
  /** The reference answer (normalised), when the prompt has one. */
  answer?: string;
  /** Per catalog entry: correct answers out of samplesPerPlan (null without a reference answer). */
  correct: number[] | null;
  /** Every catalog answer, sample-major: answers[s * entries + j] is plan j's answer in sample s. */
  answers?: (string | null)[];
  fullCorrect: number | null;
  /**
   * Greedy labels: how many plans were decoded; the others followed the full model's answer token for
   * token in a teacher-forced pass (greedy-check.ts). Absent: every plan was decoded.
   */
  decoded?: number;
  /** Teacher-forced scores, on the importance subset only. */
  tf: { attention: number[]; mlp: number[]; heads: number[][]; planLogprob: number[]; fullLogprob: number } | null;
  seconds: number;
}

interface Header {
  header: true;
  config: CalibrateConfig;
  catalog: string[];
  model: { numLayers: number; numHeads: number; hiddenSize: number; weights: string };
}

export const encodeEmbedding = (x: Float32Array): string => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
export const decodeEmbedding = (s: string): Float32Array => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

/** Reads a records file: its header and the records so far (a torn last line is dropped). */
export function readRecords(path: string): { header: Header | null; records: PromptRecord[] } {
  if (!existsSync(path)) return { header: null, records: [] };
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
  let header: Header | null = null;
  const records: PromptRecord[] = [];
  for (const line of lines) {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      continue; // an interrupted write
    }
    if ((v as Header).header) header = v as Header;
    else records.push(v as PromptRecord);
  }
  return { header, records };
}

/** Mean-pooled hidden state of the prompt under the full model (what the server's router sees). */
export async function embedPrompt(local: LocalEngine, ids: number[]): Promise<Float32Array> {
  return Float32Array.from(await local.engine.embed(ids));
}

/** True when calibration labels are paired samples rather than one greedy answer per plan. */
const isPaired = (cfg: CalibrateConfig): boolean => cfg.temperature > 0;

/** Calibrates one prompt. `index` fixes its sampling seeds. */
async function calibratePrompt(
  local: LocalEngine,
  catalog: PlanCatalog,
  cfg: CalibrateConfig,
  p: RouterPrompt,
  index: number,
  withImportance: boolean,
  decodeAll: boolean,
): Promise<PromptRecord> {
  const started = Date.now();
  const info = local.info;
  const rendered = renderPrompt(local, promptSpec(local, p));
  const ids = rendered.tokens;
  const embedding = await embedPrompt(local, ids);
  let tf: PromptRecord['tf'] = null;
  const ref = withImportance ? referenceIds(local.tokenizer, p, info.eosTokenIds[0]) : null;
  if (ref) {
    const L = info.numLayers;
    const sub: SkipPlan[] = [];
    for (let l = 0; l < L; l++) sub.push({ skipAttention: [l], skipMlp: [], maskHeads: {} }, { skipAttention: [], skipMlp: [l], maskHeads: {} });
    const planList = [...sub, ...catalog.entries.map((e) => entryPlan(e))];
    const r = await local.engine.exclusive(() => teacherForcedScores(local.runner, [...ids, ...ref], ids.length, planList, { maxRows: local.limits.maxBatch }));
    const heads = Array.from({ length: L }, () => new Array<number>(info.numHeads).fill(0));
    const planLogprob: number[] = [];
    catalog.entries.forEach((e, i) => {
      const s = r.plans[2 * L + i]!;
      planLogprob.push(s.logprob);
      if (e.kind === 'single') heads[e.heads[0]![0]]![e.heads[0]![1]] = s.kl;
    });
    tf = {
      attention: Array.from({ length: L }, (_, l) => r.plans[2 * l]!.kl),
      mlp: Array.from({ length: L }, (_, l) => r.plans[2 * l + 1]!.kl),
      heads,
      planLogprob,
      fullLogprob: r.base.logprob,
    };
  }
  let correct: number[] | null = null;
  let fullCorrect: number | null = null;
  let answers: (string | null)[] | undefined;
  let decoded: number | undefined;
  if (p.answer !== undefined && cfg.samplesPerPlan + cfg.fullSamples > 0) {
    const seed = cfg.seed * 1_000_003 + index * 1000;
    const m = catalog.entries.length;
    const plans = [...catalog.entries.map((e) => entryPlan(e)), ...(cfg.fullSamples > 0 ? [FULL_PLAN] : [])];
    let perSample: (string | null)[][];
    if (isPaired(cfg)) {
      perSample = await pairedAnswers(local, p, plans, Math.max(cfg.samplesPerPlan, cfg.fullSamples), seed, cfg);
    } else {
      // Greedy: one answer per plan is exact; seeds do not matter, so plans pack into large requests,
      // and plans that follow the full model's answer token for token need no decode of their own.
      let one: (string | null)[];
      if (decodeAll) one = await sampleAnswers(local, p, plans, seed, cfg);
      else ({ answers: one, decoded } = await greedyAnswers(local, p, plans, seed, cfg));
      perSample = Array.from({ length: Math.max(cfg.samplesPerPlan, cfg.fullSamples) }, () => one);
    }
    correct = new Array<number>(m).fill(0);
    fullCorrect = 0;
    answers = [];
    for (let s = 0; s < cfg.samplesPerPlan; s++) {
      for (let j = 0; j < m; j++) {
        const a = perSample[s]![j]!;
        answers.push(a);
        if (a === p.answer) correct[j]!++;
      }
    }
    for (let s = 0; s < cfg.fullSamples; s++) if (perSample[s]![m] === p.answer) fullCorrect++;
  }
  return { id: p.id, kind: p.kind, steps: p.steps, embedding: encodeEmbedding(embedding), prompt: rendered.text, promptTokens: ids.length, ...(p.answer !== undefined ? { answer: p.answer } : {}), correct, ...(answers ? { answers } : {}), ...(decoded !== undefined ? { decoded } : {}), fullCorrect, tf, seconds: (Date.now() - started) / 1000 };
}

/**
 * Calibrates every prompt not yet in the records file (resuming a previous run with the same
 * settings) and returns all records. `onPrompt` is called after each prompt.
 */
export async function calibratePrompts(
  local: LocalEngine,
  catalog: PlanCatalog,
  prompts: RouterPrompt[],
  cfg: CalibrateConfig,
  recordsPath: string,
  hooks: { onStart?: (done: number, total: number) => void; onPrompt?: (r: PromptRecord) => void } = {},
  inFlight = 4,
  opts: { decodeAll?: boolean } = {},
): Promise<PromptRecord[]> {
  const header: Header = {
    header: true,
    config: cfg,
    catalog: catalog.entries.map((e) => e.id),
    model: { numLayers: local.info.numLayers, numHeads: local.info.numHeads, hiddenSize: local.info.hiddenSize, weights: modelFingerprint(local.info.dir) },
  };
  const existing = readRecords(recordsPath);
  if (existing.header && JSON.stringify(existing.header) !== JSON.stringify(header)) {
    throw new Error(`${recordsPath} was made with other settings (seed, sampling, catalog or model); delete it or run with --fresh`);
  }
  if (!existing.header) {
    mkdirSync(dirname(recordsPath), { recursive: true });
    writeFileSync(recordsPath, JSON.stringify(header) + '\n');
  }
  const done = new Map(existing.records.map((r) => [r.id, r]));
  hooks.onStart?.(prompts.filter((p) => done.has(p.id)).length, prompts.length);
  let withRef = 0;
  const jobs = prompts.map((p, i) => ({ p, i, importance: p.reference !== undefined && withRef++ < cfg.importancePrompts }));
  // A few prompts in flight at once, so the engine batches their candidates together.
  const fresh = await mapConcurrent(jobs.filter((j) => !done.has(j.p.id)), inFlight, async ({ p, i, importance }) => {
    const r = await calibratePrompt(local, catalog, cfg, p, i, importance, opts.decodeAll ?? false);
    appendFileSync(recordsPath, JSON.stringify(r) + '\n');
    hooks.onPrompt?.(r);
    return r;
  });
  const byId = new Map([...done, ...fresh.map((r) => [r.id, r] as const)]);
  return prompts.map((p) => byId.get(p.id)!);
}
