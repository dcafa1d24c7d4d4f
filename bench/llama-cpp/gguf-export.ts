/**
 * Writes a Hugging Face Llama checkpoint as a GGUF file (F32 or Q8_0) so llama.cpp can run the very
 * weights skipserve benchmarks. Format: GGUF v3 (header, metadata, tensor infos, 32-byte aligned
 * data). q/k projection rows are permuted from HF's rotate-half layout to GGML's interleaved rope,
 * as llama.cpp's own converter does, so both runtimes compute the same function. The tokenizer is a
 * placeholder SPM vocabulary of the checkpoint's size (benchmarks feed token ids, not text).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Checkpoint } from '../../src/model/checkpoint.ts';

/** GGUF tensor types used here. */
export type GgufType = 'F32' | 'Q8_0';
const GGML_TYPE = { F32: 0, Q8_0: 8 } as const;
const ALIGN = 32;

/** Streams bytes to a file descriptor, tracking the offset. */
class Out {
  offset = 0;
  constructor(private fd: number) {}
  bytes(b: Uint8Array): void {
    let done = 0;
    while (done < b.byteLength) done += writeSync(this.fd, b, done, b.byteLength - done);
    this.offset += b.byteLength;
  }
  /** One little-endian scalar of `size` bytes. */
  private scalar(size: number, set: (view: DataView) => void): void {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.bytes(b);
  }
  u32(v: number): void {
    this.scalar(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): void {
    this.scalar(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: number): void {
    this.scalar(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  f32(v: number): void {
    this.scalar(4, (d) => d.setFloat32(0, v, true));
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  pad(): void {
    const n = (ALIGN - (this.offset % ALIGN)) % ALIGN;
    if (n) this.bytes(new Uint8Array(n));
  }
}

type Meta = [string, 'u32' | 'f32' | 'str', number | string] | [string, 'str[]', string[]] | [string, 'f32[]' | 'i32[]', number[]];
const KV = { u32: 4, i32: 5, f32: 6, str: 8, arr: 9 } as const;

function writeMeta(o: Out, [key, type, value]: Meta): void {
  o.str(key);
  if (type === 'u32') (o.u32(KV.u32), o.u32(value as number));
  else if (type === 'f32') (o.u32(KV.f32), o.f32(value as number));
  else if (type === 'str') (o.u32(KV.str), o.str(value as string));
  else {
    o.u32(KV.arr);
    const xs = value as (string | number)[];
    o.u32(type === 'str[]' ? KV.str : type === 'f32[]' ? KV.f32 : KV.i32);
    o.u64(xs.length);
    for (const x of xs) {
      if (type === 'str[]') o.str(x as string);
      else if (type === 'f32[]') o.f32(x as number);
      else o.i32(x as number);
    }
  }
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
/** IEEE half-precision bits of x, rounded to nearest even. */
export function toHalf(x: number): number {
  f32buf[0] = x;
  const b = u32buf[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && half & 1) ? 1 : 0));
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Q8_0 blocks of 32: an f16 scale (max |x| / 127) then 32 int8 values. */
function quantizeQ8_0(x: Float32Array): Uint8Array {
  const n = x.length / 32;
  const out = new Uint8Array(n * 34);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < n; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    dv.setUint16(b * 34, toHalf(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.round(x[b * 32 + j] * id));
  }
  return out;
}

/** HF rotate-half rows of a `[heads * D, in]` projection reordered for GGML's interleaved rope. */
function permuteRope(w: Float32Array, heads: number, D: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < D / 2; i++) {
      for (let j = 0; j < 2; j++) out.set(w.subarray((h * D + j * (D / 2) + i) * cols, (h * D + j * (D / 2) + i + 1) * cols), (h * D + 2 * i + j) * cols);
    }
  }
  return out;
}

/** Writes `ck` to `path` in GGUF; norms stay F32, matrices use `type`. Returns the file size in bytes. */
export function exportGguf(ck: Checkpoint, path: string, type: GgufType): number {
  const c = ck.config;
  if (c.attentionBias) throw new Error('gguf-export: q/k/v biases (Qwen2) are not exported');
  const tensors: { name: string; hf: string; dims: number[]; matrix: boolean; rope?: number }[] = [];
  const add = (name: string, hf: string, rows: number, cols: number, rope?: number) => tensors.push({ name, hf, dims: rows === 1 ? [cols] : [cols, rows], matrix: rows > 1, rope });
  add('token_embd.weight', 'model.embed_tokens.weight', c.vocabSize, c.hiddenSize);
  add('output_norm.weight', 'model.norm.weight', 1, c.hiddenSize);
  if (!c.tieWordEmbeddings) add('output.weight', 'lm_head.weight', c.vocabSize, c.hiddenSize);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    add(`blk.${l}.attn_norm.weight`, p + 'input_layernorm.weight', 1, c.hiddenSize);
    add(`blk.${l}.attn_q.weight`, p + 'self_attn.q_proj.weight', c.numHeads * c.headDim, c.hiddenSize, c.numHeads);
    add(`blk.${l}.attn_k.weight`, p + 'self_attn.k_proj.weight', c.numKvHeads * c.headDim, c.hiddenSize, c.numKvHeads);
    add(`blk.${l}.attn_v.weight`, p + 'self_attn.v_proj.weight', c.numKvHeads * c.headDim, c.hiddenSize);
    add(`blk.${l}.attn_output.weight`, p + 'self_attn.o_proj.weight', c.hiddenSize, c.numHeads * c.headDim);
    add(`blk.${l}.ffn_norm.weight`, p + 'post_attention_layernorm.weight', 1, c.hiddenSize);
    add(`blk.${l}.ffn_gate.weight`, p + 'mlp.gate_proj.weight', c.intermediateSize, c.hiddenSize);
    add(`blk.${l}.ffn_up.weight`, p + 'mlp.up_proj.weight', c.intermediateSize, c.hiddenSize);
    add(`blk.${l}.ffn_down.weight`, p + 'mlp.down_proj.weight', c.hiddenSize, c.intermediateSize);
  }
  const V = c.vocabSize;
  const tokens = Array.from({ length: V }, (_, i) => (i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, '0')}>` : `t${i}`));
  const meta: Meta[] = [
    ['general.architecture', 'str', 'llama'],
    ['general.name', 'str', `skipserve ${ck.info.id}`],
    ['general.file_type', 'u32', type === 'F32' ? 0 : 7],
    ['general.alignment', 'u32', ALIGN],
    ['llama.context_length', 'u32', c.maxPositions],
    ['llama.embedding_length', 'u32', c.hiddenSize],
    ['llama.block_count', 'u32', c.numLayers],
    ['llama.feed_forward_length', 'u32', c.intermediateSize],
    ['llama.attention.head_count', 'u32', c.numHeads],
    ['llama.attention.head_count_kv', 'u32', c.numKvHeads],
    ['llama.attention.key_length', 'u32', c.headDim],
    ['llama.attention.value_length', 'u32', c.headDim],
    ['llama.rope.dimension_count', 'u32', c.headDim],
    ['llama.rope.freq_base', 'f32', c.ropeTheta],
    ['llama.attention.layer_norm_rms_epsilon', 'f32', c.rmsNormEps],
    ['llama.vocab_size', 'u32', V],
    ['tokenizer.ggml.model', 'str', 'llama'],
    ['tokenizer.ggml.tokens', 'str[]', tokens],
    ['tokenizer.ggml.scores', 'f32[]', tokens.map((_, i) => -i)],
    ['tokenizer.ggml.token_type', 'i32[]', tokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1))],
    ['tokenizer.ggml.bos_token_id', 'u32', 1],
    ['tokenizer.ggml.eos_token_id', 'u32', 2],
  ];
  const tensorType = (t: (typeof tensors)[number]) => (t.matrix && type === 'Q8_0' && t.dims[0] % 32 === 0 ? 'Q8_0' : 'F32');
  const size = (t: (typeof tensors)[number]) => {
    const n = t.dims.reduce((a, b) => a * b, 1);
    return tensorType(t) === 'Q8_0' ? (n / 32) * 34 : n * 4;
  };
  const fd = openSync(path, 'w');
  try {
    const o = new Out(fd);
    o.bytes(new TextEncoder().encode('GGUF'));
    o.u32(3);
    o.u64(tensors.length);
    o.u64(meta.length);
    for (const m of meta) writeMeta(o, m);
    let off = 0;
    for (const t of tensors) {
      o.str(t.name);
      o.u32(t.dims.length);
      for (const d of t.dims) o.u64(d);
      o.u32(GGML_TYPE[tensorType(t)]);
      o.u64(off);
      off += Math.ceil(size(t) / ALIGN) * ALIGN;
    }
    o.pad();
    for (const t of tensors) {
      let w = ck.read(t.hf);
      if (t.rope) w = permuteRope(w, t.rope, c.headDim, c.hiddenSize);
      o.bytes(tensorType(t) === 'Q8_0' ? quantizeQ8_0(w) : new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      o.pad();
    }
    return o.offset;
  } finally {
    closeSync(fd);
  }
}
