/**
 * `skipserve apt mine|train|gate`: the APT rounds (weakness-case acquisition and iterative
 * preference training, gated promotion). One round lives in a directory (--round DIR):
 *   mine   store -> weakness.json (cases, sizes per group) + acquired.jsonl (fresh cases like them);
 *          --bootstrap N first fills the store with an evaluation run (N fresh problems, seeded) when no
 *          traffic exists yet
 *   train  acquired train part -> pairs.jsonl (correct > the model's own wrong) -> DPO -> candidate/model
 *          (exported, parity-checked), registered in the store as a candidate version
 *   select the selector's half: the serving model answers the acquired train part greedily under the
 *          current selector's top plans and random ones -> plan-pairs.jsonl (plan right > plan wrong on
 *          the same question) -> a new selector (calibration records + pairs) in selector-candidate/,
 *          registered in the store as a candidate selector version
 *   gate   candidate vs baseline, paired, on the held-out weakness slice and the general test sets
 *          -> gate.json (--selector: the learned policy's best-of-N vote -> selector-gate.json); with
 *          --promote, promoted through the store (running servers reload) or refused
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { openStore } from '../src/store/open-store.ts';
import type { RequestStore, VersionKind } from '../src/store/types.ts';
import { versionFromDir } from '../src/versions/version-from-dir.ts';
import { formatDiff, formatProportion } from '../src/util/intervals.ts';
import { generateSplit, TIERS, type TierChoice } from '../models/train/generator/split.ts';
import { runProblems } from '../models/train/eval/run-requests.ts';
import type { Problem } from '../models/train/generator/problems.ts';
import { runGate, runSelectorGate, type GateReport, type GateSlice, type SelectorGateReport } from './gate.ts';
import { planPairs } from './plan-pairs.ts';
import { trainSelectorCandidate } from './train-selector.ts';
import { loadCatalog } from '../src/router/catalog.ts';
import { routerPaths } from '../src/router/calibration.ts';
import { SelectorSession } from '../src/router/selector-session.ts';
import { preferencePairs, type PairLevel, type PreferencePair } from './preference-pairs.ts';
import { reportTable } from './report.ts';
import { servingDir } from './serving-dir.ts';
import { checkParity, trainCandidate } from './train-model.ts';
import { acquire, groupSizes, weaknessCases, type AcquiredCase } from './weakness.ts';

const USAGE = `usage: skipserve apt mine  --store S --round DIR [--limit 500] [--per-case 4] [--since ISO] [--seed S]
                           [--bootstrap N --model DIR [--tier mixed] [--policy none] [--n 8] [--temperature 0.7] [--threads 2]]
       skipserve apt train --round DIR --model BASE [--store S] [--n 8] [--temperature 0.7] [--pairs-per-case 2] [--pair-level step|solution]
                           [--general 3000] [--dpo-steps 150] [--beta 0.1] [--lr 4e-5] [--chosen-nll 1] [--threads 2]
       skipserve apt select --round DIR --model SERVING [--store S] [--cases 300] [--top 8] [--explore 8]
                           [--epochs 40] [--threads 2]
       skipserve apt gate  --round DIR --baseline BASE [--candidate DIR] [--count 2000] [--margin 0.5]
                           [--selector [--vote-count 300] [--n 8] [--temperature 0.7]] [--store S --promote] [--threads 2]
       skipserve apt report --round DIR [--round DIR ...]   (one markdown table row per round)
       skipserve apt round --store S --work DIR [--model promoted|DIR] [--base models/default] [mine/train/gate options]
  (round: mine, train, gate --promote, select, gate --selector --promote in DIR/round-<time>; --model promoted starts from what
   the replicas serve, the store's promoted model and selector (else --base's files), materialized under DIR: what a scheduled job runs)`;

type Values = Record<string, string | boolean | undefined>;

function str(v: Values, name: string): string {
  const x = v[name];
  if (typeof x !== 'string' || !x) throw new Error(`--${name} is required\n${USAGE}`);
  return x;
}

function num(v: Values, name: string, dflt: number, ok: (x: number) => boolean = (x) => x >= 0): number {
  const x = v[name];
  if (x === undefined) return dflt;
  const n = Number(x);
  if (!Number.isFinite(n) || !ok(n)) throw new Error(`--${name} must be a valid number, got '${x}'`);
  return n;
}

const readJsonl = <T>(path: string): T[] => readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
const writeJsonl = (path: string, rows: readonly unknown[]) => writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));

/** The name a round's candidate is registered, promoted or refused under: apt-<round>[-selector]. */
const versionName = (round: string, kind: VersionKind): string => `apt-${round.split('/').filter(Boolean).at(-1)}${kind === 'selector' ? '-selector' : ''}`;

