/**
 * The default model's tokenizer: the pure-Python encoder used for training (models/train/tokenizer.py)
 * and @huggingface/tokenizers (through the project's TextTokenizer) give identical ids on 1,000
 * generated problems; decoding round-trips the text exactly; every digit is its own token; the
 * chat template renders a user message into the model's "Q: ... A:" prompt.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { generateSplit } from '../models/train/generator/split.ts';
import { TextTokenizer } from '../src/text/tokenizer.ts';
import { loadChatTemplate } from '../src/text/chat-template.ts';

const DIR = 'models/default';
const tok = TextTokenizer.load(DIR);
const problems = [...generateSplit({ split: 'test', seed: 42, count: 1000 })];
const texts = problems.map((p) => `Q: ${p.question}\nA: ${p.solution}`);

test('Python and @huggingface/tokenizers give identical ids on 1,000 problems', () => {
  const input = texts.map((t) => JSON.stringify(t)).join('\n') + '\n';
  const python = process.env.PYTHON ?? 'python3';
  const out = execFileSync(python, ['models/train/tokenizer.py', 'encode', `${DIR}/tokenizer.json`], { input, encoding: 'utf8', maxBuffer: 1 << 26 });
  const pyIds = out.trim().split('\n').map((l) => JSON.parse(l) as number[]);
  assert.equal(pyIds.length, texts.length);
  let compared = 0;
  texts.forEach((t, i) => {
    const js = tok.encode(t, false);
    assert.deepEqual(js, pyIds[i], `ids differ for problem ${problems[i]!.id}`);
    assert.deepEqual(tok.encode(t), [tok.bosTokenId, ...js], 'the post-processor adds exactly one <s>');
    assert.equal(tok.decode(js), t, 'decode must round-trip');
    compared += js.length;
  });
  assert.ok(compared > 50_000);
});

test('every digit is its own token and the vocabulary is small', () => {
  assert.ok(tok.size >= 256 && tok.size <= 512, `vocab ${tok.size}`);
  const ids = tok.encode('12345+678=999.', false);
  const pieces = ids.map((i) => tok.tokenText(i));
  assert.deepEqual(pieces.slice(0, 5), ['1', '2', '3', '4', '5']);
  for (const p of pieces) assert.ok(!/\d\d/.test(p), `multi-digit token ${p}`);
  const words = tok.encode(' has', false).map((i) => tok.tokenText(i));
  assert.deepEqual(words, [' has'], 'frequent words keep their leading space in one token');
});

test('the chat template renders the Q/A prompt with <s> and a generation prompt', () => {
  const tpl = loadChatTemplate(DIR);
  assert.ok(tpl, 'chat template missing');
  const text = tpl.render([{ role: 'user', content: 'Ann has 7 pens. How many pens does Ann have now?' }], true);
  assert.equal(text, '<s>Q: Ann has 7 pens. How many pens does Ann have now?\nA:');
  const ids = tok.encode(text, false);
  assert.equal(ids[0], tok.bosTokenId);
  assert.equal(ids.filter((i) => i === tok.bosTokenId).length, 1);
});
