// tool_choice "auto": the calls a model chose to make, read back in its own format (hermes, mistral,
// llama3_json, json), with anything that is not a well-formed call to one of the tools kept as
// content; and the stream of such an answer (AutoToolStream), split anywhere, sends exactly the
// unstreamed content and calls.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AutoToolStream } from '../src/engine/tool-call-auto-stream.ts';
import { parseToolCalls, TOOL_PARSERS, type ToolParserName } from '../src/engine/tool-parsers.ts';

const names = new Set(['add', 'get_weather']);
const parse = (p: ToolParserName, text: string) => parseToolCalls(p, text, names);
const add = (a: number, b: number) => ({ name: 'add', arguments: JSON.stringify({ a, b }) });

test('hermes: <tool_call> blocks after the content, the last one may be unclosed; anything else is content', () => {
  assert.deepEqual(parse('hermes', 'Let me add.\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'), { content: 'Let me add.', calls: [add(1, 2)] });
  assert.deepEqual(parse('hermes', '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>\n<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}'), {
    content: null,
    calls: [add(1, 2), { name: 'get_weather', arguments: '{"city":"Oslo"}' }],
  });
  for (const text of ['Just text.', '<tool_call>{"name": "sub", "arguments": {}}</tool_call>', '<tool_call>{"name": "add", "arguments": [1]}</tool_call>', '<tool_call>{"name": "add"', '<tool_call>{"name":"add","arguments":{}}</tool_call> and more'])
    assert.deepEqual(parse('hermes', text), { content: text, calls: [] }, text);
});

test('mistral, llama3_json and json: their own shapes', () => {
  assert.deepEqual(parse('mistral', 'Sure.[TOOL_CALLS] [{"name": "add", "arguments": {"a": 3, "b": 4}}]'), { content: 'Sure.', calls: [add(3, 4)] });
  assert.deepEqual(parse('llama3_json', '<|python_tag|>{"name": "add", "parameters": {"a": 5, "b": 6}}; {"name": "add", "parameters": {"a": 7, "b": 8}}'), { content: null, calls: [add(5, 6), add(7, 8)] });
  assert.deepEqual(parse('json', ' [{"name": "add", "parameters": {"a": 1, "b": 1}}] '), { content: null, calls: [add(1, 1)] });
  assert.deepEqual(parse('json', '{"name": "add", "arguments": {"a": 2, "b": 2}}'), { content: null, calls: [add(2, 2)] });
  for (const [p, text] of [['json', '[]'], ['json', '{"a": 1}'], ['json', 'The answer is 42.'], ['llama3_json', '{"name": "nope", "parameters": {}}'], ['mistral', '[TOOL_CALLS] not json']] as const)
    assert.deepEqual(parse(p, text), { content: text, calls: [] }, `${p}: ${text}`);
});

/** Streams `text` in the given pieces; returns the content sent and the calls. */
function streamed(p: ToolParserName, pieces: string[]) {
  const s = new AutoToolStream(p, names);
  let content = '';
  let calls: unknown[] = [];
  pieces.forEach((piece, i) => {
    const out = s.push(piece, i === pieces.length - 1);
    content += out.content;
    if (out.calls.length) calls = out.calls;
  });
  return { content, calls };
}

const texts: Record<ToolParserName, string[]> = {
  hermes: ['Let me add.\n<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>', 'No call here, <tool but not quite.', '  ', '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call><tool_call>{"name": "add", "arguments": {"a": 3, "b": 4}}</tool_call>', '<tool_call>{"broken'],
  mistral: ['Sure.[TOOL_CALLS] [{"name": "add", "arguments": {"a": 3, "b": 4}}]', 'A [TOOL] like text', '[TOOL_CALLS] bad'],
  llama3_json: ['{"name": "add", "parameters": {"a": 5, "b": 6}}', '<|python_tag|>{"name": "add", "parameters": {"a": 5, "b": 6}}', 'Plain { text', '{"name": "x"}'],
  json: ['[{"name": "add", "parameters": {"a": 1, "b": 1}}]', '  {"name": "add", "parameters": {"a": 1, "b": 1}}', 'The answer is 42.', '[1, 2', '{} trailing'],
};

test('a stream split anywhere sends the unstreamed content and calls, and never a byte of the calls as content', () => {
  for (const p of TOOL_PARSERS)
    for (const text of texts[p]) {
      const whole = parse(p, text);
      fc.assert(
        fc.property(fc.array(fc.nat({ max: text.length }), { maxLength: 8 }), (cuts) => {
          const at = [0, ...[...new Set(cuts)].sort((a, b) => a - b), text.length];
          const pieces = at.slice(1).map((end, i) => text.slice(at[i], end));
          const s = streamed(p, pieces);
          assert.deepEqual(s.calls, whole.calls, `${p}: ${text}`);
          assert.equal(s.content, whole.calls.length ? (whole.content ?? '') : text, `${p}: ${text} as ${JSON.stringify(pieces)}`);
        }),
        { numRuns: 60 },
      );
    }
});
