/**
 * `skipserve router train`: trains the selector on calibration records with InfoNCE, exports
 * models/<model>/selector.onnx and checks onnxruntime's scores against the TypeScript ones.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadCatalog } from '../src/router/catalog.ts';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { readRecords } from './calibrate.ts';
import { isInt, modelDirFlag, numFlag } from '../src/cli/args.ts';
import { ProgressBar } from '../src/cli/progress.ts';
import { fitSelector } from './selector/fit.ts';

export const TRAIN_USAGE = `usage: skipserve router train [--model DIR] [--seed S] [--epochs N] [--hidden N] [--embed N]
  [--lr X] [--temperature T] [--threshold X] [--validation X]`;

/** Runs selector training. */
export async function runTrain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, seed: { type: 'string' }, epochs: { type: 'string' }, hidden: { type: 'string' }, embed: { type: 'string' },
      lr: { type: 'string' }, temperature: { type: 'string' }, threshold: { type: 'string' }, validation: { type: 'string' },
    },
    strict: true,
  });
  const modelDir = modelDirFlag(values.model, TRAIN_USAGE);
  const paths = routerPaths(modelDir);
  if (!existsSync(paths.records) || !existsSync(paths.catalog)) throw new Error(`${paths.records} not found: run 'skipserve router calibrate' first`);
  const { header, records } = readRecords(paths.records);
  if (!header) throw new Error(`${paths.records} has no header line`);
  const catalog = loadCatalog(paths.catalog);
  const pos = (v: number): boolean => isInt(v) && v >= 1;
  const epochs = numFlag('epochs', values.epochs, 40, pos, 'an integer >= 1');
  const bar = new ProgressBar('train', epochs);
  const started = Date.now();
  const { report } = await fitSelector(records, catalog, header.config.samplesPerPlan, paths.selector, {
    seed: numFlag('seed', values.seed, 1, (v) => isInt(v) && v >= 0, 'an integer >= 0'),
    epochs,
    hiddenDim: numFlag('hidden', values.hidden, 64, pos, 'an integer >= 1'),
    embedDim: numFlag('embed', values.embed, 32, pos, 'an integer >= 1'),
    learningRate: numFlag('lr', values.lr, 3e-3, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    temperature: numFlag('temperature', values.temperature, 0.1, (v) => v > 0 && v <= 10, 'a number in (0, 10]'),
    positiveThreshold: numFlag('threshold', values.threshold, 0.5, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    validationShare: numFlag('validation', values.validation, 0.15, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    onEpoch: (_e, loss) => bar.tick(1, `loss ${loss.toFixed(4)}`),
  });
  const seconds = (Date.now() - started) / 1000;
  writeJsonAtomic(`${paths.dir}/selector-report.json`, { ...report, seconds, epochs, createdAt: new Date().toISOString() });
  const pct = (x: number): string => (100 * x).toFixed(1) + '%';
  process.stdout.write(
    `wrote ${paths.selector} (${seconds.toFixed(1)} s; ${report.trainQuestions} train / ${report.validationQuestions} validation questions, ${report.informativeTrain} informative)\n` +
      `validation, mean correct share of the 8 chosen plans: selector ${pct(report.selectorTopN)}, best static 8 ${pct(report.staticTopN)}, all plans ${pct(report.allPlans)}\n` +
      `onnx vs TypeScript scores: max |diff| ${report.onnxMaxAbsDiff.toExponential(2)}\n`,
  );
}
