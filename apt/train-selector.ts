/**
 * The selector's side of an APT round: the serving selector's calibration records (re-embedded by
 * the serving model when another model made them), the plan pairs of the rounds before (kept in
 * router/apt-pairs.jsonl, re-embedded) and this round's plan pairs train a new selector with the
 * router's trainer (InfoNCE on the fully labelled records, Bradley-Terry on both), exported as
 * selector.onnx into a candidate directory laid out like a model directory (the serving model's
 * files, its router files, the new selector and every round's pairs), so the gate can serve it as is.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalEngine } from '../src/engine/local-engine.ts';
import { loadCatalog } from '../src/router/catalog.ts';
import { routerPaths } from '../src/router/calibration.ts';
import { embedPrompt, encodeEmbedding, readRecords, type PromptRecord } from '../router/calibrate.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';
import { fitSelector, type FitOptions, type FitReport, type PairRecord } from '../router/selector/fit.ts';

/** The serving model's embedding of an already rendered prompt text (as recorded in calibration records and pairs). */
const embedText = async (local: LocalEngine, text: string): Promise<string> => encodeEmbedding(await embedPrompt(local, local.tokenizer.encode(text, false)));

/**
 * The calibration records of `servingDir`, their embeddings from the serving model: records made
 * by another model (the round before promoted a new one) are embedded again from their prompt text.
 */
export async function servingRecords(local: LocalEngine, servingDir: string): Promise<{ records: PromptRecord[]; samplesPerPlan: number; reembedded: boolean }> {
  const { header, records } = readRecords(routerPaths(servingDir).records);
  if (!header) throw new Error(`${routerPaths(servingDir).records}: no calibration records to start the selector from`);
  const reembedded = header.model?.weights !== modelFingerprint(servingDir);
  if (reembedded) {
    for (const r of records) {
      if (r.prompt === undefined) throw new Error(`calibration record ${r.id} has no prompt text to embed again`);
      r.embedding = await embedText(local, r.prompt);
    }
  }
  return { records: records.filter((r) => r.correct !== null), samplesPerPlan: header.config.samplesPerPlan, reembedded };
}

/** The plan pairs of earlier rounds that the serving selector was trained on, embedded by the serving model. */
export async function earlierPairs(local: LocalEngine, servingDir: string): Promise<PairRecord[]> {
  const path = join(servingDir, 'router', 'apt-pairs.jsonl');
  if (!existsSync(path)) return [];
  const out: PairRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as PairRecord;
    out.push({ ...r, embedding: await embedText(local, r.prompt) });
  }
  return out;
}

/** Copies the serving model directory (weights, tokenizer, router files) to `outDir`, without its selector. */
function copyServing(servingDir: string, outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  for (const name of readdirSync(servingDir)) {
    if (name === 'selector.onnx' || name === 'MODEL_CARD.md') continue;
    cpSync(join(servingDir, name), join(outDir, name), { recursive: true });
  }
}

/** Trains the candidate selector into `outDir` (a servable model directory) and returns its report. */
export async function trainSelectorCandidate(
  local: LocalEngine,
  servingDir: string,
  pairRecords: PairRecord[],
  outDir: string,
  opts: FitOptions,
): Promise<{ dir: string; report: FitReport & { pairQuestions: number; earlierPairQuestions: number; pairs: number; reembedded: boolean } }> {
  const catalogPath = routerPaths(servingDir).catalog;
  if (!existsSync(catalogPath)) throw new Error(`${catalogPath} not found: the serving model has no plan catalog`);
  const catalog = loadCatalog(catalogPath);
  const { records, samplesPerPlan, reembedded } = await servingRecords(local, servingDir);
  copyServing(servingDir, outDir);
  const earlier = await earlierPairs(local, servingDir);
  const withPairs = [...earlier, ...pairRecords.filter((r) => r.pairs.length > 0).map(({ id, embedding, prompt, promptTokens, pairs }) => ({ id, embedding, prompt, promptTokens, pairs }))];
  writeFileSync(join(outDir, 'router', 'apt-pairs.jsonl'), withPairs.map((r) => JSON.stringify(r)).join('\n') + (withPairs.length ? '\n' : ''));
  const { report } = await fitSelector(records, catalog, samplesPerPlan, join(outDir, 'selector.onnx'), { ...opts, pairRecords: withPairs });
  const full = { ...report, pairQuestions: withPairs.length, earlierPairQuestions: earlier.length, pairs: withPairs.reduce((s, r) => s + r.pairs.length, 0), reembedded };
  writeFileSync(join(outDir, 'router', 'selector-report.json'), JSON.stringify(full, null, 1));
  return { dir: outDir, report: full };
}
