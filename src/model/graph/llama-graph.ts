/**
 * Builds the Llama decoder as an ONNX model with per-layer sublayer switches (`If`), per-row keep
 * masks, per-row head masks, an external KV cache (past in, only new k/v out) and logits gathered
 * at the positions asked for. Hidden states are kept 2-D `[B*T, hidden]` so every projection is a
 * Gemm over the checkpoint's own `[out, in]` weights (transB), with no transposed copies.
 *
 * Feeds (switchable graph): input_ids, positions [B,T] int64; past_bias [B,1,1,1,P] and
 * new_bias [B,1,G,T,T] additive masks; gather_idx [N] flat row*T+t indices; token_mask [B,T];
 * per layer l: attn_on.l / mlp_on.l bool scalars, mlp_keep.l [B*T,1], head_mask.l [B,kvH,G,1,1]
 * (also the attention keep mask: a row skipping the sublayer has every head masked; there is no
 * o_proj bias, so its update is exactly 0), past_key.l / past_value.l [B,kvH,1,P,D].
 * Fetches: logits [N,V], logsumexp [N], new_key.l / new_value.l [B,kvH,1,T,D] (size 0 when the layer is off), embed [B,hidden].
 * Three kinds (GraphKind): `switched` as above; `masked`, the same without the switches (no
 * attn_on / mlp_on: every sublayer runs, keep and head masks still apply), for steps where some row
 * computes every sublayer; `plain` (benchmark baseline) with no switches, keep masks or head masks.
 */
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from '../checkpoint.ts';
import { ropeTables } from '../rope.ts';
import { applyLinear, declareLinear, type Linear, type WeightFormat } from './linear.ts';
import { DT, GraphBuilder, encodeModel, type WeightSink } from './onnx-builder.ts';

/** Which sublayer switches and masks the graph has (see the header). */
export type GraphKind = 'switched' | 'masked' | 'plain';

export interface GraphOptions {
  /** Default `switched`. */
  kind?: GraphKind;
  /**
   * `masked` only: sublayers left out of the graph, a skip core the whole batch shares (a core
   * graph). Their layers take no past and return no new keys and values where attention is left out.
   */
  omit?: { attention: number[]; mlp: number[] };
  /** Layer whose output is mean-pooled into `embed` (default numLayers/2). */
  embedLayer?: number;
  /** Projection weights: f32 (default) or int8 blocks computed here (linear.ts). */
  weights?: WeightFormat;
}

interface AttnWeights {
  ln: string;
  qkv: Linear;
  o: Linear;
}

interface MlpWeights {
  ln: string;
  gu: Linear;
  down: Linear;
}

interface Ctx {
  ck: Checkpoint;
  H: number;
  kvH: number;
  G: number;
  D: number;
  shBTm1: string;
  shBTkv1D: string;
  positions: string;
  shBTkvGD: string;
  splitPT: string;
  cos: string;
  sin: string;
  pastBias: string;
  newBias: string;
  /** Per-row keep and head masks (every kind but plain). */
  masks: boolean;
  /** Sublayers left out (a core graph). */
  omit: { attention: Set<number>; mlp: Set<number> };
}

/** Attention sublayer on `h` ([BT, hidden]); returns the updated residual and new k/v. */
function attention(g: GraphBuilder, h: string, l: number, c: Ctx, w: AttnWeights): { h: string; k: string; v: string } {
  const { H, kvH, G, D, ck } = c;
  const eps = ck.config.rmsNormEps;
  const xn = g.o('SimplifiedLayerNormalization', [h, w.ln], { axis: -1, epsilon: { float: eps } });
  const qkv = applyLinear(g, xn, w.qkv);
  const [qk, v] = g.op('Split', [qkv, g.i64([(H + kvH) * D, kvH * D])], { axis: 1 }, 2);
  // One rotary op over the query and key heads together (HF rotate-half layout: interleaved=0).
  const qkRot = g.o('RotaryEmbedding', [g.o('Reshape', [qk, c.shBTm1]), c.positions, c.cos, c.sin], { interleaved: 0 }, 'com.microsoft');
  const [q, k] = g.op('Split', [qkRot, g.i64([H * D, kvH * D])], { axis: 2 }, 2);
  // New keys/values [B,kvH,1,T,D]: the graph's new_key/new_value outputs (laid out as [B,kvH,T,D]).
  const newK = g.o('Transpose', [g.o('Reshape', [k, c.shBTkv1D])], { perm: [0, 2, 3, 1, 4] });
  const newV = g.o('Transpose', [g.o('Reshape', [v, c.shBTkv1D])], { perm: [0, 2, 3, 1, 4] });
  // [B,T,kvH,G,D] -> [B,kvH,G,T,D]; keys/values are [B,kvH,1,*,D] and broadcast over the G query
  // heads that share them, so at decode (T = 1) every product is an M = 1 GEMM, which MLAS runs as
  // a streaming kernel without packing K or V. The 1/sqrt(D) scale is folded into the q weights.
  const q5 = g.o('Transpose', [g.o('Reshape', [q, c.shBTkvGD])], { perm: [0, 2, 3, 1, 4] });
  const pk = `past_key.${l}`;
  const pv = `past_value.${l}`;
  const sp = g.o('Add', [g.o('FusedMatMul', [q5, pk], { transB: 1, alpha: { float: 1 } }, 'com.microsoft'), c.pastBias]);
  const sn = g.o('Add', [g.o('FusedMatMul', [q5, newK], { transB: 1, alpha: { float: 1 } }, 'com.microsoft'), c.newBias]);
  const probs = g.o('Softmax', [g.o('Concat', [sp, sn], { axis: -1 })], { axis: -1 });
  const [pp, pn] = g.op('Split', [probs, c.splitPT], { axis: -1 }, 2);
  let o5 = g.o('Add', [g.o('MatMul', [pp, pv]), g.o('MatMul', [pn, newV])]);
  // Per-row head masks; a row that skips this sublayer while others compute has all heads masked.
  if (c.masks) o5 = g.o('Mul', [o5, `head_mask.${l}`]);
  const ot = g.o('Reshape', [g.o('Transpose', [o5], { perm: [0, 3, 1, 2, 4] }), g.i64([-1, H * D])]);
  // The residual add rides in the Gemm (C = h, beta = 1).
  return { h: applyLinear(g, ot, w.o, h), k: newK, v: newV };
}

