import { encodeRow } from '../../core/data/coerce';
import type { Feature, Task } from '../../core/model/manifest';
import { Random } from '../../core/random';
import { columnIndex, type Table } from '../data/table';
import { designMatrix, type FeatureTransform, fitTransform } from './preprocess';
import { Adam, backward, cloneNetwork, forward, initNetwork, type Network } from './network';

export type ModelKind = 'logreg' | 'mlp';

export interface TrainOptions {
  readonly label: string;
  /** @default 'mlp' */
  readonly model?: ModelKind;
  /** Hidden layer sizes of the MLP. @default [32] */
  readonly hidden?: readonly number[];
  /** @default 60 */
  readonly epochs?: number;
  /** @default 64 */
  readonly batchSize?: number;
  /** Adam step size. @default 0.01 */
  readonly learningRate?: number;
  /** L2 penalty on weights. @default 1e-4 */
  readonly l2?: number;
  /** Share of rows held out for early stopping and evaluation. @default 0.2 */
  readonly validationShare?: number;
  /** Epochs without validation improvement before stopping. @default 8 */
  readonly patience?: number;
  /** @default 1 */
  readonly seed?: number;
  /** Called after every epoch, for progress bars. */
  readonly onEpoch?: (epoch: number, epochs: number, validationLoss: number) => void;
}

/** Encoded rows: the model's input matrix and the targets. */
export interface EncodedSet {
  readonly x: Float32Array;
  readonly rows: number;
  /** Class index per row, or the regression target. */
  readonly y: Float64Array;
}

export interface TrainedModel {
  readonly task: Task;
  readonly features: readonly Feature[];
  readonly classes: readonly string[];
  readonly transform: FeatureTransform;
  readonly network: Network;
  /** Regression targets are standardized for training; the exporter folds this back in. */
  readonly target: { readonly mean: number; readonly std: number };
  readonly train: EncodedSet;
  readonly validation: EncodedSet;
  readonly epochsRun: number;
  readonly bestValidationLoss: number;
  /** Rows left out because a feature or the label could not be read, with the first reasons. */
  readonly skipped: { readonly count: number; readonly examples: readonly string[] };
}

/** Decides the task from the label column: numeric with many values is regression; 2 classes binary; more multiclass. */
export function inferTask(values: readonly string[]): { task: Task; classes: string[] } {
  const distinct = [...new Set(values.filter((v) => v.trim() !== ''))];
  const numeric = distinct.every((v) => Number.isFinite(Number(v)));
  if (numeric && distinct.length > 20) return { task: 'regression', classes: [] };
  if (distinct.length < 2) throw new Error(`label has ${distinct.length} distinct value(s); a classifier needs at least 2`);
  const classes = numeric ? distinct.sort((a, b) => Number(a) - Number(b)) : distinct.sort((a, b) => a.localeCompare(b));
  return { task: classes.length === 2 ? 'binary' : 'multiclass', classes };
}

/** Trains a softmax/linear regression or an MLP with Adam on mini-batches, keeping the epoch with the best validation loss. */
export function trainModel(table: Table, features: readonly Feature[], options: TrainOptions): TrainedModel {
  const random = new Random(options.seed ?? 1);
  const labelColumn = columnIndex(table, options.label, 'label column');
  const { task, classes } = inferTask(table.rows.map((r) => r[labelColumn] ?? ''));
  const all = encodeTable(table, features, labelColumn, task, classes);
  if (all.set.rows < 10) throw new Error(`only ${all.set.rows} usable rows; at least 10 are needed to train`);

  const order = random.shuffle([...Array(all.set.rows).keys()]);
  const validationRows = Math.max(1, Math.round(all.set.rows * (options.validationShare ?? 0.2)));
  const validation = subset(all.set, order.slice(0, validationRows), features.length);
  const train = subset(all.set, order.slice(validationRows), features.length);

  const transform = fitTransform(features, train.x, train.rows);
  const target = task === 'regression' ? meanStd(train.y) : { mean: 0, std: 1 };
  const outputs = task === 'regression' ? 1 : classes.length;
  const hidden = (options.model ?? 'mlp') === 'mlp' ? (options.hidden ?? [32]) : [];
  const network = initNetwork([transform.designWidth, ...hidden, outputs], task === 'regression' ? 'identity' : 'softmax', random);

  const trainDesign = designMatrix(transform, train.x, train.rows);
  const validationDesign = designMatrix(transform, validation.x, validation.rows);
  const trainTargets = targets(train.y, task, outputs, target);
  const validationTargets = targets(validation.y, task, outputs, target);
  const optimizer = new Adam(network, options.learningRate ?? 0.01);
  const l2 = options.l2 ?? 1e-4;
  const batchSize = options.batchSize ?? 64;
  const epochs = options.epochs ?? 60;
  const patience = options.patience ?? 8;
  const width = transform.designWidth;

  let best = { loss: Infinity, network: cloneNetwork(network), epoch: 0 };
  let epoch = 0;
  const indices = [...Array(train.rows).keys()];
  while (epoch < epochs && epoch - best.epoch < patience) {
    epoch++;
    random.shuffle(indices);
    for (let start = 0; start < train.rows; start += batchSize) {
      const batch = indices.slice(start, start + batchSize);
      const x = new Float64Array(batch.length * width);
      const t = new Float64Array(batch.length * outputs);
      batch.forEach((row, i) => {
        x.set(trainDesign.subarray(row * width, (row + 1) * width), i * width);
        t.set(trainTargets.subarray(row * outputs, (row + 1) * outputs), i * outputs);
      });
      const { gradients } = backward(network, forward(network, x, batch.length), t, batch.length, l2);
      optimizer.update(gradients);
    }
    const { loss } = backward(network, forward(network, validationDesign, validation.rows), validationTargets, validation.rows, 0);
    if (loss < best.loss - 1e-6) best = { loss, network: cloneNetwork(network), epoch };
    options.onEpoch?.(epoch, epochs, loss);
  }
  return {
    task,
    features,
    classes,
    transform,
    network: best.network,
    target,
    train,
    validation,
    epochsRun: epoch,
    bestValidationLoss: best.loss,
    skipped: all.skipped,
  };
}

