/**
 * The per-step inputs every layer shares: token ids and positions (padded to the longest row),
 * additive attention masks for past and new positions, the flat indices of the positions whose
 * logits are wanted, and the real-token mask used to pool the router embedding.
 */
import ort from 'onnxruntime-node';

/** Masked scores get this bias (exp underflows to exactly 0). */
export const NEG = -1e9;

export interface RowInput {
  tokens: number[];
  /** Tokens already in the row's KV cache. */
  past: number;
  logits: 'last' | 'all' | 'none';
}

/**
 * Builds the shared feeds for a group of rows padded to `T` new tokens, with `P` staged past
 * positions and `G` query heads per KV head. `gatherStart[b]` is row b's first logits row.
 */
export function sharedInputs(rows: RowInput[], T: number, P: number, G: number): { feeds: Record<string, ort.Tensor>; gatherStart: number[] } {
  const B = rows.length;
  const ids = new BigInt64Array(B * T);
  const pos = new BigInt64Array(B * T);
  const tokenMask = new Float32Array(B * T);
  const pastBias = new Float32Array(B * P);
  const newBias = new Float32Array(B * G * T * T).fill(NEG);
  const gather: number[] = [];
  const gatherStart: number[] = [];
  rows.forEach((r, b) => {
    const n = r.tokens.length;
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = BigInt(t < n ? r.tokens[t] : 0);
      pos[b * T + t] = BigInt(t < n ? r.past + t : 0);
      tokenMask[b * T + t] = t < n ? 1 : 0;
    }
    for (let p = r.past; p < P; p++) pastBias[b * P + p] = NEG;
    // Causal over the new tokens; padded key columns stay masked (query rows are laid out G x T).
    for (let g = 0; g < G; g++) {
      for (let t = 0; t < T; t++) {
        const base = ((b * G + g) * T + t) * T;
        for (let s = 0; s <= Math.min(t, n - 1); s++) newBias[base + s] = 0;
      }
    }
    gatherStart.push(gather.length);
    if (r.logits === 'all') for (let t = 0; t < n; t++) gather.push(b * T + t);
    else gather.push(b * T + n - 1);
  });
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [B, T]),
    positions: new ort.Tensor('int64', pos, [B, T]),
    past_bias: new ort.Tensor('float32', pastBias, [B, 1, 1, 1, P]),
    new_bias: new ort.Tensor('float32', newBias, [B, 1, G, T, T]),
    gather_idx: new ort.Tensor('int64', BigInt64Array.from(gather, BigInt), [gather.length]),
    token_mask: new ort.Tensor('float32', tokenMask, [B, T]),
  };
  return { feeds, gatherStart };
}
