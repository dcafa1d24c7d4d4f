/**
 * Plain float64 forward pass of a Llama checkpoint with skip-plan semantics: the numerical
 * reference for tests (slow, no KV cache). Skipped attention adds nothing to the residual,
 * skipped MLP likewise, masked heads contribute zero to the attention output.
 */
import type { SkipPlan } from '../plans/plan.ts';
import type { Checkpoint } from './checkpoint.ts';
import { invFreq } from './rope.ts';

type W = Float32Array;

/** A float64 reference model over one checkpoint (weights read once). */
export class ReferenceModel {
  private w = new Map<string, W>();

  constructor(private ck: Checkpoint) {}

  private get(name: string): W {
    let t = this.w.get(name);
    if (!t) {
      t = this.ck.read(name);
      this.w.set(name, t);
    }
    return t;
  }

  /** Logits `[tokens.length][vocab]` for every position of the sequence under `plan`. */
  forward(tokens: number[], plan: SkipPlan): Float64Array[] {
    const c = this.ck.config;
    const head = this.get(c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
    return this.hidden(tokens, plan).map((x) => matvec(head, rms(x, this.get('model.norm.weight'), c.rmsNormEps), null));
  }

  /** Hidden states `[tokens.length][hidden]` after the first `layers` layers (default all, before the final norm) under `plan`. */
  hidden(tokens: number[], plan: SkipPlan, layers = this.ck.config.numLayers): Float64Array[] {
    const c = this.ck.config;
    const { hiddenSize: Hd, numHeads: H, numKvHeads: kvH, headDim: D } = c;
    const G = H / kvH;
    const emb = this.get('model.embed_tokens.weight');
    let h: Float64Array[] = tokens.map((t) => Float64Array.from(emb.subarray(t * Hd, (t + 1) * Hd)));
    const inv = invFreq(c);
    const skipA = new Set(plan.skipAttention);
    const skipM = new Set(plan.skipMlp);
    for (let l = 0; l < layers; l++) {
      const p = `model.layers.${l}.`;
      if (!skipA.has(l)) {
        const xn = h.map((x) => rms(x, this.get(p + 'input_layernorm.weight'), c.rmsNormEps));
        const bias = (n: string) => (c.attentionBias ? this.get(`${p}self_attn.${n}_proj.bias`) : null);
        const q = xn.map((x, t) => ropeRows(matvec(this.get(p + 'self_attn.q_proj.weight'), x, bias('q')), H, D, t, inv));
        const k = xn.map((x, t) => ropeRows(matvec(this.get(p + 'self_attn.k_proj.weight'), x, bias('k')), kvH, D, t, inv));
        const v = xn.map((x) => matvec(this.get(p + 'self_attn.v_proj.weight'), x, bias('v')));
        const masked = new Set(plan.maskHeads[l] ?? []);
        const oW = this.get(p + 'self_attn.o_proj.weight');
        h = h.map((x, t) => {
          const att = new Float64Array(H * D);
          for (let hh = 0; hh < H; hh++) {
            if (masked.has(hh)) continue;
            const kv = Math.floor(hh / G);
            const scores = new Float64Array(t + 1);
            let max = -Infinity;
            for (let s = 0; s <= t; s++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += q[t][hh * D + d] * k[s][kv * D + d];
              scores[s] = dot / Math.sqrt(D);
              max = Math.max(max, scores[s]);
            }
            let sum = 0;
            for (let s = 0; s <= t; s++) sum += scores[s] = Math.exp(scores[s] - max);
            for (let s = 0; s <= t; s++) {
              const pr = scores[s] / sum;
              for (let d = 0; d < D; d++) att[hh * D + d] += pr * v[s][kv * D + d];
            }
          }
          return add(x, matvec(oW, att, null));
        });
      }
      if (!skipM.has(l)) {
        h = h.map((x) => {
          const xn = rms(x, this.get(p + 'post_attention_layernorm.weight'), c.rmsNormEps);
          const g = matvec(this.get(p + 'mlp.gate_proj.weight'), xn, null);
          const u = matvec(this.get(p + 'mlp.up_proj.weight'), xn, null);
          for (let i = 0; i < g.length; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
          return add(x, matvec(this.get(p + 'mlp.down_proj.weight'), g, null));
        });
      }
    }
    return h;
  }
}

function rms(x: Float64Array, w: W, eps: number): Float64Array {
  let s = 0;
  for (const v of x) s += v * v;
  const r = 1 / Math.sqrt(s / x.length + eps);
  return x.map((v, i) => v * r * w[i]);
}

/** y = W x (+ b) with W stored `[out, in]`. */
function matvec(W: W, x: Float64Array, b: W | null): Float64Array {
  const n = x.length;
  const out = new Float64Array(W.length / n);
  for (let o = 0; o < out.length; o++) {
    let s = b ? b[o] : 0;
    const base = o * n;
    for (let i = 0; i < n; i++) s += W[base + i] * x[i];
    out[o] = s;
  }
  return out;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]);
}

/** HF rotate-half RoPE on each head of a `[heads*D]` row at position `pos`. */
function ropeRows(x: Float64Array, heads: number, D: number, pos: number, inv: Float64Array): Float64Array {
  const half = D / 2;
  const out = new Float64Array(x.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const a = pos * inv[i];
      const c = Math.cos(a);
      const s = Math.sin(a);
      const x1 = x[h * D + i];
      const x2 = x[h * D + half + i];
      out[h * D + i] = x1 * c - x2 * s;
      out[h * D + half + i] = x2 * c + x1 * s;
    }
  }
  return out;
}
