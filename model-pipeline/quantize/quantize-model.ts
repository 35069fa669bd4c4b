import { type Matrix, OnnxSession } from '../../core/model/onnx-session';
import { decodeModel, ElementType, encodeModel, type ModelProto } from '../onnx/proto';
import { type CalibrationMethod, calibrateRanges, type ValueRange } from './calibrate';
import { agreement, type Scores } from './compare';
import { findLinearLayers, type FloatNode, type LinearLayer } from './linear-layers';
import { type LayerPlan, rewriteDynamic, rewriteStatic } from './rewrite';
import { quantizeWeights } from './weights';

export type QuantizationMode = 'dynamic' | 'static';

export interface QuantizeModelOptions {
  /** @default 'dynamic' */
  readonly mode?: QuantizationMode;
  /** The model's float input. @default its only graph input */
  readonly input?: string;
  /** The score output compared with the float model when choosing which layers to keep float. @default its first float output */
  readonly output?: string;
  /**
   * Representative input rows. Static mode calibrates activation ranges on them; both modes
   * use them to find layers whose quantization costs agreement. Without them (dynamic
   * only) every linear layer is quantized.
   */
  readonly calibration?: Matrix;
  /** @default 'minmax' */
  readonly calibrationMethod?: CalibrationMethod;
  /** Central share of values the 'percentile' method keeps in range, in percent. @default 99.99 */
  readonly percentile?: number;
  /** Keep weights in 7 bits, for CPUs without VNNI. @default false */
  readonly reduceRange?: boolean;
  /** Names of layers (their first node's name) to keep float. @default [] */
  readonly exclude?: readonly string[];
  /** Top-1 agreement with the float model on the calibration rows below which layers go back to float, most harmful first. @default 0.995 */
  readonly minAgreement?: number;
}

/** What happened to one linear layer. */
export interface LayerReport {
  readonly name: string;
  readonly pattern: LinearLayer['pattern'];
  /** [inputs, outputs] */
  readonly shape: readonly [number, number];
  readonly quantized: boolean;
  /** Why the layer stayed float. */
  readonly reason?: string;
  /** RMS error of the int8 weights relative to the weights' RMS. */
  readonly weightError: number;
}

/** The outcome of quantizing a model. */
export interface QuantizedModel {
  /** The int8 model, or null when no layer could be quantized (the float model is then all there is). */
  readonly bytes: Uint8Array | null;
  readonly mode: QuantizationMode;
  readonly layers: readonly LayerReport[];
  /** Nodes other than linear layers that stay float, grouped by operator. */
  readonly floatOps: readonly { readonly op: string; readonly domain: string; readonly count: number; readonly reason: string }[];
  /** Top-1 agreement with the float model on the calibration rows, when there were any. */
  readonly calibrationAgreement?: number;
}

/**
 * Quantizes the linear layers of an fp32 ONNX model to int8 (weights per output channel;
 * activations at run time in 'dynamic' mode, from calibration in 'static' mode). Every
 * other node stays float. With calibration rows, layers whose quantization lowers top-1
 * agreement with the float model below `minAgreement` are put back to float, the most
 * harmful first, so the result is never a silently worse model.
 */
