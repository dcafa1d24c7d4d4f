/**
 * `skipserve profile [--model DIR] [--threads N] [--batches 1,8] [--contexts 32,128,256]
 * [--steps N] [--repeats N] [--cache-dir DIR] [--remeasure] [--json]`: measures (or reads from the
 * cache) the decode-step latency of every attention and MLP sublayer on this machine and prints it.
 * The profile is cached in --cache-dir (default: the model's router/ folder, where calibration keeps it).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadRunner } from '../model/runner.ts';
import { loadOrMeasureProfile } from '../plans/latency-profile.ts';
import { intList, isInt, modelDirFlag, numFlag } from './args.ts';
import { ProgressBar } from './progress.ts';

const USAGE = 'usage: skipserve profile [--model DIR] [--threads N] [--batches 1,8] [--contexts 32,128,256] [--steps N] [--repeats N] [--cache-dir DIR] [--remeasure] [--json]';

/** Runs the command. */
export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      threads: { type: 'string' },
      batches: { type: 'string' },
      contexts: { type: 'string' },
      steps: { type: 'string' },
      repeats: { type: 'string' },
      'cache-dir': { type: 'string' },
      remeasure: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const modelDir = modelDirFlag(values.model, USAGE);
  const threads = numFlag('threads', values.threads, 2, (v) => isInt(v) && v >= 1, 'an integer >= 1');
  const runner = await loadRunner({ modelDir, threads });
  try {
    let bar: ProgressBar | null = null;
    const { profile, path, cached } = await loadOrMeasureProfile(runner, {
      threads,
      cacheDir: values['cache-dir'] ?? join(modelDir, 'router'),
      batches: intList('batches', values.batches, [1, 8]),
      contexts: intList('contexts', values.contexts, [32, 128, 256]),
      steps: numFlag('steps', values.steps, 8, (v) => isInt(v) && v >= 1, 'an integer >= 1'),
      repeats: numFlag('repeats', values.repeats, 4, (v) => isInt(v) && v >= 1, 'an integer >= 1'),
      remeasure: values.remeasure,
      onProgress: (done, total) => (bar ??= new ProgressBar('profile', total)).tick(1, `(${done}/${total})`),
    });
    if (values.json) {
      process.stdout.write(JSON.stringify({ path, cached, profile }, null, 1) + '\n');
      return;
    }
    process.stdout.write(`${cached ? 'cached' : 'measured'} profile: ${path}\nmachine: ${profile.machine}\n`);
    for (const s of profile.shapes) {
      const f = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(' ');
      process.stdout.write(`batch ${s.batch} context ${s.context}: dense ${s.denseMs.toFixed(3)} ms, switched graph ${s.switchedMs.toFixed(3)} ms, all skipped ${s.baseMs.toFixed(3)} ms\n  attention ms: ${f(s.attentionMs)}\n  mlp ms:       ${f(s.mlpMs)}\n`);
    }
  } finally {
    await runner.close();
  }
}
