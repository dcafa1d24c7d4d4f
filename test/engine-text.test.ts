import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StopChecker } from '../src/sampling/stop.ts';
import { IncrementalDetokenizer } from '../src/text/detokenizer.ts';
import { compileChatTemplate } from '../src/text/chat-template.ts';
import { topLogprobs, tokenLogprob, logSumExp } from '../src/sampling/logprobs.ts';

test('stop strings: held back while ambiguous, cut before the stop string', () => {
  const s = new StopChecker(['\nQ:', 'END']);
  assert.deepEqual(s.push('The answer'), { emit: 'The answer', stopped: false });
  assert.deepEqual(s.push(' is 4.\n'), { emit: ' is 4.', stopped: false });
  assert.deepEqual(s.push('Q'), { emit: '', stopped: false });
  assert.deepEqual(s.push(':'), { emit: '', stopped: true });
  assert.equal(s.fullText, 'The answer is 4.');
  const t = new StopChecker(['END']);
  assert.equal(t.push('EN').emit, '');
  assert.equal(t.push('ough').emit, 'ENough');
  assert.equal(t.flush(), '');
  const u = new StopChecker(['xyz']);
  u.push('ab');
  u.push('xy');
  assert.equal(u.flush(), 'xy');
});

test('stop strings kept in the text (include_stop_str_in_output), and text pushed unchecked before min_tokens', () => {
  const s = new StopChecker(['\nQ:', 'END'], true);
  assert.deepEqual(s.push('4.\n'), { emit: '4.', stopped: false });
  assert.deepEqual(s.push('Q: next'), { emit: '\nQ:', stopped: true });
  assert.equal(s.fullText, '4.\nQ:');
  const m = new StopChecker(['ab']);
  assert.deepEqual(m.push('xab', false), { emit: 'xab', stopped: false }, 'unchecked: released, never stops');
  assert.deepEqual(m.push('ab'), { emit: '', stopped: true }, 'checked again: a later stop string ends it');
  assert.equal(m.fullText, 'xab');
  const straddle = new StopChecker(['ab']);
  straddle.push('xa', false);
  assert.deepEqual(straddle.push('b'), { emit: 'b', stopped: false }, 'a stop string must start in checked text: what was sent stays');
  assert.deepEqual(straddle.push('ab'), { emit: '', stopped: true });
  assert.equal(straddle.fullText, 'xab');
});

// A byte-level decoder: each id is one byte, so multi-byte characters span several tokens.
const bytes = { decode: (ids: number[]) => Buffer.from(ids).toString('utf8') };

test('incremental detokenizer never emits half a UTF-8 character', () => {
  const text = 'héllo ✓ wörld';
  const ids = [...Buffer.from(text)];
  const d = new IncrementalDetokenizer(bytes);
  let out = '';
  for (const id of ids) {
    const delta = d.push(id);
    assert.ok(!delta.includes('\uFFFD'), `delta ${JSON.stringify(delta)} has a replacement char`);
    out += delta;
  }
  out += d.flush();
  assert.equal(out, text);
  assert.deepEqual(d.generated(), ids);
});

test('incremental detokenizer keeps the leading space of a SentencePiece-style first token', () => {
  // "▁" marks a word start; decode strips the first leading space, like Llama tokenizers.
  const vocab = ['▁Q', ':', '▁A', '▁four'];
  const sp = { decode: (ids: number[]) => ids.map((i) => vocab[i]).join('').replace(/▁/g, ' ').replace(/^ /, '') };
  const d = new IncrementalDetokenizer(sp, [0, 1, 2, 1]);
  assert.equal(d.push(3), ' four');
});

test('chat template renders messages with the generation prompt', () => {
  const t = compileChatTemplate("{% for m in messages %}{% if m.role == 'user' %}Q: {{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}A:{% endif %}", { bos_token: '<s>' });
  assert.equal(t.render([{ role: 'user', content: 'What is 2+2?' }]), 'Q: What is 2+2?\nA:');
  assert.equal(t.render([{ role: 'user', content: 'x' }], false), 'Q: x\n');
});

test('logprob helpers agree with a direct softmax', () => {
  const logits = new Float32Array([1, 3, 2, -1]);
  const z = [...logits].reduce((s, x) => s + Math.exp(x), 0);
  assert.ok(Math.abs(logSumExp(logits) - Math.log(z)) < 1e-9);
  assert.ok(Math.abs(tokenLogprob(logits, 1) - Math.log(Math.exp(3) / z)) < 1e-6);
  assert.deepEqual(topLogprobs(logits, 2).map((t) => t.token), [1, 2]);
});

test('chat template kwargs are variables for the template (vLLM chat_template_kwargs); the server\'s own variables win', () => {
  const t = compileChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}{% if enable_thinking %}<think>{% endif %}|{{ add_generation_prompt }}");
  const msgs = [{ role: 'user' as const, content: 'hi' }];
  assert.equal(t.render(msgs, true), 'hi|true');
  assert.equal(t.render(msgs, true, undefined, { enable_thinking: true }), 'hi<think>|true');
  assert.equal(t.render(msgs, true, undefined, { add_generation_prompt: false, messages: [] }), 'hi|true');
});
