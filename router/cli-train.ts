/**
 * `skipserve router train`: trains the selector on calibration records (InfoNCE and/or pairwise
 * Bradley-Terry; embedding with or without the prompt's text features; one member or an ensemble),
 * exports models/<model>/selector.onnx and checks onnxruntime's scores against the TypeScript ones.
 * `--compare` trains the variants side by side on the same split and prints their validation
 * figures instead (nothing is written but selector-compare.json).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadCatalog } from '../src/router/catalog.ts';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { readRecords } from './calibrate.ts';
import { intList, isInt, modelDirFlag, numFlag } from '../src/cli/args.ts';
import { ProgressBar } from '../src/cli/progress.ts';
import { evaluateMembers, evaluateScores, fitSelector, planShares, splitRecords, trainMembers, type FitOptions, type FitReport } from './selector/fit.ts';
import { formatDiff, formatProportion } from '../src/util/intervals.ts';
import { crossValidate } from './selector/cross-validate.ts';

export const TRAIN_USAGE = `usage: skipserve router train [--model DIR] [--seed S] [--epochs N] [--hidden N] [--embed N]
  [--lr X] [--temperature T] [--threshold X] [--validation X]
  [--infonce W] [--pairwise W] [--pairwise-temperature T] [--features | --no-features] [--ensemble K] [--plan-prior] [--ns 4,8,16] [--compare]
  [--plan-prior]         a learned prior per plan beside the cosine (what holds of a plan on every question)
  [--cross-validate K]   K-fold: every question held out once; the selector's plan sets against static and random ones (selector-crossval.json)`;

/** One line per N of the offline vote figures. */
function voteLines(report: Pick<FitReport, 'votes'>): string {
  return report.votes
    .map(
      (v) =>
        `  N=${v.n}: maj selector ${formatProportion(v.selector)}, static ${formatProportion(v.static)}, random ${formatProportion(v.random)}; ` +
        `selector - static ${formatDiff(v.minusStatic)}, selector - random ${formatDiff(v.minusRandom)}; pass@N selector ${formatProportion(v.selectorPass)}\n`,
    )
    .join('');
}

