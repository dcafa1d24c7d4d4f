/**
 * Exports the selector to ONNX with the project's graph builder, so the serving path runs it on
 * onnxruntime-node: input `embedding` [batch, hidden] (and `features` [batch, F] when the selector
 * takes text features; they are concatenated after the embedding) -> output `scores`
 * [batch, numPlans], the cosine similarities plus each plan's prior when the selector learned one
 * (an ensemble: their mean over members).
 */
import { DT, encodeModel, GraphBuilder } from '../../src/model/graph/onnx-builder.ts';
import { NORM_EPS, normalisePlans, type SelectorParams } from './model.ts';

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

/** One member's cosine scores of the input `x` (weights named with `prefix`). */
function memberScores(g: GraphBuilder, x: string, p: SelectorParams, prefix: string): string {
  const { inputDim: d, hiddenDim: hd, embedDim: e, numPlans: m } = p;
  const invStd = Float32Array.from(p.inputStd, (s) => 1 / s);
  const { v } = normalisePlans(p);
  // The TypeScript forward divides by std; multiplying by 1/std differs in the last bit at most.
  const xn = g.o('Mul', [g.o('Sub', [x, g.weight(`${prefix}input_mean`, p.inputMean, [d])]), g.weight(`${prefix}input_inv_std`, invStd, [d])]);
  const h = g.o('Tanh', [g.o('Add', [g.o('MatMul', [xn, g.weight(`${prefix}w1_t`, transpose(p.w1, hd, d), [d, hd])]), g.weight(`${prefix}b1`, p.b1, [hd])])]);
  const q = g.o('Add', [g.o('MatMul', [h, g.weight(`${prefix}w2_t`, transpose(p.w2, e, hd), [hd, e])]), g.weight(`${prefix}b2`, p.b2, [e])]);
  const ss = g.o('ReduceSum', [g.o('Mul', [q, q]), g.i64([1])], { keepdims: 1 });
  const norm = g.o('Sqrt', [g.o('Add', [ss, g.f32([NORM_EPS], [])])]);
  const cosines = g.o('MatMul', [g.o('Div', [q, norm]), g.weight(`${prefix}plans_t`, transpose(v, m, e), [e, m])]);
  return p.bias ? g.o('Add', [cosines, g.weight(`${prefix}plan_bias`, p.bias, [m])]) : cosines;
}

/** Serialises a selector or an ensemble of selectors as one ONNX model (weights inline; plan embeddings pre-normalised). */
export function selectorToOnnx(selector: SelectorParams | readonly SelectorParams[]): Uint8Array {
  const members = Array.isArray(selector) ? (selector as readonly SelectorParams[]) : [selector as SelectorParams];
  if (members.length === 0) throw new Error('an ensemble needs at least one member');
  const first = members[0]!;
  const f = first.featureDim ?? 0;
  for (const p of members) {
    if (p.inputDim !== first.inputDim || (p.featureDim ?? 0) !== f || p.numPlans !== first.numPlans || !p.bias !== !first.bias) throw new Error('ensemble members differ in input width, features, plans or plan prior');
  }
  const g = new GraphBuilder('skipserve_selector', { fd: null, location: '', offset: 0 });
  const emb = g.input('embedding', DT.FLOAT, ['batch', first.inputDim - f]);
  const x = f > 0 ? g.o('Concat', [emb, g.input('features', DT.FLOAT, ['batch', f])], { axis: 1 }) : emb;
  let scores = memberScores(g, x, first, members.length > 1 ? 'm0_' : '');
  for (let k = 1; k < members.length; k++) scores = g.o('Add', [scores, memberScores(g, x, members[k]!, `m${k}_`)]);
  if (members.length > 1) scores = g.o('Mul', [scores, g.f32([Math.fround(1 / members.length)], [])]);
  g.output(scores, 'scores', DT.FLOAT, ['batch', first.numPlans]);
  return encodeModel(g.graph());
}
