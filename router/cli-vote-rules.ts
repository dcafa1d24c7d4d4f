/**
 * `skipserve router vote-rules`: each selection rule of the server (majority `vote`, probability-
 * `weighted` vote, `logprob`) on the same candidates of several policies, on held-out problems, with
 * 95% intervals and paired differences (router/vote-rules.ts). Writes vote-rules.md and .json under
 * the model's router directory; per-problem candidates go to router/vote-records.jsonl (resumable).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import { routerPaths } from '../src/router/calibration.ts';
import { fileFingerprint, modelFingerprint } from '../src/router/model-fingerprint.ts';
import { isInt, modelDirFlag, numFlag } from '../src/cli/args.ts';
import { ProgressBar } from '../src/cli/progress.ts';
import { formatDiff, formatProportion } from '../src/util/intervals.ts';
import { fnv1a } from '../src/util/rng.ts';
import { coreKey, FULL_PLAN, planKey } from '../src/plans/plan.ts';
import type { SelectMode } from '../src/engine/vote.ts';
import { generatedProblems, tierFlag } from './problems.ts';
import { runVoteStudy, scoreVoteStudy, subNetworkSkip, type VoteConfig } from './vote-rules.ts';
import { onCore, SUB_NETWORK_FRACTION, SUB_NETWORK_SEED, subNetworkPlans } from '../src/plans/policies/sub-networks.ts';

export const VOTE_RULES_USAGE = `usage: skipserve router vote-rules [--model DIR] [--count N] [--seed S] [--tier standard|hard|mixed] [--n N]
  [--temperature T] [--max-tokens N] [--policies greedy,vanilla,learned,random-heads,sub-networks,latency-budget,sub-networks-fast] [--k K] [--core-frac F] [--core-seed S]
  [--target T] [--min-p P] [--threads N] [--max-batch N] [--fresh]
  The selection rules on the same candidates (greedy: one greedy answer, N = 1); sub-networks: candidate 0 the full model, the others a seeded
  random skip core each removing about F of the sublayer FLOPs, drawn with --core-seed (defaults 0.1 and 7: the list the
  sub-networks policy serves); latency-budget: every candidate on the core of target T (default 1.3); sub-networks-fast: the
  sub-networks on that core (the sub-networks policy's fast mode); vanilla-min-p and sub-networks-min-p: sampled with min_p P
  (default 0.1); sub-networks-greedy: every sub-network decodes greedily (the sub-networks are the only diversity); ensemble-greedy: the
  ensemble policy's calibrated plans (router/ensemble.json), each decoding greedily; ensemble-fast-greedy: the same on the core
  of target T (the ensemble policy's fast mode). Resumable.`;

const POLICIES = ['greedy', 'vanilla', 'learned', 'random-heads', 'sub-networks', 'latency-budget', 'sub-networks-fast', 'vanilla-min-p', 'sub-networks-min-p', 'sub-networks-greedy', 'ensemble-greedy', 'ensemble-fast-greedy'];
/** What runs without --policies (the skip-core configurations are asked for by name). */
const DEFAULT_POLICIES = POLICIES.slice(0, 5);
const RULES: SelectMode[] = ['vote', 'weighted', 'logprob'];