/** The TypeScript forward pass of a trained model on encoded rows: class probabilities or values, row-major. */
export function predictTrained(model: TrainedModel, x: Float32Array, rows: number): Float64Array {
  const activations = forward(model.network, designMatrix(model.transform, x, rows), rows);
  const out = activations[activations.length - 1]!;
  if (model.task === 'regression') return out.map((v) => v * model.target.std + model.target.mean);
  return out;
}

/**
 * Encodes a table's feature columns (found by name) and label with the manifest's rules,
 * skipping rows that cannot be read. A labelColumn of -1 means unlabelled data (targets 0).
 */
export function encodeTable(
  table: Table,
  features: readonly Feature[],
  labelColumn: number,
  task: Task,
  classes: readonly string[],
): { set: EncodedSet; skipped: { count: number; examples: string[] } } {
  const columns = features.map((f) => table.header.indexOf(f.name));
  columns.forEach((c, i) => {
    if (c < 0) throw new Error(`feature "${features[i]!.name}" is not in the header; columns are ${table.header.join(', ')}`);
  });
  const x = new Float32Array(table.rows.length * features.length);
  const y = new Float64Array(table.rows.length);
  const skipped = { count: 0, examples: [] as string[] };
  let rows = 0;
  table.rows.forEach((row, r) => {
    const labelled = labelColumn >= 0;
    const label = labelled ? (row[labelColumn] ?? '').trim() : '';
    const target = !labelled ? 0 : task === 'regression' ? Number(label) : classes.indexOf(label);
    const error = encodeRow(features, (_, i) => row[columns[i]!], x, rows * features.length);
    const badLabel = labelled && (label === '' || (task === 'regression' ? !Number.isFinite(target) : target < 0));
    if (error || badLabel) {
      skipped.count++;
      if (skipped.examples.length < 5) skipped.examples.push(`line ${r + 2}: ${error ? error.reason : `label ${JSON.stringify(label)} is not usable`}`);
      return;
    }
    y[rows++] = target;
  });
  return { set: { x: x.slice(0, rows * features.length), y: y.slice(0, rows), rows }, skipped };
}

function subset(set: EncodedSet, rows: readonly number[], width: number): EncodedSet {
  const x = new Float32Array(rows.length * width);
  const y = new Float64Array(rows.length);
  rows.forEach((row, i) => {
    x.set(set.x.subarray(row * width, (row + 1) * width), i * width);
    y[i] = set.y[row]!;
  });
  return { x, y, rows: rows.length };
}

function targets(y: Float64Array, task: Task, outputs: number, target: { mean: number; std: number }): Float64Array {
  const out = new Float64Array(y.length * outputs);
  y.forEach((v, r) => {
    if (task === 'regression') out[r] = (v - target.mean) / target.std;
    else out[r * outputs + v] = 1;
  });
  return out;
}

function meanStd(values: Float64Array): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(values.length - 1, 1);
  return { mean, std: Math.sqrt(variance) || 1 };
}
