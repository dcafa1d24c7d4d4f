/**
 * Bad checkpoints fail fast at load with a message that says what is wrong; good ones of every
 * supported kind are read with the right shape and eos ids.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { readSafetensorsHeader, toFloat32 } from '../src/model/safetensors.ts';
import { makeCheckpoint, type MakeCheckpointOptions } from '../testkit/make-checkpoint.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function mk(o: MakeCheckpointOptions = {}): string {
  const d = makeCheckpoint({ layers: 2, tokenizer: false, ...o });
  dirs.push(d);
  return d;
}
function editConfig(dir: string, f: (c: any) => void): void {
  const p = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(p, 'utf8'));
  f(c);
  writeFileSync(p, JSON.stringify(c));
}

/** Rewrites a single-file checkpoint's header through `f` (tensor data unchanged). */
function editHeader(dir: string, f: (h: Record<string, any>) => void): void {
  const p = join(dir, 'model.safetensors');
  const buf = readFileSync(p);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  f(h);
  const json = Buffer.from(JSON.stringify(h));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(p, Buffer.concat([len, json, buf.subarray(8 + n)]));
}

describe('checkpoint loader', () => {
  it('reads shape, eos ids (several) and tensors', () => {
    const dir = mk({ eosTokenIds: [1, 2], heads: 4, kvHeads: 2 });
    const ck = openCheckpoint(dir);
    assert.equal(ck.info.numLayers, 2);
    assert.equal(ck.info.numKvHeads, 2);
    assert.equal(ck.info.headDim, 8);
    assert.deepEqual(ck.info.eosTokenIds, [1, 2]);
    assert.equal(ck.info.bosTokenId, 0);
    assert.equal(ck.read('model.norm.weight').length, 32);
  });

  it('converts BF16 and F16 to f32', () => {
    assert.deepEqual([...toFloat32(new Uint8Array([0x80, 0x3f, 0x00, 0xc0]), 'BF16')], [1, -2]);
    assert.deepEqual([...toFloat32(new Uint8Array([0x00, 0x3c, 0x00, 0x38]), 'F16')], [1, 0.5]);
  });

  it('rejects an unsupported architecture', () => {
    const dir = mk();
    editConfig(dir, (c) => (c.architectures = ['GPT2LMHeadModel']));
    assert.throws(() => openCheckpoint(dir), /unsupported architecture \["GPT2LMHeadModel"\]; supported: LlamaForCausalLM/);
  });

  it('rejects a missing tensor', () => {
    const dir = mk();
    editHeader(dir, (h) => delete h['model.layers.1.mlp.up_proj.weight']);
    assert.throws(() => openCheckpoint(dir), /missing tensor in checkpoint: model.layers.1.mlp.up_proj.weight/);
  });

  it('rejects an extra tensor', () => {
    const dir = mk();
    editConfig(dir, (c) => (c.num_hidden_layers = 1));
    assert.throws(() => openCheckpoint(dir), /unexpected tensor model.layers.1.\S+ in checkpoint/);
  });

  it('rejects lm_head missing from an untied checkpoint', () => {
    const dir = mk({ tied: true });
    editConfig(dir, (c) => (c.tie_word_embeddings = false));
    assert.throws(() => openCheckpoint(dir), /missing tensor in checkpoint: lm_head.weight/);
  });

  it('rejects a shape mismatch', () => {
    const dir = mk();
    editConfig(dir, (c) => (c.intermediate_size = 48));
    assert.throws(() => openCheckpoint(dir), /shape mismatch for model.layers.0.mlp.gate_proj.weight: checkpoint has \[64,32\], config.json implies \[48,32\]/);
  });

  it('rejects a truncated file', () => {
    const dir = mk();
    const p = join(dir, 'model.safetensors');
    truncateSync(p, statSync(p).size - 100);
    assert.throws(() => openCheckpoint(dir), /truncated file: tensor model.norm.weight ends at byte \d+ but the file has \d+ bytes/);
    truncateSync(p, 4);
    assert.throws(() => readSafetensorsHeader(p), /truncated safetensors file/);
  });

  it('rejects a missing shard and a missing config', () => {
    const dir = mk({ shards: 2 });
    unlinkSync(join(dir, 'model-00002-of-00002.safetensors'));
    assert.throws(() => openCheckpoint(dir), /shard model-00002-of-00002.safetensors listed in model.safetensors.index.json is missing/);
    unlinkSync(join(dir, 'config.json'));
    assert.throws(() => openCheckpoint(dir), /config.json not found/);
  });

  it('rejects unsupported dtypes and rope scaling types', () => {
    const dir = mk();
    editHeader(dir, (h) => (h['model.norm.weight'].dtype = 'I8'));
    assert.throws(() => openCheckpoint(dir), /unsupported dtype I8/);
    const d2 = mk();
    editConfig(d2, (c) => (c.rope_scaling = { rope_type: 'yarn', factor: 4 }));
    assert.throws(() => openCheckpoint(d2), /rope_scaling type "yarn" is not supported/);
  });

  it('rejects heads that do not divide into KV groups', () => {
    const dir = mk();
    editConfig(dir, (c) => (c.num_key_value_heads = 3));
    assert.throws(() => openCheckpoint(dir), /num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
  });

  it('caps the context at a sliding window (Mistral always, Qwen2 only with use_sliding_window)', () => {
    const dir = mk({ architecture: 'MistralForCausalLM', maxPositions: 512 });
    editConfig(dir, (c) => (c.sliding_window = 128));
    assert.equal(openCheckpoint(dir).info.maxPositions, 128);
    editConfig(dir, (c) => (c.sliding_window = null));
    assert.equal(openCheckpoint(dir).info.maxPositions, 512);
    editConfig(dir, (c) => (c.sliding_window = 4096));
    assert.equal(openCheckpoint(dir).info.maxPositions, 512);
    editConfig(dir, (c) => (c.sliding_window = -1));
    assert.throws(() => openCheckpoint(dir), /sliding_window must be a positive integer or null \(got -1\)/);
    const q = mk({ architecture: 'Qwen2ForCausalLM', maxPositions: 512 });
    editConfig(q, (c) => {
      c.sliding_window = 128;
      c.use_sliding_window = false;
    });
    assert.equal(openCheckpoint(q).info.maxPositions, 512);
    editConfig(q, (c) => (c.use_sliding_window = true));
    assert.equal(openCheckpoint(q).info.maxPositions, 128);
  });
});
