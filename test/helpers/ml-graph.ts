import { type AttributeProto, DEFAULT_OPSET, ElementType, encodeModel, type NodeProto, onnx, type TensorProto, type ValueInfoProto } from '../../model-pipeline/onnx/proto';

/**
 * Builds ONNX graphs that use the ai.onnx.ml operators (LinearClassifier, TreeEnsembleClassifier,
 * ZipMap, …) the way skl2onnx and onnxmltools write them, on the project's onnx-proto layer.
 * The project's GraphBuilder only writes default-domain graphs with single-output nodes and
 * INT/INTS/FLOAT/STRING attributes; these exporters also need FLOATS and STRINGS attributes,
 * several outputs per node, string tensors and map outputs.
 */

/** An attribute value, tagged with its ONNX type where a plain value would be ambiguous. */
export type MlAttribute =
  | number
  | string
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly ints: readonly number[] }
  | { readonly strings: readonly string[] };

/** A graph output's type: a tensor element type, or ZipMap's sequence of maps. */
export type MlOutputType = { readonly tensor: number; readonly dims: readonly (number | string)[] } | { readonly zipmap: 'string' | 'int64' };

/** The ONNX element type of string tensors. */
export const STRING = onnx.TensorProto.DataType.STRING;

const encoder = new TextEncoder();

/** Accumulates nodes, initializers, inputs and outputs of one ai.onnx.ml graph. */
export class MlGraph {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private counter = 0;

  /** Declares a 2-D float input [batch, width]. */
  floatInput(name: string, width: number): string {
    this.inputs.push(tensorInfo(name, ElementType.FLOAT, ['batch', width]));
    return name;
  }

  /** Declares a graph output. */
  output(name: string, type: MlOutputType): void {
    if ('tensor' in type) {
      this.outputs.push(tensorInfo(name, type.tensor, type.dims));
      return;
    }
    const keyType = type.zipmap === 'string' ? STRING : ElementType.INT64;
    this.outputs.push({
      name,
      type: { sequenceType: { elemType: { mapType: { keyType, valueType: { tensorType: { elemType: ElementType.FLOAT } } } } } },
    });
  }

  /** Adds a float32 constant. */
  floats(prefix: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh(prefix);
    this.initializers.push({ name, dims: [...dims], dataType: ElementType.FLOAT, floatData: [...values] });
    return name;
  }

  /** Adds an int64 constant. */
  int64s(prefix: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh(prefix);
    this.initializers.push({ name, dims: [...dims], dataType: ElementType.INT64, int64Data: [...values] });
    return name;
  }

  /** Adds a string constant. */
  strings(prefix: string, values: readonly string[], dims: readonly number[] = [values.length]): string {
    const name = this.fresh(prefix);
    this.initializers.push({ name, dims: [...dims], dataType: STRING, stringData: values.map((v) => encoder.encode(v)) });
    return name;
  }

  /** Adds a node with `outputs` outputs (names given, or fresh ones) and returns their names. */
  node(opType: string, inputs: readonly string[], attributes: Record<string, MlAttribute> = {}, outputs: number | readonly string[] = 1, domain = ''): string[] {
    const names = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : [...outputs];
    this.nodes.push({
      opType,
      domain,
      name: this.fresh(`${opType}_node`),
      input: [...inputs],
      output: names,
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return names;
  }

  /** Adds an ai.onnx.ml node. */
  ml(opType: string, inputs: readonly string[], attributes: Record<string, MlAttribute>, outputs: number | readonly string[] = 1): string[] {
    return this.node(opType, inputs, attributes, outputs, 'ai.onnx.ml');
  }

  /** Serializes the graph as a ModelProto importing the default and ai.onnx.ml opsets. */
  build(producer: string, producerVersion = ''): Uint8Array {
    return encodeModel({
      irVersion: 8,
      producerName: producer,
      producerVersion,
      opsetImport: [
        { domain: '', version: DEFAULT_OPSET },
        { domain: 'ai.onnx.ml', version: 3 },
      ],
      graph: { name: producer, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    });
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }
}

function tensorInfo(name: string, elemType: number, dims: readonly (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

function attribute(name: string, value: MlAttribute): AttributeProto {
  const Type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') return { name, type: Type.INT, i: value };
  if (typeof value === 'string') return { name, type: Type.STRING, s: encoder.encode(value) };
  if ('float' in value) return { name, type: Type.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: Type.FLOATS, floats: [...value.floats] };
  if ('ints' in value) return { name, type: Type.INTS, ints: [...value.ints] };
  return { name, type: Type.STRINGS, strings: value.strings.map((s) => encoder.encode(s)) };
}

/** A decision tree: a split on `feature <= threshold` (true branch first) or a leaf holding one weight per class or target. */
export type Tree = { readonly feature: number; readonly threshold: number; readonly yes: Tree; readonly no: Tree } | { readonly leaf: readonly number[] };

/** The nodes_* attributes of a tree ensemble and its leaves, numbered depth-first per tree. */
export function treeEnsembleAttributes(trees: readonly Tree[], leafPrefix: 'class' | 'target'): Record<string, MlAttribute> {
  const nodes = { treeids: [] as number[], nodeids: [] as number[], featureids: [] as number[], values: [] as number[], modes: [] as string[], truenodeids: [] as number[], falsenodeids: [] as number[] };
  const leaves = { treeids: [] as number[], nodeids: [] as number[], ids: [] as number[], weights: [] as number[] };
  trees.forEach((tree, treeId) => {
    let next = 0;
    const visit = (t: Tree): number => {
      const id = next++;
      const at = nodes.treeids.length;
      nodes.treeids.push(treeId);
      nodes.nodeids.push(id);
      if ('leaf' in t) {
        nodes.featureids.push(0);
        nodes.values.push(0);
        nodes.modes.push('LEAF');
        nodes.truenodeids.push(0);
        nodes.falsenodeids.push(0);
        t.leaf.forEach((weight, k) => {
          if (weight === 0) return;
          leaves.treeids.push(treeId);
          leaves.nodeids.push(id);
          leaves.ids.push(k);
          leaves.weights.push(weight);
        });
        return id;
      }
      nodes.featureids.push(t.feature);
      nodes.values.push(t.threshold);
      nodes.modes.push('BRANCH_LEQ');
      nodes.truenodeids.push(0);
      nodes.falsenodeids.push(0);
      nodes.truenodeids[at] = visit(t.yes);
      nodes.falsenodeids[at] = visit(t.no);
      return id;
    };
    visit(tree);
  });
  return {
    nodes_treeids: { ints: nodes.treeids },
    nodes_nodeids: { ints: nodes.nodeids },
    nodes_featureids: { ints: nodes.featureids },
    nodes_values: { floats: nodes.values },
    nodes_modes: { strings: nodes.modes },
    nodes_truenodeids: { ints: nodes.truenodeids },
    nodes_falsenodeids: { ints: nodes.falsenodeids },
    [`${leafPrefix}_treeids`]: { ints: leaves.treeids },
    [`${leafPrefix}_nodeids`]: { ints: leaves.nodeids },
    [`${leafPrefix}_ids`]: { ints: leaves.ids },
    [`${leafPrefix}_weights`]: { floats: leaves.weights },
  };
}
