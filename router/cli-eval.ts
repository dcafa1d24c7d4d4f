/**
 * `skipserve router eval`: every policy on held-out problems at N in {4, 8, 16} (plus greedy N=1):
 * maj@N and pass@N with 95% intervals, diversity, the speedup the engine reports and the speedup
 * measured end to end (the same requests alternated with the full model), paired differences of
 * the policies; writes eval.md (tables), eval.svg / eval.png (Pareto plot) and eval.json under the
 * model's router directory. Resumable: per-problem results go to router/eval-records.jsonl, and the
 * same command continues where it stopped.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { readCalibration, routerPaths, writeJsonAtomic } from '../src/router/calibration.ts';
import { sublayerAccuracyLoss } from '../src/router/calibrated-cores.ts';
import { intList, isInt, modelDirFlag, numFlag, numList } from '../src/cli/args.ts';
import { fnv1a } from '../src/util/rng.ts';
import { FULL_PLAN, planKey } from '../src/plans/plan.ts';
import { diffTable, evalPlot, evalTable, pairedDiffs } from './eval-report.ts';
import { runEval, type EvalConfig } from './eval.ts';
import { measureEndToEnd } from './eval-speed.ts';
import { SpeedRecords, type SpeedKey } from './eval-speed-records.ts';
import { machineKey } from '../src/plans/latency-profile.ts';
import { generatedProblems, readPromptsFile, tierFlag } from './problems.ts';
import { svgToPng } from './svg-png.ts';
import { fileFingerprint, modelFingerprint } from '../src/router/model-fingerprint.ts';
import { formatDuration, ProgressBar } from '../src/cli/progress.ts';

export const EVAL_USAGE = `usage: skipserve router eval [--model DIR] [--prompts FILE.jsonl | --count N] [--seed S] [--ns 4,8,16]
  [--temperature T] [--top-p P] [--max-tokens N] [--k K] [--target X[,Y...]] [--policies a,b,...] [--tier standard|hard|mixed]
  [--speed-problems N] [--speed-rounds R] [--speed-tokens N] [--speed-ns 8,...] [--threads N] [--max-batch N] [--note TEXT] [--fresh]
  Resumable: rerun the same command to continue (--fresh starts over); end-to-end speeds are kept per row
  too (--speed-ns: measure only these N, default all of --ns).`;

const ALL = ['greedy', 'vanilla', 'random-heads', 'random-heads-greedy', 'head-importance', 'latency-budget-1.25', 'latency-budget-1.5', 'expert-profile', 'learned', 'learned-greedy', 'learned-fast', 'learned-fast-greedy', 'sub-networks', 'sub-networks-fast', 'ensemble', 'ensemble-greedy', 'ensemble-fast-greedy'];

/** Runs the evaluation. */
export async function runEvalCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, prompts: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' }, ns: { type: 'string' },
      temperature: { type: 'string' }, 'top-p': { type: 'string' }, 'max-tokens': { type: 'string' }, k: { type: 'string' }, target: { type: 'string' },
      policies: { type: 'string' }, threads: { type: 'string' }, note: { type: 'string' }, tier: { type: 'string' }, 'max-batch': { type: 'string' },
      'speed-problems': { type: 'string' }, 'speed-rounds': { type: 'string' }, 'speed-tokens': { type: 'string' }, 'speed-ns': { type: 'string' }, fresh: { type: 'boolean' },
    },
    strict: true,
  });
  const modelDir = modelDirFlag(values.model, EVAL_USAGE);
  const pos = (v: number): boolean => isInt(v) && v >= 1;
  const nonneg = (v: number): boolean => isInt(v) && v >= 0;
  const seed = numFlag('seed', values.seed, 7, nonneg, 'an integer >= 0');
  const count = numFlag('count', values.count, 200, pos, 'an integer >= 1');
  const ns = intList('ns', values.ns, [4, 8, 16]);
  const k = numFlag('k', values.k, 1, pos, 'an integer >= 1');
  // Fast-mode targets: learned-fast, learned-fast-greedy and sub-networks-fast run once per target.
  const targets = numList('target', values.target, [1.25], (v) => v > 1 && v <= 8, 'numbers in (1, 8], comma-separated');
  const temperature = numFlag('temperature', values.temperature, 0.7, (v) => v >= 0 && v <= 5, 'a number in [0, 5]');
  const topP = numFlag('top-p', values['top-p'], 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const maxTokens = numFlag('max-tokens', values['max-tokens'], 96, pos, 'an integer >= 1');
  const speed = {
    problems: numFlag('speed-problems', values['speed-problems'], 4, nonneg, 'an integer >= 0 (0: no end-to-end measurement)'),
    rounds: numFlag('speed-rounds', values['speed-rounds'], 4, pos, 'an integer >= 1'),
    tokens: numFlag('speed-tokens', values['speed-tokens'], 64, pos, 'an integer >= 1'),
    ns: intList('speed-ns', values['speed-ns'], ns),
  };
  for (const n of speed.ns) if (!ns.includes(n)) throw new Error(`--speed-ns: ${n} is not one of --ns (${ns.join(',')})`);
  const wanted = values.policies ? values.policies.split(',').map((s) => s.trim()) : ALL;
  for (const w of wanted) if (!ALL.includes(w)) throw new Error(`--policies: '${w}' is not one of ${ALL.join(', ')}`);
  const threads = numFlag('threads', values.threads, 2, pos, 'an integer >= 1');
  const maxBatch = numFlag('max-batch', values['max-batch'], 64, (v) => pos(v) && v >= Math.max(...ns), `an integer >= the largest N (${Math.max(...ns)})`);
  const tier = tierFlag(values.tier);
  const problems = values.prompts ? readPromptsFile(values.prompts, count) : generatedProblems('test', seed, count, tier);
  const paths = routerPaths(modelDir);
  const progressPath = join(paths.dir, 'eval-records.jsonl');
  const speedPath = join(paths.dir, 'eval-speed-records.jsonl');
  if (values.fresh) for (const p of [progressPath, speedPath]) rmSync(p, { force: true });
  // coreShareTolerance 0: expert-profile's requests, hundreds in flight, would otherwise join each
  // other's domain cores (router/shared-core.ts); the evaluation measures each domain's own core.
  const local = await openLocalEngine({ modelDir, threads, maxBatch, maxQueue: 100_000, defaults: { k, coreShareTolerance: 0 }, profileCacheDir: paths.dir, measureSpeedup: true });
  const started = Date.now();
  try {
    const rh = `random-heads k=${k}`;
    const candidates: Record<string, EvalConfig> = {
      greedy: { label: 'greedy', skip: { policy: 'none' }, ns: [1], temperature: 0 },
      vanilla: { label: 'vanilla', skip: { policy: 'none' }, ns, prefixes: true },
      'random-heads': { label: rh, skip: { policy: 'random-heads', k }, ns, prefixes: true },
      // Head masks as the only source of diversity: every candidate decodes greedily under its own plan
      // (a request with temperature 0 and n > 1), the structured-pruning best-of-N setting.
      'random-heads-greedy': { label: `${rh} greedy`, skip: { policy: 'random-heads', k }, ns, temperature: 0, prefixes: true },
      'head-importance': { label: `head-importance k=${k}`, skip: { policy: 'head-importance', k }, ns, prefixes: true },
      'latency-budget-1.25': { label: 'latency-budget 1.25x', skip: { policy: 'latency-budget', targetSpeedup: 1.25 }, ns },
      'latency-budget-1.5': { label: 'latency-budget 1.5x', skip: { policy: 'latency-budget', targetSpeedup: 1.5 }, ns },
      'expert-profile': { label: 'expert-profile 1.25x', skip: { policy: 'expert-profile', targetSpeedup: 1.25 }, ns },
      learned: { label: 'learned', skip: { policy: 'learned' }, ns, prefixes: true },
      'learned-greedy': { label: 'learned greedy', skip: { policy: 'learned' }, ns, temperature: 0, prefixes: true },
      // Candidate i is sub-network i whatever N: scored on prefixes like vanilla (the vote here is the majority; router vote-rules scores the weighted one).
      'sub-networks': { label: 'sub-networks', skip: { policy: 'sub-networks' }, ns, prefixes: true },
      // The calibrated ensemble: candidate i is plan i of router/ensemble.json whatever N.
      ensemble: { label: 'ensemble', skip: { policy: 'ensemble' }, ns, prefixes: true },
      'ensemble-greedy': { label: 'ensemble greedy', skip: { policy: 'ensemble' }, ns, temperature: 0, prefixes: true },
    };
    // Fast mode: the latency-budget core shared by every candidate, learned head masks on top; and
    // the same with every candidate decoding greedily under its own plan (as learned greedy).
    const fast = (t: number): EvalConfig => ({ label: `learned fast ${t}x`, skip: { policy: 'learned', targetSpeedup: t }, ns });
    const fastGreedy = (t: number): EvalConfig => ({ label: `learned fast ${t}x greedy`, skip: { policy: 'learned', targetSpeedup: t }, ns, temperature: 0 });
    // The sub-network ensemble on the same core (its own sublayers masks on top); majority vote here too.
    const subFast = (t: number): EvalConfig => ({ label: `sub-networks fast ${t}x`, skip: { policy: 'sub-networks', targetSpeedup: t }, ns });
    // The calibrated ensemble on the same core, every plan greedy (the ensemble policy's fast mode).
    const ensembleFast = (t: number): EvalConfig => ({ label: `ensemble fast ${t}x greedy`, skip: { policy: 'ensemble', targetSpeedup: t }, ns, temperature: 0 });
    const byTarget: Record<string, (t: number) => EvalConfig> = { 'learned-fast': fast, 'learned-fast-greedy': fastGreedy, 'sub-networks-fast': subFast, 'ensemble-fast-greedy': ensembleFast };
    const expand = (w: string): EvalConfig[] => (byTarget[w] ? targets.map(byTarget[w]) : [candidates[w]!]);
    const configs: EvalConfig[] = [];
    for (const c of wanted.flatMap(expand)) {
      const why = local.policies.get(c.skip.policy!)?.unavailableReason();
      if (why) process.stderr.write(`skipping ${c.label}: ${why}\n`);
      else configs.push(c);
    }
    // Skip-core policies (fast mode at every target too): N whose batch-size bucket gives the same
    // core run as one request.
    const lb = local.policies.get('latency-budget');
    for (const c of configs) {
      const t = c.skip.targetSpeedup;
      if (t === undefined || !lb?.sharedCore || lb.unavailableReason()) continue;
      c.sharedCore = async (n) => {
        const core = await lb.sharedCore!(n, t);
        return core ? planKey(core) : `none:${n}`;
      };
    }
    const selector = fileFingerprint(paths.selector);
    for (const c of configs) if (c.skip.policy === 'learned') c.version = selector;
    const ensemble = fileFingerprint(paths.ensemble);
    for (const c of configs) if (c.skip.policy === 'ensemble') c.version = ensemble;
    // Latency-budget cores (also learned fast's) carry the rule that ranked their sublayers and the
    // cores themselves at each N (the core check's scale moves them), so results made on another
    // core run again.
    const cal = readCalibration(paths.calibration);
    const rule = cal && sublayerAccuracyLoss(cal) ? 'core:accuracy-loss+finish' : null;
    for (const c of configs) {
      const t = c.skip.targetSpeedup;
      if (t === undefined || !['latency-budget', 'learned', 'sub-networks', 'ensemble'].includes(c.skip.policy!)) continue;
      const cores = lb?.sharedCore && !lb.unavailableReason() ? await Promise.all(c.ns.map(async (n) => `${n}:${planKey((await lb.sharedCore!(n, t)) ?? FULL_PLAN)}`)) : [];
      c.version = [c.version, rule, cores.length ? `cores=${cores.join(';')}` : null].filter(Boolean).join('+');
    }
    const header = { model: local.info.id, weights: modelFingerprint(local.info.dir), problems: fnv1a(problems.map((p) => p.id).join(',')), count: problems.length, seed, temperature, topP, maxTokens, k };
    let bar: ProgressBar | null = null;
    const rows = await runEval(local, problems, configs, { seed, temperature, topP, maxTokens }, {
      onConfig: (label, n, todo, total) => (bar = new ProgressBar(`${label} N=${n}`.padEnd(28), total, total - todo)),
      onProblem: () => bar?.tick(1),
    }, { path: progressPath, header });
    if (speed.problems > 0) {
      const sample = problems.slice(0, speed.problems);
      const records = new SpeedRecords(speedPath);
      const machine = machineKey(threads).key;
      for (const row of rows) {
        const cfg = configs.find((c) => c.label === row.label)!;
        if (cfg.skip.policy === 'none') {
          row.measuredSpeedup = 1;
          row.reportedSameRequests = 1;
          continue;
        }
        if (!speed.ns.includes(row.n)) continue;
        const key: SpeedKey = { weights: header.weights, machine, label: row.label, version: cfg.version ?? null, n: row.n, problems: fnv1a(sample.map((p) => p.id).join(',')), seed, temperature: cfg.temperature ?? temperature, rounds: speed.rounds, tokens: speed.tokens };
        let e2e = records.get(key);
        if (!e2e) {
          process.stderr.write(`end-to-end speed: ${row.label} N=${row.n} against the full model (${speed.rounds} rounds x ${sample.length} problems, ${speed.tokens} tokens)\n`);
          e2e = await measureEndToEnd(local, sample, cfg, row.n, { seed, temperature, maxTokens: speed.tokens, rounds: speed.rounds });
          records.put(key, e2e);
        }
        row.measuredSpeedup = e2e.speedup;
        row.reportedSameRequests = e2e.reported;
      }
    }
    const diffs = pairedDiffs(rows, [
      ['vanilla', 'learned'],
      [rh, 'learned'],
      [`${rh} greedy`, 'learned greedy'],
      [rh, 'learned greedy'],
      ['vanilla', 'learned greedy'],
      ...targets.flatMap((t): [string, string][] => [
        ['vanilla', `learned fast ${t}x`],
        ['vanilla', `learned fast ${t}x greedy`],
        [`latency-budget ${t}x`, `learned fast ${t}x`],
        ['vanilla', `sub-networks fast ${t}x`],
        ['vanilla', `ensemble fast ${t}x greedy`],
        [`learned fast ${t}x greedy`, `ensemble fast ${t}x greedy`],
      ]),
      ['vanilla', 'latency-budget 1.25x'],
      ['vanilla', 'latency-budget 1.5x'],
      ['vanilla', 'sub-networks'],
      ['vanilla', 'ensemble greedy'],
      [rh, 'ensemble greedy'],
      [`${rh} greedy`, 'ensemble greedy'],
      ['learned greedy', 'ensemble greedy'],
      ['vanilla', 'ensemble'],
    ]);
    const seconds = (Date.now() - started) / 1000;
    const settings = { ...header, source: values.prompts ?? `generated test split, tier ${tier}, seed ${seed}`, speed, seconds, note: values.note ?? null, createdAt: new Date().toISOString() };
    writeJsonAtomic(paths.evalJson, { settings, rows, diffs });
    const head =
      `# Policy evaluation: ${local.info.id}\n\n` +
      `${problems.length} held-out problems (${settings.source}); sampling temperature ${temperature}, max ${maxTokens} tokens; k = ${k} for the head policies; ` +
      `fast mode target${targets.length > 1 ? 's' : ''} ${targets.map((t) => `${t}x`).join(', ')}. maj@N / pass@N with 95% Wilson intervals; same problems and seeds for every policy (paired). ` +
      `Measured speedup: end to end, the median ratio of wall times of the same request (n = N, ${speed.tokens} tokens, end-of-sequence ignored) on the full model and with the policy, ` +
      `alternated, ${speed.rounds} rounds x ${speed.problems} problems, one request at a time${speed.ns.length < ns.length ? `, at N = ${speed.ns.join(', ')} only (other rows: -, not plotted)` : ''}; ` +
      `reported, same requests: the median speedup the engine reported for those alternated requests (what a client sees: hold it against the measured one); ` +
      `reported, evaluation's requests: the mean it reported for the evaluation's requests, many in flight (kept per problem in the records, so rows resumed from older records keep the value the engine reported then). ` +
      `Policies whose candidate i does not depend on N (${configs.filter((c) => c.prefixes).map((c) => c.label).join(', ')}) run the largest N once and score the smaller N on its first candidates (router/eval-prefix.ts); ` +
      `skip-core policies do the same for the N that share a core (the batch-size bucket's; their reported speedup at a smaller N is then the larger request's). ` +
      `Run took ${formatDuration(seconds)}.\n` +
      (values.note ? `\n${values.note}\n` : '') +
      `\n![maj@N against measured end-to-end speedup; dashed: Pareto frontier](eval.png)\n\n`;
    const diffText = `\n## Paired differences of maj@N (same problems, same seeds)\n\n${diffTable(diffs)}`;
    writeFileSync(paths.evalMd, head + evalTable(rows) + diffText);
    writeFileSync(paths.evalSvg, evalPlot(rows, `${local.info.id}: maj@N against measured end-to-end speedup (${problems.length} problems)`));
    const png = svgToPng(paths.evalSvg, join(paths.dir, 'eval.png'));
    process.stdout.write(
      evalTable(rows) + diffText + `\nwrote ${paths.evalMd}, ${paths.evalSvg}, ${paths.evalJson}${png ? ` (no eval.png: ${png})` : ', eval.png'} (${formatDuration(seconds)})\n`,
    );
  } finally {
    await local.close();
  }
}
