/**
 * Hugging Face checkpoint directory: config.json, safetensors (single or sharded; F32/F16/BF16),
 * generation_config.json. Validates architecture, tensor names and shapes up front so a bad
 * checkpoint fails at startup with a message that says what to fix.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { ModelInfo } from './model-info.ts';
import { readSafetensorsHeader, readTensorF32, type TensorEntry } from './safetensors.ts';
import { parseSamplingDefaults, type SamplingDefaults } from './sampling-defaults.ts';

export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'];

/** RoPE scaling of type llama3 (other types are rejected). */
export interface RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number;
}

/** Everything the graph builder and the reference need about the model's shape. */
export interface ModelConfig {
  architecture: string;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  hiddenSize: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** Qwen2: q/k/v projections carry a bias. */
  attentionBias: boolean;
  eosTokenIds: number[];
  bosTokenId?: number;
  /** generation_config.json's sampling fields (sampling-defaults.ts). */
  samplingDefaults: SamplingDefaults;
}

/** A validated checkpoint: config plus a lazy tensor reader. */
export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  info: ModelInfo;
  /** Reads one tensor by its HF name as f32 (shape already validated). */
  read(name: string): Float32Array;
  /** Total f32 size of all weights in bytes (what the runtime holds). */
  f32Bytes: number;
}

