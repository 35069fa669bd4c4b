import { Random } from '../core/random';
import type { Table } from '../model-pipeline/data/table';
import { exportTrainedModel } from '../model-pipeline/onnx/export-trained';
import { GraphBuilder } from '../model-pipeline/onnx/graph-builder';
import { ElementType } from '../model-pipeline/onnx/proto';
import { inferSchema } from '../model-pipeline/train/infer-schema';
import { type TrainedModel, trainModel } from '../model-pipeline/train/trainer';

/** Rows of the benchmark's dataset: 64 features and a class index. */
export interface ClusterData {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly rows: number;
  readonly features: number;
}

/**
 * Gaussian clusters in 64 dimensions, one per class, overlapping enough that a classifier
 * is confident on most rows and unsure near the borders: the situation in which top-1
 * agreement between fp32 and int8 says something. (Random weights would give near-uniform
 * outputs, on which any perturbation flips the top class.)
 */
export function clusterData(rows: number, options: { classes?: number; features?: number; spread?: number; seed?: number } = {}): ClusterData {
  const classes = options.classes ?? 10;
  const features = options.features ?? 64;
  const centres = new Random(1000 + classes);
  const means = Array.from({ length: classes }, () => Array.from({ length: features }, () => centres.normal() * (options.spread ?? 0.45)));
  const random = new Random(options.seed ?? 1);
  const x = new Float32Array(rows * features);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const k = Math.floor(random.next() * classes);
    y[r] = k;
    for (let f = 0; f < features; f++) x[r * features + f] = means[k]![f]! + random.normal();
  }
  return { x, y, rows, features };
}

/** The dataset as a CSV-like table, for the project's trainer. */
export function asTable(data: ClusterData): Table {
  const header = [...Array.from({ length: data.features }, (_, f) => `f${f}`), 'label'];
  const rows = Array.from({ length: data.rows }, (_, r) => [
    ...Array.from(data.x.subarray(r * data.features, (r + 1) * data.features), (v) => v.toFixed(4)),
    `c${data.y[r]}`,
  ]);
  return { header, rows, fingerprint: '0'.repeat(64) };
}

/** Trains the 64 → 512 → 512 → k MLP with the project's trainer (plain JS, so briefly). */
export function trainBenchMlp(train: ClusterData, options: { epochs?: number; hidden?: number[] } = {}): TrainedModel {
  const table = asTable(train);
  const { features } = inferSchema(table, { label: 'label' });
  return trainModel(table, features, { label: 'label', hidden: options.hidden ?? [512, 512], epochs: options.epochs ?? 2, learningRate: 0.001, batchSize: 64, validationShare: 0.1, seed: 1 });
}

/**
 * Two ONNX forms of the trained network: the package model the exporter writes (with its
 * in-graph preprocessing and ArgMax), and the bare MLP (Gemm, Relu, Gemm, Relu, Gemm,
 * Softmax) with the standardization folded into the first layer — the form the design's
 * reference numbers for ONNX Runtime's quantizer are about.
 */
export function benchModels(model: TrainedModel): { exported: Uint8Array; bare: Uint8Array } {
  const exported = exportTrainedModel(model, 'bench');
  const g = new GraphBuilder();
  const inputs = model.features.length;
  let activation = g.input('features', ElementType.FLOAT, ['batch', inputs]);
  const layers = model.network.layers;
  layers.forEach((layer, l) => {
    let weights = Float32Array.from(layer.weights);
    let bias = Float32Array.from(layer.bias);
    if (l === 0) {
      // x_std = (x - mean) / std  ⇒  x_std·W + b = x·(W / std) + (b - Σ mean/std · W)
      weights = weights.slice();
      bias = bias.slice();
      model.transform.numeric.forEach(({ column, mean, std }) => {
        for (let j = 0; j < layer.outputs; j++) {
          const w = layer.weights[column * layer.outputs + j]!;
          weights[column * layer.outputs + j] = w / std;
          bias[j]! -= (mean / std) * w;
        }
      });
    }
    const z = g.node('Gemm', [activation, g.floats(`W${l}`, weights, [layer.inputs, layer.outputs]), g.floats(`b${l}`, bias, [layer.outputs])]);
    activation = l === layers.length - 1 ? z : g.node('Relu', [z]);
  });
  g.node('Softmax', [activation], { axis: -1 }, 'probabilities');
  g.output('probabilities', ElementType.FLOAT, ['batch', layers.at(-1)!.outputs]);
  return { exported, bare: g.build({ graphName: 'bench-bare', producer: 'serverless-mlops' }) };
}
