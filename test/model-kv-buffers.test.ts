/**
 * KV memory reuse (src/model/kv-buffers.ts, kv-cache.ts): a freed sequence's arrays go to the next
 * sequence of the same capacity, up to the idle bound; a staging keeps its backing across groups
 * and shapes (small enough) and its views stay exact for each shape.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvBuffers } from '../src/model/kv-buffers.ts';
import { KvStaging, LayerKv, kvCapacity } from '../src/model/kv-cache.ts';

test('a released cache gives its arrays to the next cache of the same capacity; past the idle bound they are dropped', () => {
  const buffers = new KvBuffers(2 * 2 * 32 * 4);
  const a = new LayerKv(2, 4, 32, buffers);
  const { k, v } = a;
  a.release();
  assert.equal(buffers.idleFloats(), 2 * 2 * 32 * 4);
  const b = new LayerKv(2, 4, 32, buffers);
  assert.ok((b.k === k || b.k === v) && (b.v === k || b.v === v), 'both arrays recycled');
  assert.equal(buffers.idleFloats(), 0);
  const c = new LayerKv(2, 4, 64, buffers);
  assert.ok(c.k !== k && c.k !== v, 'another length: a new array');
  c.release();
  assert.equal(buffers.idleFloats(), 2 * 64 * 4, 'one kept, the other over the bound dropped');
});

test('a grown or cloned cache keeps its positions; a clone of a prefix gets a power-of-two capacity', () => {
  const buffers = new KvBuffers();
  const kv = new LayerKv(2, 3, 16, buffers);
  const T = 20;
  const newK = Float32Array.from({ length: 2 * T * 3 }, (_, i) => i);
  kv.append(newK, newK, 0, T, T);
  assert.equal(kv.cap, 32);
  const c = kv.clone(5);
  assert.equal(c.cap, kvCapacity(6));
  for (let h = 0; h < 2; h++) assert.deepEqual([...c.k.subarray(h * c.cap * 3, (h * c.cap + 5) * 3)], [...newK.subarray(h * T * 3, (h * T + 5) * 3)]);
});

test('a staging keeps its backing across groups and shapes; each shape reads its own positions', () => {
  const buffers = new KvBuffers();
  const staging = new KvStaging(2, 1, 2);
  const seq = (len: number, base: number) => {
    const kv = new LayerKv(1, 2, kvCapacity(len), buffers);
    kv.append(Float32Array.from({ length: len * 2 }, (_, i) => base + i), Float32Array.from({ length: len * 2 }, (_, i) => -base - i), 0, len, len);
    return { len, layers: [kv, kv] };
  };
  const a = seq(10, 100);
  staging.prepare([1], [a], [true, true], 10);
  const first = staging.k[0]!;
  assert.deepEqual([...first.subarray(0, 20)], Array.from({ length: 20 }, (_, i) => 100 + i));
  staging.reset();
  const b = seq(70, 500);
  staging.prepare([2, 3], [b, b], [true, true], 70);
  assert.equal(staging.P, 128);
  assert.equal(staging.k[1]!.length, 2 * 128 * 2);
  assert.deepEqual([...staging.k[1]!.subarray(128 * 2, 128 * 2 + 4)], [500, 501, 502, 503], 'row 1 at its own offset');
  assert.deepEqual([...staging.v[0]!.subarray(0, 2)], [-500, -501]);
  assert.notEqual(staging.k[0]!.buffer, first.buffer, 'a larger shape grew the backing');
  const grown = staging.k[0]!.buffer;
  staging.reset();
  staging.prepare([4], [a], [true, true], 10);
  assert.equal(staging.k[0]!.buffer, grown, 'the same backing, re-carved for a smaller shape');
  assert.deepEqual([...staging.k[1]!.subarray(0, 4)], [100, 101, 102, 103]);
});