/** Registers a round's candidate as a version with its files, so every replica can load it once promoted. */
async function register(storeUrl: string, kind: VersionKind, dir: string, round: string, report: unknown): Promise<void> {
  const store = await openStore(storeUrl);
  try {
    const name = versionName(round, kind);
    const { version } = await versionFromDir(kind, dir, { name });
    await store.versions.add({ ...version, report });
    process.stdout.write(`registered ${kind} version ${name} (candidate)\n`);
  } finally {
    await store.close();
  }
}

/** Mines the store's weakness cases and acquires fresh cases like them. */
async function mine(v: Values): Promise<void> {
  const round = str(v, 'round');
  mkdirSync(round, { recursive: true });
  const store = await openStore(str(v, 'store'), { queueSize: 100_000 });
  try {
    if (v.bootstrap !== undefined) await bootstrap(v, store);
    const limit = num(v, 'limit', 500, (x) => Number.isInteger(x) && x >= 1);
    const since = typeof v.since === 'string' ? Date.parse(v.since) : undefined;
    const [wrong, disagreeing] = await Promise.all([store.mine({ kind: 'wrong', limit, since }), store.mine({ kind: 'disagreement', limit: Math.ceil(limit / 4), since })]);
    const cases = weaknessCases(wrong, disagreeing);
    const groups = groupSizes(cases);
    const acquired = acquire(cases, num(v, 'per-case', 4, (x) => Number.isInteger(x) && x >= 1), num(v, 'seed', 1));
    writeFileSync(join(round, 'weakness.json'), JSON.stringify({ mined: { wrong: wrong.length, disagreement: disagreeing.length }, cases, groups }, null, 1));
    writeJsonl(join(round, 'acquired.jsonl'), acquired);
    process.stdout.write(`weakness set: ${cases.length} cases (${wrong.length} wrong, ${disagreeing.length} disagreeing records mined)\n`);
    for (const [g, n] of groups) process.stdout.write(`  ${String(n).padStart(5)}  ${g}\n`);
    const held = acquired.filter((a) => a.part === 'heldout').length;
    process.stdout.write(`acquired ${acquired.length} fresh cases (${acquired.length - held} train, ${held} held out) -> ${round}\n`);
  } finally {
    await store.close();
  }
}

/**
 * Fills the store as served traffic would: N fresh train-split problems (never test questions) of the
 * tier, asked best-of-N through the engine with their reference answers and problem tags.
 */
async function bootstrap(v: Values, store: RequestStore): Promise<void> {
  const count = num(v, 'bootstrap', 0, (x) => Number.isInteger(x) && x >= 1);
  const tier = (typeof v.tier === 'string' ? v.tier : 'mixed') as TierChoice;
  if (!TIERS.includes(tier)) throw new Error(`--tier must be one of ${TIERS.join(', ')}, got '${v.tier}'`);
  const seed = num(v, 'seed', 1);
  const problems = [...generateSplit({ split: 'train', seed: 7000 + seed, count, tier })];
  const policy = typeof v.policy === 'string' ? v.policy : 'none';
  const local = await openLocalEngine({ modelDir: str(v, 'model'), threads: num(v, 'threads', 2), maxBatch: 64, maxQueue: 100_000, measureSpeedup: false, store });
  try {
    await runProblems(local, problems, seed, { n: num(v, 'n', 8), temperature: num(v, 'temperature', 0.7), maxTokens: 360, skip: { policy } });
  } finally {
    await local.close();
  }
  await store.flush();
  process.stdout.write(`bootstrap: ${count} ${tier} problems served best-of-${num(v, 'n', 8)} (policy ${policy}) into the store\n`);
}

