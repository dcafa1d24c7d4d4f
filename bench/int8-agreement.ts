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
import { loadRunner } from '../src/model/runner.ts';
import { FULL_PLAN } from '../src/plans/plan.ts';
import { argmax } from '../src/sampling/sampler.ts';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { generateMany } from '../models/train/eval/batch-generate.ts';
import { scoreProblem } from '../models/train/eval/scoring.ts';
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

/** Wilson 95% interval for k successes in n. */
function wilson(k: number, n: number): [number, number] {
  const z = 1.96;
  const p = k / n;
  const c = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
  return [c - h, c + h];
}
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const share = (k: number, n: number) => `${k}/${n} = ${pct(k / n)} (95% CI ${wilson(k, n).map(pct).join(' to ')})`;

const tok = TextTokenizer.load(values.model!);
const problems = [...generateSplit({ split: values.split as Split, seed: Number(values.seed), count, tier: values.tier as TierChoice })];
const prompts = problems.map((p) => tok.encode(`Q: ${p.question}\nA:`));
const ids: Record<'f32' | 'int8', number[][]> = { f32: [], int8: [] };
const seconds: Record<string, number> = {};
for (const weights of ['f32', 'int8'] as const) {
  const runner = await loadRunner({ modelDir: values.model!, threads, maxBatch: batch, weights });
  try {
    const t0 = performance.now();
    ids[weights] = await generateMany(runner, prompts.map((prompt) => ({ prompt, plan: FULL_PLAN, pick: argmax })), { maxTokens, eosTokenIds: runner.info.eosTokenIds, maxBatch: batch });
    seconds[weights] = (performance.now() - t0) / 1000;
  } finally {
    await runner.close();
  }
}
const same = ids.f32.filter((a, i) => a.length === ids.int8[i].length && a.every((t, j) => t === ids.int8[i][j])).length;
const right = (w: 'f32' | 'int8') => problems.map((p, i) => scoreProblem(p, [tok.decode(ids[w][i])]).correct[0]);
const [r32, r8] = [right('f32'), right('int8')];
const k32 = r32.filter(Boolean).length;
const k8 = r8.filter(Boolean).length;
const onlyF32 = r32.filter((x, i) => x && !r8[i]).length;
const onlyInt8 = r8.filter((x, i) => x && !r32[i]).length;
const diff = (onlyInt8 - onlyF32) / count;
const se = Math.sqrt((onlyF32 + onlyInt8 - ((onlyInt8 - onlyF32) ** 2) / count) / (count * count));
console.log(`model ${values.model}, ${count} ${values.tier} ${values.split} problems (seed ${values.seed}), greedy, max ${maxTokens} tokens`);
console.log(`identical greedy tokens: ${share(same, count)}`);
console.log(`accuracy f32:  ${share(k32, count)} in ${seconds.f32.toFixed(1)} s`);
console.log(`accuracy int8: ${share(k8, count)} in ${seconds.int8.toFixed(1)} s`);
console.log(`int8 - f32: ${(100 * diff).toFixed(2)} points (95% CI ${(100 * (diff - 1.96 * se)).toFixed(2)} to ${(100 * (diff + 1.96 * se)).toFixed(2)}; ${onlyF32} problems only f32 solves, ${onlyInt8} only int8)`);