export async function quantizeModel(fp32: Uint8Array, options: QuantizeModelOptions = {}): Promise<QuantizedModel> {
  const mode = options.mode ?? 'dynamic';
  const model = decodeModel(fp32) as ModelProto;
  const graph = model.graph;
  if (!graph) throw new Error('the model has no graph');
  const input = options.input ?? singleInput(model);
  const { layers, floatNodes } = findLinearLayers(graph);
  const weights = new Map(layers.map((l) => [l, quantizeWeights(l.weights, l.inputs, l.outputs, { reduceRange: options.reduceRange })]));
  const reasons = new Map<LinearLayer, string>();
  for (const layer of layers) if (options.exclude?.includes(layer.name)) reasons.set(layer, 'excluded by option');

  const rows = options.calibration;
  if (mode === 'static' && !rows) throw new Error('static quantization needs calibration rows');
  const ranges: ReadonlyMap<string, ValueRange> = mode === 'static' && rows
    ? await calibrateRanges(model, input, rows, [...new Set(layers.map((l) => l.input))], { method: options.calibrationMethod, percentile: options.percentile })
    : new Map();
  const rewrite = (chosen: readonly LinearLayer[]) => {
    const plans: LayerPlan[] = chosen.map((layer) => ({ layer, weights: weights.get(layer)! }));
    return mode === 'static' ? rewriteStatic(model, plans, ranges) : { model: rewriteDynamic(model, plans), absorbedRelus: [] };
  };
  const build = (chosen: readonly LinearLayer[]): Uint8Array => encodeModel(rewrite(chosen).model);

  let chosen = layers.filter((l) => !reasons.has(l));
  let calibrationAgreement: number | undefined;
  if (rows && chosen.length > 0) {
    const output = options.output ?? firstFloatOutput(model);
    const reference = await scoresOf(fp32, input, output, rows);
    const minAgreement = options.minAgreement ?? 0.995;
    calibrationAgreement = agreement(reference, await scoresOf(build(chosen), input, output, rows));
    // Greedy fallback: put back to float the layer whose return helps agreement most, until the target is met.
    while (calibrationAgreement < minAgreement && chosen.length > 0) {
      let best = { layer: chosen[0]!, agreement: -1 };
      for (const layer of chosen) {
        const without = agreement(reference, await scoresOf(build(chosen.filter((l) => l !== layer)), input, output, rows));
        if (without > best.agreement) best = { layer, agreement: without };
      }
      reasons.set(best.layer, `quantizing it lowered top-1 agreement on the calibration rows to ${percent(calibrationAgreement)} (${percent(best.agreement)} with it in float)`);
      chosen = chosen.filter((l) => l !== best.layer);
      calibrationAgreement = best.agreement;
    }
  }

  const layerReports: LayerReport[] = layers.map((layer) => ({
    name: layer.name,
    pattern: layer.pattern,
    shape: [layer.inputs, layer.outputs],
    quantized: chosen.includes(layer),
    ...(reasons.has(layer) ? { reason: reasons.get(layer)! } : {}),
    weightError: weights.get(layer)!.relativeError,
  }));
  const final = rewrite(chosen);
  const absorbed = new Set(final.absorbedRelus);
  return {
    bytes: chosen.length > 0 ? encodeModel(final.model) : null,
    mode,
    layers: layerReports,
    floatOps: groupFloatNodes(floatNodes.map((f) => (absorbed.has(f.node) ? { ...f, reason: 'absorbed into the next QuantizeLinear (zero point 0 clips at 0)' } : f))),
    ...(calibrationAgreement !== undefined ? { calibrationAgreement } : {}),
  };
}

async function scoresOf(bytes: Uint8Array, input: string, output: string, rows: Matrix): Promise<Scores> {
  const session = await OnnxSession.create(bytes);
  try {
    const result = (await session.run(input, rows, [output]))[output]!;
    const values = Float32Array.from(result.data as ArrayLike<number>);
    return { values, width: rows.rows > 0 ? values.length / rows.rows : 1 };
  } finally {
    await session.release();
  }
}

/** One line per operator and reason, e.g. "Relu ×2: elementwise or shape operation: runs in float". */
function groupFloatNodes(nodes: readonly FloatNode[]) {
  const groups = new Map<string, { op: string; domain: string; count: number; reason: string }>();
  for (const node of nodes) {
    const key = `${node.domain}:${node.op}:${node.reason}`;
    const group = groups.get(key) ?? { op: node.op, domain: node.domain, count: 0, reason: node.reason };
    group.count++;
    groups.set(key, group);
  }
  return [...groups.values()];
}

function singleInput(model: ModelProto): string {
  const initializers = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  const inputs = (model.graph?.input ?? []).filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) throw new Error(`the model has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); name the one to feed`);
  return inputs[0]!.name ?? '';
}

function firstFloatOutput(model: ModelProto): string {
  const output = (model.graph?.output ?? []).find((o) => o.type?.tensorType?.elemType === ElementType.FLOAT);
  if (!output) throw new Error('the model has no float output to compare');
  return output.name ?? '';
}

function percent(share: number): string {
  return `${(share * 100).toFixed(2)}%`;
}
