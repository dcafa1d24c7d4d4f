/**
 * The spinning setting: parsing from config / SKIPSERVE_ORT_SPIN, and `auto`, which spins only
 * with a CPU to spare beside the intra-op threads on an idle machine.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpin, resolveSpin } from '../src/model/spin.ts';

describe('spin setting', () => {
  it('parses on/off/auto and the variable forms, and names the setting when it is bad', () => {
    assert.equal(parseSpin(undefined), undefined);
    assert.equal(parseSpin(''), undefined);
    for (const on of ['1', 'true', 'on', true] as const) assert.equal(parseSpin(on), 'on');
    for (const off of ['0', 'false', 'off', false] as const) assert.equal(parseSpin(off), 'off');
    assert.equal(parseSpin('auto'), 'auto');
    assert.throws(() => parseSpin('fast'), /spin must be one of on, off, auto \(got "fast"\)/);
  });

  it('auto spins only with a spare CPU on an idle machine', () => {
    assert.deepEqual(resolveSpin('on', 2, { cpus: 2, load1: 9 }).spin, true);
    assert.deepEqual(resolveSpin('off', 2, { cpus: 64, load1: 0 }).spin, false);
    assert.equal(resolveSpin('auto', 2, { cpus: 2, load1: 0 }).spin, false);
    assert.match(resolveSpin('auto', 2, { cpus: 2, load1: 0 }).reason, /2 CPUs leave none beside 2 intra-op threads/);
    assert.equal(resolveSpin('auto', 2, { cpus: 8, load1: 0.4 }).spin, true);
    assert.equal(resolveSpin('auto', 2, { cpus: 8, load1: 5 }).spin, false);
    assert.equal(resolveSpin('auto', 1, { cpus: 2, load1: 0.2 }).spin, true);
  });
});
