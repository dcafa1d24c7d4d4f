/**
 * APT step 1 and the gate's rules: `apt mine` reads the wrong and disagreeing records of a real
 * SQLite store, describes and groups them, and acquires fresh train-split cases like them; the gate
 * promotes only when the weakness slice rises and the general slices do not fall past the margin.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../src/store/open-store.ts';
import { generateSplit, splitOf } from '../models/train/generator/split.ts';
import { describeProblem } from '../models/train/generator/describe.ts';
import { judge } from '../apt/gate.ts';
import { servingDir } from '../apt/serving-dir.ts';
import { selectorFiles } from '../src/store/model-hash.ts';
import { versionFromDir } from '../src/versions/version-from-dir.ts';
import { questionOf, type AcquiredCase } from '../apt/weakness.ts';
import { stepPair } from '../apt/preference-pairs.ts';
import { makeRecord } from './helpers/store-fixtures.ts';

test('apt mine: weakness cases from the store, grouped, and fresh cases like them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-apt-'));
  const dbPath = join(dir, 'requests.db');
  const store = await openStore(dbPath);
  const problems = [...generateSplit({ split: 'dev', seed: 8, count: 6, tier: 'hard' })];
  problems.forEach((p, i) => {
    const right = i >= 4;
    store.record(makeRecord(`r${i}`, {
      promptText: `<s>Q: ${p.question}\nA:`,
      policy: i % 2 ? 'learned' : 'none',
      answers: [right ? String(p.answer) : '1', right ? String(p.answer) : '2', String(p.answer)],
      referenceAnswer: String(p.answer),
      referenceMatch: right,
      metadata: undefined, // live traffic: the description is read from the question
    }));
  });
  await store.flush();
  await store.close();
  assert.equal(questionOf(`<s>Q: ${problems[0]!.question}\nA:`), problems[0]!.question);

  const round = join(dir, 'round-1');
  const out = execFileSync('node', ['bin/skipserve.mjs', 'apt', 'mine', '--store', dbPath, '--round', round, '--per-case', '3'], { encoding: 'utf8' });
  assert.match(out, /weakness set: \d+ cases \(4 wrong/);
  const weakness = JSON.parse(readFileSync(join(round, 'weakness.json'), 'utf8')) as { cases: { recordId: string; description: { tier: string; kind: string; steps: number } }[]; groups: [string, number][] };
  const wrongIds = weakness.cases.map((c) => c.recordId).filter((id) => ['r0', 'r1', 'r2', 'r3'].includes(id));
  assert.equal(wrongIds.length, 4);
  for (const c of weakness.cases.filter((x) => wrongIds.includes(x.recordId))) {
    const p = problems[Number(c.recordId.slice(1))]!;
    assert.equal(c.description.kind, describeProblem(p).kind);
    assert.equal(c.description.steps, p.steps);
  }
  assert.equal(weakness.groups.reduce((s, [, n]) => s + n, 0), weakness.cases.length);
  const acquired = readFileSync(join(round, 'acquired.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AcquiredCase);
  assert.ok(acquired.length >= weakness.cases.length * 2, `${acquired.length} acquired`);
  for (const a of acquired) assert.equal(splitOf(a.question), 'train');
  assert.ok(acquired.some((a) => a.part === 'heldout') && acquired.some((a) => a.part === 'train'));
});

test('the gate: the weakness slice must rise (interval above 0), the general ones not fall past the margin', () => {
  const slices = [
    { name: 'weakness', rule: 'rise' as const, problems: Array(200).fill(null) },
    { name: 'general', rule: 'no-drop' as const, problems: Array(400).fill(null) },
  ];
  const base = [Array(200).fill(0).map((_, i) => (i < 80 ? 1 : 0)), Array(400).fill(0).map((_, i) => (i < 300 ? 1 : 0))];
  const better = [base[0]!.map((x, i) => (i < 120 ? 1 : x)), base[1]!.slice()];
  assert.equal(judge(base, better, slices, 0.005).promote, true);
  const worseGeneral = [better[0]!, base[1]!.map((x, i) => (i < 20 ? 0 : x))];
  const r = judge(base, worseGeneral, slices, 0.005);
  assert.equal(r.promote, false);
  assert.equal(r.slices[1]!.passed, false);
  assert.ok(r.slices[1]!.diff.diff < 0);
  assert.equal(judge(base, base, slices, 0.005).promote, false, 'no rise on the weakness slice: refused');
});

test('apt mine --bootstrap fills an empty store with tagged evaluation traffic first', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-apt-boot-'));
  const dbPath = join(dir, 'requests.db');
  const round = join(dir, 'round-1');
  const out = execFileSync('node', ['bin/skipserve.mjs', 'apt', 'mine', '--store', dbPath, '--round', round, '--bootstrap', '12', '--model', 'models/default', '--tier', 'standard', '--n', '2', '--temperature', '1.5', '--threads', '1'], { encoding: 'utf8' });
  assert.match(out, /bootstrap: 12 standard problems served best-of-2/);
  const store = await openStore(dbPath);
  try {
    const wrong = await store.mine({ kind: 'wrong', limit: 100 });
    const disagreeing = await store.mine({ kind: 'disagreement', limit: 100 });
    assert.ok(wrong.length + disagreeing.length > 0, 'hot sampling gets some wrong or split answers');
    for (const r of [...wrong, ...disagreeing]) {
      assert.equal(r.metadata?.tier, 'standard');
      assert.ok(r.referenceAnswer !== undefined);
    }
  } finally {
    await store.close();
  }
  assert.match(out, /weakness set: \d+ cases/);
});

test('apt select and apt gate --selector: plan pairs on the weakness cases, a new selector, its vote gate, promotion through the store', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-apt-select-'));
  const dbPath = join(dir, 'requests.db');
  const round = join(dir, 'round-1');
  mkdirSync(round);
  const cases = [...generateSplit({ split: 'train', seed: 12, count: 10, tier: 'standard' })].map((p, i): AcquiredCase => ({ ...p, from: `r${i % 5}`, part: i < 6 ? 'train' : 'heldout' }));
  writeFileSync(join(round, 'acquired.jsonl'), cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
  const run = (args: string[]) => execFileSync('node', ['bin/skipserve.mjs', 'apt', ...args], { encoding: 'utf8' });
  const out = run(['select', '--round', round, '--model', 'models/default', '--store', dbPath, '--cases', '4', '--top', '2', '--explore', '3', '--epochs', '2', '--threads', '1']);
  assert.match(out, /plan pairs: \d+ on \d+ of 4 questions/);
  assert.match(out, /registered selector version apt-round-1-selector \(candidate\)/);
  const records = readFileSync(join(round, 'plan-pairs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { plans: number[]; correct: boolean[]; pairs: [number, number][] });
  assert.equal(records.length, 4);
  for (const r of records) {
    assert.equal(r.plans.length, 5);
    assert.equal(new Set(r.plans).size, 5, 'distinct plans per question');
    // Every pair is (a plan that answered right, one that answered wrong) of the plans tried.
    for (const [a, b] of r.pairs) assert.ok(r.correct[r.plans.indexOf(a)] && !r.correct[r.plans.indexOf(b)]);
    assert.equal(r.pairs.length, r.correct.filter(Boolean).length * r.correct.filter((c) => !c).length);
  }
  const gate = run(['gate', '--selector', '--round', round, '--baseline', 'models/default', '--vote-count', '3', '--n', '2', '--store', dbPath, '--promote', '--threads', '1']);
  assert.match(gate, /weakness \(held out\)\s+3 problems, learned maj@2/);
  assert.match(gate, /hard tier vanilla maj@2/);
  assert.match(gate, /(promoted|refused) selector version apt-round-1-selector/);
  const report = JSON.parse(readFileSync(join(round, 'selector-gate.json'), 'utf8')) as { setting: { kind: string; policy: string }; slices: unknown[] };
  assert.deepEqual([report.setting.kind, report.setting.policy, report.slices.length], ['vote', 'learned', 3]);
  const store = await openStore(dbPath);
  try {
    const versions = await store.versions.list('selector');
    const v = versions.find((x) => x.name === 'apt-round-1-selector');
    assert.ok(v, 'the selector version is in the store');
    assert.match(v.status, /promoted|refused/);
    const files = (await store.versions.files('selector', 'apt-round-1-selector')).map((f) => f.path);
    assert.ok(files.includes('selector.onnx') && files.includes('router/catalog.json'), `with its files, so any replica can load it: ${files}`);
  } finally {
    await store.close();
  }
});

test('apt round --model promoted starts from what the replicas serve: the promoted selector laid over the model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-apt-serving-'));
  const store = await openStore(join(dir, 'requests.db'));
  try {
    assert.equal(await servingDir(store, 'models/default', join(dir, 'cache')), 'models/default', 'nothing promoted: the base directory');
    // A selector version of an earlier round: the shipped files plus its plan pairs.
    const sel = join(dir, 'selector');
    for (const f of selectorFiles('models/default')) {
      mkdirSync(dirname(join(sel, f)), { recursive: true });
      writeFileSync(join(sel, f), readFileSync(join('models/default', f)));
    }
    writeFileSync(join(sel, 'router', 'apt-pairs.jsonl'), '{"id":"x","pairs":[[1,2]]}\n');
    const { version } = await versionFromDir('selector', sel, { name: 'apt-r1-selector' });
    await store.versions.add(version);
    await store.versions.promote('selector', 'apt-r1-selector');
    const serving = await servingDir(store, 'models/default', join(dir, 'cache'));
    assert.notEqual(serving, 'models/default');
    assert.deepEqual(readFileSync(join(serving, 'model.safetensors')), readFileSync('models/default/model.safetensors'));
    assert.equal(readFileSync(join(serving, 'router', 'apt-pairs.jsonl'), 'utf8'), '{"id":"x","pairs":[[1,2]]}\n');
    assert.deepEqual(readFileSync(join(serving, 'selector.onnx')), readFileSync('models/default/selector.onnx'));
    assert.equal(await servingDir(store, 'models/default', join(dir, 'cache')), serving, 'materialized once');
  } finally {
    await store.close();
  }
});

test('apt report: one row per round from the files the round wrote', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skipserve-apt-report-'));
  const round = join(dir, 'round-1');
  mkdirSync(round);
  writeFileSync(join(round, 'weakness.json'), JSON.stringify({ cases: [{}, {}, {}] }));
  writeFileSync(join(round, 'acquired.jsonl'), '{}\n{}\n{}\n{}\n');
  const prop = (p: number) => ({ p, lo: p - 0.05, hi: p + 0.05 });
  const diff = (d: number) => ({ diff: d, lo: d - 0.02, hi: d + 0.02 });
  const slices = (d: number) => judge([[0, 1], [1, 1], [0, 0]], [[1, 1], [1, 1], [0, 0]], ['weakness (held out)', 'standard tier', 'hard tier'].map((name, k) => ({ name, rule: k ? ('no-drop' as const) : ('rise' as const), problems: Array(2).fill(null) })), d).slices;
  writeFileSync(join(round, 'gate.json'), JSON.stringify({ baseline: 'a', candidate: 'b', margin: 0.005, slices: slices(0.005), promote: false }));
  writeFileSync(join(round, 'selector-gate.json'), JSON.stringify({ baseline: 'a', candidate: 'c', margin: 0.005, slices: slices(0.005), promote: true, vanillaHard: prop(0.5), minusVanilla: { serving: diff(0), candidate: diff(0.01) } }));
  const out = execFileSync('node', ['bin/skipserve.mjs', 'apt', 'report', '--round', round, '--round', join(dir, 'missing')], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(out.length, 4);
  assert.match(out[2]!, /^\| round-1 \| 3 \/ 4 \| 50\.0 -> 100\.0, \+50\.0 \[/);
  assert.match(out[2]!, /\| 50\.0% \[45\.0, 55\.0\] \|/);
  assert.match(out[2]!, /\| model no, selector yes \|$/);
  assert.equal(out[3], '| missing | - | - | - | - | - | - | - |');
});

test('step-level preference pairs: the model\'s own steps up to its first mistake, then the right step > the wrong one', () => {
  const right = '2*74=148. 4756+148=4904. 4904/4=1226. 4904-1226=3678. 3678-1520=2158. The answer is 2158.';
  // Another route to the same number is no mistake; the first step with a wrong number is.
  const wrong = '2*74=148. 4756+148=4904. 4904/4=1226. 1226*3=3678. 4904-3678=1226. The answer is 1226.';
  assert.deepEqual(stepPair('q', right, wrong), {
    question: 'q',
    chosen: '2*74=148. 4756+148=4904. 4904/4=1226. 1226*3=3678. 3678-1520=2158.',
    rejected: '2*74=148. 4756+148=4904. 4904/4=1226. 1226*3=3678. 4904-3678=1226.',
    partial: true,
  });
  // A mistake in the last step: both sides are whole solutions (the trainer adds the end of sequence).
  assert.deepEqual(stepPair('q', '1+2=3. The answer is 3.', '1+2=3. The answer is 4.'), { question: 'q', chosen: '1+2=3. The answer is 3.', rejected: '1+2=3. The answer is 4.' });
  assert.equal(stepPair('q', right, right), null);
});