/** MLP sublayer (SwiGLU with fused gate/up weights). */
function mlp(g: GraphBuilder, h: string, l: number, c: Ctx, w: MlpWeights): string {
  const ff = c.ck.config.intermediateSize;
  const xn = g.o('SimplifiedLayerNormalization', [h, w.ln], { axis: -1, epsilon: { float: c.ck.config.rmsNormEps } });
  const [gate, up] = g.op('Split', [applyLinear(g, xn, w.gu), g.i64([ff, ff])], { axis: 1 }, 2);
  let act = g.o('Mul', [g.o('Mul', [gate, g.o('Sigmoid', [gate])]), up]);
  // A row that skips this sublayer while others compute gets act = 0, so its update is exactly 0.
  if (c.masks) act = g.o('Mul', [act, `mlp_keep.${l}`]);
  return applyLinear(g, act, w.down, h);
}

/** A layer's weights; a sublayer a core graph leaves out declares none (onnxruntime would drop them, warning each). */
interface LayerWeights {
  aw: AttnWeights | null;
  mw: MlpWeights | null;
}

interface LayerOut {
  h: string;
  k: string;
  v: string;
}

type LayerFn = (g: GraphBuilder, h: string, l: number, c: Ctx, w: LayerWeights) => LayerOut;

/** A layer without switches (the masked and the plain graph); a left-out sublayer is not there at all. */
const unswitchedLayer: LayerFn = (g, h, l, c, w) => {
  const r = c.omit.attention.has(l) ? { h, k: '', v: '' } : attention(g, h, l, c, w.aw!);
  return { h: c.omit.mlp.has(l) ? r.h : mlp(g, r.h, l, c, w.mw!), k: r.k, v: r.v };
};

/** A layer whose attention and MLP sublayers each sit in an If, run when some row computes them. */
const switchedLayer: LayerFn = (g, h, l, c, w) => {
  const thenA = g.sub(`attn_then_${l}`);
  const r = attention(thenA, h, l, c, w.aw!);
  thenA.output(r.h, thenA.fresh('h'), DT.FLOAT);
  thenA.output(r.k, thenA.fresh('k'), DT.FLOAT);
  thenA.output(r.v, thenA.fresh('v'), DT.FLOAT);
  const elseA = g.sub(`attn_else_${l}`);
  const empty = elseA.f32([], [0]);
  elseA.output(h, elseA.fresh('h'), DT.FLOAT);
  elseA.output(empty, elseA.fresh('k'), DT.FLOAT);
  elseA.output(empty, elseA.fresh('v'), DT.FLOAT);
  const [ha, k, v] = g.op('If', [`attn_on.${l}`], { then_branch: thenA.graph(), else_branch: elseA.graph() }, 3);
  const thenM = g.sub(`mlp_then_${l}`);
  thenM.output(mlp(thenM, ha, l, c, w.mw!), thenM.fresh('h'), DT.FLOAT);
  const elseM = g.sub(`mlp_else_${l}`);
  elseM.output(ha, elseM.fresh('h'), DT.FLOAT);
  return { h: g.o('If', [`mlp_on.${l}`], { then_branch: thenM.graph(), else_branch: elseM.graph() }), k, v };
};

