// ToolCallStream: a `required` tool-call text read as it streams, checked with fast-check against
// the calls the whole text holds, whatever the calls, the spacing and where the text is cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ToolCallStream, type CallEvent } from '../src/engine/tool-call-stream.ts';

const ws = fc.constantFrom('', ' ', '\n', '  ');
const call = fc.record({ name: fc.string({ minLength: 1, maxLength: 12 }), parameters: fc.jsonValue({ maxDepth: 3 }), indent: fc.constantFrom(0, 1, 2), gaps: fc.array(ws, { minLength: 8, maxLength: 8 }) });

test('every call opens once with its name, and its arguments stream as the parameters text written, however the text is cut', () => {
  fc.assert(
    fc.property(fc.array(call, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 }), fc.array(ws, { minLength: 3, maxLength: 3 }), (calls, cuts, outer) => {
      const args = calls.map((c) => JSON.stringify(c.parameters, null, c.indent) ?? 'null');
      const g = (c: (typeof calls)[number], i: number) => c.gaps[i]!;
      const text = `${outer[0]}[${calls.map((c, i) => `${g(c, 0)}{${g(c, 1)}"name"${g(c, 2)}:${g(c, 3)}${JSON.stringify(c.name)}${g(c, 4)},${g(c, 5)}"parameters"${g(c, 6)}:${g(c, 7)}${args[i]}${g(c, 0)}}`).join(`${outer[1]},`)}${outer[2]}]`;
      const points = [...new Set(cuts.map((x) => x % (text.length + 1)))].sort((a, b) => a - b);
      const s = new ToolCallStream();
      const events: CallEvent[] = [];
      let from = 0;
      for (const p of [...points, text.length]) {
        events.push(...s.push(text.slice(from, p)));
        from = p;
      }
      const got: { name: string; arguments: string }[] = [];
      for (const e of events) {
        if (e.kind === 'open') {
          assert.equal(got.length, e.index, 'calls open in order, once each');
          got.push({ name: e.name, arguments: '' });
        } else {
          assert.equal(e.index, got.length - 1, 'arguments belong to the call opened last');
          got[e.index]!.arguments += e.text;
        }
      }
      assert.deepEqual(got, calls.map((c, i) => ({ name: c.name, arguments: args[i] })));
    }),
    { numRuns: 400 },
  );
});
