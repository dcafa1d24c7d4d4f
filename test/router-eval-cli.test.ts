/**
 * `skipserve router eval` end to end on a copy of the default model with its router files: fast
 * mode runs once per `--target`, each target's rows and paired differences land in eval.json, a bad
 * target names the flag, and end-to-end speeds are measured at --speed-ns only and kept per row, so
 * a rerun measures only what changed.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { copyDefaultModel, DEFAULT_MODEL } from './helpers/default-model-copy.ts';

const SRC = DEFAULT_MODEL;
const dir = mkdtempSync(join(tmpdir(), 'skipserve-eval-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const copyModel = (name?: string): string => copyDefaultModel(dir, name);

test('router eval runs fast mode (learned, and the calibrated ensemble) at each --target and pairs each with vanilla', () => {
  const model = copyModel();
  execFileSync(
    'node',
    ['bin/skipserve.mjs', 'router', 'eval', '--model', model, '--tier', 'hard', '--count', '2', '--ns', '4,8', '--max-tokens', '6', '--threads', '1',
      '--policies', 'vanilla,learned-fast-greedy,ensemble-fast-greedy', '--target', '1.25,1.5', '--speed-problems', '0', '--max-batch', '8'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = JSON.parse(readFileSync(join(model, 'router', 'eval.json'), 'utf8')) as { rows: { label: string; n: number; problems: number }[]; diffs: { a: string; b: string }[] };
  assert.deepEqual([...new Set(out.rows.map((r) => r.label))].sort(), ['ensemble fast 1.25x greedy', 'ensemble fast 1.5x greedy', 'learned fast 1.25x greedy', 'learned fast 1.5x greedy', 'vanilla']);
  assert.equal(out.rows.length, 10, 'one row per configuration and N');
  for (const r of out.rows) assert.equal(r.problems, 2);
  // N = 4 and 8 share batch bucket 8's core: one request at N = 8 scores both (so the engine's
  // reported speedup, a property of the request, is the same for both N of a problem).
  const records = readFileSync(join(model, 'router', 'eval-records.jsonl'), 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l) as { label: string; n: number; i: number; speedup: number | null });
  for (const t of ['1.25', '1.5']) {
    const mine = records.filter((r) => r.label === `learned fast ${t}x greedy`);
    assert.equal(mine.length, 4);
    for (const i of [0, 1]) assert.equal(mine.find((r) => r.n === 4 && r.i === i)!.speedup, mine.find((r) => r.n === 8 && r.i === i)!.speedup);
  }
  const pairs = out.diffs.map((d) => `${d.a} | ${d.b}`);
  assert.ok(pairs.includes('vanilla | learned fast 1.25x greedy'), pairs.join('; '));
  assert.ok(pairs.includes('vanilla | learned fast 1.5x greedy'), pairs.join('; '));
  assert.ok(pairs.includes('vanilla | ensemble fast 1.25x greedy'), pairs.join('; '));
  assert.ok(pairs.includes('learned fast 1.5x greedy | ensemble fast 1.5x greedy'), pairs.join('; '));
  assert.match(readFileSync(join(model, 'router', 'eval.md'), 'utf8'), /fast mode targets 1\.25x, 1\.5x/);
});

test('router eval refuses a target out of range, naming the flag', () => {
  const r = spawnSync('node', ['bin/skipserve.mjs', 'router', 'eval', '--model', SRC, '--target', '1.25,0.9'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--target must be numbers in \(1, 8\], comma-separated, got '0\.9'/);
});

test('router eval measures end-to-end speed at --speed-ns only and keeps each row, so a rerun measures nothing again', () => {
  const model = copyModel('speed');
  const args = (rounds: string) => ['bin/skipserve.mjs', 'router', 'eval', '--model', model, '--tier', 'hard', '--count', '2', '--ns', '4,8', '--max-tokens', '4', '--threads', '1',
    '--policies', 'vanilla,latency-budget-1.25', '--speed-problems', '1', '--speed-rounds', rounds, '--speed-tokens', '4', '--speed-ns', '8', '--max-batch', '8'];
  const run = (rounds: string) => spawnSync('node', args(rounds), { encoding: 'utf8' });
  const speedLines = () => readFileSync(join(model, 'router', 'eval-speed-records.jsonl'), 'utf8').trim().split('\n');
  const first = run('1');
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stderr, /end-to-end speed: latency-budget 1\.25x N=8/);
  assert.doesNotMatch(first.stderr, /end-to-end speed: latency-budget 1\.25x N=4/);
  const rows = (JSON.parse(readFileSync(join(model, 'router', 'eval.json'), 'utf8')) as { rows: { label: string; n: number; measuredSpeedup: number | null; reportedSameRequests: number | null }[] }).rows;
  const lb = (n: number) => rows.find((r) => r.label === 'latency-budget 1.25x' && r.n === n)!;
  assert.equal(lb(4).measuredSpeedup, null, 'N = 4 is not in --speed-ns');
  assert.ok(lb(8).measuredSpeedup! > 0);
  // What the engine reported for the alternated requests themselves sits beside the measured ratio.
  const speedRecord = JSON.parse(speedLines()[0]!) as { speed: { reported: number | null } };
  assert.equal(lb(8).reportedSameRequests, speedRecord.speed.reported);
  assert.ok(lb(8).reportedSameRequests! > 0);
  assert.match(readFileSync(join(model, 'router', 'eval.md'), 'utf8'), /\| reported, same requests \| reported, evaluation's requests \|/);
  assert.equal(speedLines().length, 1);
  const again = run('1');
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /end-to-end speed:/, 'the row is read back, not measured again');
  assert.equal((JSON.parse(readFileSync(join(model, 'router', 'eval.json'), 'utf8')) as { rows: typeof rows }).rows.find((r) => r.label === 'latency-budget 1.25x' && r.n === 8)!.measuredSpeedup, lb(8).measuredSpeedup);
  const more = run('2');
  assert.equal(more.status, 0, more.stderr);
  assert.match(more.stderr, /end-to-end speed: latency-budget 1\.25x N=8/, 'other rounds: another measurement');
  assert.equal(speedLines().length, 2);
  const bad = spawnSync('node', [...args('1'), '--speed-ns', '16'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--speed-ns: 16 is not one of --ns \(4,8\)/);
});