function pairLevel(v: Values): PairLevel {
  const level = typeof v['pair-level'] === 'string' ? v['pair-level'] : 'step';
  if (level !== 'step' && level !== 'solution') throw new Error(`--pair-level must be step or solution, got '${level}'`);
  return level;
}

/** Preference pairs from the acquired train part, DPO, export, parity; the candidate is registered. */
async function train(v: Values): Promise<void> {
  const round = str(v, 'round');
  const base = str(v, 'model');
  const threads = num(v, 'threads', 2, (x) => Number.isInteger(x) && x >= 1);
  const seed = num(v, 'seed', 1);
  const cases = readJsonl<AcquiredCase>(join(round, 'acquired.jsonl')).filter((c) => c.part === 'train');
  let pairs: { pairs: PreferencePair[] };
  if (existsSync(join(round, 'pairs.jsonl'))) {
    // A rerun (another DPO setting, or after an interruption) keeps the round's sampled pairs.
    pairs = { pairs: readJsonl<PreferencePair>(join(round, 'pairs.jsonl')) };
    process.stdout.write(`pairs: ${pairs.pairs.length}, kept from ${join(round, 'pairs.jsonl')} (delete it to sample again)\n`);
  } else {
    const local = await openLocalEngine({ modelDir: base, threads, maxBatch: 64, maxQueue: 100_000, measureSpeedup: false });
    let sampled;
    try {
      sampled = await preferencePairs(local, cases, { n: num(v, 'n', 8), temperature: num(v, 'temperature', 0.7), maxTokens: 360, seed, maxPerCase: num(v, 'pairs-per-case', 2), level: pairLevel(v) });
    } finally {
      await local.close();
    }
    pairs = sampled;
    writeJsonl(join(round, 'pairs.jsonl'), sampled.pairs);
    process.stdout.write(`pairs: ${sampled.pairs.length} from ${cases.length} cases (${sampled.wrong} of ${sampled.candidates} sampled candidates wrong)\n`);
  }
  // General problems of both tiers, fresh (train split, a seed of their own), so nothing is forgotten.
  const general = [...generateSplit({ split: 'train', seed: 9000 + seed, count: num(v, 'general', 3000), tier: 'mixed' })];
  writeJsonl(join(round, 'general.jsonl'), general.map((p) => ({ question: p.question, solution: p.solution })));
  const model = await trainCandidate(base, join(round, 'pairs.jsonl'), join(round, 'general.jsonl'), join(round, 'candidate'), {
    steps: num(v, 'dpo-steps', 150), beta: num(v, 'beta', 0.1), lr: num(v, 'lr', 4e-5), chosenNll: num(v, 'chosen-nll', 1), threads,
  }, (line) => (line.includes('"event": "train"') || line.includes('"done"') ? process.stderr.write(line + '\n') : undefined));
  // Both tiers when the context holds a hard problem and its solution; the standard tier otherwise.
  const context = (JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { max_position_embeddings: number }).max_position_embeddings;
  const parity = await checkParity(model, [...generateSplit({ split: 'test', seed: 1, count: 100, tier: context >= 1024 ? 'mixed' : 'standard' })], round, { threads, maxTokens: context >= 1024 ? 360 : 160 });
  process.stdout.write(`candidate ${model}: torch == onnxruntime greedy tokens on ${parity.identical}/${parity.total} test problems\n`);
  if (parity.identical < parity.total) throw new Error('parity check failed: the exported candidate does not match the trainer');
  if (typeof v.store === 'string') {
    await register(v.store, 'model', model, round, { round, pairs: pairs.pairs.length, parity });
  }
}

/**
 * Paired gate on the held-out weakness slice and the general test sets; optional promotion. A model
 * candidate is judged greedily on --count problems per tier; with --selector, the selector candidate
 * by the learned policy's vote on --vote-count problems per slice (best-of-N costs N times more).
 */
