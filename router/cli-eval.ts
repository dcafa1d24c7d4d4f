/**
 * `skipserve router eval`: every policy on held-out problems at N in {1, 4, 8}; writes
 * eval.md (table), eval.svg (maj@N against measured speedup) and eval.json under the model's
 * router directory.
 */
import { writeFileSync } from 'node:fs';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { intList, isInt, modelDirFlag, numFlag } from '../src/cli/args.ts';
import { evalPlot, evalTable } from './eval-report.ts';
import { runEval, type EvalConfig } from './eval.ts';
import { generatedProblems, readPromptsFile, tierFlag } from './problems.ts';
import { formatDuration, ProgressBar } from '../src/cli/progress.ts';

export const EVAL_USAGE = `usage: skipserve router eval [--model DIR] [--prompts FILE.jsonl | --count N] [--seed S] [--ns 1,4,8]
  [--temperature T] [--top-p P] [--max-tokens N] [--k K] [--policies a,b,...] [--speed-repeats N] [--tier standard|hard|mixed] [--threads N] [--note TEXT]`;

const ALL = ['greedy', 'vanilla', 'random-heads', 'random-heads-greedy', 'head-importance', 'latency-budget-1.25', 'latency-budget-1.5', 'expert-profile', 'learned', 'learned-greedy'];

/** Runs the evaluation. */
export async function runEvalCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, prompts: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' }, ns: { type: 'string' },
      temperature: { type: 'string' }, 'top-p': { type: 'string' }, 'max-tokens': { type: 'string' }, k: { type: 'string' },
      policies: { type: 'string' }, 'speed-repeats': { type: 'string' }, threads: { type: 'string' }, note: { type: 'string' }, tier: { type: 'string' },
    },
    strict: true,
  });
  const modelDir = modelDirFlag(values.model, EVAL_USAGE);
  const pos = (v: number): boolean => isInt(v) && v >= 1;
  const seed = numFlag('seed', values.seed, 7, (v) => isInt(v) && v >= 0, 'an integer >= 0');
  const count = numFlag('count', values.count, 200, pos, 'an integer >= 1');
  const ns = intList('ns', values.ns, [1, 4, 8]);
  const k = numFlag('k', values.k, 1, pos, 'an integer >= 1');
  const temperature = numFlag('temperature', values.temperature, 0.7, (v) => v >= 0 && v <= 5, 'a number in [0, 5]');
  const wanted = values.policies ? values.policies.split(',').map((s) => s.trim()) : ALL;
  for (const w of wanted) if (!ALL.includes(w)) throw new Error(`--policies: '${w}' is not one of ${ALL.join(', ')}`);
  const threads = numFlag('threads', values.threads, 2, pos, 'an integer >= 1');
  const problems = values.prompts ? readPromptsFile(values.prompts, count) : generatedProblems('test', seed, count, tierFlag(values.tier));
  const local = await openLocalEngine({ modelDir, threads, maxBatch: 64, maxQueue: 100_000, defaults: { k }, profileCacheDir: join(modelDir, 'router'), measureSpeedup: false });
  const started = Date.now();
  try {
    const candidates: Record<string, EvalConfig> = {
      greedy: { label: 'greedy', skip: { policy: 'none' }, ns: [1], temperature: 0 },
      vanilla: { label: 'vanilla', skip: { policy: 'none' }, ns },
      'random-heads': { label: `random-heads k=${k}`, skip: { policy: 'random-heads', k }, ns },
      // Head masks as the only source of diversity: every candidate decodes greedily under its own plan
      // (a request with temperature 0 and n > 1), the structured-pruning best-of-N setting.
      'random-heads-greedy': { label: `random-heads k=${k} greedy`, skip: { policy: 'random-heads', k }, ns, temperature: 0 },
      'head-importance': { label: `head-importance k=${k}`, skip: { policy: 'head-importance', k }, ns },
      'latency-budget-1.25': { label: 'latency-budget 1.25x', skip: { policy: 'latency-budget', targetSpeedup: 1.25 }, ns },
      'latency-budget-1.5': { label: 'latency-budget 1.5x', skip: { policy: 'latency-budget', targetSpeedup: 1.5 }, ns },
      'expert-profile': { label: 'expert-profile 1.25x', skip: { policy: 'expert-profile', targetSpeedup: 1.25 }, ns },
      learned: { label: 'learned', skip: { policy: 'learned' }, ns },
      'learned-greedy': { label: 'learned greedy', skip: { policy: 'learned' }, ns, temperature: 0 },
    };
    const configs: EvalConfig[] = [];
    for (const w of wanted) {
      const c = candidates[w]!;
      const why = local.policies.get(c.skip.policy!)?.unavailableReason();
      if (why) process.stderr.write(`skipping ${c.label}: ${why}\n`);
      else configs.push(c);
    }
    let bar: ProgressBar | null = null;
    const rows = await runEval(local, problems, configs, {
      seed,
      temperature,
      topP: numFlag('top-p', values['top-p'], 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
      maxTokens: numFlag('max-tokens', values['max-tokens'], 96, pos, 'an integer >= 1'),
      speedRepeats: numFlag('speed-repeats', values['speed-repeats'], 5, pos, 'an integer >= 1'),
    }, {
      onConfig: (label, n, total) => (bar = new ProgressBar(`${label} N=${n}`.padEnd(26), total)),
      onProblem: () => bar?.tick(1),
    });
    const seconds = (Date.now() - started) / 1000;
    const paths = routerPaths(modelDir);
    const settings = { model: local.info.id, problems: problems.length, source: values.prompts ?? `generated test split, seed ${seed}`, temperature, k, seconds, note: values.note ?? null, createdAt: new Date().toISOString() };
    writeJsonAtomic(paths.evalJson, { settings, rows });
    const head =
      `# Policy evaluation: ${local.info.id}\n\n` +
      `${problems.length} held-out problems (${settings.source}); sampling temperature ${temperature}; k = ${k} for the head policies; ` +
      `maj@N / pass@N over the first N candidates of each configuration; same problems and seeds for every policy. ` +
      `Measured speedup: dense decode-step time / the policy's decode-step time at batch N on this machine. Run took ${formatDuration(seconds)}.\n` +
      (values.note ? `\n${values.note}\n` : '') +
      `\n![maj@N against measured speedup](eval.svg)\n\n`;
    writeFileSync(paths.evalMd, head + evalTable(rows));
    writeFileSync(paths.evalSvg, evalPlot(rows, `${local.info.id}: maj@N against measured speedup (${problems.length} problems)`));
    process.stdout.write(evalTable(rows) + `\nwrote ${paths.evalMd}, ${paths.evalSvg}, ${paths.evalJson} (${formatDuration(seconds)})\n`);
  } finally {
    await local.close();
  }
}
