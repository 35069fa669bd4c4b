import { classesOf, InvalidPackageError, type Manifest, PackageFiles } from './manifest';
import type { ModelPackage } from './model-package';
import { type Matrix, type ModelSession, OnnxSession, type SessionOptions, type TensorSignature } from './onnx-session';
import { WorkerSession } from './worker-session';

/** Scores for a batch: class probabilities (rows × classes) or regression values (rows × 1). */
export interface BatchScores {
  readonly rows: number;
  /** Columns per row: the number of classes, or 1 for regression. */
  readonly width: number;
  readonly values: Float32Array;
}

export interface PredictorOptions extends SessionOptions {
  /**
   * Which ONNX file of the package to serve.
   * @default 'model.onnx'
   */
  readonly modelFile?: string;
  /**
   * Run ONNX Runtime on a worker thread, so the caller's thread stays free (batch scoring
   * overlaps parsing with inference this way). Costs a thread hop per call.
   * @default false
   */
  readonly worker?: boolean;
}

/**
 * Serves one model package: checks that the model's own signature matches the manifest,
 * then turns feature matrices into calibrated scores (softmax applied to logits, a single
 * sigmoid column widened to two classes).
 */
export class Predictor {
  private constructor(
    readonly manifest: Manifest,
    readonly modelFile: string,
    private readonly session: ModelSession,
    private readonly scoreColumns: number | null,
  ) {}

  /** Creates the ONNX session for a verified package. */
  static async create(pkg: ModelPackage, options: PredictorOptions = {}): Promise<Predictor> {
    const modelFile = options.modelFile ?? PackageFiles.model;
    const bytes = pkg.files.get(modelFile);
    if (!bytes) throw new InvalidPackageError(modelFile, `not listed in the manifest of ${pkg.location}`);
    return Predictor.fromModel(pkg.manifest, bytes, { ...options, modelFile });
  }

  /** Creates the ONNX session for model bytes described by a manifest (before a package is written). */
  static async fromModel(manifest: Manifest, model: Uint8Array, options: PredictorOptions = {}): Promise<Predictor> {
    const modelFile = options.modelFile ?? PackageFiles.model;
    let session: ModelSession;
    try {
      session = options.worker ? await WorkerSession.create(model, options) : await OnnxSession.create(model, options);
    } catch (error) {
      throw new InvalidPackageError(modelFile, `ONNX Runtime cannot load it: ${(error as Error).message}`);
    }
    try {
      return new Predictor(manifest, modelFile, session, checkSignature(manifest, modelFile, session));
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /** Number of input columns the model expects. */
  get inputWidth(): number {
    return this.manifest.input.features.length;
  }

  /** Runs a batch of encoded rows through the model. */
  async predict(matrix: Matrix): Promise<BatchScores> {
    if (matrix.cols !== this.inputWidth) {
      throw new Error(`expected ${this.inputWidth} columns, got ${matrix.cols}`);
    }
    const { tensor, kind } = this.manifest.output;
    const outputs = await this.session.run(this.manifest.input.tensor, matrix, [tensor]);
    const output = outputs[tensor];
    if (!output) throw new Error(`model produced no "${tensor}" output`);
    // ORT hands over a fresh buffer per call, so it is ours to transform in place.
    const raw = output.data instanceof Float32Array ? output.data : Float32Array.from(output.data as ArrayLike<number>);
    const width = raw.length / Math.max(matrix.rows, 1);
    if (matrix.rows > 0 && width !== (this.scoreColumns ?? width)) {
      throw new Error(`output "${tensor}" has ${width} columns per row, expected ${this.scoreColumns}`);
    }
    if (kind === 'value') return { rows: matrix.rows, width: 1, values: raw };
    const classes = classesOf(this.manifest).length;
    if (width === 1 && classes === 2) return { rows: matrix.rows, width: 2, values: widenSigmoid(raw, kind === 'logits') };
    if (kind === 'logits') softmaxRows(raw, width);
    return { rows: matrix.rows, width, values: raw };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** In-place, numerically stable softmax of each row. */
export function softmaxRows(values: Float32Array, width: number): void {
  for (let offset = 0; offset < values.length; offset += width) {
    let max = -Infinity;
    for (let j = 0; j < width; j++) max = Math.max(max, values[offset + j]!);
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const e = Math.exp(values[offset + j]! - max);
      values[offset + j] = e;
      sum += e;
    }
    for (let j = 0; j < width; j++) values[offset + j] = values[offset + j]! / sum;
  }
}

function widenSigmoid(column: Float32Array, isLogit: boolean): Float32Array {
  const out = new Float32Array(column.length * 2);
  column.forEach((v, i) => {
    const p = isLogit ? 1 / (1 + Math.exp(-v)) : v;
    out[2 * i] = 1 - p;
    out[2 * i + 1] = p;
  });
  return out;
}

/**
 * Compares the model's declared signature with the manifest and returns the expected
 * number of score columns (null when the model leaves it symbolic).
 */
function checkSignature(manifest: Manifest, file: string, session: ModelSession): number | null {
  const describe = (list: readonly TensorSignature[]) =>
    list.map((s) => `${s.name} (${s.type} [${s.shape.map((d) => d ?? '?').join(', ')}])`).join(', ');
  const input = session.inputs.find((s) => s.name === manifest.input.tensor);
  if (!input) {
    throw new InvalidPackageError(file, `has no input "${manifest.input.tensor}" named in the manifest; its inputs are ${describe(session.inputs)}`);
  }
  if (session.inputs.length !== 1) {
    throw new InvalidPackageError(file, `has ${session.inputs.length} inputs (${describe(session.inputs)}); one 2-D float input is supported`);
  }
  if (input.type !== 'float32' || input.shape.length !== 2) {
    throw new InvalidPackageError(file, `input ${describe([input])} is not a 2-D float32 tensor`);
  }
  const features = manifest.input.features.length;
  const declared = input.shape[1];
  if (typeof declared === 'number' && declared !== features) {
    throw new InvalidPackageError(file, `input "${input.name}" takes ${declared} features but the manifest lists ${features}`);
  }
  const output = session.outputs.find((s) => s.name === manifest.output.tensor);
  if (!output) {
    throw new InvalidPackageError(file, `has no output "${manifest.output.tensor}" named in the manifest; its outputs are ${describe(session.outputs)}`);
  }
  if (output.type !== 'float32') {
    throw new InvalidPackageError(file, `output ${describe([output])} is not a float32 tensor`);
  }
  const columns = output.shape.length >= 2 ? output.shape[output.shape.length - 1] : 1;
  const classes = classesOf(manifest).length;
  if (typeof columns === 'number' && manifest.task !== 'regression') {
    const fits = columns === classes || (columns === 1 && classes === 2);
    if (!fits) {
      throw new InvalidPackageError(file, `output "${output.name}" has ${columns} score columns but the manifest lists ${classes} classes`);
    }
  }
  return typeof columns === 'number' ? columns : null;
}
