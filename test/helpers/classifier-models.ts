import { writeFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { ElementType } from '../../model-pipeline/onnx/proto';
import { type MlAttribute, MlGraph, STRING, treeEnsembleAttributes, type Tree } from './ml-graph';

/**
 * Classifiers as the exporters users run write them (skl2onnx for scikit-learn, onnxmltools for
 * LightGBM and XGBoost), built with MlGraph on three features, and a sample of rows to import
 * them with. Each model's class labels are in the order the model keeps them, which is often
 * not the sorted order.
 */

/** Feature columns of the sample, in the models' input order. */
export const featureNames = ['x0', 'x1', 'x2'] as const;

/** One exported classifier. */
export interface ClassifierModel {
  /** Short id, for file names and test titles. */
  readonly id: string;
  /** How it was exported, in words. */
  readonly description: string;
  /** The class labels, in the order of the model's score columns. */
  readonly classes: readonly string[];
  readonly bytes: Uint8Array;
}

const input = 'float_input';

/** skl2onnx, LogisticRegression on two string classes: LinearClassifier (LOGISTIC, one row per class) → Normalizer L1. */
export function linearBinary(classes: readonly [string, string]): ClassifierModel {
  const g = new MlGraph();
  g.floatInput(input, 3);
  const w = [1.5, -1.0, 0.5];
  const b = 0.2;
  const [, raw] = g.ml('LinearClassifier', [input], {
    ...classLabels(classes),
    coefficients: { floats: [...w.map((v) => -v), ...w] },
    intercepts: { floats: [-b, b] },
    multi_class: 0,
    post_transform: 'LOGISTIC',
  }, ['label', 'probability_tensor']);
  g.ml('Normalizer', [raw!], { norm: 'L1' }, ['probabilities']);
  labelAndProbabilities(g, classes, 2);
  return { id: `linear-binary-${classes.join('-')}`, description: `skl2onnx LogisticRegression, classes ${classes.join(', ')}`, classes, bytes: g.build('skl2onnx', '1.17.0') };
}

/** skl2onnx, multinomial LogisticRegression: LinearClassifier (SOFTMAX) → Normalizer L1. */
export function linearMulticlass(classes: readonly string[]): ClassifierModel {
  const g = new MlGraph();
  g.floatInput(input, 3);
  const [, raw] = g.ml('LinearClassifier', [input], {
    ...classLabels(classes),
    coefficients: { floats: [1.2, 0.1, 0, 0, 1.1, -0.2, -1.0, -0.9, 0.6] },
    intercepts: { floats: [0, 0.1, 0.2] },
    multi_class: 1,
    post_transform: 'SOFTMAX',
  }, ['label', 'probability_tensor']);
  g.ml('Normalizer', [raw!], { norm: 'L1' }, ['probabilities']);
  labelAndProbabilities(g, classes, 3);
  return { id: `linear-multiclass-${classes.join('-')}`, description: `skl2onnx multinomial LogisticRegression, classes ${classes.join(', ')}`, classes, bytes: g.build('skl2onnx', '1.17.0') };
}

/**
 * skl2onnx, RandomForestClassifier: TreeEnsembleClassifier (NONE) whose leaves hold each tree's class
 * shares divided by the number of trees; for two classes only the second class's share, as class id 0.
 */
export function randomForest(classes: readonly string[]): ClassifierModel {
  const k = classes.length;
  const share = (...p: number[]) => ({ leaf: k === 2 ? [p[1]! / 2] : p.slice(0, k).map((v) => v / 2) });
  const trees: Tree[] = k === 2
    ? [
        { feature: 0, threshold: 0, yes: { feature: 1, threshold: 0.3, yes: share(0.9, 0.1), no: share(0.6, 0.4) }, no: share(0.15, 0.85) },
        { feature: 1, threshold: -0.5, yes: share(0.3, 0.7), no: { feature: 2, threshold: 0, yes: share(0.8, 0.2), no: share(0.45, 0.55) } },
      ]
    : [
        { feature: 0, threshold: 0, yes: { feature: 1, threshold: 0, yes: share(0.9, 0.1, 0), no: share(0.1, 0.8, 0.1) }, no: share(0, 0.25, 0.75) },
        { feature: 1, threshold: 0.5, yes: { feature: 2, threshold: 0, yes: share(0.7, 0.2, 0.1), no: share(0.2, 0.2, 0.6) }, no: share(0.1, 0.7, 0.2) },
      ];
  const g = new MlGraph();
  g.floatInput(input, 3);
  g.ml('TreeEnsembleClassifier', [input], { ...classLabels(classes, 'classlabels_int64s'), ...treeEnsembleAttributes(trees, 'class'), post_transform: 'NONE' }, ['label', 'probabilities']);
  labelAndProbabilities(g, classes, k);
  return { id: `random-forest-${classes.join('-')}`, description: `skl2onnx RandomForestClassifier, classes ${classes.join(', ')}`, classes, bytes: g.build('skl2onnx', '1.17.0') };
}

/**
 * onnxmltools, LightGBM or XGBoost classifier: TreeEnsembleClassifier of raw margins. Binary: one
 * class id and LOGISTIC (the margin is the second class's); multiclass: one tree per class and round, SOFTMAX.
 */
export function gradientBoosting(classes: readonly string[], producer: 'LightGBM' | 'XGBoost'): ClassifierModel {
  const k = classes.length;
  const margin = (class_: number, value: number) => ({ leaf: Array.from({ length: k === 2 ? 1 : k }, (_, j) => (j === class_ ? value : 0)) });
  const trees: Tree[] = k === 2
    ? [
        { feature: 0, threshold: 0.2, yes: { feature: 2, threshold: -0.4, yes: margin(0, -1.2), no: margin(0, -0.3) }, no: margin(0, 1.1) },
        { feature: 1, threshold: 0, yes: margin(0, 0.6), no: { feature: 0, threshold: -1, yes: margin(0, -0.9), no: margin(0, 0.2) } },
      ]
    : Array.from({ length: 2 * k }, (_, t) => {
        const c = t % k;
        return { feature: c, threshold: t < k ? 0 : 0.5, yes: margin(c, -0.7 - 0.1 * c), no: { feature: (c + 1) % 3, threshold: -0.3, yes: margin(c, 0.4), no: margin(c, 1.0) } };
      });
  const g = new MlGraph();
  g.floatInput(input, 3);
  g.ml('TreeEnsembleClassifier', [input], {
    ...classLabels(classes, 'classlabels_int64s'),
    ...treeEnsembleAttributes(trees, 'class'),
    ...(producer === 'XGBoost' ? { base_values: { floats: Array.from({ length: k === 2 ? 1 : k }, () => 0.1) } } : {}),
    post_transform: k === 2 ? 'LOGISTIC' : 'SOFTMAX',
  }, ['label', 'probabilities']);
  labelAndProbabilities(g, classes, k);
  return {
    id: `${producer.toLowerCase()}-${classes.join('-')}`,
    description: `onnxmltools ${producer} classifier (TreeEnsembleClassifier, ${k === 2 ? 'LOGISTIC' : 'SOFTMAX'}), classes ${classes.join(', ')}`,
    classes,
    bytes: g.build('onnxmltools', '1.12.0'),
  };
}

/**
 * onnxmltools' regressor-based boosting: TreeEnsembleRegressor margins, then Sigmoid (binary, widened to
 * two columns) or SOFTMAX (multiclass), and the label looked up in a constant of class labels by the
 * arg max. No node carries class-label attributes: only the label output tells the classes.
 */
export function boostedRegressorClassifier(classes: readonly string[]): ClassifierModel {
  const k = classes.length;
  const numeric = classes.every((c) => /^-?\d+$/.test(c));
  const g = new MlGraph();
  g.floatInput(input, 3);
  const targets = k === 2 ? 1 : k;
  const margin = (target: number, value: number) => ({ leaf: Array.from({ length: targets }, (_, j) => (j === target ? value : 0)) });
  const trees: Tree[] = Array.from({ length: 2 * targets }, (_, t) => {
    const c = t % targets;
    return { feature: (c + t) % 3, threshold: t < targets ? 0.1 : -0.2, yes: margin(c, -0.8), no: { feature: (c + 2) % 3, threshold: 0.4, yes: margin(c, 0.3), no: margin(c, 0.9) } };
  });
  const [scores] = g.ml('TreeEnsembleRegressor', [input], { ...treeEnsembleAttributes(trees, 'target'), n_targets: targets, aggregate_function: 'SUM', post_transform: k === 2 ? 'NONE' : 'SOFTMAX' });
  let index: string | undefined;
  if (k === 2) {
    const [p] = g.node('Sigmoid', [scores!]);
    const [q] = g.node('Sub', [g.floats('one', [1], [1]), p!]);
    g.node('Concat', [q!, p!], { axis: 1 }, ['probabilities']);
    const [positive] = g.node('Greater', [p!, g.floats('half', [0.5], [1])]);
    const [code] = g.node('Cast', [positive!], { to: ElementType.INT64 });
    [index] = g.node('Reshape', [code!, g.int64s('flat', [-1])]);
  } else {
    g.node('Identity', [scores!], {}, ['probabilities']);
    [index] = g.node('ArgMax', ['probabilities'], { axis: 1, keepdims: 0 });
  }
  const labels = numeric ? g.int64s('classes', classes.map(Number)) : g.strings('classes', classes);
  g.node('Gather', [labels, index!], { axis: 0 }, ['label']);
  labelAndProbabilities(g, classes, k);
  return {
    id: `boosted-regressor-${classes.join('-')}`,
    description: `onnxmltools boosting as TreeEnsembleRegressor + ${k === 2 ? 'Sigmoid' : 'SOFTMAX'} + Gather of the labels, classes ${classes.join(', ')}`,
    classes,
    bytes: g.build('onnxmltools', '1.12.0'),
  };
}

/**
 * skl2onnx with its default ZipMap: an MLP (MatMul, Add, Softmax) whose probabilities also go through
 * ZipMap, the only node that names the classes; no label output.
 */
export function mlpWithZipMap(classes: readonly string[]): ClassifierModel {
  const k = classes.length;
  const g = new MlGraph();
  g.floatInput(input, 3);
  const weights = [0.9, -0.4, 0.1, -0.2, 1.0, 0.3, -0.8, -0.5, 0.7, 0.3, 0.2, -0.6].slice(0, 3 * k);
  const [product] = g.node('MatMul', [input, g.floats('coefficient', weights, [3, k])]);
  const [logits] = g.node('Add', [product!, g.floats('intercepts', Array.from({ length: k }, (_, j) => 0.1 * j), [k])]);
  g.node('Softmax', [logits!], { axis: 1 }, ['probabilities']);
  g.ml('ZipMap', ['probabilities'], classLabels(classes, 'classlabels_int64s'), ['output_probability']);
  g.output('probabilities', { tensor: ElementType.FLOAT, dims: ['batch', k] });
  g.output('output_probability', { zipmap: classes.every((c) => /^-?\d+$/.test(c)) ? 'int64' : 'string' });
  return { id: `mlp-zipmap-${classes.join('-')}`, description: `skl2onnx MLPClassifier with ZipMap, classes ${classes.join(', ')}`, classes, bytes: g.build('skl2onnx', '1.17.0') };
}

/** An MLP that outputs only its probabilities (MatMul, Add, Softmax): nothing in it names the classes. */
export function mlpProbabilitiesOnly(width: number): Uint8Array {
  const g = new MlGraph();
  g.floatInput(input, 3);
  const weights = [0.9, -0.4, 0.1, -0.2, 1.0, 0.3, -0.8, -0.5, 0.7, 0.3, 0.2, -0.6].slice(0, 3 * width);
  const [product] = g.node('MatMul', [input, g.floats('coefficient', weights, [3, width])]);
  const [logits] = g.node('Add', [product!, g.floats('intercepts', Array.from({ length: width }, (_, j) => 0.1 * j), [width])]);
  g.node('Softmax', [logits!], { axis: 1 }, ['probabilities']);
  g.output('probabilities', { tensor: ElementType.FLOAT, dims: ['batch', width] });
  return g.build('pytorch', '2.3.0');
}

/** skl2onnx, LinearRegression: LinearRegressor → "variable" [batch, 1]. */
export function linearRegressor(): Uint8Array {
  const g = new MlGraph();
  g.floatInput(input, 3);
  g.ml('LinearRegressor', [input], { coefficients: { floats: [1.5, -2.0, 0.25] }, intercepts: { floats: [3.0] }, targets: 1 }, ['variable']);
  g.output('variable', { tensor: ElementType.FLOAT, dims: ['batch', 1] });
  return g.build('skl2onnx', '1.17.0');
}

/** Class-label attributes as the exporters write them: strings, or int64s when every label is an integer. */
function classLabels(classes: readonly string[], intsName: 'classlabels_ints' | 'classlabels_int64s' = 'classlabels_ints'): Record<string, MlAttribute> {
  // LinearClassifier and SVMClassifier name the integer form classlabels_ints; TreeEnsembleClassifier and ZipMap classlabels_int64s.
  return classes.every((c) => /^-?\d+$/.test(c)) ? { [intsName]: { ints: classes.map(Number) } } : { classlabels_strings: { strings: [...classes] } };
}

function labelAndProbabilities(g: MlGraph, classes: readonly string[], width: number): void {
  const numeric = classes.every((c) => /^-?\d+$/.test(c));
  g.output('label', { tensor: numeric ? ElementType.INT64 : STRING, dims: ['batch'] });
  g.output('probabilities', { tensor: ElementType.FLOAT, dims: ['batch', width] });
}

/** Deterministic feature rows: `rows` × 3 values in [-2, 2], as the CSV text holds them (3 decimals). */
export function sampleFeatures(rows: number, seed = 7): string[][] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: rows }, () => featureNames.map(() => (next() * 4 - 2).toFixed(3)));
}

