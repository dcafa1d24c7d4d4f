/**
 * `skipserve router calibrate`: catalog + per-prompt calibration (resumable) + aggregation +
 * the latency-budget greedy path on this machine's latency profile -> calibration.json.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { loadOrMeasureProfile, profileShape } from '../src/plans/latency-profile.ts';
import { loadCatalog } from '../src/router/catalog.ts';
import { buildCatalog, buildCoresCatalog, saveCatalog } from './catalog-build.ts';
import { aggregateRecords, informativeCount, measureLatencyBudgetPath } from './calibration-aggregate.ts';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';
import { calibratePrompts, type CalibrateConfig } from './calibrate.ts';
import { isInt, modelDirFlag, numFlag } from '../src/cli/args.ts';
import { generatedProblems, readPromptsFile, tierFlag } from './problems.ts';
import { formatDuration, ProgressBar } from '../src/cli/progress.ts';

export const CALIBRATE_USAGE = `usage: skipserve router calibrate [--model DIR] [--prompts FILE.jsonl | --count N] [--seed S]
  [--samples S] [--full-samples S] [--temperature T] [--top-p P] [--max-tokens N]
  [--importance-prompts N] [--greedy-prompts N] [--max-speedup X] [--tier standard|hard|mixed] [--threads N] [--fresh]
  [--catalog sublayers|heads|cores] [--cores N] [--core-frac F[,F...]] [--max-batch N] [--request-rows N] [--in-flight N] [--decode-every-plan]
  labels: --temperature 0 (default) = one greedy answer per plan; T > 0 = --samples answers per plan
  whose seeds every plan shares (paired). Greedy labels decode only the plans that leave the full
  model's answer (a teacher-forced pass checks the others); --decode-every-plan decodes them all.
  Resumable: rerun the same command to continue.`;

/** Runs calibration. */
export async function runCalibrate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, prompts: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' },
      samples: { type: 'string' }, 'full-samples': { type: 'string' }, temperature: { type: 'string' }, 'top-p': { type: 'string' },
      'max-tokens': { type: 'string' }, 'importance-prompts': { type: 'string' }, 'greedy-prompts': { type: 'string' },
      'max-speedup': { type: 'string' }, threads: { type: 'string' }, fresh: { type: 'boolean' }, tier: { type: 'string' },
      catalog: { type: 'string' }, cores: { type: 'string' }, 'core-frac': { type: 'string' }, 'max-batch': { type: 'string' }, 'request-rows': { type: 'string' }, 'in-flight': { type: 'string' },
      'decode-every-plan': { type: 'boolean' },
    },
    strict: true,
  });
  const modelDir = modelDirFlag(values.model, CALIBRATE_USAGE);
  const pos = (v: number): boolean => isInt(v) && v >= 1;
  const nonneg = (v: number): boolean => isInt(v) && v >= 0;
  const count = numFlag('count', values.count, 200, pos, 'an integer >= 1');
  const cfg: CalibrateConfig = {
    seed: numFlag('seed', values.seed, 1, nonneg, 'an integer >= 0'),
    samplesPerPlan: numFlag('samples', values.samples, 1, nonneg, 'an integer >= 0'),
    fullSamples: numFlag('full-samples', values['full-samples'], 1, nonneg, 'an integer >= 0'),
    temperature: numFlag('temperature', values.temperature, 0, (v) => v >= 0 && v <= 5, 'a number in [0, 5]'),
    topP: numFlag('top-p', values['top-p'], 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    maxTokens: numFlag('max-tokens', values['max-tokens'], 96, pos, 'an integer >= 1'),
    // calibration.json's importance table (head-importance, expert-profile and the latency-budget
    // path read it) needs at least one prompt measured: refuse 0 before hours of labels, not after.
    importancePrompts: numFlag('importance-prompts', values['importance-prompts'], 48, pos, 'an integer >= 1 (calibration.json needs an importance table)'),
    requestRows: numFlag('request-rows', values['request-rows'], 16, pos, 'an integer >= 1'),
  };
  const maxBatch = numFlag('max-batch', values['max-batch'], 64, pos, 'an integer >= 1');
  const inFlight = numFlag('in-flight', values['in-flight'], 4, pos, 'an integer >= 1');
  const catalogKind = values.catalog ?? 'sublayers';
  if (catalogKind !== 'sublayers' && catalogKind !== 'heads' && catalogKind !== 'cores') throw new Error(`--catalog must be sublayers, heads or cores, got '${catalogKind}'`);
  const coreCount = numFlag('cores', values.cores, 32, pos, 'an integer >= 1');
  const coreFracs = (values['core-frac'] ?? '0.2').split(',').map((s) => numFlag('core-frac', s.trim(), 0.2, (v) => v > 0 && v < 1, 'numbers in (0, 1), comma-separated'));
  const greedyPrompts = numFlag('greedy-prompts', values['greedy-prompts'], 12, pos, 'an integer >= 1');
  const maxSpeedup = numFlag('max-speedup', values['max-speedup'], 2, (v) => v > 1 && v <= 8, 'a number in (1, 8]');
  const threads = numFlag('threads', values.threads, 2, pos, 'an integer >= 1');
  const prompts = values.prompts ? readPromptsFile(values.prompts, count) : generatedProblems('train', cfg.seed, count, tierFlag(values.tier));
  const paths = routerPaths(modelDir);
  if (values.fresh) rmSync(paths.records, { force: true });

  const started = Date.now();
  const local = await openLocalEngine({ modelDir, threads, maxBatch, maxQueue: 100_000, measureSpeedup: false });
  try {
    const runner = local.runner;
    const info = local.info;
    const heads = catalogKind === 'heads' ? { sublayers: false, full: false } : {};
    let catalog = catalogKind === 'cores' ? buildCoresCatalog(info, coreCount, coreFracs, cfg.seed) : buildCatalog(info.numLayers, info.numHeads, { seed: cfg.seed, ...heads });
    if (existsSync(paths.catalog) && existsSync(paths.records) && !values.fresh) catalog = loadCatalog(paths.catalog);
    saveCatalog(paths.catalog, catalog);
    const labels = cfg.temperature > 0 ? `${cfg.samplesPerPlan} paired sample(s) per plan at T ${cfg.temperature}` : 'one greedy answer per plan';
    process.stderr.write(`calibrating ${info.id}: ${prompts.length} prompts, catalog of ${catalog.entries.length} plans, ${labels}, importance on ${Math.min(cfg.importancePrompts, prompts.length)} prompts\n`);
    let bar: ProgressBar | null = null;
    const t0 = Date.now();
    let before = 0;
    let informative = 0;
    let decoded = 0;
    let checked = 0;
    const records = await calibratePrompts(local, catalog, prompts, cfg, paths.records, {
      onStart: (done, total) => {
        before = done;
        bar = new ProgressBar('calibrate', total, done);
        if (done) process.stderr.write(`resuming: ${done} of ${total} prompts already calibrated\n`);
      },
      onPrompt: (r) => {
        informative += informativeCount([r], cfg.samplesPerPlan);
        if (r.decoded !== undefined) {
          decoded += r.decoded;
          checked += catalog.entries.length + (cfg.fullSamples > 0 ? 1 : 0);
        }
        const share = checked ? `, ${((100 * decoded) / checked).toFixed(0)}% of plans decoded` : '';
        bar!.tick(1, `${informative} informative this run${share}`);
      },
    }, inFlight, { decodeAll: values['decode-every-plan'] ?? false });
    const runSeconds = (Date.now() - t0) / 1000;
    const promptSeconds = records.reduce((s, r) => s + r.seconds, 0);
    const result = { ...aggregateRecords(records, catalog, cfg, info, promptSeconds), weights: modelFingerprint(info.dir) };
    const fresh = records.length - before;
    const perQuestion = fresh > 0 ? runSeconds / fresh : null;
    const share = result.informative! / Math.max(1, records.filter((r) => r.correct).length);
    process.stderr.write(
      `per-prompt pass: ${formatDuration(runSeconds)} this run for ${fresh} prompts` +
        (perQuestion === null ? '' : ` (${perQuestion.toFixed(1)} s wall per question)`) +
        `; ${result.informative} of ${records.length} questions informative (${(100 * share).toFixed(1)}%)` +
        (perQuestion !== null && share > 0 ? `; 1,000 informative need about ${Math.ceil(1000 / share)} questions, ${formatDuration((1000 / share) * perQuestion)} at this rate` : '') +
        '\n',
    );

    const { profile, path: profilePath, cached } = await loadOrMeasureProfile(runner, { threads, cacheDir: join(modelDir, 'router') });
    process.stderr.write(`latency profile ${cached ? 'read from' : 'measured into'} ${profilePath}\n`);
    const shape = profileShape(profile, 8, 128);
    const table = { denseMs: shape.denseMs, switchedMs: shape.switchedMs, attentionMs: shape.attentionMs, mlpMs: shape.mlpMs };
    const g0 = Date.now();
    const withRef = prompts.filter((p) => p.reference).slice(0, greedyPrompts);
    result.latencyBudget = await measureLatencyBudgetPath(local, withRef, table, { batch: shape.batch, context: shape.context }, maxSpeedup, (core) =>
      process.stderr.write(`latency-budget: scoring the remaining sublayers on top of [${core.join(', ')}]\n`),
    );
    result.seconds.greedy = (Date.now() - g0) / 1000;
    writeJsonAtomic(paths.calibration, result);
    const picks = result.latencyBudget.picks.map((p) => `${p.sublayer.kind}.${p.sublayer.layer}→${p.speedupAfter.toFixed(2)}x`).join(', ');
    process.stdout.write(
      `wrote ${paths.calibration} (${records.length} prompts, ${result.informative} informative; full-model accuracy ${result.fullAccuracy === null ? 'n/a' : (100 * result.fullAccuracy).toFixed(1) + '%'})\n` +
        `latency-budget path: ${picks}\n` +
        `total ${formatDuration((Date.now() - started) / 1000)}\n`,
    );
  } finally {
    await local.close();
  }
}
