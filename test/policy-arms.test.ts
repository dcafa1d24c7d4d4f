import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assignArm, loadArms, parseArms } from '../src/plans/arms.ts';

const config = parseArms({ arms: [{ policy: 'learned', weight: 50 }, { policy: 'none', weight: 50 }] });

test('one caller key always lands in the same arm', () => {
  for (let i = 0; i < 50; i++) {
    const key = `caller-${i}`;
    const first = assignArm(config, key).name;
    for (let r = 0; r < 5; r++) assert.equal(assignArm(config, key, () => 0.99).name, first);
  }
});

test('keys split across arms in proportion to the weights', () => {
  const skewed = parseArms({ arms: [{ name: 'a', policy: 'none', weight: 1 }, { name: 'b', policy: 'none', weight: 3 }] });
  let b = 0;
  const total = 4000;
  for (let i = 0; i < total; i++) if (assignArm(skewed, `user-${i}`).name === 'b') b++;
  assert.ok(Math.abs(b / total - 0.75) < 0.03, `share of b = ${b / total}`);
  let learned = 0;
  for (let i = 0; i < total; i++) if (assignArm(config, `k${i}`).name === 'learned') learned++;
  assert.ok(Math.abs(learned / total - 0.5) < 0.03);
});

test('without a key the random source decides', () => {
  assert.equal(assignArm(config, undefined, () => 0.1).name, 'learned');
  assert.equal(assignArm(config, null, () => 0.9).name, 'none');
});

test('arm options map to policy options', () => {
  const c = parseArms({ arms: [{ name: 'fast', policy: 'latency-budget', weight: 1, target_speedup: 1.5 }, { policy: 'expert-profile', weight: 2, domain: 'mul-div' }] });
  assert.deepEqual(c.arms[0]!.options, { targetSpeedup: 1.5 });
  assert.equal(c.arms[1]!.name, 'expert-profile');
  assert.deepEqual(c.arms[1]!.options, { domain: 'mul-div' });
});

test('bad configs fail with the field named', () => {
  assert.throws(() => parseArms({ arms: [] }), /arms/);
  assert.throws(() => parseArms({ arms: [{ policy: 'none', weight: 0 }] }), /arms\.0\.weight/);
  assert.throws(() => parseArms({ arms: [{ policy: 'none', weight: 1, colour: 'red' }] }), /colour|arms\.0/);
  assert.throws(() => parseArms({ arms: [{ policy: 'none', weight: 1 }, { policy: 'none', weight: 1 }] }), /arms\.1\.name/);
  assert.throws(() => parseArms({ arms: [{ policy: 'nope', weight: 1 }] }, 'x', ['none', 'learned']), /arms\.0\.policy 'nope'/);
});

test('loads from --arms-file or --arms (SKIPSERVE_ARMS_FILE / SKIPSERVE_ARMS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arms-'));
  const file = join(dir, 'arms.json');
  writeFileSync(file, JSON.stringify({ arms: [{ policy: 'random-heads', weight: 2, k: 2 }] }));
  const fromFile = loadArms({ armsFile: file });
  assert.equal(fromFile!.arms[0]!.policy, 'random-heads');
  assert.deepEqual(fromFile!.arms[0]!.options, { k: 2 });
  const inline = loadArms({ arms: '{"arms":[{"policy":"none","weight":1}]}' });
  assert.equal(inline!.arms[0]!.name, 'none');
  assert.equal(loadArms({}), null);
  assert.throws(() => loadArms({ armsFile: join(dir, 'missing.json') }), /--arms-file .*: cannot read/);
  writeFileSync(file, '{not json');
  assert.throws(() => loadArms({ armsFile: file }), /not valid JSON/);
});