function readJson(path: string, what: string): any {
  if (!existsSync(path)) throw new Error(`${what} not found: ${path}`);
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${path} (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${what} must hold a JSON object: ${path}`);
  return v;
}

/** Largest token id a tokenizer.json can produce (model vocab plus added tokens); -1 when it lists none. */
export function tokenizerMaxId(json: any): number {
  let max = -1;
  const vocab = json?.model?.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  for (const a of Array.isArray(json?.added_tokens) ? json.added_tokens : []) if (typeof a?.id === 'number' && a.id > max) max = a.id;
  return max;
}

/** tokenizer.json (and tokenizer_config.json) next to the weights must parse, and the tokenizer must not produce ids the model cannot embed. */
function checkTokenizer(dir: string, vocabSize: number): void {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) return;
  const max = tokenizerMaxId(readJson(path, 'tokenizer.json'));
  if (existsSync(join(dir, 'tokenizer_config.json'))) readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json');
  if (max >= vocabSize) {
    throw new Error(`tokenizer.json does not match the model: it has token id ${max} but config.json says vocab_size ${vocabSize} (${path})`);
  }
}

function req(cfg: any, key: string): number {
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`config.json: ${key} must be a positive number (got ${JSON.stringify(v)})`);
  }
  return v;
}

function asIds(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is number => typeof x === 'number');
}

/**
 * The context the server offers: max_position_embeddings, capped at the sliding window when the
 * checkpoint uses one (Mistral's `sliding_window`; Qwen2's only with `use_sliding_window`). The
 * graph attends to every earlier position, which equals sliding-window attention exactly while the
 * sequence fits in the window, so the cap keeps results exact (vLLM does the same when sliding
 * window attention is unavailable).
 */
function contextLength(cfg: any, arch: string): number {
  const maxPositions: number = cfg.max_position_embeddings ?? 2048;
  const window = cfg.sliding_window;
  const windowed = arch === 'Qwen2ForCausalLM' ? cfg.use_sliding_window === true : true;
  if (!windowed || window === undefined || window === null) return maxPositions;
  if (typeof window !== 'number' || !Number.isInteger(window) || window <= 0) {
    throw new Error(`config.json: sliding_window must be a positive integer or null (got ${JSON.stringify(window)})`);
  }
  return Math.min(maxPositions, window);
}

/** Parses and checks config.json (+ generation_config.json for eos ids and sampling defaults). */
export function parseConfig(dir: string): ModelConfig {
  const cfg = readJson(join(dir, 'config.json'), 'config.json');
  const arch: string | undefined = Array.isArray(cfg.architectures) ? cfg.architectures[0] : undefined;
  if (!arch || !SUPPORTED_ARCHITECTURES.includes(arch)) {
    throw new Error(
      `config.json: unsupported architecture ${JSON.stringify(cfg.architectures ?? null)}; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`,
    );
  }
  const hiddenSize = req(cfg, 'hidden_size');
  const numHeads = req(cfg, 'num_attention_heads');
  const numKvHeads = cfg.num_key_value_heads === undefined ? numHeads : req(cfg, 'num_key_value_heads');
  if (numHeads % numKvHeads !== 0) {
    throw new Error(`config.json: num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  const headDim = cfg.head_dim != null ? req(cfg, 'head_dim') : hiddenSize / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`config.json: head dim ${headDim} must be an even integer`);
  let ropeScaling: RopeScaling | null = null;
  const rs = cfg.rope_scaling;
  if (rs) {
    const type = rs.rope_type ?? rs.type;
    if (type === 'llama3') {
      ropeScaling = {
        type: 'llama3',
        factor: rs.factor,
        lowFreqFactor: rs.low_freq_factor,
        highFreqFactor: rs.high_freq_factor,
        originalMaxPositions: rs.original_max_position_embeddings,
      };
    } else if (type !== 'default') {
      throw new Error(`config.json: rope_scaling type ${JSON.stringify(type)} is not supported (supported: llama3)`);
    }
  }
  const gen = existsSync(join(dir, 'generation_config.json')) ? readJson(join(dir, 'generation_config.json'), 'generation_config.json') : {};
  const eos = asIds(gen.eos_token_id);
  const eosTokenIds = [...new Set(eos.length ? eos : asIds(cfg.eos_token_id))];
  const bos = asIds(gen.bos_token_id ?? cfg.bos_token_id)[0];
  return {
    architecture: arch,
    numLayers: req(cfg, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    hiddenSize,
    intermediateSize: req(cfg, 'intermediate_size'),
    vocabSize: req(cfg, 'vocab_size'),
    maxPositions: contextLength(cfg, arch),
    rmsNormEps: cfg.rms_norm_eps ?? 1e-6,
    ropeTheta: cfg.rope_theta ?? 10000,
    ropeScaling,
    tieWordEmbeddings: cfg.tie_word_embeddings ?? false,
    attentionBias: arch === 'Qwen2ForCausalLM' || cfg.attention_bias === true,
    eosTokenIds,
    bosTokenId: bos,
    samplingDefaults: parseSamplingDefaults(gen),
  };
}

/** The tensors a checkpoint must have, with their HF shapes ([out, in] for projections). */
export function expectedTensors(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { hiddenSize: h, headDim: d, numHeads: nh, numKvHeads: nkv, intermediateSize: ff } = c;
  m.set('model.embed_tokens.weight', [c.vocabSize, h]);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(p + 'input_layernorm.weight', [h]);
    m.set(p + 'post_attention_layernorm.weight', [h]);
    m.set(p + 'self_attn.q_proj.weight', [nh * d, h]);
    m.set(p + 'self_attn.k_proj.weight', [nkv * d, h]);
    m.set(p + 'self_attn.v_proj.weight', [nkv * d, h]);
    m.set(p + 'self_attn.o_proj.weight', [h, nh * d]);
    if (c.attentionBias) {
      m.set(p + 'self_attn.q_proj.bias', [nh * d]);
      m.set(p + 'self_attn.k_proj.bias', [nkv * d]);
      m.set(p + 'self_attn.v_proj.bias', [nkv * d]);
    }
    m.set(p + 'mlp.gate_proj.weight', [ff, h]);
    m.set(p + 'mlp.up_proj.weight', [ff, h]);
    m.set(p + 'mlp.down_proj.weight', [h, ff]);
  }
  m.set('model.norm.weight', [h]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, h]);
  return m;
}