/** What ONNX Runtime itself answers for the rows: the "label" output as text, the probabilities, and a "variable" regression output. */
export async function runModel(bytes: Uint8Array, features: readonly string[][]): Promise<{ labels?: string[]; probabilities?: Float32Array; values?: Float32Array }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const data = Float32Array.from(features.flat().map(Number));
    const tensorOutputs = session.outputMetadata.filter((m) => m.isTensor).map((m) => m.name);
    const results = await session.run({ [input]: new ort.Tensor('float32', data, [features.length, 3]) }, tensorOutputs);
    const label = results.label?.data as ArrayLike<string | bigint> | undefined;
    return {
      labels: label ? Array.from(label, String) : undefined,
      probabilities: results.probabilities?.data as Float32Array | undefined,
      values: results.variable?.data as Float32Array | undefined,
    };
  } finally {
    await session.release();
  }
}

/** Writes a sample CSV: row_id, the features and, when given, a label column. */
export async function writeSample(path: string, features: readonly string[][], label?: { readonly column: string; readonly values: readonly string[] }): Promise<void> {
  const header = ['row_id', ...featureNames, ...(label ? [label.column] : [])];
  const lines = features.map((row, i) => [`r${String(i + 1).padStart(4, '0')}`, ...row, ...(label ? [label.values[i]!] : [])].join(','));
  await writeFile(path, `${[header.join(','), ...lines].join('\n')}\n`);
}
