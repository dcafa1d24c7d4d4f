// --reasoning-parser: a chat answer split into its <think> reasoning and its content
// (deepseek_r1, qwen3), with tool calls read from the content under tool_choice "auto"; and the
// stream of such an answer, split anywhere, sends exactly the unstreamed parts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ChatAnswerStream, splitAnswer } from '../src/engine/chat-answer.ts';
import { REASONING_PARSERS, splitReasoning, type ReasoningParserName } from '../src/engine/reasoning-parsers.ts';

test('deepseek_r1: up to </think> is reasoning (a leading <think> dropped), all of it when unclosed; qwen3: only after a leading <think>', () => {
  assert.deepEqual(splitReasoning('deepseek_r1', 'Let me see.</think>\n\nThe answer is 4.'), { reasoning: 'Let me see.', content: '\n\nThe answer is 4.' });
  assert.deepEqual(splitReasoning('deepseek_r1', '<think>\nhmm\n</think>4'), { reasoning: '\nhmm\n', content: '4' });
  assert.deepEqual(splitReasoning('deepseek_r1', 'still thinking'), { reasoning: 'still thinking', content: '' });
  assert.deepEqual(splitReasoning('qwen3', '<think>a</think>b'), { reasoning: 'a', content: 'b' });
  assert.deepEqual(splitReasoning('qwen3', 'no thinking </think> here'), { reasoning: null, content: 'no thinking </think> here' });
  assert.deepEqual(splitReasoning('qwen3', '<think>unclosed'), { reasoning: 'unclosed', content: '' });
  // Content null when the answer is all reasoning; calls read from the content only.
  const auto = { kind: 'auto' as const, parser: 'hermes' as const, names: new Set(['add']) };
  assert.deepEqual(splitAnswer('<think>only</think>', 'qwen3', null), { reasoning: 'only', content: null, calls: [] });
  assert.deepEqual(splitAnswer('<think>I should add <tool_call></think>Sure.\n<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>', 'qwen3', auto), {
    reasoning: 'I should add <tool_call>',
    content: 'Sure.',
    calls: [{ name: 'add', arguments: '{"a":1}' }],
  });
});

const texts: Record<ReasoningParserName, string[]> = {
  deepseek_r1: ['Let me see.</think>\n\nThe answer is 4.', '<think>\nhmm\n</think>4', 'still thinking', '  <think>x</think>y</think>z', '</thi', ''],
  qwen3: ['<think>a</think>b', 'no thinking </think> here', '<think>unclosed', ' <thin', '<think></think>', 'plain'],
};

test('a stream split anywhere sends the unstreamed reasoning and content (and calls)', () => {
  const auto = { kind: 'auto' as const, parser: 'hermes' as const, names: new Set(['add']) };
  const withCall = '<think>plan</think>Sure.\n<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>';
  for (const p of REASONING_PARSERS)
    for (const [text, mode] of [...texts[p].map((t) => [t, null] as const), [withCall, auto] as const]) {
      const whole = splitAnswer(text, p, mode);
      fc.assert(
        fc.property(fc.array(fc.nat({ max: text.length }), { maxLength: 8 }), (cuts) => {
          const at = [0, ...[...new Set(cuts)].sort((a, b) => a - b), text.length];
          const pieces = at.slice(1).map((end, i) => text.slice(at[i], end));
          const s = new ChatAnswerStream(p, mode);
          let reasoning = '';
          let content = '';
          let calls: unknown[] = [];
          pieces.forEach((piece, i) => {
            const out = s.push(piece, i === pieces.length - 1);
            reasoning += out.reasoning;
            content += out.content;
            if (out.calls.length) calls = out.calls;
          });
          const label = `${p}: ${JSON.stringify(text)} as ${JSON.stringify(pieces)}`;
          assert.equal(reasoning, whole.reasoning ?? '', label);
          assert.equal(content, whole.content ?? '', label);
          assert.deepEqual(calls, whole.calls, label);
        }),
        { numRuns: 80 },
      );
    }
});
