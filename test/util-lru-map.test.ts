import { it } from 'node:test';
import assert from 'node:assert/strict';
import { LruMap } from '../src/util/lru-map.ts';
import { EmbeddingCache } from '../src/engine/embedding-cache.ts';

it('LruMap drops the least recently read or written entry past its capacity', () => {
  const m = new LruMap<string, number>(2);
  m.set('a', 1);
  m.set('b', 2);
  assert.equal(m.get('a'), 1); // a is now the most recent
  m.set('c', 3); // drops b
  assert.equal(m.size, 2);
  assert.equal(m.get('b'), undefined);
  assert.deepEqual([m.get('a'), m.get('c')], [1, 3]);
  m.set('a', 4); // rewriting a keeps one entry for it
  assert.equal(m.size, 2);
  assert.equal(m.get('a'), 4);
});

it('EmbeddingCache keys by the prompt tokens and keeps its capacity', () => {
  const c = new EmbeddingCache(1);
  const e = new Float32Array([1, 2]);
  c.set([1, 2, 3], e);
  assert.equal(c.get([1, 2, 3]), e);
  c.set([4], new Float32Array([3]));
  assert.equal(c.size, 1);
  assert.equal(c.get([1, 2, 3]), undefined);
});
