/**
 * `skipserve router ensemble`: writes the model's router/ensemble.json (the `ensemble` policy's
 * plans) from calibration records of a catalog whose every plan answered every question, such as
 * the sub-network catalog of models/train/cards/router-sub-networks-catalog.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isInt, modelDirFlag, numFlag } from '../src/cli/args.ts';
import { loadCatalog } from '../src/router/catalog.ts';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { modelFingerprint } from '../src/router/model-fingerprint.ts';
import { readRecords } from './calibrate.ts';
import { buildEnsemble } from './ensemble-build.ts';

export const ENSEMBLE_USAGE = `usage: skipserve router ensemble [--model DIR] [--records FILE] [--catalog FILE] [--size N]
  writes DIR/router/ensemble.json: the N (default 16) plans of the catalog right most often on their own over the
  calibration records (default: the model's router/calibration-records.jsonl and router/catalog.json)`;

/** Builds and writes the ensemble file; prints its plans. */
export async function runEnsemble(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, records: { type: 'string' }, catalog: { type: 'string' }, size: { type: 'string' } }, strict: true });
  const modelDir = modelDirFlag(values.model, ENSEMBLE_USAGE);
  const paths = routerPaths(modelDir);
  const recordsPath = values.records ?? paths.records;
  const catalogPath = values.catalog ?? paths.catalog;
  for (const [flag, p] of [['records', recordsPath], ['catalog', catalogPath]] as const) if (!existsSync(p)) throw new Error(`--${flag} ${p}: not found`);
  const size = numFlag('size', values.size, 16, (v) => isInt(v) && v >= 1, 'an integer >= 1');
  const { header, records } = readRecords(recordsPath);
  if (!header) throw new Error(`--records ${recordsPath}: no header line`);
  const weights = modelFingerprint(modelDir);
  if (header.model.weights !== weights) throw new Error(`--records ${recordsPath} was measured on weights ${header.model.weights}, ${modelDir} has ${weights}`);
  const file = buildEnsemble(records, loadCatalog(catalogPath), { catalogIds: header.catalog, samplesPerPlan: header.config.samplesPerPlan, temperature: header.config.temperature, weights, recordsPath, catalogPath }, size);
  writeJsonAtomic(paths.ensemble, file);
  process.stdout.write(`${paths.ensemble}: ${file.chosenBy}\n`);
  file.plans.forEach((p, i) => process.stdout.write(`  ${String(i).padStart(2)}  ${(100 * p.accuracy).toFixed(1)}%  ${p.id}\n`));
}
