/**
 * f32 vs int8 weights on the same problems, through the worker runner: greedy completions of N
 * generated arithmetic problems with both weight formats, then the share of problems whose greedy
 * tokens are identical, each format's accuracy and the paired accuracy difference, with 95%
 * intervals (Wilson for shares; paired normal interval from the discordant problems for the
 * difference), and each format's generation time.
 *
 *   node --import tsx bench/int8-agreement.ts --model models/default --count 2000 [--split test]
 *     [--seed 1] [--tier standard|hard|mixed] [--batch 32] [--max-tokens 160] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { openLocalEngine } from '../src/engine/local-engine.ts';
import type { GenerationResult } from '../src/engine/types.ts';
import { formatDiff, formatProportion, pairedDiff, wilson } from '../src/util/intervals.ts';
import { greedyResults } from '../models/train/eval/run-requests.ts';
import { scoreResult } from '../models/train/eval/scoring.ts';
import { generateSplit, type Split, type TierChoice } from '../models/train/generator/split.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' },
    count: { type: 'string', default: '200' },
    split: { type: 'string', default: 'test' },
    seed: { type: 'string', default: '1' },
    tier: { type: 'string', default: 'standard' },
    batch: { type: 'string', default: '32' },
    'max-tokens': { type: 'string', default: '160' },
    threads: { type: 'string', default: '2' },
  },
});
const count = Number(values.count);
const batch = Number(values.batch);
const maxTokens = Number(values['max-tokens']);
const threads = Number(values.threads);

const problems = [...generateSplit({ split: values.split as Split, seed: Number(values.seed), count, tier: values.tier as TierChoice })];
const runs: Record<string, GenerationResult[]> = {};
const seconds: Record<string, number> = {};
for (const weights of ['f32', 'int8'] as const) {
  // The same requests the server would get (chat template, engine, vote), once per weight format.
  const local = await openLocalEngine({ modelDir: values.model!, threads, maxBatch: batch, maxQueue: 100_000, measureSpeedup: false, weights });
  try {
    const t0 = performance.now();
    runs[weights] = await greedyResults({ local, problems, seed: Number(values.seed), maxTokens }, { policy: 'none' });
    seconds[weights] = (performance.now() - t0) / 1000;
  } finally {
    await local.close();
  }
}
const ids = (w: string) => runs[w]!.map((r) => r.candidates[0]!.tokenIds);
const same = ids('f32').filter((a, i) => JSON.stringify(a) === JSON.stringify(ids('int8')[i])).length;
const right = (w: string) => problems.map((p, i) => (scoreResult(p, runs[w]![i]!).correct[0] ? 1 : 0));
const [r32, r8] = [right('f32'), right('int8')];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
console.log(`model ${values.model}, ${count} ${values.tier} ${values.split} problems (seed ${values.seed}), greedy, max ${maxTokens} tokens`);
console.log(`identical greedy tokens: ${formatProportion(wilson(same, count))}`);
console.log(`accuracy f32:  ${formatProportion(wilson(sum(r32), count))} in ${seconds.f32!.toFixed(1)} s`);
console.log(`accuracy int8: ${formatProportion(wilson(sum(r8), count))} in ${seconds.int8!.toFixed(1)} s`);
console.log(`int8 - f32: ${formatDiff(pairedDiff(r32, r8))}`);