interface StackOut {
  h: string;
  /** The hidden state after `embedLayer` layers (the router embedding is pooled from it). */
  embed: string;
  k: string[];
  v: string[];
}

/** The decoder layers from `h` on, built into `g` with `layer`. */
function stack(g: GraphBuilder, h: string, c: Ctx, layers: LayerWeights[], embedLayer: number, layer: LayerFn): StackOut {
  const out: StackOut = { h, embed: h, k: [], v: [] };
  layers.forEach((w, l) => {
    const r = layer(g, out.h, l, c, w);
    out.h = r.h;
    out.k.push(r.k);
    out.v.push(r.v);
    if (l + 1 === embedLayer) out.embed = r.h;
  });
  return out;
}

function concatF32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Where a built graph goes. */
export interface GraphTarget {
  dir: string;
  /** The model file's name in `dir` (default model.onnx). */
  file?: string;
  /**
   * The weights in `dir/weights.bin`: empty, the graph writes the file and records each weight's
   * place here; filled, the graph reads the file as it is (later graphs of the same checkpoint and
   * weight format), and no weight is read from the checkpoint or quantized again.
   */
  weights?: Map<string, { offset: number; length: number }>;
}

/**
 * Builds the model. With a target the weights go to `dir/weights.bin` (external data, written one
 * tensor at a time to keep peak memory low, or already there) and the model to `dir/<file>`; returns
 * the path. Without one returns the model bytes with inline weights.
 */
