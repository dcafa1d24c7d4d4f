/**
 * `npm run bench:speculative-acceptance -- [--model DIR] [--draft 2-13] [--temperatures 0.7,1] [--count 6] [--tokens 120] [--seed 1]`
 *
 * How well a draft plan (layers FIRST-LAST skipped) predicts the full model, position by position,
 * along paths the full model samples at each temperature (hard-tier problems, chat template):
 * greedy agreement (the draft's most likely token is the full model's, the acceptance greedy
 * speculative decoding sees) and the expected acceptance of speculative *sampling*, the sum over
 * tokens of min(p, q) of the two tempered distributions (a drafted token is kept with probability
 * min(1, p/q)). Each position runs both plans over the whole prefix: a measurement, not a server
 * path. Model: --model DIR, else models/default.
 */
import { parseArgs } from 'node:util';
import { loadLocalModel } from '../src/model/local-model.ts';
import { FULL_PLAN, parsePlan } from '../src/plans/plan.ts';
import { Rng } from '../src/util/rng.ts';
import { argmax } from '../src/sampling/sampler.ts';
import { samplingDistribution } from '../src/sampling/sampler.ts';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { loadChatTemplate } from '../src/text/chat-template.ts';
import { generateSplit } from '../models/train/generator/split.ts';

const { values } = parseArgs({
  options: { model: { type: 'string', default: 'models/default' }, draft: { type: 'string', default: '2-13' }, temperatures: { type: 'string', default: '0.7,1' }, count: { type: 'string', default: '6' }, tokens: { type: 'string', default: '120' }, seed: { type: 'string', default: '1' } },
});
const dir = values.model!;
const m = await loadLocalModel({ modelDir: dir, threads: 2 });
const tok = TextTokenizer.load(dir);
const template = loadChatTemplate(dir);
if (!template) throw new Error(`${dir} has no chat template`);
const [first, last] = values.draft!.split('-').map(Number);
const draft = parsePlan({ skip_layers: Array.from({ length: last! - first! + 1 }, (_, i) => first! + i) }, m.info);
const V = m.info.vocabSize;

/** The last position's logits of `ids` under `plan` (a fresh sequence each time). */
async function lastLogits(ids: number[], plan: typeof FULL_PLAN): Promise<Float32Array> {
  const seq = m.createSeq();
  try {
    return Float32Array.from((await m.step([{ seq, tokens: ids, plan, logits: 'last' }])).logits[0]!);
  } finally {
    m.freeSeq(seq);
  }
}

console.log(`model ${dir}, draft: layers ${values.draft} skipped; ${values.count} hard problems, up to ${values.tokens} sampled tokens each\n`);
console.log('| temperature | positions | greedy agreement | expected sampling acceptance, mean sum min(p, q) |');
console.log('|---:|---:|---:|---:|');
for (const T of values.temperatures!.split(',').map(Number)) {
  const rng = new Rng(Number(values.seed));
  let positions = 0;
  let agree = 0;
  let overlap = 0;
  for (const problem of generateSplit({ split: 'test', seed: 5, count: Number(values.count), tier: 'hard' })) {
    const ids = tok.encode(template.render([{ role: 'user', content: problem.question }], true), false);
    for (let t = 0; t < Number(values.tokens); t++) {
      const [full, drafted] = [await lastLogits(ids, FULL_PLAN), await lastLogits(ids, draft)];
      const p = samplingDistribution(full, { temperature: T, topP: 1, topK: 0 });
      const q = samplingDistribution(drafted, { temperature: T, topP: 1, topK: 0 });
      positions++;
      if (argmax(full) === argmax(drafted)) agree++;
      for (let i = 0; i < V; i++) overlap += Math.min(p[i]!, q[i]!);
      let r = rng.next();
      let next = 0;
      while (next < V - 1 && (r -= p[next]!) >= 0) next++;
      if (m.info.eosTokenIds.includes(next)) break;
      ids.push(next);
    }
  }
  console.log(`| ${T} | ${positions} | ${(agree / positions).toFixed(3)} | ${(overlap / positions).toFixed(3)} |`);
}
await m.close();
