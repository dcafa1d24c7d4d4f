/**
 * Exports the selector to ONNX (input `embedding` [batch, inputDim] -> output `scores`
 * [batch, numPlans], plain cosine similarities) with the project's graph builder, so the serving
 * path runs it on onnxruntime-node.
 */
import { DT, encodeModel, GraphBuilder } from '../../src/model/graph/onnx-builder.ts';
import { NORM_EPS, normalisePlans, type SelectorParams } from './model.ts';

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

/** Serialises the selector as an ONNX model (weights inline; plan embeddings pre-normalised). */
export function selectorToOnnx(p: SelectorParams): Uint8Array {
  const { inputDim: d, hiddenDim: hd, embedDim: e, numPlans: m } = p;
  const g = new GraphBuilder('skipserve_selector', { fd: null, location: '', offset: 0 });
  const x = g.input('embedding', DT.FLOAT, ['batch', d]);
  const invStd = Float32Array.from(p.inputStd, (s) => 1 / s);
  const { v } = normalisePlans(p);
  // The TypeScript forward divides by std; multiplying by 1/std differs in the last bit at most.
  const xn = g.o('Mul', [g.o('Sub', [x, g.weight('input_mean', p.inputMean, [d])]), g.weight('input_inv_std', invStd, [d])]);
  const h = g.o('Tanh', [g.o('Add', [g.o('MatMul', [xn, g.weight('w1_t', transpose(p.w1, hd, d), [d, hd])]), g.weight('b1', p.b1, [hd])])]);
  const q = g.o('Add', [g.o('MatMul', [h, g.weight('w2_t', transpose(p.w2, e, hd), [hd, e])]), g.weight('b2', p.b2, [e])]);
  const ss = g.o('ReduceSum', [g.o('Mul', [q, q]), g.i64([1])], { keepdims: 1 });
  const norm = g.o('Sqrt', [g.o('Add', [ss, g.f32([NORM_EPS], [])])]);
  const scores = g.o('MatMul', [g.o('Div', [q, norm]), g.weight('plans_t', transpose(v, m, e), [e, m])]);
  g.output(scores, 'scores', DT.FLOAT, ['batch', m]);
  return encodeModel(g.graph());
}
