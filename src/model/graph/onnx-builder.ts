/**
 * A small ONNX graph builder over onnx-proto: nodes, constants, subgraphs (for `If`),
 * and f32 initializers stored either inline or as external data in a side file.
 */
import onnxProto from 'onnx-proto';
import { writeSync } from 'node:fs';

const { onnx } = onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx };
type INode = import('onnx-proto').onnx.INodeProto;
type ITensor = import('onnx-proto').onnx.ITensorProto;
type IGraph = import('onnx-proto').onnx.IGraphProto;
type IAttr = import('onnx-proto').onnx.IAttributeProto;
type IValueInfo = import('onnx-proto').onnx.IValueInfoProto;

export const DT = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type AttrValue = number | number[] | string | IGraph | { floats: number[] } | { float: number };

/**
 * Where initializer bytes go: appended to an open external-data file, or inline. `written` maps
 * each weight written to the file to its place there; a sink with `fd` null and `written` set
 * builds another graph over the same file (a weight's bytes are then neither computed nor written).
 */
export interface WeightSink {
  fd: number | null;
  location: string;
  offset: number;
  written?: Map<string, { offset: number; length: number }>;
}

/** Bytes now, or a function computing them when they have to be written. */
export type Bytes<T> = T | (() => T);
const force = <T>(b: Bytes<T>): T => (typeof b === 'function' ? (b as () => T)() : b);

function attr(name: string, v: AttrValue): IAttr {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.GRAPH, g: v };
}

/** Builds one (sub)graph. Names are made unique with a shared counter. */
export class GraphBuilder {
  readonly nodes: INode[] = [];
  readonly initializers: ITensor[] = [];
  readonly inputs: IValueInfo[] = [];
  readonly outputs: IValueInfo[] = [];
  private counter: { n: number };

  constructor(
    readonly name: string,
    private sink: WeightSink,
    counter?: { n: number },
  ) {
    this.counter = counter ?? { n: 0 };
  }

  /** A child builder for an `If` branch, sharing name counter and weight sink. */
  sub(name: string): GraphBuilder {
    return new GraphBuilder(name, this.sink, this.counter);
  }

  fresh(hint: string): string {
    return `${hint}_${this.counter.n++}`;
  }

  /** Adds a node; returns its output names. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, nOut = 1, domain = ''): string[] {
    const outputs = Array.from({ length: nOut }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      domain,
      input: inputs,
      output: outputs,
      name: this.fresh('n'),
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return outputs;
  }

  /** Single-output node shorthand. */
  o(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.op(opType, inputs, attrs, 1, domain)[0];
  }

  /**
   * Names an existing value as a graph output. A value computed by a node of this graph is renamed
   * (an Identity would cost a node run and a copy every step); others (inputs, initializers, outer
   * values, a value already exported) go through an Identity.
   */
  output(value: string, name: string, elemType: number, dims?: (number | string)[]): void {
    const producer = this.nodes.find((n) => n.output?.includes(value));
    if (producer && !this.outputs.some((o) => o.name === value)) renameValue(this.nodes, value, name);
    else this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.fresh('n') });
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  input(name: string, elemType: number, dims?: (number | string)[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** An int64 constant (small, inline). */
  i64(values: number[], name?: string, scalar = false): string {
    const n = name ?? this.fresh('c');
    this.initializers.push({ name: n, dataType: DT.INT64, dims: scalar ? [] : [values.length], int64Data: values });
    return n;
  }

  /** A float constant (small, inline). */
  f32(values: number[], dims: number[], name?: string): string {
    const n = name ?? this.fresh('c');
    this.initializers.push({ name: n, dataType: DT.FLOAT, dims, floatData: values });
    return n;
  }

  /** A float weight; written to the external data file when one is open. */
  weight(name: string, data: Bytes<Float32Array>, dims: number[]): string {
    return this.weightBytes(name, DT.FLOAT, () => {
      const d = force(data);
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    }, dims);
  }

  /** A weight of any element type given as raw little-endian bytes (int8 blocks, scales). */
  weightBytes(name: string, dataType: number, data: Bytes<Uint8Array>, dims: number[]): string {
    const known = this.sink.fd === null ? this.sink.written?.get(name) : undefined;
    if (known) {
      this.initializers.push(this.external(name, dataType, dims, known.offset, known.length));
      return name;
    }
    const bytes = force(data);
    if (this.sink.fd === null) {
      this.initializers.push({ name, dataType, dims, rawData: bytes.slice() });
      return name;
    }
    // Align to 64 bytes so the runtime can map the data directly.
    const pad = (64 - (this.sink.offset % 64)) % 64;
    if (pad) writeSync(this.sink.fd, new Uint8Array(pad));
    this.sink.offset += pad;
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(this.sink.fd, bytes, done, bytes.byteLength - done);
    this.initializers.push(this.external(name, dataType, dims, this.sink.offset, bytes.byteLength));
    this.sink.written?.set(name, { offset: this.sink.offset, length: bytes.byteLength });
    this.sink.offset += bytes.byteLength;
    return name;
  }

  private external(name: string, dataType: number, dims: number[], offset: number, length: number): ITensor {
    return {
      name,
      dataType,
      dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: this.sink.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    };
  }

  graph(): IGraph {
    return { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }
}

/** Renames a value in these nodes and in the subgraphs they hold (which may read it as an outer value). */
function renameValue(nodes: INode[], from: string, to: string): void {
  for (const n of nodes) {
    if (n.input) n.input = n.input.map((x) => (x === from ? to : x));
    if (n.output) n.output = n.output.map((x) => (x === from ? to : x));
    for (const a of n.attribute ?? []) if (a.g?.node) renameValue(a.g.node as INode[], from, to);
  }
}

/** A value info; `dims` undefined means unknown shape. */
export function valueInfo(name: string, elemType: number, dims?: (number | string)[]): IValueInfo {
  const tensorType: Record<string, unknown> = { elemType };
  if (dims) tensorType.shape = { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType } };
}

/** Serializes a model with the standard and Microsoft opsets. */
export function encodeModel(graph: IGraph): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'skipserve',
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
