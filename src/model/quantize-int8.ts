/**
 * Weight-only int8 quantization, computed at load: each row of a `[rows, cols]` weight is cut into
 * blocks of `blockSize` input columns, and each block stores one f32 scale (max |w| / 127) and
 * one unsigned byte per weight, q = round(w / scale) + 128 (symmetric, so the zero point is the
 * implicit 128 of onnxruntime's MatMulNBits with bits = 8). A short last block is padded with 128.
 */

/** One quantized matrix in MatMulNBits layout: data `[rows, blocks, blockSize]`, scales `[rows * blocks]`. */
export interface Int8Blocks {
  rows: number;
  cols: number;
  blockSize: number;
  blocks: number;
  data: Uint8Array;
  scales: Float32Array;
}

/** Quantizes a row-major `[rows, cols]` f32 matrix block-wise along its columns. */
export function quantizeInt8(w: Float32Array, rows: number, cols: number, blockSize: number): Int8Blocks {
  if (w.length !== rows * cols) throw new Error(`quantizeInt8: ${w.length} values for [${rows}, ${cols}]`);
  const blocks = Math.ceil(cols / blockSize);
  const data = new Uint8Array(rows * blocks * blockSize).fill(128);
  const scales = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const from = r * cols + b * blockSize;
      const to = r * cols + Math.min(cols, (b + 1) * blockSize);
      let max = 0;
      for (let i = from; i < to; i++) max = Math.max(max, Math.abs(w[i]));
      const scale = Math.fround(max / 127);
      scales[r * blocks + b] = scale;
      if (scale === 0) continue;
      const out = (r * blocks + b) * blockSize;
      for (let i = from; i < to; i++) data[out + i - from] = Math.max(-127, Math.min(127, Math.round(w[i] / scale))) + 128;
    }
  }
  return { rows, cols, blockSize, blocks, data, scales };
}

/** The f32 matrix the quantized blocks stand for (tests and the float64 reference of int8 runs). */
export function dequantizeInt8(q: Int8Blocks): Float32Array {
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const b = Math.floor(c / q.blockSize);
      out[r * q.cols + c] = (q.data[(r * q.blocks + b) * q.blockSize + (c % q.blockSize)] - 128) * q.scales[r * q.blocks + b];
    }
  }
  return out;
}