async function gate(v: Values): Promise<void> {
  const round = str(v, 'round');
  const baseline = str(v, 'baseline');
  const isSelector = v.selector === true;
  const count = isSelector ? num(v, 'vote-count', 300, (x) => Number.isInteger(x) && x >= 1) : num(v, 'count', 2000, (x) => Number.isInteger(x) && x >= 1);
  const heldout = readJsonl<AcquiredCase>(join(round, 'acquired.jsonl')).filter((c) => c.part === 'heldout');
  const test = (tier: 'standard' | 'hard'): Problem[] => [...generateSplit({ split: 'test', seed: 31, count, tier })];
  const slices: GateSlice[] = [
    { name: 'weakness (held out)', rule: 'rise', problems: isSelector ? heldout.slice(0, count) : heldout },
    { name: 'standard tier', rule: 'no-drop', problems: test('standard') },
    { name: 'hard tier', rule: 'no-drop', problems: test('hard') },
  ];
  const threads = num(v, 'threads', 2);
  const margin = num(v, 'margin', 0.5) / 100;
  const report: GateReport = isSelector
    ? await runSelectorGate(baseline, typeof v.candidate === 'string' ? v.candidate : join(round, 'selector-candidate'), slices, {
        margin, threads, maxTokens: 360, seed: 1, n: num(v, 'n', 8, (x) => Number.isInteger(x) && x >= 1), temperature: num(v, 'temperature', 0.7),
      })
    : await runGate(baseline, typeof v.candidate === 'string' ? v.candidate : join(round, 'candidate', 'model'), slices, { margin, threads, maxTokens: 360, seed: 1 });
  writeFileSync(join(round, isSelector ? 'selector-gate.json' : 'gate.json'), JSON.stringify(report, null, 1));
  const what = isSelector ? `learned maj@${num(v, 'n', 8)}` : 'greedy';
  for (const s of report.slices) {
    process.stdout.write(`${s.name.padEnd(22)} ${s.problems} problems, ${what}: ${formatProportion(s.baseline)} -> ${formatProportion(s.candidate)}, paired ${formatDiff(s.diff)} (${s.rule}) ${s.passed ? 'ok' : 'FAILED'}\n`);
  }
  if (isSelector) {
    const r = report as SelectorGateReport;
    process.stdout.write(`hard tier vanilla maj@${num(v, 'n', 8)} ${formatProportion(r.vanillaHard)}; learned - vanilla: serving selector ${formatDiff(r.minusVanilla.serving)}, candidate ${formatDiff(r.minusVanilla.candidate)}\n`);
  }
  process.stdout.write(report.promote ? 'gate: PROMOTE\n' : 'gate: REFUSE\n');
  if (v.promote && typeof v.store === 'string') {
    const kind = isSelector ? 'selector' : 'model';
    const store = await openStore(v.store);
    try {
      const name = versionName(round, kind);
      if (report.promote) await store.versions.promote(kind, name);
      else await store.versions.refuse(kind, name, report);
      process.stdout.write(`${report.promote ? 'promoted' : 'refused'} ${kind} version ${name}\n`);
    } finally {
      await store.close();
    }
  }
}

/** The selector's half of a round: plan pairs on the acquired cases, a new selector, registered. */
async function select(v: Values): Promise<void> {
  const round = str(v, 'round');
  const serving = str(v, 'model');
  const threads = num(v, 'threads', 2, (x) => Number.isInteger(x) && x >= 1);
  const seed = num(v, 'seed', 1);
  // One case per weakness first (the acquired cases come in runs of --per-case), so the pairs cover every group.
  const all = readJsonl<AcquiredCase>(join(round, 'acquired.jsonl')).filter((c) => c.part === 'train');
  const seen = new Set<string>();
  const firsts = all.filter((c) => !seen.has(c.from) && (seen.add(c.from), true));
  const cases = [...firsts, ...all.filter((c) => !firsts.includes(c))].slice(0, num(v, 'cases', 300, (x) => Number.isInteger(x) && x >= 1));
  const catalog = loadCatalog(routerPaths(serving).catalog);
  const local = await openLocalEngine({ modelDir: serving, threads, maxBatch: 64, maxQueue: 100_000, measureSpeedup: false });
  try {
    const selector = existsSync(routerPaths(serving).selector) ? await SelectorSession.load(routerPaths(serving).selector, catalog, local.info.hiddenSize) : null;
    let records;
    try {
      records = await planPairs(local, catalog, selector, cases, { top: num(v, 'top', 8), explore: num(v, 'explore', 8), maxTokens: 360, seed });
    } finally {
      await selector?.close();
    }
    writeJsonl(join(round, 'plan-pairs.jsonl'), records);
    const informative = records.filter((r) => r.pairs.length > 0).length;
    const tried = records.reduce((s, r) => s + r.plans.length, 0);
    const right = records.reduce((s, r) => s + r.correct.filter(Boolean).length, 0);
    process.stdout.write(`plan pairs: ${records.reduce((s, r) => s + r.pairs.length, 0)} on ${informative} of ${records.length} questions (some plans right, some wrong); ${right}/${tried} plan answers right\n`);
    const out = join(round, 'selector-candidate');
    const { report } = await trainSelectorCandidate(local, serving, records, out, {
      seed, epochs: num(v, 'epochs', 40, (x) => Number.isInteger(x) && x >= 1), hiddenDim: 64, embedDim: 32, learningRate: 3e-3, temperature: 0.1,
      loss: { infoNce: 1, pairwise: 1, pairwiseTemperature: 0.1 },
    });
    process.stdout.write(`selector candidate ${out}: ${report.trainQuestions} calibration questions${report.reembedded ? ' (embedded again by the serving model)' : ''} + ${report.pairQuestions} questions with ${report.pairs} plan pairs (${report.earlierPairQuestions} of them from earlier rounds); onnx == ts within ${report.onnxMaxAbsDiff.toExponential(1)}\n`);
  } finally {
    await local.close();
  }
  if (typeof v.store === 'string') {
    await register(v.store, 'selector', join(round, 'selector-candidate'), round, { round });
  }
}

