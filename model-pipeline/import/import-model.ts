import { withConfidenceCalibration } from '../evaluate/confidence-calibration';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { BaselineBuilder, smallBaselineWarning } from '../../core/drift/baseline';
import type { BlobStore } from '../../core/model/blob-store';
import { type Feature, type Manifest, PackageFiles, type Task } from '../../core/model/manifest';
import { type ManifestDraft, type ModelPackage, writePackage } from '../../core/model/model-package';
import { OnnxSession, type TensorSignature } from '../../core/model/onnx-session';
import { Predictor } from '../../core/model/predictor';
import { columnIndex, readCsvTable, type Table } from '../data/table';
import { manifestMetrics, qualityOf, scoreAll } from '../evaluate/evaluate';
import { decodeModel, type ModelProto } from '../onnx/proto';
import { inferSchema } from '../train/infer-schema';
import { encodeTable, inferTask } from '../train/trainer';
import { provisional } from '../train/train-package';
import { declaredClasses, labelOutput, type ModelClasses, observedClasses, reconcileClasses } from './model-classes';

export interface ImportOptions {
  /** The ONNX file to import (exported by skl2onnx, torch.onnx, tf2onnx, …). */
  readonly model: string;
  /** A CSV sample with a header: its feature columns, in the order the model takes them, become the input schema. */
  readonly data: string;
  readonly name: string;
  /** Ground-truth column of the sample; with it the package gets metrics. */
  readonly label?: string;
  /**
   * Class labels in the order of the model's score columns. They must agree with the labels the
   * model carries; integer labels they may name (skl2onnx on a target encoded as 0, 1, 2).
   * @default the model's own: its classifier's or ZipMap's class labels, else what its label output gives the sample rows, else the label's values, sorted
   */
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
  /**
   * Receives what the import could do but the user should know: class labels assumed because the
   * model carries none, a sample whose labels disagree with the model far below chance, or a sample
   * too small for a baseline that drift on small windows can be detected against.
   * @default - warnings are dropped
   */
  readonly onWarning?: (message: string) => void;
}

/**
 * Turns a foreign ONNX model and a data sample into a complete package: the manifest is
 * built from the model's own input and output signature and the sample's header, a
 * classifier's classes are the labels the model carries, in its order, the output kind
 * (probabilities or logits) is read off the model's scores on the sample, and the baseline
 * is computed from the sample.
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
  const proto = decodeModel(onnxBytes);
  const warn = options.onWarning ?? (() => {});
  let input: TensorSignature;
  let output: TensorSignature;
  let table: Table;
  let features: Feature[];
  let decided: Decided;
  try {
    input = singleFloatInput(session.inputs, options.model);
    output = scoreOutput(session.outputs, options.model);
    table = await readCsvTable(options.data);
    features = options.schema ? givenFeatures(table, options.schema, input) : chooseFeatures(table, options, input);
    decided = await decideClasses(session, proto, { options, input, output, table, features, warn });
  } finally {
    await session.release();
  }
  const { task, classes } = decided;
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
      ...(decided.classesFrom ? { classesFrom: decided.classesFrom } : {}),
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
    if (task !== 'regression') warnIfBelowChance(metrics.accuracy, set.rows, classes, options.label, warn);
    const baseline = new BaselineBuilder({ ...manifest, metrics });
    baseline.addRows(set.x, set.rows, scores);
    const profile = withConfidenceCalibration(baseline.finish(), scores, task !== 'regression' && labelColumn >= 0 ? set.y : null);
    const small = smallBaselineWarning(profile.rows);
    if (small) warn(small);
    return await writePackage(store, { ...draft, metrics, trainingData: { fingerprint: table.fingerprint, rows: set.rows, source: options.lineage?.dataSource ?? basename(options.data) } }, {
      [PackageFiles.model]: onnxBytes,
      [PackageFiles.baseline]: `${JSON.stringify(profile)}\n`,
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

interface Decided {
  readonly task: Task;
  readonly classes: readonly string[];
  /** Where the class labels come from, for the provenance; undefined when not from the model. */
  readonly classesFrom?: string;
}

/**
 * Task and classes of the package. A classifier's own class labels decide them, in the model's
 * order: the labels its graph names, else what its label output gives the sample rows. Only a model
 * that carries none falls back to --classes, the label's values sorted, or the score column indexes.
 */
