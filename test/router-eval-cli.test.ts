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
    ['bin/skipserve.mjs', 'router', 'eval', '--model', model, '--tier', 'hard', '--count', '2', '--ns', '2', '--max-tokens', '6', '--threads', '1',
      '--policies', 'vanilla,learned-fast-greedy', '--target', '1.25,1.5', '--speed-problems', '0', '--max-batch', '8'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const out = JSON.parse(readFileSync(join(model, 'router', 'eval.json'), 'utf8')) as { rows: { label: string; n: number; problems: number }[]; diffs: { a: string; b: string }[] };
  assert.deepEqual(out.rows.map((r) => r.label).sort(), ['learned fast 1.25x greedy', 'learned fast 1.5x greedy', 'vanilla']);
  for (const r of out.rows) assert.equal(r.problems, 2);
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
