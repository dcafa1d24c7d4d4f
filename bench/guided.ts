/**
 * `npm run bench:guided [-- --model DIR --count 12 --n 8 --max-tokens 300 --regex RE --vocab 49152]`
 *
 * What guided decoding costs. (1) End to end: one server on the model, the same hard-tier test
 * problems (seed 4242) sent unguided and with `guided_regex` (default: the default model's worked
 * format, which every generated solution of both tiers matches), best-of-n at T 0.7, alternating
 * which goes first; prints the medians of request wall time and their ratio, how many candidates of
 * each kind match the format, and the voted answer's accuracy each way with 95% intervals and the
 * paired difference. (2) The guide alone, on a synthetic vocabulary of `--vocab` random token
 * texts (as large as a SmolLM2 / Llama tokenizer's): the time of each pattern state's first walk of
 * the vocabulary's trie, of a kept state, and of masking one row's logits. (3) The event loop while
 * a new guide is checked (`--check-rounds`, default 5): each round a fresh large grammar (a
 * changed literal defeats the checker's cache) checked on the loop, where the loop waits all of it,
 * and in the guide checker's worker, side by side, alternating which goes first; prints the median
 * check time and the longest loop pause with the worker. `--count 0` runs (2) and (3) only.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { quantile } from '../src/plans/latency-profile.ts';
import { normalizeAnswer } from '../src/engine/answers.ts';
import { formatDiff, formatProportion, pairedDiff, wilson } from '../src/util/intervals.ts';
import { anyJsonObject, schemaToRegex } from '../src/sampling/guided/json-schema.ts';
import { TokenGuide, TokenTexts } from '../src/sampling/guided/token-guide.ts';
import { generateSplit } from '../models/train/generator/split.ts';
import { GuideChecker } from '../src/engine/guide-checker.ts';
import { checkGuides } from '../src/engine/guide-checks.ts';
import { spawnServer } from '../testkit/spawn-server.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/default' }, count: { type: 'string', default: '12' }, n: { type: 'string', default: '8' },
    'max-tokens': { type: 'string', default: '300' }, regex: { type: 'string' }, vocab: { type: 'string', default: '49152' }, threads: { type: 'string', default: '2' },
    'check-rounds': { type: 'string', default: '5' },
  },
});
const FORMAT = values.regex ?? ' ([0-9]+([-+*/][0-9]+)*(=[0-9]+([-+*/][0-9]+)*)+\\. )+The answer is [0-9]+\\.';
const median = (xs: number[]) => quantile(xs, 0.5);

