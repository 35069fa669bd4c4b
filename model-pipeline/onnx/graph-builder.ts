import {
  type AttributeProto,
  DEFAULT_OPSET,
  ElementType,
  encodeModel,
  type NodeProto,
  onnx,
  type TensorProto,
  type ValueInfoProto,
} from './proto';

type AttributeValue = number | string | readonly number[] | { readonly float: number };

/** Dimension of a graph input or output: a fixed size or a symbolic name such as 'batch'. */
export type Dim = number | string;

/**
 * Accumulates the nodes and initializers of one graph and names intermediate values,
 * so exporters read as a sequence of operations rather than protobuf plumbing.
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private counter = 0;

  /** Declares a graph input. */
  input(name: string, elemType: number, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares a graph output produced by an existing value. */
  output(name: string, elemType: number, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Adds a float32 constant. */
  floats(prefix: string, values: ArrayLike<number>, dims: readonly number[]): string {
    const name = this.fresh(prefix);
    const data = Float32Array.from(values as ArrayLike<number>);
    this.initializers.push({ name, dims: [...dims], dataType: ElementType.FLOAT, rawData: littleEndianBytes(data) });
    return name;
  }

  /** Adds an int64 constant. */
  int64s(prefix: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh(prefix);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [...dims], dataType: ElementType.INT64, rawData: littleEndianBytes(data) });
    return name;
  }

  /** Adds a node and returns the name of its (first) output. */
  node(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, outputName?: string, domain = ''): string {
    const output = outputName ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      opType,
      domain,
      name: this.fresh(`${opType}_node`),
      input: [...inputs],
      output: [output],
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return output;
  }

  /** Serializes the graph as a complete ModelProto. */
  build(options: { graphName: string; producer: string; docString?: string; opset?: number; metadata?: Record<string, string> }): Uint8Array {
    return encodeModel({
      irVersion: onnx.Version.IR_VERSION,
      producerName: options.producer,
      opsetImport: [{ domain: '', version: options.opset ?? DEFAULT_OPSET }],
      docString: options.docString ?? '',
      metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: options.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttributeValue): AttributeProto {
  const Type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: Type.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') return { name, type: Type.INT, i: value };
  if ('float' in value) return { name, type: Type.FLOAT, f: value.float };
  return { name, type: Type.INTS, ints: [...value] };
}

/** ONNX raw_data is little-endian; typed arrays are in host order, which is little-endian on every Lambda and x86/arm host. */
function littleEndianBytes(data: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
