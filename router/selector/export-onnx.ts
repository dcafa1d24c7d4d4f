/**
 * Exports the selector to ONNX (input `embedding` [batch, inputDim] -> output `scores`
 * [batch, numPlans], plain cosine similarities) so the serving path runs it on onnxruntime-node.
 * Built directly with onnx-proto: the graph is eleven nodes and needs no shared builder.
 */
import onnxProto from 'onnx-proto';
import { NORM_EPS, normalisePlans, type SelectorParams } from './model.ts';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function floatInit(name: string, dims: number[], data: Float32Array): onnxProto.onnx.ITensorProto {
  return { name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

function node(opType: string, input: string[], output: string[]): onnxProto.onnx.INodeProto {
  return { opType, input, output, name: output[0] };
}

/** Serialises the selector as an ONNX model (opset 13); `metadata` lands in metadata_props. */
export function selectorToOnnx(p: SelectorParams, metadata: Record<string, string> = {}): Uint8Array {
  const { inputDim: d, hiddenDim: hd, embedDim: e, numPlans: m } = p;
  const invStd = new Float32Array(d);
  for (let i = 0; i < d; i++) invStd[i] = 1 / p.inputStd[i]!;
  const { v } = normalisePlans(p);
  const initializer = [
    floatInit('input_mean', [d], p.inputMean),
    floatInit('input_inv_std', [d], invStd),
    floatInit('w1_t', [d, hd], transpose(p.w1, hd, d)),
    floatInit('b1', [hd], p.b1),
    floatInit('w2_t', [hd, e], transpose(p.w2, e, hd)),
    floatInit('b2', [e], p.b2),
    floatInit('plans_t', [e, m], transpose(v, m, e)),
    floatInit('eps', [], new Float32Array([NORM_EPS])),
    { name: 'axes', dims: [1], dataType: INT64, int64Data: [1] },
  ];
  // The TypeScript forward divides by std; multiplying by 1/std differs in the last bit at most.
  const nodes = [
    node('Sub', ['embedding', 'input_mean'], ['centred']),
    node('Mul', ['centred', 'input_inv_std'], ['xn']),
    node('MatMul', ['xn', 'w1_t'], ['a1']),
    node('Add', ['a1', 'b1'], ['a1b']),
    node('Tanh', ['a1b'], ['h']),
    node('MatMul', ['h', 'w2_t'], ['q0']),
    node('Add', ['q0', 'b2'], ['q']),
    node('Mul', ['q', 'q'], ['q_sq']),
    { opType: 'ReduceSum', input: ['q_sq', 'axes'], output: ['q_ss'], name: 'q_ss', attribute: [{ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
    node('Add', ['q_ss', 'eps'], ['q_ss_eps']),
    node('Sqrt', ['q_ss_eps'], ['q_norm']),
    node('Div', ['q', 'q_norm'], ['u']),
    node('MatMul', ['u', 'plans_t'], ['scores']),
  ];
  const tensorType = (dims: (number | string)[]): onnxProto.onnx.ITypeProto => ({
    tensorType: {
      elemType: FLOAT,
      shape: { dim: dims.map((x) => (typeof x === 'number' ? { dimValue: x } : { dimParam: x })) },
    },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'skipserve-router',
    opsetImport: [{ domain: '', version: 13 }],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'skipserve_selector',
      node: nodes,
      initializer,
      input: [{ name: 'embedding', type: tensorType(['batch', d]) }],
      output: [{ name: 'scores', type: tensorType(['batch', m]) }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