/** Lists every tensor entry of the checkpoint's safetensors file(s). */
function listTensors(dir: string): TensorEntry[] {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(index)) {
    const idx = readJson(index, 'model.safetensors.index.json');
    const map: Record<string, string> = idx.weight_map ?? {};
    if (typeof map !== 'object' || Array.isArray(map) || !Object.values(map).every((f) => typeof f === 'string' && f.length > 0)) {
      throw new Error(`model.safetensors.index.json: weight_map must map tensor names to shard file names (${index})`);
    }
    const files = [...new Set(Object.values(map))];
    const all: TensorEntry[] = [];
    for (const f of files) {
      const path = join(dir, f);
      if (!existsSync(path)) throw new Error(`shard ${f} listed in model.safetensors.index.json is missing`);
      const entries = readSafetensorsHeader(path);
      for (const e of entries) {
        if (map[e.name] !== f) throw new Error(`tensor ${e.name} in ${f} is not mapped to that shard in model.safetensors.index.json`);
      }
      all.push(...entries);
    }
    const found = new Set(all.map((e) => e.name));
    for (const name of Object.keys(map)) {
      if (!found.has(name)) throw new Error(`tensor ${name} is listed in the index but missing from shard ${map[name]}`);
    }
    return all;
  }
  if (existsSync(single)) return readSafetensorsHeader(single);
  throw new Error(`no weights in ${dir}: expected model.safetensors or model.safetensors.index.json`);
}

const IGNORED = /\.rotary_emb\.inv_freq$/;

/** Opens and validates a checkpoint directory. Throws a clear error for anything wrong. */
export function openCheckpoint(dirIn: string): Checkpoint {
  const dir = resolve(dirIn);
  if (!existsSync(dir)) throw new Error(`model directory not found: ${dir}`);
  const config = parseConfig(dir);
  checkTokenizer(dir, config.vocabSize);
  const expected = expectedTensors(config);
  const entries = new Map<string, TensorEntry>();
  for (const e of listTensors(dir)) {
    if (IGNORED.test(e.name)) continue;
    if (e.name === 'lm_head.weight' && config.tieWordEmbeddings) continue;
    if (!expected.has(e.name)) throw new Error(`unexpected tensor ${e.name} in checkpoint (not part of ${config.architecture} with this config; in ${e.file})`);
    const want = expected.get(e.name)!;
    if (want.length !== e.shape.length || want.some((v, i) => v !== e.shape[i])) {
      throw new Error(`shape mismatch for ${e.name}: checkpoint has [${e.shape}], config.json implies [${want}] (${e.file})`);
    }
    entries.set(e.name, e);
  }
  const missing = [...expected.keys()].filter((n) => !entries.has(n));
  if (missing.length) {
    const weights = existsSync(join(dir, 'model.safetensors.index.json')) ? 'the shards of model.safetensors.index.json' : join(dir, 'model.safetensors');
    throw new Error(`missing tensor${missing.length > 1 ? 's' : ''} in checkpoint: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` (+${missing.length - 5} more)` : ''} (weights: ${weights})`);
  }
  let f32Bytes = 0;
  for (const e of entries.values()) f32Bytes += e.shape.reduce((a, b) => a * b, 1) * 4;
  const info: ModelInfo = {
    id: basename(dir),
    dir,
    architecture: config.architecture,
    numLayers: config.numLayers,
    numHeads: config.numHeads,
    numKvHeads: config.numKvHeads,
    headDim: config.headDim,
    hiddenSize: config.hiddenSize,
    intermediateSize: config.intermediateSize,
    vocabSize: config.vocabSize,
    maxPositions: config.maxPositions,
    eosTokenIds: config.eosTokenIds,
    bosTokenId: config.bosTokenId,
    ...(Object.keys(config.samplingDefaults).length ? { samplingDefaults: config.samplingDefaults } : {}),
  };
  return {
    dir,
    config,
    info,
    f32Bytes,
    read(name: string) {
      const e = entries.get(name);
      if (!e) throw new Error(`tensor ${name} not in checkpoint`);
      return readTensorF32(e);
    },
  };
}
