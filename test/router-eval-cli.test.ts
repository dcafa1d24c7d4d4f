/**
 * `skipserve router eval` end to end on a copy of the default model with its router files: fast
 * mode runs once per `--target`, each target's rows and paired differences land in eval.json, and
 * a bad target names the flag.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const SRC = 'models/default';
const dir = mkdtempSync(join(tmpdir(), 'skipserve-eval-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function copyModel(): string {
  const model = join(dir, 'model');
  mkdirSync(join(model, 'router'), { recursive: true });
  for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'selector.onnx']) {
    copyFileSync(join(SRC, f), join(model, f));
  }
  for (const f of ['calibration.json', 'catalog.json', 'profiles.json']) copyFileSync(join(SRC, 'router', f), join(model, 'router', f));
  return model;
}

test('router eval runs fast mode at each --target and pairs each with vanilla', () => {
  const model = copyModel();
  execFileSync(
    'node',
    ['bin/skipserve.mjs', 'router', 'eval', '--model', model, '--tier', 'hard', '--count', '2', '--ns', '4,8', '--max-tokens', '6', '--threads', '1',
      '--policies', 'vanilla,learned-fast-greedy', '--target', '1.25,1.5', '--speed-problems', '0', '--max-batch', '8'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = JSON.parse(readFileSync(join(model, 'router', 'eval.json'), 'utf8')) as { rows: { label: string; n: number; problems: number }[]; diffs: { a: string; b: string }[] };
  assert.deepEqual([...new Set(out.rows.map((r) => r.label))].sort(), ['learned fast 1.25x greedy', 'learned fast 1.5x greedy', 'vanilla']);
  assert.equal(out.rows.length, 6, 'one row per configuration and N');
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
  assert.match(readFileSync(join(model, 'router', 'eval.md'), 'utf8'), /fast mode targets 1\.25x, 1\.5x/);
});

test('router eval refuses a target out of range, naming the flag', () => {
  const r = spawnSync('node', ['bin/skipserve.mjs', 'router', 'eval', '--model', SRC, '--target', '1.25,0.9'], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--target must be numbers in \(1, 8\], comma-separated, got '0\.9'/);
});
