/**
 * Test helper: the numeric tolerance the runtime promises against the float64 reference,
 * max |onnx - ref| <= 1e-4 * max(1, max |ref|).
 */
import assert from 'node:assert/strict';

/** Asserts `got` (flat `[positions*V]`) matches reference rows within tolerance. */
export function assertCloseToRef(got: Float32Array, ref: Float64Array[], label: string): void {
  const V = ref[0].length;
  assert.equal(got.length, ref.length * V, `${label}: logits length`);
  let maxRef = 0;
  let maxErr = 0;
  for (let t = 0; t < ref.length; t++) {
    for (let v = 0; v < V; v++) {
      maxRef = Math.max(maxRef, Math.abs(ref[t][v]));
      maxErr = Math.max(maxErr, Math.abs(got[t * V + v] - ref[t][v]));
    }
  }
  const tol = 1e-4 * Math.max(1, maxRef);
  assert.ok(maxErr <= tol, `${label}: max |onnx-ref| = ${maxErr.toExponential(3)} > ${tol.toExponential(3)}`);
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
