/**
 * `skipserve router vote-rules` end to end on a copy of the default model with its router files:
 * every policy's candidates are recorded once and scored under each selection rule of the server,
 * the sub-network ensemble gives every candidate but the first its own skip core, a rerun resumes
 * without generating again, and a bad flag is named. Scoring is checked on hand-made records.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { copyDefaultModel, DEFAULT_MODEL } from './helpers/default-model-copy.ts';
import { scoreVoteStudy, type VoteRecord } from '../router/vote-rules.ts';
import { subNetworkPlans } from '../src/plans/policies/sub-networks.ts';
import { planCost } from '../src/plans/cost.ts';

const SRC = DEFAULT_MODEL;
const dir = mkdtempSync(join(tmpdir(), 'skipserve-vote-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const copyModel = (name?: string): string => copyDefaultModel(dir, name);

test('router vote-rules records each policy once and scores every rule on the same candidates', () => {
  const model = copyModel();
  const args = ['bin/skipserve.mjs', 'router', 'vote-rules', '--model', model, '--count', '3', '--n', '4', '--max-tokens', '8', '--threads', '1', '--max-batch', '8', '--policies', 'greedy,vanilla,learned,sub-networks'];
  execFileSync('node', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const records = readFileSync(join(model, 'router', 'vote-records.jsonl'), 'utf8').trim().split('\n');
  assert.equal(records.length, 1 + 4 * 3, 'a header and one record per policy and problem');
  const out = JSON.parse(readFileSync(join(model, 'router', 'vote-rules.json'), 'utf8')) as { header: { subNetworks: string[] }; rows: { label: string; rule: string; acc: { n: number } }[] };
  assert.deepEqual(out.rows.map((r) => `${r.label}/${r.rule}`), ['greedy/vote', ...['vanilla', 'learned', 'sub-networks 0.1'].flatMap((l) => ['vote', 'weighted', 'logprob'].map((r) => `${l}/${r}`))]);
  const greedyRecord = JSON.parse(records.find((l) => l.includes('"label":"greedy"'))!) as { cands: unknown[] };
  assert.equal(greedyRecord.cands.length, 1, 'greedy is one candidate');
  for (const r of out.rows) assert.equal(r.acc.n, 3);
  assert.equal(new Set(out.header.subNetworks).size, 4, 'the full model and three distinct cores');
  // A rerun generates nothing: the records stay as they were.
  execFileSync('node', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(readFileSync(join(model, 'router', 'vote-records.jsonl'), 'utf8').trim().split('\n').length, records.length);
  assert.match(readFileSync(join(model, 'router', 'vote-rules.md'), 'utf8'), /\| sub-networks 0\.1 \| weighted \|/);
});

test('router vote-rules on a skip core: latency-budget, the sub-networks and the calibrated ensemble on that core, labelled with the core; min-p sampling', () => {
  const model = copyModel('core');
  const args = ['bin/skipserve.mjs', 'router', 'vote-rules', '--model', model, '--count', '2', '--n', '4', '--max-tokens', '8', '--threads', '1', '--max-batch', '8', '--policies', 'vanilla,latency-budget,sub-networks-fast,vanilla-min-p,ensemble-greedy,ensemble-fast-greedy', '--target', '1.3'];
  execFileSync('node', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = JSON.parse(readFileSync(join(model, 'router', 'vote-rules.json'), 'utf8')) as { rows: { label: string; rule: string; acc: { n: number } }[] };
  const labels = [...new Set(out.rows.map((r) => r.label))];
  assert.equal(labels.length, 6, labels.join('; '));
  assert.equal(labels[3], 'vanilla min-p 0.1');
  const core = /^latency-budget 1\.3x \(core (a[\d.]*\|m[\d.]*)\)$/.exec(labels[1]!);
  assert.ok(core && core[1] !== 'a|m', `latency-budget names a core that skips something: ${labels[1]}`);
  assert.equal(labels[2], `sub-networks 0.1 on core ${core[1]}`);
  assert.match(labels[4]!, /^ensemble greedy \([0-9a-f]{8}\)$/, 'the ensemble, labelled with its file\'s hash');
  assert.equal(labels[5], `${labels[4]} on core ${core[1]}`);
  // The core's "|" is escaped in the markdown table, so each row keeps its columns.
  const md = readFileSync(join(model, 'router', 'vote-rules.md'), 'utf8');
  assert.ok(md.includes(`| sub-networks 0.1 on core ${core[1]!.replace('|', '\\|')} | weighted |`), md);
  for (const r of out.rows) assert.equal(r.acc.n, 2);
});

test('router vote-rules names a bad flag', () => {
  const r = spawnSync('node', ['bin/skipserve.mjs', 'router', 'vote-rules', '--model', SRC, '--policies', 'vanilla,oracle'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--policies: 'oracle' is not one of greedy, vanilla, learned, random-heads, sub-networks, latency-budget, sub-networks-fast/);
  const t = spawnSync('node', ['bin/skipserve.mjs', 'router', 'vote-rules', '--model', SRC, '--target', '1'], { encoding: 'utf8' });
  assert.match(t.stderr, /--target/);
});

test('sub-network plans: the full model first, then seeded cores of about the asked FLOP share', () => {
  const info = { numLayers: 16, numHeads: 8, numKvHeads: 2, hiddenSize: 160, headDim: 20, intermediateSize: 384, vocabSize: 384 } as never;
  const plans = subNetworkPlans(info, 8, 0.1, 7);
  assert.deepEqual(plans[0], { skipAttention: [], skipMlp: [], maskHeads: {} });
  for (const p of plans.slice(1)) {
    assert.ok(!p.skipAttention.includes(0) && !p.skipMlp.includes(0), 'layer 0 is kept');
    assert.ok(Math.abs(planCost(p, info).sublayerFraction - 0.1) < 0.03, JSON.stringify(p));
  }
  assert.deepEqual(subNetworkPlans(info, 8, 0.1, 7), plans, 'same seed, same cores');
});

test('vote-rules scoring: rules differ on the same candidates, differences are paired', () => {
  const rec = (label: string, i: number, truth: string, cands: [string | null, number, number][]): VoteRecord => ({ label, i, truth, cands: cands.map(([answer, meanLogprob, tokens]) => ({ answer, meanLogprob, tokens })) });
  const by = new Map<string, VoteRecord[]>([
    // Two unlikely wrong answers outvote one likely right one: vote is wrong, weighted right.
    ['vanilla', [rec('vanilla', 0, '5', [['4', -2, 10], ['5', -0.5, 10], ['4', -2, 10]]), rec('vanilla', 1, '1', [['1', -1, 5], ['1', -1, 5], ['2', -2, 5]])]],
    ['greedy', [rec('greedy', 0, '5', [['5', -1, 3]]), rec('greedy', 1, '1', [['2', -1, 3]])]],
    ['other', [rec('other', 0, '5', [['5', -1, 10], ['5', -1, 10], ['4', -1, 10]]), rec('other', 1, '1', [['2', -1, 5], ['2', -1, 5], ['1', -1, 5]])]],
  ]);
  const rows = scoreVoteStudy(by, ['vote', 'weighted', 'logprob'], 'vanilla');
  const get = (l: string, r: string) => rows.find((x) => x.label === l && x.rule === r)!;
  assert.equal(get('vanilla', 'vote').acc.k, 1);
  assert.equal(get('vanilla', 'weighted').acc.k, 2);
  assert.equal(get('vanilla', 'weighted').vsVote!.diff, 0.5);
  assert.equal(get('vanilla', 'logprob').acc.k, 2);
  assert.equal(get('vanilla', 'vote').vsVote, null);
  assert.equal(get('other', 'vote').vsBaseline!.diff, 0, 'paired with vanilla under the same rule');
  assert.equal(get('other', 'weighted').vsBaseline!.diff, -0.5);
  assert.equal(rows.filter((x) => x.label === 'greedy').length, 1, 'one row for the one greedy answer');
  assert.equal(get('vanilla', 'weighted').vsGreedy!.diff, 0.5, 'paired with the greedy answers');
});