/** What a round starts from: a directory, or (`--model promoted`) what the replicas serve. */
async function baselineDir(v: Values, cache: string): Promise<string> {
  const model = typeof v.model === 'string' ? v.model : 'promoted';
  if (model !== 'promoted') return model;
  const store = await openStore(str(v, 'store'));
  try {
    return await servingDir(store, typeof v.base === 'string' ? v.base : 'models/default', cache);
  } finally {
    await store.close();
  }
}

/** One whole round, as a scheduled job runs it: mine, train from the serving model, gate and promote. */
async function round(v: Values): Promise<void> {
  const work = str(v, 'work');
  const dir = join(work, `round-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const model = await baselineDir(v, join(work, 'versions'));
  process.stdout.write(`round ${dir} from ${model}\n`);
  await mine({ ...v, round: dir });
  await train({ ...v, round: dir, model });
  await gate({ ...v, round: dir, baseline: model, promote: true });
  // The selector's half runs on the model that serves after the model's gate.
  const promoted = JSON.parse(readFileSync(join(dir, 'gate.json'), 'utf8')) as GateReport;
  const serving = promoted.promote ? join(dir, 'candidate', 'model') : model;
  await select({ ...v, round: dir, model: serving });
  await gate({ ...v, round: dir, baseline: serving, candidate: undefined, selector: true, promote: true });
}

/** Dispatches `apt <sub>`. */
export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const options: Record<string, { type: 'string' | 'boolean' }> = { promote: { type: 'boolean' }, selector: { type: 'boolean' } };
  for (const k of ['pair-level', 'chosen-nll', 'policy', 'cases', 'top', 'explore', 'epochs', 'vote-count', 'work', 'base', 'bootstrap', 'tier', 'store', 'round', 'limit', 'per-case', 'since', 'seed', 'model', 'n', 'temperature', 'pairs-per-case', 'general', 'dpo-steps', 'beta', 'lr', 'threads', 'baseline', 'candidate', 'count', 'margin']) options[k] = { type: 'string' };
  const values = parseArgs({ args: rest, options, strict: true }).values as Values;
  if (sub === 'mine') return mine(values);
  if (sub === 'train') return train(values);
  if (sub === 'report') {
    const rounds = parseArgs({ args: rest, options: { round: { type: 'string', multiple: true } }, strict: true }).values.round ?? [];
    if (!rounds.length) throw new Error(`--round is required\n${USAGE}`);
    process.stdout.write(reportTable(rounds));
    return;
  }
  if (sub === 'select') return select(values);
  if (sub === 'gate') return gate(values);
  if (sub === 'round') return round(values);
  process.stdout.write(USAGE + '\n');
  if (sub && sub !== '--help' && sub !== '-h') throw new Error(`unknown subcommand '${sub}'`);
}
