// Guides checked once while kept (src/engine/guide-check-cache.ts): the same input gives the same
// pattern, or throws the same error, without checking it again; the least recently used go first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuideCheckCache } from '../src/engine/guide-check-cache.ts';
import { guidePattern } from '../src/engine/guided-request.ts';

test('a guide is checked once while kept; its error too; the least recently used goes first', () => {
  const cache = new GuideCheckCache();
  let checks = 0;
  const ok = () => (checks++, 'a+');
  const bad = () => {
    checks++;
    throw new Error('no');
  };
  assert.equal(cache.get('k', ok), 'a+');
  assert.equal(cache.get('k', ok), 'a+');
  assert.throws(() => cache.get('e', bad), /no/);
  assert.throws(() => cache.get('e', bad), /no/);
  assert.equal(checks, 2);
  for (let i = 0; i < 64; i++) cache.get(`x${i}`, ok);
  assert.equal(checks, 66);
  cache.get('x63', ok);
  assert.equal(checks, 66, 'kept');
  cache.get('k', ok);
  assert.equal(checks, 67, 'the oldest went first');
});

test('guidePattern: the same grammar twice gives the same pattern; a bad one the same error', () => {
  const grammar = 'root ::= "a" [0-9]{1,3} ("x" | "y")*';
  const first = guidePattern({ guidedGrammar: grammar });
  const second = guidePattern({ guidedGrammar: grammar });
  assert.equal(second, first);
  assert.throws(() => guidePattern({ guidedGrammar: 'root ::= x' }), /rule 'x' is not defined/);
  assert.throws(() => guidePattern({ guidedGrammar: 'root ::= x' }), /rule 'x' is not defined/, 'a cached error is thrown again');
});
