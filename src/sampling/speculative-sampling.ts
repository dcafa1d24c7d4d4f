/**
 * Speculative sampling (Leviathan et al. 2023; Chen et al. 2023): a token d drawn from the draft's
 * distribution q is kept with probability min(1, p(d) / q(d)); when it is not, the token is drawn
 * from max(0, p - q), normalised. The result is distributed exactly as a draw from p, whatever q
 * is. Each draw takes its uniform from the row's seed, the token's position and its purpose
 * (positionalUniform), not from a stream, so a seed gives the same tokens however the positions fall
 * into draft-and-verify cycles.
 */
import { Rng } from '../util/rng.ts';

/** What a positional uniform is for (so the draws at one position are independent). */
export const DRAW = { draft: 0, accept: 1, residual: 2, bonus: 3 } as const;

/** A uniform in [0, 1) fixed by the row's seed, the position and the draw's purpose. */
export function positionalUniform(seed: number, position: number, purpose: number): number {
  const base = new Rng(seed).nextU32();
  return new Rng(((base ^ Math.imul(position + 1, 0x9e3779b1)) >>> 0) * 4 + purpose).next();
}

/** The token at uniform `u` of the (unnormalised, non-negative) weights `w`. */
export function drawFrom(w: Float64Array, u: number): number {
  let total = 0;
  for (const x of w) total += x;
  let r = u * total;
  let last = -1;
  for (let i = 0; i < w.length; i++) {
    if (!(w[i]! > 0)) continue;
    last = i;
    r -= w[i]!;
    if (r < 0) return i;
  }
  return last;
}

/** Keeps draft token `d` (drawn from q) or draws its replacement: distributed as a draw from p. */
export function acceptOrResample(p: Float64Array, q: Float64Array, d: number, uAccept: number, uResidual: number): { token: number; accepted: boolean } {
  if (uAccept * q[d]! < p[d]!) return { token: d, accepted: true };
  const residual = p.map((x, i) => Math.max(0, x - q[i]!));
  // p == q up to rounding leaves no mass: then p itself (the rejection had probability ~0).
  const token = drawFrom(residual.some((x) => x > 0) ? residual : p, uResidual);
  return { token, accepted: false };
}