async function decideClasses(
  session: OnnxSession,
  proto: ModelProto,
  context: { options: ImportOptions; input: TensorSignature; output: TensorSignature; table: Table; features: readonly Feature[]; warn: (message: string) => void },
): Promise<Decided> {
  const { options, output, table } = context;
  const labelColumn = options.label ? columnIndex(table, options.label, 'label column') : -1;
  const labelValues = labelColumn >= 0 ? [...new Set(table.rows.map((r) => (r[labelColumn] ?? '').trim()).filter((v) => v !== ''))] : [];
  const width = output.shape.length >= 2 ? output.shape[output.shape.length - 1] : 1;

  const model = declaredClasses(proto, output.name) ?? (await classesFromLabelOutput(session, context));
  if (model) {
    if (typeof width === 'number' && width !== model.labels.length && !(width === 1 && model.labels.length === 2)) {
      throw new Error(`${options.model}: its ${model.source} names ${model.labels.length} classes (${model.labels.join(', ')}) but output "${output.name}" has ${width} score columns`);
    }
    const classes = reconcileClasses(model, options.classes, labelValues);
    const unknown = labelValues.filter((v) => !classes.includes(v));
    if (unknown.length) {
      const hint = model.integer && !options.classes ? '; name the model\'s classes, in the order of its score columns, with --classes' : '';
      throw new Error(`label values ${unknown.sort().join(', ')} of column "${options.label}" are not among the model's classes ${classes.join(', ')} (its ${model.source})${hint}`);
    }
    const named = classes.some((c, i) => c !== model.labels[i]);
    const classesFrom = named ? `${model.source} (${model.labels.map((l) => l ?? '?').join(', ')}) named by --classes` : model.source;
    return { task: classes.length === 2 ? 'binary' : 'multiclass', classes, classesFrom };
  }

  const target = options.label ? labelTask(table, options.label, options.classes) : undefined;
  const task: Task = target?.task ?? (typeof width === 'number' && width > 1 ? (width === 2 ? 'binary' : 'multiclass') : 'regression');
  if (task === 'regression') return { task, classes: [] };
  if (target && !options.classes) {
    context.warn(`the model carries no class labels (no classifier or ZipMap class labels, no label output); the sorted values of "${options.label}", ${target.classes.join(', ')}, are taken as its score columns in order: give --classes if the model's order differs`);
  }
  return { task, classes: target?.classes ?? options.classes ?? defaultClasses(width, options.model) };
}

/** The classes the model's own label output gives the sample rows (see observedClasses); undefined when it has no label output. */
async function classesFromLabelOutput(
  session: OnnxSession,
  context: { options: ImportOptions; input: TensorSignature; output: TensorSignature; table: Table; features: readonly Feature[] },
): Promise<ModelClasses | undefined> {
  const labels = labelOutput(session.outputs, context.output.name);
  if (!labels) return undefined;
  const { set, skipped } = encodeTable(context.table, context.features, -1, 'regression', []);
  if (set.rows === 0) throw new Error(`${context.options.data}: no usable rows; ${skipped.examples.join('; ')}`);
  const width = context.features.length;
  const scores: number[] = [];
  const values: (number | bigint | string)[] = [];
  const chunk = 4096;
  for (let start = 0; start < set.rows; start += chunk) {
    const rows = Math.min(chunk, set.rows - start);
    const out = await session.run(context.input.name, { data: set.x.subarray(start * width, (start + rows) * width), rows, cols: width }, [context.output.name, labels.name]);
    scores.push(...Array.from(out[context.output.name]!.data as ArrayLike<number>));
    values.push(...Array.from(out[labels.name]!.data));
  }
  return observedClasses(scores, values, set.rows, { scores: context.output.name, labels });
}

/** Warns when the sample's labels agree with the model far less often than chance: likely other class names or order. */
function warnIfBelowChance(accuracy: number | undefined, rows: number, classes: readonly string[], label: string | undefined, warn: (message: string) => void): void {
  const chance = 1 / classes.length;
  if (accuracy === undefined || rows < 20 || accuracy >= chance / 2) return;
  warn(
    `accuracy ${round(accuracy)} on the sample is far below chance (${round(chance)}): the label column "${label}" may use other class names or order than the model (its classes, in the order of its score columns: ${classes.join(', ')})`,
  );
}

const round = (value: number) => String(Number(value.toFixed(4)));

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