export function buildLlamaGraph(ck: Checkpoint, opts: GraphOptions = {}, target?: GraphTarget): { bytes?: Uint8Array; path?: string } {
  const cfg = ck.config;
  const reuse = !!target?.weights?.size;
  const sink: WeightSink = { fd: target && !reuse ? openSync(join(target.dir, 'weights.bin'), 'w') : null, location: 'weights.bin', offset: 0, written: target?.weights };
  try {
    const g = new GraphBuilder('skipserve_llama', sink);
    const H = cfg.numHeads;
    const kvH = cfg.numKvHeads;
    const G = H / kvH;
    const D = cfg.headDim;
    const kind = opts.kind ?? 'switched';
    const format = opts.weights ?? 'f32';
    const embedLayer = opts.embedLayer ?? Math.floor(cfg.numLayers / 2);

    const ids = g.input('input_ids', DT.INT64, ['B', 'T']);
    const pos = g.input('positions', DT.INT64, ['B', 'T']);
    const pastBias = g.input('past_bias', DT.FLOAT, ['B', 1, 1, 1, 'P']);
    const newBias = g.input('new_bias', DT.FLOAT, ['B', 1, G, 'T', 'T']);
    const gatherIdx = g.input('gather_idx', DT.INT64, ['N']);
    const tokenMask = g.input('token_mask', DT.FLOAT, ['B', 'T']);

    const shBT = g.o('Shape', [ids]);
    const shBTm1 = g.o('Concat', [shBT, g.i64([-1])], { axis: 0 });
    const shBTkv1D = g.o('Concat', [shBT, g.i64([kvH, 1, D])], { axis: 0 });
    const shBTkvGD = g.o('Concat', [shBT, g.i64([kvH, G, D])], { axis: 0 });
    const splitPT = g.o('Concat', [g.o('Shape', [pastBias], { start: 4 }), g.o('Shape', [ids], { start: 1 })], { axis: 0 });
    const tables = ropeTables(cfg);
    const cosT = g.weight('rope_cos', tables.cos, [cfg.maxPositions, D / 2]);
    const sinT = g.weight('rope_sin', tables.sin, [cfg.maxPositions, D / 2]);
    const ax2 = g.i64([2]);
    const c: Ctx = { ck, H, kvH, G, D, shBTm1, shBTkv1D, shBTkvGD, splitPT, positions: pos, cos: cosT, sin: sinT, pastBias, newBias, masks: kind !== 'plain', omit: { attention: new Set(opts.omit?.attention), mlp: new Set(opts.omit?.mlp) } };

    // Attention scores need q·k / sqrt(D); rotary is linear, so the scale can sit in the q projection.
    const qScale = 1 / Math.sqrt(D);
    const scaleQ = (x: string, w: Float32Array) => (x === 'q' ? w.map((v) => v * qScale) : w);

    const embW = g.weight('embed_tokens', () => ck.read('model.embed_tokens.weight'), [cfg.vocabSize, cfg.hiddenSize]);
    let h = g.o('Gather', [embW, g.o('Reshape', [ids, g.i64([-1])])]);

    // Weights and per-layer inputs are declared on the main graph; the stacks below read them as
    // outer-scope values. onnxruntime 1.30 pre-packs them for the branch Gemms all the same, and then
    // releases the memory-mapped originals; as branch initializers the originals stayed mapped (peak
    // RSS while loading 2.3x the f32 weights instead of 1.5x), at the same step time.
    const layers: LayerWeights[] = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const hidden = cfg.hiddenSize;
      const qkvRows = (suffix: 'weight' | 'bias') => concatF32(['q', 'k', 'v'].map((x) => scaleQ(x, ck.read(`${p}self_attn.${x}_proj.${suffix}`))));
      layers.push({
        aw: c.omit.attention.has(l) ? null : {
          ln: g.weight(`ln_in.${l}`, () => ck.read(p + 'input_layernorm.weight'), [hidden]),
          qkv: declareLinear(g, `qkv.${l}`, () => qkvRows('weight'), (H + 2 * kvH) * D, hidden, format, cfg.attentionBias ? () => qkvRows('bias') : undefined),
          o: declareLinear(g, `o.${l}`, () => ck.read(p + 'self_attn.o_proj.weight'), hidden, H * D, format),
        },
        mw: c.omit.mlp.has(l) ? null : {
          ln: g.weight(`ln_post.${l}`, () => ck.read(p + 'post_attention_layernorm.weight'), [hidden]),
          gu: declareLinear(g, `gate_up.${l}`, () => concatF32([ck.read(p + 'mlp.gate_proj.weight'), ck.read(p + 'mlp.up_proj.weight')]), 2 * cfg.intermediateSize, hidden, format),
          down: declareLinear(g, `down.${l}`, () => ck.read(p + 'mlp.down_proj.weight'), hidden, cfg.intermediateSize, format),
        },
      });
      g.input(`past_key.${l}`, DT.FLOAT, ['B', kvH, 1, 'P', D]);
      g.input(`past_value.${l}`, DT.FLOAT, ['B', kvH, 1, 'P', D]);
      if (kind === 'switched') {
        g.input(`attn_on.${l}`, DT.BOOL, []);
        g.input(`mlp_on.${l}`, DT.BOOL, []);
      }
      if (kind === 'plain') continue;
      g.input(`mlp_keep.${l}`, DT.FLOAT, ['BT', 1]);
      g.input(`head_mask.${l}`, DT.FLOAT, ['B', kvH, G, 1, 1]);
    }

    const out = stack(g, h, c, layers, embedLayer, kind === 'switched' ? switchedLayer : unswitchedLayer);
    h = out.h;
    const embedOut = out.embed;
    out.k.forEach((k, l) => {
      if (!k) return; // attention left out: no new keys and values
      g.output(k, `new_key.${l}`, DT.FLOAT);
      g.output(out.v[l], `new_value.${l}`, DT.FLOAT);
    });
    // Router embedding: mean over the row's real tokens of the hidden state after `embedLayer` layers.
    const hB = g.o('Reshape', [embedOut, g.o('Concat', [shBT, g.i64([cfg.hiddenSize])], { axis: 0 })]);
    const m3 = g.o('Unsqueeze', [tokenMask, ax2]);
    const sum = g.o('ReduceSum', [g.o('Mul', [hB, m3]), g.i64([1])], { keepdims: 0 });
    const cnt = g.o('Max', [g.o('ReduceSum', [tokenMask, g.i64([1])], { keepdims: 1 }), g.f32([1], [])]);
    g.output(g.o('Div', [sum, cnt]), 'embed', DT.FLOAT, ['B', cfg.hiddenSize]);

    const hs = g.o('Gather', [h, gatherIdx]);
    const normW = g.weight('norm', () => ck.read('model.norm.weight'), [cfg.hiddenSize]);
    const hn = g.o('SimplifiedLayerNormalization', [hs, normW], { axis: -1, epsilon: { float: cfg.rmsNormEps } });
    // Tied f32 weights: the lm_head Gemm reads the embedding initializer itself.
    const head: Linear =
      format === 'f32' && cfg.tieWordEmbeddings
        ? { format, out: cfg.vocabSize, in: cfg.hiddenSize, w: embW }
        : declareLinear(g, 'lm_head', () => ck.read(cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'), cfg.vocabSize, cfg.hiddenSize, format);
    const logits = applyLinear(g, hn, head);
    // log-sum-exp of each row: the logprob normaliser, so sampling needs no pass over the vocabulary for it.
    g.output(g.o('ReduceLogSumExp', [logits], { axes: [1], keepdims: 0 }), 'logsumexp', DT.FLOAT, ['N']);
    g.output(logits, 'logits', DT.FLOAT, ['N', cfg.vocabSize]);

    const bytes = encodeModel(g.graph());
    if (!target) return { bytes };
    const path = join(target.dir, target.file ?? 'model.onnx');
    writeFileSync(path, bytes);
    return { path };
  } finally {
    if (sink.fd !== null) closeSync(sink.fd);
  }
}
