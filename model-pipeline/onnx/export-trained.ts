import { GraphBuilder } from './graph-builder';
import { ElementType } from './proto';
import type { TrainedModel } from '../train/trainer';

/** Tensor names of the models this project exports. */
export const ExportedNames = {
  input: 'features',
  probabilities: 'probabilities',
  label: 'label',
  prediction: 'prediction',
} as const;

/**
 * Exports a trained model as an ONNX graph that takes raw features (numeric values and
 * categorical level indices) and does its own preprocessing, so no client or serving code
 * has to reproduce the training transform.
 */
export function exportTrainedModel(model: TrainedModel, name: string): Uint8Array {
  const g = new GraphBuilder();
  const { transform } = model;
  const input = g.input(ExportedNames.input, ElementType.FLOAT, ['batch', transform.inputWidth]);
  const parts: string[] = [];

  if (transform.numeric.length > 0) {
    const columns = transform.numeric.map((n) => n.column);
    const isIdentity = columns.length === transform.inputWidth && columns.every((c, i) => c === i);
    const raw = isIdentity ? input : g.node('Gather', [input, g.int64s('numeric_columns', columns)], { axis: 1 });
    const centered = g.node('Sub', [raw, g.floats('mean', transform.numeric.map((n) => n.mean), [columns.length])]);
    const scaled = g.node('Div', [centered, g.floats('std', transform.numeric.map((n) => n.std), [columns.length])]);
    // Missing values (NaN) become 0 after scaling: imputation by the training mean.
    parts.push(g.node('Where', [g.node('IsNaN', [raw]), g.floats('zero', [0], [1]), scaled]));
  }
  for (const { column, levels } of transform.categorical) {
    const code = g.node('Gather', [input, g.int64s(`column_${column}`, [column])], { axis: 1 });
    const codes = g.floats(`levels_${column}`, Array.from({ length: levels }, (_, i) => i), [levels]);
    parts.push(g.node('Cast', [g.node('Equal', [code, codes])], { to: ElementType.FLOAT }));
  }
  let activation = parts.length === 1 ? parts[0]! : g.node('Concat', parts, { axis: 1 });

  const layers = model.network.layers;
  layers.forEach((layer, l) => {
    const isLast = l === layers.length - 1;
    let weights = layer.weights;
    let bias = layer.bias;
    if (isLast && model.task === 'regression') {
      // Fold the target standardization back in: y = z·std + mean.
      weights = weights.map((w) => w * model.target.std);
      bias = bias.map((b) => b * model.target.std + model.target.mean);
    }
    const W = g.floats(`W${l}`, weights, [layer.inputs, layer.outputs]);
    const b = g.floats(`b${l}`, bias, [layer.outputs]);
    const outputName = isLast && model.task === 'regression' ? ExportedNames.prediction : undefined;
    const z = g.node('Gemm', [activation, W, b], {}, outputName);
    activation = isLast ? z : g.node('Relu', [z]);
  });

  if (model.task === 'regression') {
    g.output(ExportedNames.prediction, ElementType.FLOAT, ['batch', 1]);
  } else {
    g.node('Softmax', [activation], { axis: -1 }, ExportedNames.probabilities);
    g.node('ArgMax', [ExportedNames.probabilities], { axis: 1, keepdims: 0 }, ExportedNames.label);
    g.output(ExportedNames.probabilities, ElementType.FLOAT, ['batch', model.classes.length]);
    g.output(ExportedNames.label, ElementType.INT64, ['batch']);
  }
  return g.build({
    graphName: name,
    producer: 'serverless-mlops',
    docString: `${model.task} model on ${model.features.length} features`,
    metadata: {
      features: JSON.stringify(model.features.map((f) => f.name)),
      classes: JSON.stringify(model.classes),
    },
  });
}
