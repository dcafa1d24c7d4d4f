/**
 * The Python trainer that makes the default model (models/train/train.py, grow.py, export.py), run
 * for a step or two on a few generated problems: a model grown by a zero-output copy (--grow-after)
 * and exported must answer exactly as the model it grew from (through the project's onnxruntime
 * runtime), and so must one whose query heads are split in two (--split-heads), with and without
 * the copies of a head masked; --teacher is loaded, --grow-lr-mult reaches the copy's optimizer groups, and a rerun of
 * the same command resumes from the checkpoint; --train-only leaves every other weight as it was, --focus-only
 * masks one focus head per head-masked example and nothing else, and --on-policy trains on the masked model's own
 * greedy text (generated under the batch's masks, as under the same plans). Needs python3-torch (installed by .ci/run).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PY = process.env.PYTHON ?? '/usr/bin/python3';
const DEFAULT = 'models/default';
const work = mkdtempSync(join(tmpdir(), 'skipserve-train-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}\n${r.stderr}`);
  return r.stdout;
}
const cli = (args: string[]) => run(process.execPath, ['bin/skipserve.mjs', ...args]);
type Event = Record<string, unknown> & { event?: string };
const events = (runDir: string): Event[] =>
  readFileSync(join(runDir, 'train.log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Event);
/** [tensors, lr multiple] per optimizer group, from the run's `param-groups` event. */
const paramGroups = (log: Event[]) =>
  (log.find((e) => e.event === 'param-groups') as { groups: { tensors: number; lr_mult: number }[] }).groups.map((g) => [g.tensors, g.lr_mult]);

const data = join(work, 'data');
cli(['data', 'generate', '--tier', 'hard', '--split', 'train', '--seed', '3', '--count', '24', '--out', join(data, 'train.jsonl')]);
cli(['data', 'generate', '--tier', 'hard', '--split', 'dev', '--seed', '3', '--count', '2', '--out', join(data, 'dev.jsonl')]);

/** The question of dev problem i. */
const devQuestion = (i: number) =>
  (JSON.parse(readFileSync(join(data, 'dev.jsonl'), 'utf8').split('\n')[i]!) as { question: string }).question;
/** `skipserve generate`'s greedy text for a question on a model, under an optional skip plan. */
const generate = (model: string, q: string, plan?: object) =>
  (JSON.parse(cli(['generate', '--model', model, '--prompt', q, '--max-tokens', '48', '--threads', '1', '--json',
    ...(plan ? ['--plan', JSON.stringify(plan)] : [])])) as { text: string }).text;
/** train.py run with `args` exits 2 with `message` on stderr. */
function usageError(args: string[], message: RegExp): void {
  const r = spawnSync(PY, ['models/train/train.py', '--data', data, '--tokenizer', DEFAULT, '--out', join(work, 'bad'), ...args], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, message);
}

/** train.py growing the default model by a copy of layer 0, distilled from (and anchored to) the default. */
function train(out: string, extra: string[]): void {
  run(PY, [
    'models/train/train.py', '--data', data, '--tokenizer', DEFAULT, '--out', out, '--layers', '17', '--max-pos', '1024',
    '--init-from', DEFAULT, '--grow-after', '0', '--teacher', DEFAULT, '--distill', '1', '--anchor', '1', '--core-mode',
    '--dev-count', '2', '--batch-tokens', '1024', '--threads', '1', '--warmup', '1', '--seed', '5', ...extra,
  ]);
}

