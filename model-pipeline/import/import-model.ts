import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { BaselineBuilder } from '../../core/drift/baseline';
import type { BlobStore } from '../../core/model/blob-store';
import { type Feature, type Manifest, PackageFiles, type Task } from '../../core/model/manifest';
import { type ManifestDraft, type ModelPackage, writePackage } from '../../core/model/model-package';
import { OnnxSession, type TensorSignature } from '../../core/model/onnx-session';
import { Predictor } from '../../core/model/predictor';
import { columnIndex, readCsvTable, type Table } from '../data/table';
import { manifestMetrics, qualityOf, scoreAll } from '../evaluate/evaluate';
import { decodeModel } from '../onnx/proto';
import { inferSchema } from '../train/infer-schema';
import { encodeTable, inferTask } from '../train/trainer';
import { provisional } from '../train/train-package';

export interface ImportOptions {
  /** The ONNX file to import (exported by skl2onnx, torch.onnx, tf2onnx, …). */
  readonly model: string;
  /** A CSV sample with a header: its feature columns, in the order the model takes them, become the input schema. */
  readonly data: string;
  readonly name: string;
  /** Ground-truth column of the sample; with it the package gets metrics. */
  readonly label?: string;
  /** Class labels in the order of the model's score columns. @default the label's values, sorted */
  readonly classes?: readonly string[];
  /** Feature columns in the model's input order. @default every numeric non-id column of the sample, in file order */
  readonly features?: readonly string[];
  /** Columns to pass through. */
  readonly ignore?: readonly string[];
  /** @default '1.0.0' */
  readonly version?: string;
  /**
   * The feature schema as given (types, levels, ranges), e.g. the serving model's when a retrained
   * model replaces it, instead of one inferred from the sample (numeric columns only).
   * @default - inferred from the sample
   */
  readonly schema?: readonly Feature[];
  /**
   * Where the model comes from, for the manifest: parent version, description, provenance merged
   * over the import's own, and the training data's source (instead of the sample's file name).
   * @default - no parent
   */
  readonly lineage?: { readonly parentVersion?: string; readonly description?: string; readonly provenance?: Readonly<Record<string, unknown>>; readonly dataSource?: string };
}

/**
 * Turns a foreign ONNX model and a data sample into a complete package: the manifest is
 * built from the model's own input and output signature and the sample's header, the
 * output kind (probabilities or logits) is read off the model's scores on the sample, and
 * the baseline is computed from the sample.
 */
export async function importModel(store: BlobStore, options: ImportOptions): Promise<ModelPackage> {
  const onnxBytes = new Uint8Array(await readFile(options.model).catch((error: Error) => {
    throw new Error(`${options.model}: cannot read the model (${error.message})`);
  }));
  let session: OnnxSession;
  try {
    session = await OnnxSession.create(onnxBytes);
  } catch (error) {
    throw new Error(`${options.model}: ONNX Runtime cannot load it: ${(error as Error).message}`);
  }
  const input = singleFloatInput(session.inputs, options.model);
  const output = scoreOutput(session.outputs, options.model);
  await session.release();

  const table = await readCsvTable(options.data);
  const features = options.schema ? givenFeatures(table, options.schema, input) : chooseFeatures(table, options, input);
  const target = options.label ? labelTask(table, options.label, options.classes) : undefined;
  const width = output.shape.length >= 2 ? output.shape[output.shape.length - 1] : 1;
  const task: Task = target?.task ?? (typeof width === 'number' && width > 1 ? (width === 2 ? 'binary' : 'multiclass') : 'regression');
  const classes = task === 'regression' ? [] : (target?.classes ?? options.classes ?? defaultClasses(width, options.model));
  const proto = decodeModel(onnxBytes);
  const baseDraft: ManifestDraft = {
    name: options.name,
    version: options.version ?? '1.0.0',
    task,
    input: { tensor: input.name, features },
    output: task === 'regression' ? { tensor: output.name, kind: 'value' } : { tensor: output.name, kind: 'probabilities', classes: [...classes] },
    labelColumn: options.label,
    trainingData: undefined,
    parentVersion: options.lineage?.parentVersion ?? null,
    description: options.lineage?.description,
    createdAt: new Date().toISOString(),
    provenance: {
      importedFrom: basename(options.model),
      producer: [proto.producerName, proto.producerVersion].filter(Boolean).join(' ') || 'unknown',
      opsets: proto.opsetImport.map((o) => `${o.domain || 'ai.onnx'}:${String(o.version)}`),
      sample: basename(options.data),
      ...options.lineage?.provenance,
    },
  };

  const labelColumn = options.label ? columnIndex(table, options.label, 'label column') : -1;
  const { set, skipped } = encodeTable(table, features, labelColumn, task, classes);
  if (set.rows === 0) throw new Error(`${options.data}: no usable rows; ${skipped.examples.join('; ')}`);

  // Probabilities or logits? The model's own scores on the sample tell.
  let draft = baseDraft;
  if (task !== 'regression') {
    const probe = await Predictor.fromModel(provisional(baseDraft, onnxBytes), onnxBytes);
    const scores = await scoreAll(probe, set);
    await probe.release();
    draft = { ...baseDraft, output: { ...baseDraft.output, kind: looksLikeProbabilities(scores.values, scores.width) ? 'probabilities' : 'logits' } };
  }
  const manifest: Manifest = provisional(draft, onnxBytes);
  const predictor = await Predictor.fromModel(manifest, onnxBytes);
  try {
    const scores = await scoreAll(predictor, set);
    const metrics = labelColumn >= 0 ? manifestMetrics(qualityOf(predictor, scores, set.y)) : {};
    const baseline = new BaselineBuilder({ ...manifest, metrics });
    baseline.addRows(set.x, set.rows, scores);
    return await writePackage(store, { ...draft, metrics, trainingData: { fingerprint: table.fingerprint, rows: set.rows, source: options.lineage?.dataSource ?? basename(options.data) } }, {
      [PackageFiles.model]: onnxBytes,
      [PackageFiles.baseline]: `${JSON.stringify(baseline.finish())}\n`,
    });
  } finally {
    await predictor.release();
  }
}

