/** Content hashes of model directories and selector files: equal bytes, equal version names. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hashFile, hashModelDir } from '../src/store/model-hash.ts';

const root = mkdtempSync(join(tmpdir(), 'skipserve-hash-'));
after(() => rmSync(root, { recursive: true, force: true }));

function modelDir(name: string, weights = 'weights-v1'): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), '{"architectures":["LlamaForCausalLM"]}');
  writeFileSync(join(dir, 'tokenizer.json'), '{"model":{}}');
  writeFileSync(join(dir, 'model.safetensors'), weights);
  return dir;
}

describe('content hashes', () => {
  it('a model directory hashes its checkpoint files only, independent of its path', async () => {
    const a = await hashModelDir(modelDir('a'));
    assert.match(a, /^sha256:[0-9a-f]{64}$/);
    const b = modelDir('b');
    writeFileSync(join(b, 'MODEL_CARD.md'), 'notes do not change the version');
    writeFileSync(join(b, 'selector.onnx'), 'selectors have versions of their own');
    assert.equal(await hashModelDir(b), a);
    assert.notEqual(await hashModelDir(modelDir('c', 'weights-v2')), a, 'other weights, other version');
    const d = modelDir('d');
    writeFileSync(join(d, 'tokenizer_config.json'), '{}');
    assert.notEqual(await hashModelDir(d), a, 'a tokenizer file counts');
  });

  it('a file name counts in a directory: the same bytes under another name differ', async () => {
    const e = modelDir('e');
    rmSync(join(e, 'tokenizer.json'));
    writeFileSync(join(e, 'vocab.json'), '{"model":{}}');
    assert.notEqual(await hashModelDir(e), await hashModelDir(modelDir('f')));
  });

  it('refuses a folder that is not a checkpoint, and hashes the default model', async () => {
    mkdirSync(join(root, 'empty'));
    await assert.rejects(hashModelDir(join(root, 'empty')), /no config\.json/);
    const g = modelDir('g');
    rmSync(join(g, 'model.safetensors'));
    await assert.rejects(hashModelDir(g), /no model\.safetensors/);
    assert.match(await hashModelDir('models/default'), /^sha256:[0-9a-f]{64}$/);
  });

  it('a selector file hashes its bytes, whatever its name', async () => {
    copyFileSync('models/default/selector.onnx', join(root, 'renamed.onnx'));
    assert.equal(await hashFile(join(root, 'renamed.onnx')), await hashFile('models/default/selector.onnx'));
    assert.equal(
      await hashFile(join(root, 'a', 'model.safetensors')),
      'sha256:' + (await import('node:crypto')).createHash('sha256').update('weights-v1').digest('hex'),
    );
  });
});
