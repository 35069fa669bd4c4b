import { ElementType, type GraphProto, type ModelProto, type NodeProto, onnx, type TensorProto } from '../onnx/proto';

/** protobufjs decodes int64 fields as Long objects (or numbers); both become plain numbers here. */
export function toNumber(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** Dimensions of an initializer as numbers. */
export function dimsOf(tensor: TensorProto): number[] {
  return (tensor.dims ?? []).map((d) => toNumber(d as number));
}

/** Number of elements of an initializer. */
export function sizeOf(tensor: TensorProto): number {
  return dimsOf(tensor).reduce((a, b) => a * b, 1);
}

/**
 * Values of a float32 initializer, whether the exporter stored them as raw_data (ours,
 * torch) or as float_data (skl2onnx); null for any other element type or external data.
 */
export function floatValues(tensor: TensorProto): Float32Array | null {
  if (tensor.dataType !== ElementType.FLOAT) return null;
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    // Copy: the decoded bytes may sit at an offset that is not 4-byte aligned.
    const bytes = Uint8Array.from(raw);
    return new Float32Array(bytes.buffer, 0, bytes.length / 4);
  }
  if ((tensor.externalData ?? []).length > 0) return null;
  const values = Float32Array.from(tensor.floatData ?? []);
  return values.length === sizeOf(tensor) ? values : null;
}

type TypedValues = Float32Array | Int8Array | Uint8Array | Int32Array | Uint16Array;

/** An initializer holding `values` (little-endian raw_data, as every current host is). */
export function tensorOf(name: string, dataType: number, dims: readonly number[], values: TypedValues): TensorProto {
  return { name, dataType, dims: [...dims], rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** A float32 scalar initializer. */
export const floatScalar = (name: string, value: number): TensorProto => tensorOf(name, ElementType.FLOAT, [], Float32Array.of(value));

/** A uint8 scalar initializer (an activation zero point). */
export const uint8Scalar = (name: string, value: number): TensorProto => tensorOf(name, ElementType.UINT8, [], Uint8Array.of(value));

/** A node of the com.microsoft contrib domain, which ONNX Runtime implements on CPU. */
export function msNode(opType: string, name: string, inputs: readonly string[], output: string): NodeProto {
  return { opType, domain: 'com.microsoft', name, input: [...inputs], output: [output], attribute: [] };
}

/** A node of the default ONNX domain. */
export function onnxNode(opType: string, name: string, inputs: readonly string[], output: string): NodeProto {
  return { opType, domain: '', name, input: [...inputs], output: [output], attribute: [] };
}

/** Value of an integer or float attribute of a node, or `fallback` when absent. */
export function attributeNumber(node: NodeProto, name: string, fallback: number): number {
  const attribute = (node.attribute ?? []).find((a) => a.name === name);
  if (!attribute) return fallback;
  if (attribute.type === onnx.AttributeProto.AttributeType.FLOAT) return attribute.f ?? fallback;
  return toNumber(attribute.i as number);
}

/** Lookups over a graph that the quantizer needs: initializers by name, consumers of each value, graph outputs. */
export class GraphIndex {
  readonly initializers = new Map<string, TensorProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly producers = new Map<string, NodeProto>();
  readonly graphOutputs: ReadonlySet<string>;

  constructor(readonly graph: GraphProto) {
    for (const tensor of graph.initializer ?? []) this.initializers.set(tensor.name ?? '', tensor);
    for (const node of graph.node ?? []) {
      for (const input of node.input ?? []) {
        if (!input) continue;
        const list = this.consumers.get(input) ?? [];
        list.push(node);
        this.consumers.set(input, list);
      }
      for (const output of node.output ?? []) this.producers.set(output, node);
    }
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  }

  /** Float values of a constant input (an initializer), or null when the value is computed at run time. */
  constantFloats(name: string): { values: Float32Array; dims: number[] } | null {
    const tensor = this.initializers.get(name);
    if (!tensor) return null;
    const values = floatValues(tensor);
    return values ? { values, dims: dimsOf(tensor) } : null;
  }

  /** Whether a value is read by exactly this one node and is not a graph output. */
  onlyFeeds(value: string, node: NodeProto): boolean {
    const consumers = this.consumers.get(value) ?? [];
    return consumers.length === 1 && consumers[0] === node && !this.graphOutputs.has(value);
  }
}

/** Adds the com.microsoft opset to a model's imports unless it is already there. */
export function withContribOpset(model: ModelProto): ModelProto['opsetImport'] {
  const imports = [...(model.opsetImport ?? [])];
  if (!imports.some((o) => o.domain === 'com.microsoft')) imports.push({ domain: 'com.microsoft', version: 1 });
  return imports;
}