async function endToEnd(): Promise<void> {
  const server = await spawnServer(['--model', values.model!, '--http-port', '0', '--grpc-port=-1', '--store', 'off', '--threads', values.threads!, '--log-level', 'info']);
  try {
    const problems = [...generateSplit({ split: 'test', seed: 4242, count: Number(values.count), tier: 'hard' })];
    console.log(`model ${values.model}: ${problems.length} hard problems, n ${values.n}, T 0.7, max_tokens ${values['max-tokens']}, guided_regex ${JSON.stringify(FORMAT)}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    const ms = { plain: [] as number[], guided: [] as number[] };
    const right = { plain: [] as number[], guided: [] as number[] };
    const inFormat = { plain: 0, guided: 0 };
    const format = new RegExp(`^${FORMAT}$`);
    for (const [i, p] of problems.entries()) {
      for (const kind of (i % 2 ? ['guided', 'plain'] : ['plain', 'guided']) as ('plain' | 'guided')[]) {
        const body = { prompt: `Q: ${p.question}\nA:`, n: Number(values.n), temperature: 0.7, seed: 1, max_tokens: Number(values['max-tokens']), ...(kind === 'guided' ? { guided_regex: FORMAT } : {}) };
        const t0 = performance.now();
        const res = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const r = (await res.json()) as { choices?: { text: string; selected: boolean; answer: string | null }[] };
        if (!r.choices) throw new Error(`HTTP ${res.status}: ${JSON.stringify(r)}`);
        ms[kind].push(performance.now() - t0);
        right[kind].push(r.choices.find((c) => c.selected)?.answer === normalizeAnswer(String(p.answer)) ? 1 : 0);
        inFormat[kind] += r.choices.filter((c) => format.test(c.text)).length;
      }
    }
    const total = problems.length * Number(values.n);
    console.log(`request wall, median: unguided ${median(ms.plain).toFixed(0)} ms, guided ${median(ms.guided).toFixed(0)} ms, guided / unguided ${(median(ms.guided) / median(ms.plain)).toFixed(3)}`);
    console.log(`candidates in the format: unguided ${inFormat.plain}/${total}, guided ${inFormat.guided}/${total}`);
    const acc = (k: 'plain' | 'guided') => formatProportion(wilson(right[k].reduce((a, b) => a + b, 0), right[k].length));
    console.log(`majority vote at n ${values.n}: unguided ${acc('plain')}, guided ${acc('guided')}, guided - unguided ${formatDiff(pairedDiff(right.plain, right.guided))} (paired)`);
  } finally {
    server.child.kill('SIGTERM');
  }
}

/** Random token texts: mostly lower-case pieces, some with a leading space, punctuation and digits. */
function syntheticVocab(size: number): TokenTexts {
  let x = 7;
  const rnd = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;"{}[]-_\'!?()\n';
  const texts: string[] = [];
  for (let i = 0; i < size; i++) {
    let t = rnd() < 0.5 ? ' ' : '';
    for (let j = 1 + Math.floor(rnd() * 8); j > 0; j--) t += chars[Math.floor(rnd() * (rnd() < 0.8 ? 26 : chars.length))];
    texts.push(t);
  }
  return new TokenTexts(texts, [0]);
}

function guideAlone(): void {
  const vocab = syntheticVocab(Number(values.vocab));
  const schema = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' }, bio: { type: 'string' } }, required: ['name', 'age', 'bio'] };
  const text = '{"name": "Bob Smith", "age": 42, "bio": "likes cats"}';
  for (const [name, pattern] of [['json_schema (3 properties)', schemaToRegex(schema)], ['json_object', anyJsonObject()]] as const) {
    const g = new TokenGuide(pattern, vocab);
    const logits = new Float32Array(vocab.texts.length);
    const first: number[] = [];
    const again: number[] = [];
    // One character at a time: every state the text passes through (more than a model's tokens would).
    for (let i = 0; i <= text.length; i++) {
      const d = g.walk(g.start, text.slice(0, i));
      let t0 = performance.now();
      g.maskInPlace(d, logits);
      first.push(performance.now() - t0);
      t0 = performance.now();
      g.maskInPlace(d, logits);
      again.push(performance.now() - t0);
    }
    console.log(`${name}, vocabulary ${vocab.texts.length}: a state's first mask (walks the trie) median ${median(first).toFixed(2)} ms, max ${Math.max(...first).toFixed(1)} ms; a kept state's mask, one row: median ${median(again).toFixed(3)} ms`);
  }
}

/** Runs `fn` and returns the longest pause of the event loop meanwhile (a 1 ms timer's largest gap). */
async function longestPause(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let most = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    most = Math.max(most, now - last);
    last = now;
  }, 1);
  await fn();
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return Math.max(most, performance.now() - last);
}

async function checkOffTheLoop(): Promise<void> {
  const checker = new GuideChecker();
  await checker.check({ guidedRegex: 'a' }); // the worker started
  const onLoop: number[] = [];
  const pauses: number[] = [];
  const rounds = Number(values['check-rounds']);
  for (let i = 0; i < rounds; i++) {
    const grammar = (tag: string) => `root ::= "${tag}" ([a-z]{1,200} " "){1,300}`;
    const here = async () => {
      const t0 = performance.now();
      checkGuides({ guidedGrammar: grammar(`here${i}`) });
      onLoop.push(performance.now() - t0);
    };
    const there = async () => pauses.push(await longestPause(() => checker.check({ guidedGrammar: grammar(`worker${i}`) })));
    for (const run of i % 2 ? [there, here] : [here, there]) await run();
  }
  await checker.close();
  console.log(`a new grammar of 120,904 automaton states, ${rounds} rounds: checked on the event loop ${median(onLoop).toFixed(0)} ms (the loop waits all of it); in the guide checker's worker, the loop's longest pause ${median(pauses).toFixed(1)} ms (median of rounds, max ${Math.max(...pauses).toFixed(1)} ms); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

if (Number(values.count) > 0) await endToEnd(); // --count 0: the guide alone
guideAlone();
await checkOffTheLoop();