describe('train.py + export.py', () => {
  it('a grown model, exported before it learns anything, answers exactly as the model it grew from', () => {
    const out = join(work, 'grown');
    train(out, ['--steps', '1', '--lr', '0', '--wd', '0']);
    const log = events(out);
    assert.ok(log.some((e) => e.event === 'teacher' && e.dir === DEFAULT), 'the teacher is loaded');
    const init = log.find((e) => e.event === 'init-from') as { layers: [number, boolean][] };
    assert.deepEqual(init.layers.slice(0, 3), [[0, false], [0, true], [1, false]]);
    assert.deepEqual(paramGroups(log), [[120, 1], [35, 1]], 'no --grow-lr-mult: the two groups of older runs');
    run(PY, ['models/train/export.py', '--ckpt', join(out, 'ckpt.pt'), '--tokenizer', DEFAULT, '--out', join(work, 'grown-model')]);
    const config = JSON.parse(readFileSync(join(work, 'grown-model', 'config.json'), 'utf8')) as { num_hidden_layers: number };
    assert.equal(config.num_hidden_layers, 17);
    const q = devQuestion(0);
    const grown = generate(join(work, 'grown-model'), q);
    assert.ok(grown.length > 0);
    assert.equal(grown, generate(DEFAULT, q));
  });

  it('a model whose heads are split in two answers as its parent; masking both copies of a head is masking the head', () => {
    const out = join(work, 'split');
    run(PY, [
      'models/train/train.py', '--data', data, '--tokenizer', DEFAULT, '--out', out, '--layers', '16', '--heads', '16',
      '--head-dim', '20', '--max-pos', '1024', '--init-from', DEFAULT, '--split-heads', '2', '--dev-count', '2',
      '--batch-tokens', '1024', '--threads', '1', '--steps', '1', '--lr', '0', '--wd', '0',
    ]);
    const model = join(work, 'split-model');
    run(PY, ['models/train/export.py', '--ckpt', join(out, 'ckpt.pt'), '--tokenizer', DEFAULT, '--out', model]);
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as Record<string, number>;
    assert.deepEqual([config.num_attention_heads, config.num_key_value_heads, config.head_dim], [16, 2, 20]);
    const q = devQuestion(1);
    assert.equal(generate(model, q), generate(DEFAULT, q));
    // old head h is new heads 2h and 2h+1: masking both of layer 0's copies of head 7 is masking head 7
    assert.equal(generate(model, q, { mask_heads: { 0: [14, 15], 3: [2, 3] } }), generate(DEFAULT, q, { mask_heads: { 0: [7], 3: [1] } }));
  });

  it('--grow-lr-mult reaches the copy; a rerun resumes; --anchor without --teacher and --split-heads without --init-from are usage errors', () => {
    const out = join(work, 'lr-mult');
    train(out, ['--steps', '2', '--lr', '1e-4', '--grow-lr-mult', '10']);
    const first = events(out);
    // one attention + MLP block: 7 weight matrices and 2 norms at 10x; the rest (embeddings, 16 layers, final norm) at 1x
    assert.deepEqual(paramGroups(first), [[113, 1], [33, 1], [7, 10], [2, 10]]);
    assert.equal(first.filter((e) => e.event === 'done').length, 1);
    train(out, ['--steps', '3', '--lr', '1e-4', '--grow-lr-mult', '10']);
    const log = events(out);
    assert.ok(log.some((e) => e.event === 'resume' && e.step === 2), 'the rerun resumes at step 2');
    assert.equal((log.filter((e) => e.event === 'done').at(-1) as { step: number }).step, 3);
    usageError(['--anchor', '1'], /--anchor needs --teacher/);
    usageError(['--split-heads', '2'], /--split-heads needs --init-from/);
  });

  it('--train-only trains layer 0 alone (every other weight stays the teacher\'s), here on its own masked text (--on-policy); --focus-only masks one focus head per example', () => {
    const out = join(work, 'layer0');
    run(PY, [
      'models/train/train.py', '--data', data, '--tokenizer', DEFAULT, '--out', out, '--layers', '16', '--head-dim', '20', '--max-pos', '1024',
      '--init-from', DEFAULT, '--teacher', DEFAULT, '--distill', '1', '--anchor', '1', '--train-only', 'model.layers.0.',
      '--full-frac', '0', '--heads-only-frac', '1', '--focus-heads', '0.7,0.6', '--focus-head-p', '1', '--focus-only', '--on-policy', '1',
      '--dev-count', '2', '--batch-tokens', '1024', '--threads', '1', '--warmup', '1', '--steps', '2', '--lr', '1e-3', '--seed', '5',
    ]);
    // layer 0's 7 weight matrices and 2 norms; nothing else reaches the optimizer
    assert.deepEqual(paramGroups(events(out)), [[7, 1], [2, 1]]);
    const check = `
import json, sys, random, torch
sys.path.insert(0, 'models/train')
from model import Llama, greedy
from grow import init_from_exported
from skips import sample_train_masks
cfg = json.load(open('${DEFAULT}/config.json'))
ref = Llama(cfg); init_from_exported(ref, '${DEFAULT}')
trained = torch.load(sys.argv[1])['model']
moved = sorted({n.split('.')[2] if n.startswith('model.layers.') else n for n, p in ref.named_parameters() if not torch.equal(p, trained[n])})
rng = random.Random(3)
zeros = set()
for _ in range(20):
    a, m, hk = sample_train_masks(4, cfg, rng, 0.0, 1.0, focus_heads=[(0, 7), (5, 3)], focus_head_p=1.0, focus_only=True)
    assert a.min() == 1 and m.min() == 1
    for b in range(4):
        z = (hk[b] == 0).nonzero().tolist()
        assert len(z) == 1, z
        zeros.add(tuple(z[0]))
keep = (torch.ones(2, 16), torch.ones(2, 16), torch.ones(2, 16, 8))
keep[2][1, 0, 7] = 0
prompts = [[1, 5, 6, 7], [1, 8, 9]]
by_masks = greedy(ref, prompts, max_new=8, masks=keep)
by_plans = greedy(ref, prompts, max_new=8, plans=[{}, {"maskHeads": {"0": [7]}}])
print(json.dumps({"moved": moved, "zeros": sorted(zeros), "same": by_masks == by_plans}))
`;
    const r = JSON.parse(run(PY, ['-c', check, join(out, 'ckpt.pt')])) as { moved: string[]; zeros: number[][]; same: boolean };
    assert.deepEqual(r.moved, ['0'], 'only layer 0 changed');
    assert.deepEqual(r.zeros, [[0, 7], [5, 3]]);
    assert.ok(r.same, 'greedy under explicit keep masks decodes as under the same plans');
    usageError(['--on-policy', '1'], /--on-policy needs --teacher/);
    usageError(['--anchor-only'], /--anchor-only needs --anchor/);
    usageError(['--focus-only'], /--focus-only needs --focus-heads/);
    usageError(['--train-only', 'model.nothing.'], /--train-only: no parameter name starts with/);
  });
});
