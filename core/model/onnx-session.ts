import * as ort from 'onnxruntime-node';

/** Threading for ONNX Runtime. One intra-op thread is the default: Lambda and the batch scorer scale by processes. */
export interface SessionOptions {
  /** @default 1 */
  readonly intraOpThreads?: number;
  /** @default 1 */
  readonly interOpThreads?: number;
}

/** Name, element type and shape of a model input or output, as the model itself declares them. */
export interface TensorSignature {
  readonly name: string;
  /** ONNX Runtime element type ('float32', 'int64', 'string', …), or 'non-tensor' for maps and sequences. */
  readonly type: string;
  /** Dimensions: a number when fixed, a string or null when symbolic (e.g. the batch axis). */
  readonly shape: ReadonlyArray<number | string | null>;
}

/** A 2-D row-major float32 matrix fed to or read from a model. */
export interface Matrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** Output tensor values keyed by output name. */
export type OutputValues = Record<string, { readonly data: ArrayLike<number | bigint | string>; readonly dims: readonly number[] }>;

/** What the Predictor needs of a session: the in-process OnnxSession or the WorkerSession. */
export interface ModelSession {
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
  run(input: string, matrix: Matrix, outputNames?: readonly string[]): Promise<OutputValues>;
  release(): Promise<void>;
}

/** ONNX Runtime session settings used everywhere (one model, one thread by default). */
export function ortSessionOptions(options: SessionOptions): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: options.intraOpThreads ?? 1,
    interOpNumThreads: options.interOpThreads ?? 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

/**
 * One ONNX Runtime session, created once and reused for every call. Input and output
 * names come from the model, never from code, so any exporter's model fits.
 */
export class OnnxSession implements ModelSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputs: readonly TensorSignature[],
    readonly outputs: readonly TensorSignature[],
  ) {}

  /** Loads a model from its bytes. */
  static async create(model: Uint8Array, options: SessionOptions = {}): Promise<OnnxSession> {
    const session = await ort.InferenceSession.create(model, ortSessionOptions(options));
    return new OnnxSession(session, session.inputMetadata.map(signature), session.outputMetadata.map(signature));
  }

  /** Runs the model on one float matrix fed to `input`, returning the requested outputs (default: all). */
  async run(input: string, matrix: Matrix, outputNames?: readonly string[]): Promise<OutputValues> {
    const feeds = { [input]: new ort.Tensor('float32', matrix.data, [matrix.rows, matrix.cols]) };
    const results = outputNames ? await this.session.run(feeds, outputNames) : await this.session.run(feeds);
    const values: OutputValues = {};
    for (const [name, tensor] of Object.entries(results)) {
      values[name] = { data: tensor.data as ArrayLike<number>, dims: tensor.dims };
    }
    return values;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A model input's or output's declared signature, as ONNX Runtime reports it. */
export function signature(meta: ort.InferenceSession.ValueMetadata): TensorSignature {
  if (!meta.isTensor) return { name: meta.name, type: 'non-tensor', shape: [] };
  return { name: meta.name, type: meta.type, shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : d ?? null)) };
}
