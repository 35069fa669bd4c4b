import type { GraphProto, NodeProto } from '../onnx/proto';
import { attributeNumber, GraphIndex } from './tensors';

/**
 * A fully connected layer found in a float graph: y = x·W + b, with W constant. It is the
 * only kind of node worth quantizing in tabular models: it holds nearly all the weights
 * and nearly all the arithmetic.
 */
export interface LinearLayer {
  /** A stable name for reports: the name of its (first) node, or its output. */
  readonly name: string;
  /** The float pattern it replaces: 'Gemm', 'MatMul' or 'MatMul+Add'. */
  readonly pattern: 'Gemm' | 'MatMul' | 'MatMul+Add';
  /** The activation it reads. */
  readonly input: string;
  /** The value it produces (after the bias). */
  readonly output: string;
  /** Nodes the quantized layer replaces, in graph order. */
  readonly nodes: readonly NodeProto[];
  /** Input width K and output width N. */
  readonly inputs: number;
  readonly outputs: number;
  /** Weights [K, N] row-major, already transposed and scaled (Gemm transB and alpha folded in). */
  readonly weights: Float32Array;
  /** Bias [N] (Gemm beta folded in), or null. */
  readonly bias: Float32Array | null;
}

/** A node that stays in float, and why. */
export interface FloatNode {
  readonly node: NodeProto;
  readonly name: string;
  readonly op: string;
  readonly domain: string;
  readonly reason: string;
}

/** Ops that are cheap elementwise or shape work next to the matrix products: float is the right place for them. */
const ELEMENTWISE = new Set([
  'Relu', 'Tanh', 'Sigmoid', 'Softmax', 'LogSoftmax', 'LeakyRelu', 'Clip', 'Elu', 'Gelu', 'Erf', 'Exp', 'Log', 'Abs', 'Neg',
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Max', 'Min', 'Sum', 'Mean', 'Where', 'IsNaN', 'Equal', 'Greater', 'Less', 'Not', 'And', 'Or',
  'Cast', 'Identity', 'Gather', 'Concat', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Slice', 'Shape', 'ArgMax', 'ArgMin',
  'ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'Constant', 'ConstantOfShape', 'Expand', 'Dropout', 'BatchNormalization',
]);

/**
 * Finds the linear layers of a graph and says, for every other node, why it stays float.
 * Accepts the layouts exporters produce: our Gemm with W [in, out]; skl2onnx MatMul + Add
 * with B [in, out]; torch Gemm with transB=1 and W [out, in] (transposed here).
 */
export function findLinearLayers(graph: GraphProto): { layers: LinearLayer[]; floatNodes: FloatNode[] } {
  const index = new GraphIndex(graph);
  const layers: LinearLayer[] = [];
  const floatNodes: FloatNode[] = [];
  const taken = new Set<NodeProto>();

  for (const node of graph.node ?? []) {
    if (taken.has(node)) continue;
    const found = node.opType === 'Gemm' && !node.domain ? gemmLayer(node, index) : node.opType === 'MatMul' && !node.domain ? matMulLayer(node, index) : null;
    if (found && 'layer' in found) {
      layers.push(found.layer);
      for (const n of found.layer.nodes) taken.add(n);
      continue;
    }
    floatNodes.push({ node, name: nodeName(node), op: node.opType ?? '?', domain: node.domain || 'ai.onnx', reason: found?.reason ?? reasonFor(node) });
  }
  return { layers, floatNodes };
}

function gemmLayer(node: NodeProto, index: GraphIndex): { layer: LinearLayer } | { reason: string } {
  const [input, b, c] = node.input ?? [];
  if (attributeNumber(node, 'transA', 0) !== 0) return { reason: 'Gemm with transA=1 is not supported; kept float' };
  const weights = index.constantFloats(b ?? '');
  if (!weights || weights.dims.length !== 2) return { reason: 'Gemm weights are not a constant float matrix; kept float' };
  const transB = attributeNumber(node, 'transB', 0) !== 0;
  const alpha = attributeNumber(node, 'alpha', 1);
  const beta = attributeNumber(node, 'beta', 1);
  const [rows, cols] = weights.dims as [number, number];
  const [k, n] = transB ? [cols, rows] : [rows, cols];
  const w = new Float32Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) w[i * n + j] = alpha * (transB ? weights.values[j * cols + i]! : weights.values[i * n + j]!);
  }
  let bias: Float32Array | null = null;
  if (c) {
    const constant = index.constantFloats(c);
    const values = constant ? rowBias(constant.values, constant.dims, n) : null;
    if (!values) return { reason: 'Gemm bias is not a constant of shape [N], [1, N] or a scalar; kept float' };
    bias = values.map((v) => v * beta);
  }
  const output = node.output?.[0] ?? '';
  return { layer: { name: nodeName(node), pattern: 'Gemm', input: input ?? '', output, nodes: [node], inputs: k, outputs: n, weights: w, bias } };
}

function matMulLayer(node: NodeProto, index: GraphIndex): { layer: LinearLayer } | { reason: string } {
  const [input, b] = node.input ?? [];
  const weights = index.constantFloats(b ?? '');
  if (!weights || weights.dims.length !== 2) return { reason: 'MatMul with a second operand that is not a constant float matrix; kept float' };
  const [k, n] = weights.dims as [number, number];
  const product = node.output?.[0] ?? '';
  const base = { name: nodeName(node), input: input ?? '', inputs: k, outputs: n, weights: weights.values };
  // skl2onnx and torch write the bias as a separate Add; fold it in when nothing else reads the product.
  const add = (index.consumers.get(product) ?? [])[0];
  if (add && add.opType === 'Add' && !add.domain && index.onlyFeeds(product, add)) {
    const other = add.input?.[0] === product ? add.input?.[1] : add.input?.[0];
    const constant = index.constantFloats(other ?? '');
    const bias = constant ? rowBias(constant.values, constant.dims, n) : null;
    if (bias) return { layer: { ...base, pattern: 'MatMul+Add', output: add.output?.[0] ?? '', nodes: [node, add], bias } };
  }
  return { layer: { ...base, pattern: 'MatMul', output: product, nodes: [node], bias: null } };
}

/** A bias that broadcasts along rows ([N], [1, N] or a scalar) as a vector of N values; null for any other shape. */
function rowBias(values: Float32Array, dims: readonly number[], n: number): Float32Array | null {
  if (values.length === 1) return new Float32Array(n).fill(values[0]!);
  const fits = (dims.length === 1 && dims[0] === n) || (dims.length === 2 && dims[0] === 1 && dims[1] === n);
  return fits ? values : null;
}

function reasonFor(node: NodeProto): string {
  const op = node.opType ?? '?';
  if (node.domain === 'ai.onnx.ml') return `${op} (ai.onnx.ml) has no int8 kernel in ONNX Runtime; kept float`;
  if (ELEMENTWISE.has(op) && !node.domain) return 'elementwise or shape operation: runs in float';
  return `${node.domain ? `${node.domain} ` : ''}${op} is not supported by this quantizer (linear layers only); kept float`;
}

function nodeName(node: NodeProto): string {
  return node.name || `${node.opType}→${node.output?.[0] ?? '?'}`;
}