/** Runs the study. */
export async function runVoteRulesCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, count: { type: 'string' }, seed: { type: 'string' }, tier: { type: 'string' }, n: { type: 'string' },
      temperature: { type: 'string' }, 'max-tokens': { type: 'string' }, policies: { type: 'string' }, k: { type: 'string' },
      'core-frac': { type: 'string' }, 'core-seed': { type: 'string' }, target: { type: 'string' }, 'min-p': { type: 'string' }, threads: { type: 'string' }, 'max-batch': { type: 'string' }, fresh: { type: 'boolean' },
    },
    strict: true,
  });
  const modelDir = modelDirFlag(values.model, VOTE_RULES_USAGE);
  const pos = (v: number): boolean => isInt(v) && v >= 1;
  const count = numFlag('count', values.count, 1000, pos, 'an integer >= 1');
  const seed = numFlag('seed', values.seed, 7, (v) => isInt(v) && v >= 0, 'an integer >= 0');
  const n = numFlag('n', values.n, 8, (v) => pos(v) && v >= 2, 'an integer >= 2');
  const temperature = numFlag('temperature', values.temperature, 0.7, (v) => v >= 0 && v <= 2, 'a number in [0, 2]');
  const maxTokens = numFlag('max-tokens', values['max-tokens'], 360, pos, 'an integer >= 1');
  const k = numFlag('k', values.k, 1, pos, 'an integer >= 1');
  const frac = numFlag('core-frac', values['core-frac'], SUB_NETWORK_FRACTION, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  const coreSeed = numFlag('core-seed', values['core-seed'], SUB_NETWORK_SEED, (v) => isInt(v) && v >= 0, 'an integer >= 0');
  const target = numFlag('target', values.target, 1.3, (v) => v > 1 && v <= 8, 'a number in (1, 8]');
  const minP = numFlag('min-p', values['min-p'], 0.1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const threads = numFlag('threads', values.threads, 2, pos, 'an integer >= 1');
  const maxBatch = numFlag('max-batch', values['max-batch'], 64, (v) => pos(v) && v >= n, `an integer >= --n (${n})`);
  const wanted = values.policies ? values.policies.split(',').map((s) => s.trim()) : DEFAULT_POLICIES;
  for (const w of wanted) if (!POLICIES.includes(w)) throw new Error(`--policies: '${w}' is not one of ${POLICIES.join(', ')}`);
  const tier = tierFlag(values.tier ?? 'hard');
  const problems = generatedProblems('test', seed, count, tier);
  const paths = routerPaths(modelDir);
  const recordsPath = join(paths.dir, 'vote-records.jsonl');
  if (values.fresh) rmSync(recordsPath, { force: true });
  const local = await openLocalEngine({ modelDir, threads, maxBatch, maxQueue: 100_000, defaults: { k }, profileCacheDir: paths.dir, prepareCores: false });
  try {
    const subPlans = subNetworkPlans(local.info, n, frac, coreSeed);
    // The shared core of the skip-core configurations: the latency-budget policy's at N and the target.
    const lb = local.policies.get('latency-budget');
    const needsCore = wanted.some((w) => w === 'latency-budget' || w === 'sub-networks-fast' || w === 'ensemble-fast-greedy');
    const core = needsCore && lb?.sharedCore && !lb.unavailableReason() ? await lb.sharedCore(n, target) : null;
    const ensembleHash = fileFingerprint(paths.ensemble)?.slice(0, 8) ?? 'none';
    const coreLabel = core ? `core ${coreKey(core).replace(/\|h$/, '')}` : '';
    const all: Record<string, VoteConfig | undefined> = {
      greedy: { label: 'greedy', skip: { policy: 'none' }, greedy: true },
      vanilla: { label: 'vanilla', skip: { policy: 'none' } },
      learned: { label: 'learned', skip: { policy: 'learned' } },
      'random-heads': { label: `random heads k=${k}`, skip: { policy: 'random-heads', k } },
      'sub-networks': { label: `sub-networks ${frac}`, skip: subNetworkSkip(subPlans) },
      'vanilla-min-p': { label: `vanilla min-p ${minP}`, skip: { policy: 'none' }, minP },
      'sub-networks-min-p': { label: `sub-networks ${frac} min-p ${minP}`, skip: subNetworkSkip(subPlans), minP },
      'sub-networks-greedy': { label: `sub-networks ${frac} greedy`, skip: subNetworkSkip(subPlans), temperature: 0 },
      // The label carries the file's hash, so records of another ensemble are not mixed in.
      'ensemble-greedy': { label: `ensemble greedy (${ensembleHash})`, skip: { policy: 'ensemble' }, temperature: 0 },
      // The labels carry the core, so records made on another core are not mixed in.
      ...(core
        ? {
            'latency-budget': { label: `latency-budget ${target}x (${coreLabel})`, skip: subNetworkSkip(onCore(subPlans.map(() => FULL_PLAN), core)) },
            'sub-networks-fast': { label: `sub-networks ${frac} on ${coreLabel}`, skip: subNetworkSkip(onCore(subPlans, core)) },
            'ensemble-fast-greedy': { label: `ensemble greedy (${ensembleHash}) on ${coreLabel}`, skip: { policy: 'ensemble', targetSpeedup: target }, temperature: 0 },
          }
        : {}),
    };
    const configs: VoteConfig[] = [];
    for (const w of wanted) {
      const why = !all[w] ? `no latency-budget core at ${target}x (${lb?.unavailableReason() ?? 'it skips nothing'})` : local.policies.get(all[w].skip.policy!)?.unavailableReason();
      if (why) process.stderr.write(`skipping ${w}: ${why}\n`);
      else configs.push(all[w]!);
    }
    const header = { model: local.info.id, weights: modelFingerprint(local.info.dir), problems: fnv1a(problems.map((p) => p.id).join(',')), count, seed, n, temperature, maxTokens, k, subNetworks: subPlans.map(planKey) };
    let bar: ProgressBar | null = null;
    const started = Date.now();
    const byLabel = await runVoteStudy(local, problems, configs, { n, seed, temperature, maxTokens }, { path: recordsPath, header }, {
      onConfig: (label, _n, todo, total) => (bar = new ProgressBar(label.padEnd(24), total, total - todo)),
      onProblem: () => bar?.tick(1),
    });
    const rows = scoreVoteStudy(byLabel, RULES, 'vanilla');
    const lines = [
      `# Selection rules on the same candidates`,
      '',
      `${count} held-out ${tier} test problems (seed ${seed}), N = ${n}, temperature ${temperature}, max ${maxTokens} tokens; ` +
        `the request seeds of \`router eval\`; sub-networks: ${subPlans.map(planKey).join(' | ')}. Differences are paired, in points.`,
      '',
      '| policy | rule | right % [95% CI] | − vote (same candidates) | − vanilla (same rule) | − greedy |',
      '|---|---|---:|---:|---:|---:|',
      ...rows.map((r) => `| ${r.label.replaceAll('|', '\\|')} | ${r.rule} | ${formatProportion(r.acc)} | ${r.vsVote ? formatDiff(r.vsVote) : '-'} | ${r.vsBaseline ? formatDiff(r.vsBaseline) : '-'} | ${r.vsGreedy ? formatDiff(r.vsGreedy) : '-'} |`),
      '',
    ];
    process.stdout.write('\n' + lines.join('\n') + `\n(${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    writeFileSync(join(paths.dir, 'vote-rules.md'), lines.join('\n'));
    writeFileSync(join(paths.dir, 'vote-rules.json'), JSON.stringify({ header, rows }, null, 1) + '\n');
  } finally {
    await local.close();
  }
}