/** Runs selector training (or the comparison of variants). */
export async function runTrain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, seed: { type: 'string' }, epochs: { type: 'string' }, hidden: { type: 'string' }, embed: { type: 'string' },
      lr: { type: 'string' }, temperature: { type: 'string' }, threshold: { type: 'string' }, validation: { type: 'string' },
      infonce: { type: 'string' }, pairwise: { type: 'string' }, 'pairwise-temperature': { type: 'string' }, features: { type: 'boolean' },
      'no-features': { type: 'boolean' }, ensemble: { type: 'string' }, ns: { type: 'string' }, compare: { type: 'boolean' },
      'cross-validate': { type: 'string' }, 'plan-prior': { type: 'boolean' },
    },
    strict: true,
  });
  const modelDir = modelDirFlag(values.model, TRAIN_USAGE);
  const paths = routerPaths(modelDir);
  if (!existsSync(paths.records) || !existsSync(paths.catalog)) throw new Error(`${paths.records} not found: run 'skipserve router calibrate' first`);
  const { header, records } = readRecords(paths.records);
  if (!header) throw new Error(`${paths.records} has no header line`);
  const catalog = loadCatalog(paths.catalog);
  if (catalog.entries.length !== header.catalog.length) throw new Error(`${paths.catalog} has ${catalog.entries.length} plans but the records were made with ${header.catalog.length}`);
  const pos = (v: number): boolean => isInt(v) && v >= 1;
  const nonneg = (v: number): boolean => v >= 0 && v <= 100;
  const epochs = numFlag('epochs', values.epochs, 40, pos, 'an integer >= 1');
  if (values.features && values['no-features']) throw new Error('give --features or --no-features, not both');
  const temperature = numFlag('temperature', values.temperature, 0.1, (v) => v > 0 && v <= 10, 'a number in (0, 10]');
  const opts: FitOptions = {
    seed: numFlag('seed', values.seed, 1, (v) => isInt(v) && v >= 0, 'an integer >= 0'),
    epochs,
    hiddenDim: numFlag('hidden', values.hidden, 64, pos, 'an integer >= 1'),
    embedDim: numFlag('embed', values.embed, 32, pos, 'an integer >= 1'),
    learningRate: numFlag('lr', values.lr, 3e-3, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    temperature,
    positiveThreshold: numFlag('threshold', values.threshold, 0.5, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    validationShare: numFlag('validation', values.validation, 0.15, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    loss: {
      infoNce: numFlag('infonce', values.infonce, 1, nonneg, 'a number in [0, 100]'),
      pairwise: numFlag('pairwise', values.pairwise, 1, nonneg, 'a number in [0, 100]'),
      pairwiseTemperature: numFlag('pairwise-temperature', values['pairwise-temperature'], temperature, (v) => v > 0 && v <= 10, 'a number in (0, 10]'),
    },
    features: values.features ? true : values['no-features'] ? false : undefined,
    ensemble: numFlag('ensemble', values.ensemble, 1, (v) => isInt(v) && v >= 1 && v <= 16, 'an integer from 1 to 16'),
    ns: intList('ns', values.ns, [4, 8, 16]),
    planBias: values['plan-prior'] ?? false,
  };
  if ((opts.loss!.infoNce ?? 0) + (opts.loss!.pairwise ?? 0) <= 0) throw new Error('--infonce and --pairwise cannot both be 0');
  const samples = header.config.samplesPerPlan;
  const pct = (x: number): string => (100 * x).toFixed(1) + '%';
  if (values.compare) return compare(records, catalog, samples, opts, `${paths.dir}/selector-compare.json`);
  if (values['cross-validate'] !== undefined) {
    const folds = numFlag('cross-validate', values['cross-validate'], 5, (v) => isInt(v) && v >= 2 && v <= 20, 'an integer from 2 to 20');
    const bar = new ProgressBar('folds', folds);
    const cv = crossValidate(records, catalog.entries.length, samples, opts, folds, () => bar.tick(1));
    const out = `${paths.dir}/selector-crossval.json`;
    writeJsonAtomic(out, { ...cv, loss: opts.loss, features: opts.features ?? null, ensemble: opts.ensemble, planPrior: opts.planBias, createdAt: new Date().toISOString() });
    process.stdout.write(
      `${cv.folds}-fold cross-validation, ${cv.questions} questions, maj@${cv.n} over the recorded answers (paired):\n` +
        cv.figures.map((f) => `  ${f.choice.padEnd(52)} ${(100 * f.maj).toFixed(1)}%  - random ${formatDiff(f.minusRandom)}; - selector ${formatDiff(f.minusSelector)}\n`).join('') +
        `wrote ${out}\n`,
    );
    return;
  }

  const bar = new ProgressBar('train', epochs * opts.ensemble!);
  const started = Date.now();
  const { report } = await fitSelector(records, catalog, samples, paths.selector, { ...opts, onEpoch: (_e, loss) => bar.tick(1, `loss ${loss.toFixed(4)}`) });
  const seconds = (Date.now() - started) / 1000;
  writeJsonAtomic(`${paths.dir}/selector-report.json`, { ...report, seconds, epochs, loss: opts.loss, planPrior: opts.planBias, createdAt: new Date().toISOString() });
  process.stdout.write(
    `wrote ${paths.selector} (${seconds.toFixed(1)} s; ${report.trainQuestions} train / ${report.validationQuestions} validation questions, ` +
      `${report.informativeTrain} / ${report.informativeValidation} informative; ${report.features ? 'embedding + text features' : 'embedding only'}, ${report.ensemble} member(s))\n` +
      `validation, mean correct share of the 8 chosen plans: selector ${pct(report.selectorTopN)}, best static 8 ${pct(report.staticTopN)}, all plans ${pct(report.allPlans)}\n` +
      (report.votes.length ? `validation, offline best-of-N over the recorded answers (95% intervals):\n${voteLines(report)}` : '') +
      `onnx vs TypeScript scores: max |diff| ${report.onnxMaxAbsDiff.toExponential(2)}\n`,
  );
}

/** Trains the variants on one split and prints their validation figures side by side. */
async function compare(records: Parameters<typeof splitRecords>[0], catalog: ReturnType<typeof loadCatalog>, samples: number, opts: FitOptions, out: string): Promise<void> {
  const { train, val } = splitRecords(records, opts.seed, opts.validationShare ?? 0.15);
  const hasText = train.every((r) => r.prompt !== undefined);
  const variants: { name: string; o: Partial<FitOptions> }[] = [
    { name: 'InfoNCE, embedding', o: { loss: { infoNce: 1, pairwise: 0 }, features: false } },
    { name: 'Bradley-Terry, embedding', o: { loss: { infoNce: 0, pairwise: 1 }, features: false } },
    { name: 'InfoNCE + BT, embedding', o: { loss: { infoNce: 1, pairwise: 1 }, features: false } },
    ...(hasText
      ? [
          { name: 'InfoNCE, + text features', o: { loss: { infoNce: 1, pairwise: 0 }, features: true } },
          { name: 'InfoNCE + BT, + text features', o: { loss: { infoNce: 1, pairwise: 1 }, features: true } },
          { name: 'InfoNCE + BT, + text features, ensemble 5', o: { loss: { infoNce: 1, pairwise: 1 }, features: true, ensemble: 5 } },
        ]
      : []),
  ];
  const results: unknown[] = [];
  process.stdout.write(`${train.length} train / ${val.length} validation questions\n`);
  for (const v of variants) {
    const o: FitOptions = { ...opts, ...v.o, loss: { ...opts.loss, ...v.o.loss }, onEpoch: undefined };
    const t0 = Date.now();
    const { members, features } = trainMembers(train, catalog.entries.length, samples, o);
    const figures = evaluateMembers(members, features, train, val, catalog, samples, o);
    results.push({ variant: v.name, seconds: (Date.now() - t0) / 1000, ...figures });
    process.stdout.write(`${v.name}: top-8 correct share ${(100 * figures.selectorTopN).toFixed(1)}% (static ${(100 * figures.staticTopN).toFixed(1)}%, all ${(100 * figures.allPlans).toFixed(1)}%)\n${voteLines(figures)}`);
  }
  // Per-kind catalogs: no model, each problem kind gets the plans best on average over its training questions.
  if (train.every((r) => r.kind !== undefined)) {
    const m = catalog.entries.length;
    const byKind = new Map<string, number[]>();
    for (const kind of new Set(train.map((r) => r.kind!))) byKind.set(kind, planShares(train.filter((r) => r.kind === kind), m, samples));
    const overall = planShares(train, m, samples);
    const t0 = Date.now();
    const figures = evaluateScores((r) => byKind.get(r.kind!) ?? overall, train, val, catalog, samples, opts);
    const name = `best static plans per problem kind (${byKind.size} kinds, no model)`;
    results.push({ variant: name, seconds: (Date.now() - t0) / 1000, ...figures });
    process.stdout.write(`${name}: top-8 correct share ${(100 * figures.selectorTopN).toFixed(1)}% (static ${(100 * figures.staticTopN).toFixed(1)}%, all ${(100 * figures.allPlans).toFixed(1)}%)\n${voteLines(figures)}`);
  }
  writeJsonAtomic(out, { train: train.length, validation: val.length, results, createdAt: new Date().toISOString() });
  process.stdout.write(`wrote ${out}\n`);
}
