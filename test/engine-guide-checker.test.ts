// The guide checker (src/engine/guide-checker.ts): a request's tool and guide patterns checked in a
// worker thread come back exactly as the same check on this thread gives them, errors with their
// field and code; a request without guides needs no check; a worker that dies is replaced.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { InvalidRequestError } from '../src/errors.ts';
import { GuideChecker } from '../src/engine/guide-checker.ts';
import { checkGuides, patternOf } from '../src/engine/guide-checks.ts';

const checker = new GuideChecker();
after(() => checker.close());

const add = { type: 'function' as const, function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] } } };

test('patterns and errors from the worker are the ones a check on this thread gives', async () => {
  const specs = [
    { guidedGrammar: 'root ::= "a" [0-9]{1,3} ("x" | "y")*' },
    { guidedJson: { type: 'object', properties: { n: { type: 'integer' } } } },
    { tools: [add], toolChoice: 'required' as const },
    { tools: [add], toolChoice: { name: 'add' }, guidedRegex: 'a+' },
    { guidedGrammar: 'root ::= missing' },
    { tools: [add], toolChoice: 'auto' as const },
    { tools: [add], toolChoice: 'auto' as const, toolParser: 'hermes' as const },
    { guidedRegex: 'a', guidedChoice: ['b'] },
  ];
  for (const spec of specs) assert.deepEqual(await checker.check(spec), checkGuides(spec), JSON.stringify(spec));
  const bad = (await checker.check({ guidedGrammar: 'root ::= missing' }))!;
  assert.throws(() => patternOf(bad.guide), (e: InvalidRequestError) => e instanceof InvalidRequestError && e.field === 'guidedGrammar' && /rule 'missing' is not defined/.test(e.message));
  assert.equal(await checker.check({ temperature: 0.5 } as never), null, 'no guide, no tools: nothing to check');
});

test('a worker that dies is replaced at the next check', async () => {
  await checker.check({ guidedRegex: 'a+' });
  await (checker as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
  assert.deepEqual(await checker.check({ guidedRegex: 'b+' }), checkGuides({ guidedRegex: 'b+' }));
});
