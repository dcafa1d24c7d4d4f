/**
 * Projections in the graph, in f32 or int8 weights. f32: one Gemm over the checkpoint's `[out, in]`
 * weight (transB), with the bias or the residual riding in its C input. int8: onnxruntime's
 * com.microsoft MatMulNBits (bits 8, weights quantized block-wise at load, see quantize-int8.ts)
 * followed by an Add for a bias or residual.
 */
import { quantizeInt8 } from '../quantize-int8.ts';
import { DT, type Bytes, type GraphBuilder } from './onnx-builder.ts';

/** How the graph stores projection weights. */
export type WeightFormat = 'f32' | 'int8';

/** int8 block size along the input dimension (one f32 scale per block). */
export const INT8_BLOCK = 32;
/**
 * MatMulNBits accuracy level: 4 quantizes the activations to int8 per block too and runs integer
 * dot products (VNNI where the CPU has it), like llama.cpp's Q8_0. Levels 0-2 (f32/f16 compute)
 * were 20-30x slower for 8-bit weights on onnxruntime 1.30 (135M shape, batch 1).
 */
export const INT8_ACCURACY_LEVEL = 4;

/** A declared projection: initializer names plus its shape. */
export interface Linear {
  format: WeightFormat;
  out: number;
  in: number;
  /** f32 weight, or the int8 blocks and their scales. */
  w: string;
  scales?: string;
  bias?: string;
}

/**
 * Declares a `[out, in]` projection's weights (and optional bias) as main-graph initializers. The
 * weights may come as functions: over a weights file already written they are never computed.
 */
export function declareLinear(root: GraphBuilder, name: string, w: Bytes<Float32Array>, out: number, inp: number, format: WeightFormat, bias?: Bytes<Float32Array>): Linear {
  const b = bias ? root.weight(`${name}.bias`, bias, [out]) : undefined;
  if (format === 'f32') return { format, out, in: inp, w: root.weight(name, w, [out, inp]), bias: b };
  let q: ReturnType<typeof quantizeInt8> | undefined;
  const quantized = () => (q ??= quantizeInt8(typeof w === 'function' ? w() : w, out, inp, INT8_BLOCK));
  const blocks = Math.ceil(inp / INT8_BLOCK);
  return {
    format,
    out,
    in: inp,
    w: root.weightBytes(`${name}.q8`, DT.UINT8, () => quantized().data, [out, blocks, INT8_BLOCK]),
    scales: root.weight(`${name}.scales`, () => quantized().scales, [out * blocks]),
    bias: b,
  };
}

/** x `[rows, in]` times the projection, plus its bias and an optional residual `[rows, out]`. */
export function applyLinear(g: GraphBuilder, x: string, lin: Linear, residual?: string): string {
  if (lin.format === 'f32') {
    if (residual && lin.bias) return g.o('Add', [g.o('Gemm', [x, lin.w, lin.bias], { transB: 1 }), residual]);
    if (residual) return g.o('Gemm', [x, lin.w, residual], { transB: 1, beta: { float: 1 } });
    return g.o('Gemm', lin.bias ? [x, lin.w, lin.bias] : [x, lin.w], { transB: 1 });
  }
  let y = g.o('MatMulNBits', [x, lin.w, lin.scales!], { K: lin.in, N: lin.out, bits: 8, block_size: INT8_BLOCK, accuracy_level: INT8_ACCURACY_LEVEL }, 'com.microsoft');
  if (lin.bias) y = g.o('Add', [y, lin.bias]);
  return residual ? g.o('Add', [y, residual]) : y;
}
