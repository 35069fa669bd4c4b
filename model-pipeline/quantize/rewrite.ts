import { ElementType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto';
import type { ValueRange } from './calibrate';
import type { LinearLayer } from './linear-layers';
import { floatScalar, GraphIndex, msNode, onnxNode, tensorOf, uint8Scalar, withContribOpset } from './tensors';
import { activationParameters, type QuantizedWeights } from './weights';

/** A layer chosen for int8, with its quantized weights. */
export interface LayerPlan {
  readonly layer: LinearLayer;
  readonly weights: QuantizedWeights;
}

/**
 * Dynamic quantization: each layer becomes one com.microsoft DynamicQuantizeMatMul, which
 * finds the activation's range, quantizes it to uint8, multiplies with the int8 weights
 * (per-column scales) and adds the float bias, all in one kernel:
 *
 *   x ─► DynamicQuantizeMatMul(x, W:int8[K,N], scale:float[N], –, bias:float[N]) ─► y:float
 *
 * Needs no calibration data; activations cost a min/max pass per call.
 */
export function rewriteDynamic(model: ModelProto, plans: readonly LayerPlan[]): ModelProto {
  const added: TensorProto[] = [];
  const replacements = new Map<NodeProto, NodeProto[]>();
  plans.forEach(({ layer, weights }, i) => {
    const w = weightTensors(`q8/${i}`, layer, weights, added);
    const inputs = [layer.input, w.values, w.scales, ...(w.bias ? ['', w.bias] : [])];
    replacements.set(layer.nodes.at(-1)!, [msNode('DynamicQuantizeMatMul', `q8/${i}/DynamicQuantizeMatMul`, inputs, layer.output)]);
  });
  return replaceNodes(model, plans, replacements, new Set(), added);
}

/**
 * Static quantization: activation scales come from calibration, so no range is computed
 * at run time. Each layer becomes QuantizeLinear (uint8, calibrated scale) followed by a
 * com.microsoft MatMulIntegerToFloat whose float output has the per-column scales and the
 * bias applied inside the GEMM's output stage:
 *
 *   x ─► QuantizeLinear(x, s, zp) ─► MatMulIntegerToFloat(xq, W:int8[K,N], s, scale[N], zp, –, bias[N]) ─► y:float
 *
 * A Relu that only feeds the layer is dropped: its output range starts at 0, so the zero
 * point is 0 and QuantizeLinear's saturation at 0 is the Relu. Outputs stay float, so the
 * final logits and softmax are never squeezed into 256 levels. This measured faster on
 * ONNX Runtime's CPU kernels than QDQ (fused by ORT into QGemm) and than a QGemm chain with
 * uint8 outputs: QGemm first broadcasts its int32 bias into a scratch buffer, while
 * MatMulIntegerToFloat applies bias and scales in the GEMM's output stage.
 */
export function rewriteStatic(model: ModelProto, plans: readonly LayerPlan[], ranges: ReadonlyMap<string, ValueRange>): { model: ModelProto; absorbedRelus: NodeProto[] } {
  const index = new GraphIndex(model.graph!);
  const added: TensorProto[] = [];
  const replacements = new Map<NodeProto, NodeProto[]>();
  const dropped = new Set<NodeProto>();
  const quantized = new Map<string, { value: string; scale: string; zeroPoint: string }>();

  plans.forEach(({ layer, weights }, i) => {
    const nodes: NodeProto[] = [];
    let activation = quantized.get(layer.input);
    if (!activation) {
      const range = ranges.get(layer.input);
      if (!range) throw new Error(`no calibrated range for "${layer.input}", the input of layer ${layer.name}`);
      const { scale, zeroPoint } = activationParameters(range);
      activation = { value: `q8/${i}/input_quantized`, scale: `q8/${i}/input_scale`, zeroPoint: `q8/${i}/input_zero_point` };
      added.push(floatScalar(activation.scale, scale), uint8Scalar(activation.zeroPoint, zeroPoint));
      let source = layer.input;
      const relu = index.producers.get(layer.input);
      if (relu && relu.opType === 'Relu' && !relu.domain && zeroPoint === 0 && index.onlyFeeds(layer.input, layer.nodes[0]!)) {
        dropped.add(relu);
        source = relu.input?.[0] ?? '';
      }
      nodes.push(onnxNode('QuantizeLinear', `q8/${i}/QuantizeLinear`, [source, activation.scale, activation.zeroPoint], activation.value));
      quantized.set(layer.input, activation);
    }
    const w = weightTensors(`q8/${i}`, layer, weights, added);
    const inputs = [activation.value, w.values, activation.scale, w.scales, activation.zeroPoint, ...(w.bias ? ['', w.bias] : [])];
    nodes.push(msNode('MatMulIntegerToFloat', `q8/${i}/MatMulIntegerToFloat`, inputs, layer.output));
    replacements.set(layer.nodes.at(-1)!, nodes);
  });
  return { model: replaceNodes(model, plans, replacements, dropped, added), absorbedRelus: [...dropped] };
}

function weightTensors(prefix: string, layer: LinearLayer, weights: QuantizedWeights, added: TensorProto[]) {
  const names = { values: `${prefix}/W_int8`, scales: `${prefix}/W_scale`, bias: layer.bias ? `${prefix}/bias` : null };
  added.push(
    tensorOf(names.values, ElementType.INT8, [layer.inputs, layer.outputs], weights.values),
    tensorOf(names.scales, ElementType.FLOAT, [layer.outputs], weights.scales),
  );
  if (layer.bias && names.bias) added.push(tensorOf(names.bias, ElementType.FLOAT, [layer.outputs], Float32Array.from(layer.bias)));
  return names;
}

/**
 * Puts each layer's replacement where its last float node was (its input exists by then and
 * its consumers come later, so the order stays topological), removes the replaced nodes,
 * and drops initializers and value_info entries nothing refers to any more.
 */
function replaceNodes(model: ModelProto, plans: readonly LayerPlan[], replacements: ReadonlyMap<NodeProto, NodeProto[]>, dropped: ReadonlySet<NodeProto>, added: readonly TensorProto[]): ModelProto {
  const graph = model.graph!;
  const replaced = new Set(plans.flatMap((p) => p.layer.nodes));
  const nodes: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    const replacement = replacements.get(node);
    if (replacement) nodes.push(...replacement);
    else if (!replaced.has(node) && !dropped.has(node)) nodes.push(node);
  }
  const read = new Set(nodes.flatMap((n) => n.input ?? []));
  const produced = new Set(nodes.flatMap((n) => n.output ?? []));
  const initializers = [...(graph.initializer ?? []).filter((t) => read.has(t.name ?? '')), ...added];
  const unused = new Set((graph.initializer ?? []).filter((t) => !read.has(t.name ?? '')).map((t) => t.name));
  return {
    ...model,
    opsetImport: withContribOpset(model),
    graph: {
      ...graph,
      node: nodes,
      initializer: initializers,
      // Older exporters also list initializers as graph inputs; a removed one must go from both.
      input: (graph.input ?? []).filter((i) => !unused.has(i.name)),
      valueInfo: (graph.valueInfo ?? []).filter((v) => produced.has(v.name ?? '')),
    },
  };
}