function singleFloatInput(inputs: readonly TensorSignature[], file: string): TensorSignature {
  const describe = inputs.map((s) => `${s.name} (${s.type} [${s.shape.join(', ')}])`).join(', ');
  if (inputs.length !== 1) throw new Error(`${file}: has ${inputs.length} inputs (${describe}); one 2-D float input is supported`);
  const input = inputs[0]!;
  if (input.type !== 'float32' || input.shape.length !== 2) throw new Error(`${file}: input ${describe} is not a 2-D float32 tensor`);
  return input;
}

/** The float output holding scores: a 2-D float tensor, preferring one named like probabilities. */
function scoreOutput(outputs: readonly TensorSignature[], file: string): TensorSignature {
  const floats = outputs.filter((s) => s.type === 'float32' && s.shape.length >= 1 && s.shape.length <= 2);
  const chosen = floats.find((s) => /prob/i.test(s.name)) ?? floats.find((s) => s.shape.length === 2) ?? floats[0];
  if (!chosen) {
    const describe = outputs.map((s) => `${s.name} (${s.type})`).join(', ');
    throw new Error(`${file}: no float tensor output to read scores from (outputs: ${describe}); export classifiers with probabilities as a tensor (skl2onnx: options={'zipmap': False})`);
  }
  return chosen;
}

function chooseFeatures(table: Table, options: ImportOptions, input: TensorSignature): Feature[] {
  const ignore = [...(options.ignore ?? [])];
  const schema = inferSchema(table, { label: options.label, ignore, maxLevels: 0 });
  const numeric = new Map(schema.features.filter((f) => f.type === 'numeric').map((f) => [f.name, f]));
  const ordered = options.features ?? table.header.filter((h) => numeric.has(h));
  for (const name of ordered) {
    columnIndex(table, name, 'feature column');
    if (!numeric.has(name)) {
      throw new Error(`column "${name}" is not numeric; an imported model takes a float matrix, so list only numeric feature columns (--features) or pass the column through (--ignore)`);
    }
  }
  const declared = input.shape[1];
  if (typeof declared === 'number' && declared !== ordered.length) {
    throw new Error(`the model's input "${input.name}" takes ${declared} features but the sample has ${ordered.length} numeric feature columns (${ordered.join(', ')}); choose them with --features or --ignore`);
  }
  return ordered.map((name) => numeric.get(name)!);
}

/** A given schema: every feature must be a column of the sample, and the model's input as wide as the schema. */
function givenFeatures(table: Table, schema: readonly Feature[], input: TensorSignature): Feature[] {
  for (const feature of schema) columnIndex(table, feature.name, 'feature column');
  const declared = input.shape[1];
  if (typeof declared === 'number' && declared !== schema.length) {
    throw new Error(`the model's input "${input.name}" takes ${declared} features but the schema has ${schema.length} (${schema.map((f) => f.name).join(', ')})`);
  }
  return [...schema];
}

function labelTask(table: Table, label: string, classes?: readonly string[]): { task: Task; classes: string[] } {
  const column = columnIndex(table, label, 'label column');
  const inferred = inferTask(table.rows.map((r) => r[column] ?? ''));
  if (!classes) return inferred;
  const unknown = inferred.classes.filter((c) => !classes.includes(c));
  if (unknown.length) throw new Error(`label values ${unknown.join(', ')} are not among --classes ${classes.join(', ')}`);
  return { task: classes.length === 2 ? 'binary' : 'multiclass', classes: [...classes] };
}

function defaultClasses(width: number | string | null | undefined, file: string): string[] {
  if (typeof width !== 'number') throw new Error(`${file}: the number of score columns is not fixed in the model; give --classes or --label`);
  return Array.from({ length: width }, (_, i) => String(i));
}

function looksLikeProbabilities(values: Float32Array, width: number): boolean {
  for (let o = 0; o < values.length; o += width) {
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const v = values[o + j]!;
      if (v < -1e-6 || v > 1 + 1e-6) return false;
      sum += v;
    }
    if (width > 1 && Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}
