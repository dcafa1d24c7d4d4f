/**
 * Rotary position embedding frequencies (HF semantics, including llama3 rope_scaling) and the
 * cos/sin tables the graph gathers by position.
 */
import type { ModelConfig } from './checkpoint.ts';

/** Inverse frequencies, length headDim/2. */
export function invFreq(c: ModelConfig): Float64Array {
  const half = c.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
  const s = c.ropeScaling;
  if (!s) return inv;
  const lowWave = s.originalMaxPositions / s.lowFreqFactor;
  const highWave = s.originalMaxPositions / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const wave = (2 * Math.PI) / inv[i];
    if (wave > lowWave) inv[i] = inv[i] / s.factor;
    else if (wave >= highWave) {
      const smooth = (s.originalMaxPositions / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = (1 - smooth) * (inv[i] / s.factor) + smooth * inv[i];
    }
  }
  return inv;
}

/** cos and sin tables `[maxPositions, headDim/2]` (f32). */
export function ropeTables(c: ModelConfig): { cos: Float32Array; sin: Float32Array } {
  const inv = invFreq(c);
  const half = inv.length;
  const cos = new Float32Array(c.maxPositions * half);
  const sin = new Float32Array(c.maxPositions * half);
  for (let p = 0; p < c.maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const a = p * inv[i];
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}
