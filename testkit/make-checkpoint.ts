/**
 * Writes a random-weight Hugging Face checkpoint directory for tests and benchmarks:
 * config.json, safetensors (F32/F16/BF16, single or sharded with an index), a byte-level BPE
 * tokenizer.json + tokenizer_config.json (259 tokens: <s>, </s>, <pad>, 256 bytes) and
 * generation_config.json. Deterministic for a given seed.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/util/rng.ts';

export interface MakeCheckpointOptions {
  /** Target directory; a fresh temp dir when omitted. */
  dir?: string;
  architecture?: 'LlamaForCausalLM' | 'Qwen2ForCausalLM' | 'MistralForCausalLM';
  layers?: number;
  hidden?: number;
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  intermediate?: number;
  /** At least 259 when the tokenizer is used (default 272). */
  vocab?: number;
  maxPositions?: number;
  tied?: boolean;
  dtype?: 'F32' | 'F16' | 'BF16';
  /** 1 = model.safetensors; more = sharded with model.safetensors.index.json. */
  shards?: number;
  ropeTheta?: number;
  /** Adds a llama3 rope_scaling block. */
  llama3Rope?: boolean;
  eosTokenIds?: number[];
  seed?: number;
  /** Write tokenizer files (default true). */
  tokenizer?: boolean;
}

/** Number of tokens in the helper's tokenizer. */
export const TINY_TOKENIZER_SIZE = 259;

/** Creates the checkpoint and returns its directory. */
export function makeCheckpoint(o: MakeCheckpointOptions = {}): string {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'skipserve-ckpt-'));
  mkdirSync(dir, { recursive: true });
  const arch = o.architecture ?? 'LlamaForCausalLM';
  const L = o.layers ?? 2;
  const hidden = o.hidden ?? 32;
  const heads = o.heads ?? 4;
  const kvHeads = o.kvHeads ?? 2;
  const headDim = o.headDim ?? hidden / heads;
  const ff = o.intermediate ?? hidden * 2;
  const vocab = o.vocab ?? 272;
  const tied = o.tied ?? true;
  const dtype = o.dtype ?? 'F32';
  const eos = o.eosTokenIds ?? [1];
  const rng = new Rng(o.seed ?? 1);
  const config: Record<string, unknown> = {
    architectures: [arch],
    model_type: arch === 'Qwen2ForCausalLM' ? 'qwen2' : arch === 'MistralForCausalLM' ? 'mistral' : 'llama',
    hidden_size: hidden,
    intermediate_size: ff,
    num_hidden_layers: L,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    vocab_size: vocab,
    max_position_embeddings: o.maxPositions ?? 256,
    rms_norm_eps: 1e-5,
    rope_theta: o.ropeTheta ?? 10000,
    tie_word_embeddings: tied,
    bos_token_id: 0,
    eos_token_id: eos[0],
    torch_dtype: dtype === 'F32' ? 'float32' : dtype === 'BF16' ? 'bfloat16' : 'float16',
  };
  if (o.headDim) config.head_dim = headDim;
  if (o.llama3Rope) {
    config.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 0, eos_token_id: eos.length === 1 ? eos[0] : eos }));

  const tensors: [string, number[], 'w' | 'norm' | 'emb' | 'bias'][] = [['model.embed_tokens.weight', [vocab, hidden], 'emb']];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    tensors.push([p + 'input_layernorm.weight', [hidden], 'norm']);
    tensors.push([p + 'self_attn.q_proj.weight', [heads * headDim, hidden], 'w']);
    tensors.push([p + 'self_attn.k_proj.weight', [kvHeads * headDim, hidden], 'w']);
    tensors.push([p + 'self_attn.v_proj.weight', [kvHeads * headDim, hidden], 'w']);
    if (arch === 'Qwen2ForCausalLM') {
      tensors.push([p + 'self_attn.q_proj.bias', [heads * headDim], 'bias']);
      tensors.push([p + 'self_attn.k_proj.bias', [kvHeads * headDim], 'bias']);
      tensors.push([p + 'self_attn.v_proj.bias', [kvHeads * headDim], 'bias']);
    }
    tensors.push([p + 'self_attn.o_proj.weight', [hidden, heads * headDim], 'w']);
    tensors.push([p + 'post_attention_layernorm.weight', [hidden], 'norm']);
    tensors.push([p + 'mlp.gate_proj.weight', [ff, hidden], 'w']);
    tensors.push([p + 'mlp.up_proj.weight', [ff, hidden], 'w']);
    tensors.push([p + 'mlp.down_proj.weight', [hidden, ff], 'w']);
  }
  tensors.push(['model.norm.weight', [hidden], 'norm']);
  if (!tied) tensors.push(['lm_head.weight', [vocab, hidden], 'w']);

  const shards = Math.max(1, o.shards ?? 1);
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const part = tensors.slice(s * per, (s + 1) * per);
    const file = shards === 1 ? 'model.safetensors' : `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    for (const [name] of part) weightMap[name] = file;
    writeSafetensors(join(dir, file), part, dtype, rng);
  }
  if (shards > 1) {
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  }
  if (o.tokenizer ?? true) writeTinyTokenizer(dir);
  return dir;
}

function fill(kind: string, shape: number[], rng: Rng): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const fanIn = shape[shape.length - 1];
  for (let i = 0; i < n; i++) {
    const u = rng.next() * 2 - 1;
    if (kind === 'norm') out[i] = 1 + 0.2 * u;
    else if (kind === 'emb') out[i] = u;
    else if (kind === 'bias') out[i] = 0.3 * u;
    else out[i] = u * Math.sqrt(3 / fanIn);
  }
  return out;
}

function encode(data: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint16Array(data.length);
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'BF16') {
      const x = u32[i];
      out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    } else out[i] = floatToHalf(data[i]);
  }
  return new Uint8Array(out.buffer);
}

function floatToHalf(f: number): number {
  const sign = f < 0 ? 0x8000 : 0;
  const a = Math.abs(f);
  if (a < 2 ** -24) return sign;
  if (a >= 65504) return sign | 0x7bff;
  let e = Math.floor(Math.log2(a));
  if (e < -14) return sign | Math.round(a / 2 ** -24);
  let m = Math.round((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e += 1;
  }
  return sign | ((e + 15) << 10) | m;
}

/** Writes one safetensors file with random tensors. */
function writeSafetensors(path: string, part: [string, number[], string][], dtype: 'F32' | 'F16' | 'BF16', rng: Rng): void {
  const size = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, shape] of part) {
    const bytes = shape.reduce((a, b) => a * b, 1) * size;
    header[name] = { dtype, shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(path, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    for (const [, shape, kind] of part) {
      const bytes = encode(fill(kind, shape, rng), dtype);
      let done = 0;
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    }
  } finally {
    closeSync(fd);
  }
}

function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

/** Writes a byte-level BPE tokenizer (no merges) that adds <s> in front of every encoding. */
export function writeTinyTokenizer(dir: string): void {
  const vocab: Record<string, number> = { '<s>': 0, '</s>': 1, '<pad>': 2 };
  bytesToUnicode().forEach((ch, b) => (vocab[ch] = 3 + b));
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tok = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<s>'), special(1, '</s>'), special(2, '<pad>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [0], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: '<s>',
      eos_token: '</s>',
      pad_token: '<pad>',
      add_bos_token: true,
      model_max_length: 256,
      chat_template: "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}",
    }),
  );
}
