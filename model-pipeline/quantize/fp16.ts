import { decodeModel, ElementType, encodeModel, type ModelProto, type NodeProto, onnx, type TensorProto } from '../onnx/proto';
import { findLinearLayers, type LinearLayer } from './linear-layers';
import { GraphIndex, tensorOf } from './tensors';

const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
const FLOAT16_MAX = 65504;
/** Activations that are safe and cheap in float16 between two linear layers. */
const HALF_ACTIVATIONS = new Set(['Relu', 'Tanh', 'Sigmoid', 'LeakyRelu']);

/**
 * Converts the linear layers of a float model, and the activations between them, to
 * float16, for GPUs (Triton's ONNX backend on tensor cores). Inputs, preprocessing and the
 * output head stay float32: raw features such as incomes overflow float16's ±65504, and a
 * softmax in float32 keeps probabilities exact. Cast nodes mark the region's borders, so
 * the model's signature does not change. Layers with weights beyond float16's range stay float32.
 */
export function convertToFloat16(fp32: Uint8Array): Uint8Array {
  const model = decodeModel(fp32) as ModelProto;
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const layers = findLinearLayers(graph).layers.filter((l) => fitsHalf(l.weights) && (!l.bias || fitsHalf(l.bias)));
  const layerByLast = new Map(layers.map((l) => [l.nodes.at(-1)!, l]));
  const inLayer = new Set(layers.flatMap((l) => l.nodes));
  // Values computed in float16: layer outputs, then activations fed only by such values.
  const half = new Set(layers.map((l) => l.output));
  const halfActivations = new Set<NodeProto>();
  for (const node of graph.node ?? []) {
    if (HALF_ACTIVATIONS.has(node.opType ?? '') && !node.domain && half.has(node.input?.[0] ?? '')) {
      halfActivations.add(node);
      half.add(node.output?.[0] ?? '');
    }
  }
  const h = (name: string) => `${name}/fp16`;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const castIn = new Set<string>();
  const toHalf = (value: string): string => {
    if (half.has(value)) return h(value);
    if (!castIn.has(value)) {
      castIn.add(value);
      nodes.push(cast(value, h(value), FLOAT16));
    }
    return h(value);
  };
  // A float16 value read by float32 nodes or by the graph's outputs gets a Cast back under its own name.
  const castOutIfNeeded = (value: string) => {
    const readers = index.consumers.get(value) ?? [];
    const floatReader = readers.some((n) => !halfActivations.has(n) && !layers.some((l) => l.nodes[0] === n));
    if (floatReader || index.graphOutputs.has(value)) nodes.push(cast(h(value), value, ElementType.FLOAT));
  };

  layers.forEach((layer, i) => initializers.push(...halfWeights(layer, i)));
  for (const node of graph.node ?? []) {
    const layer = layerByLast.get(node);
    if (layer) {
      const i = layers.indexOf(layer);
      const a = toHalf(layer.input);
      if (layer.pattern === 'Gemm') {
        const inputs = [a, `fp16/${i}/W`, ...(layer.bias ? [`fp16/${i}/bias`] : [])];
        nodes.push({ opType: 'Gemm', domain: '', name: `fp16/${i}/Gemm`, input: inputs, output: [h(layer.output)], attribute: [] });
      } else {
        // MatMul accepts inputs of any rank (Gemm only 2-D): keep it, and its Add.
        const product = layer.bias ? `${h(layer.output)}/product` : h(layer.output);
        nodes.push({ opType: 'MatMul', domain: '', name: `fp16/${i}/MatMul`, input: [a, `fp16/${i}/W`], output: [product], attribute: [] });
        if (layer.bias) nodes.push({ opType: 'Add', domain: '', name: `fp16/${i}/Add`, input: [product, `fp16/${i}/bias`], output: [h(layer.output)], attribute: [] });
      }
      castOutIfNeeded(layer.output);
    } else if (halfActivations.has(node)) {
      nodes.push({ ...node, input: [toHalf(node.input![0]!)], output: [h(node.output![0]!)] });
      castOutIfNeeded(node.output![0]!);
    } else if (!inLayer.has(node)) {
      nodes.push(node);
    }
  }
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  const unused = new Set((graph.initializer ?? []).filter((t) => !read.has(t.name ?? '')).map((t) => t.name));
  return encodeModel({
    ...model,
    graph: {
      ...graph,
      node: nodes,
      initializer: [...(graph.initializer ?? []).filter((t) => read.has(t.name ?? '')), ...initializers],
      input: (graph.input ?? []).filter((i) => !unused.has(i.name)),
      valueInfo: [],
    },
  });
}

function halfWeights(layer: LinearLayer, i: number): TensorProto[] {
  const tensors = [tensorOf(`fp16/${i}/W`, FLOAT16, [layer.inputs, layer.outputs], toHalfBits(layer.weights))];
  if (layer.bias) tensors.push(tensorOf(`fp16/${i}/bias`, FLOAT16, [layer.outputs], toHalfBits(layer.bias)));
  return tensors;
}

function cast(input: string, output: string, to: number): NodeProto {
  return { opType: 'Cast', domain: '', name: `${output}/Cast`, input: [input], output: [output], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: to }] };
}

function fitsHalf(values: Float32Array): boolean {
  return values.every((v) => Math.abs(v) <= FLOAT16_MAX);
}

/** IEEE 754 binary16 bit patterns, rounded to nearest even (Node 20 has no Float16Array). */
export function toHalfBits(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < values.length; i++) {
    f32[0] = values[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    let mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf or NaN
      continue;
    }
    let e = exponent - 127 + 15;
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00; // overflow → Inf
      continue;
    }
    if (e <= 0) {
      // Subnormal half (or zero): shift the implicit bit in and round.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mantissa |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let m = mantissa >> shift;
      const rest = mantissa & ((1 << shift) - 1);
      if (rest > half || (rest === half && (m & 1))) m++;
      out[i] = sign | m;
      continue;
    }
    let m = mantissa >> 13;
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (m & 1))) {
      m++;
      if (m === 0x400) {
        m = 0;
        e++;
        if (e >= 0x1f) {
          out[i] = sign | 0x7c00;
          continue;
        }
      }
    }
    out[i] = sign | (e << 10) | m;
  }
  return out;
}
