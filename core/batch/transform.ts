import { createHash } from 'node:crypto';
import { DataPrefixes } from '../layout';
import { classesOf, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';
import { decodeTritonResponse, EndpointError, TritonContentTypes } from '../protocol/triton';
import { type BatchJobDependencies, type BatchJobOutcome, type BatchObjectStore, prepareJob, runBatchJob, writeFailedManifest } from './job';
import { formats } from './formats';
import { batchKeys, type BatchKeys } from './layout';
import { InvalidFileError, type Scorer, type TextSink } from './scorer';

/**
 * Batch scoring of a GPU model's files by a SageMaker Batch Transform job on its Triton model, in
 * three steps that a state machine runs (infra/constructs/batch-transform.ts):
 *
 * 1. {@link prepareTransform} parses the input exactly as the Lambda path does (CSV, JSONL or
 *    Parquet, the same coercion and the same errors) and writes each chunk of valid rows as one
 *    OIP v2 JSON request line: `{"id": "<chunk>", "inputs": [{"name", "shape": [N, F], "datatype": "FP32", "data"}], …}`.
 * 2. Batch Transform sends each line to Triton (SplitType Line, one request per line) and writes
 *    the answers in the same order, one line each (AssembleWith Line).
 * 3. {@link finalizeTransform} parses the input again (deterministic: the same chunks in the same
 *    order) and scores each chunk with the next answer line instead of a model. The batch job of
 *    the Lambda path (core/batch/job.ts) does the rest, so predictions, errors and the manifest
 *    have the same keys, format and reconciling counts; rows Triton never saw (rejected while
 *    parsing) are in the errors file with their line numbers.
 */

/** Where one input's transform stages its requests and Batch Transform writes its answers. */
export interface TransformKeys {
  readonly root: string;
  /** The request lines, Batch Transform's input object. */
  readonly requests: string;
  /** Batch Transform's S3OutputPath. */
  readonly outputPrefix: string;
  /** The answer lines: Batch Transform names its output after the input object, plus `.out`. */
  readonly output: string;
}

/** The staging keys of the transform of `keys`' input with ETag `etag` by model version `version`. */
export function transformKeys(keys: BatchKeys, etag: string, version: string): TransformKeys {
  const root = `${DataPrefixes.batchStaging}transform/${keys.model}/${keys.relative}/${etag}/${version}/`;
  return { root, requests: `${root}requests.jsonl`, outputPrefix: `${root}output/`, output: `${root}output/requests.jsonl.out` };
}

/** What the transform path needs: the batch store and the manifest of the version the GPU model serves. */
export interface TransformDependencies {
  readonly store: BatchObjectStore;
  /** The manifest of the package version the Triton model serves; throws when there is none. */
  readonly manifestOf: (model: string) => Promise<Manifest>;
  /** Rows per request line (at most Triton's max_batch_size). */
  readonly rowsPerRequest: number;
}

/** The key a model scores with on this path, recorded in the manifest as the model file. */
export const TRANSFORM_MODEL_FILE = 'triton/model.tar.gz';

/** A prepared transform: what the state machine passes to CreateTransformJob and then to finalize. */
export interface PreparedTransform {
  readonly status: 'prepared';
  readonly inputKey: string;
  readonly etag: string;
  readonly version: string;
  /** Request lines written; 0 when no row was valid (finalize then runs without a transform job). */
  readonly requests: number;
  /** Valid rows in the requests. */
  readonly rows: number;
  readonly requestsKey: string;
  readonly outputPrefix: string;
  /** A name for the transform job, unique per input version and model version (at most 63 characters). */
  readonly jobName: string;
}

/** Thrown when the answers of a transform do not line up with the requests. */
export class TransformMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransformMismatchError';
  }
}

const discard: TextSink = { write: async () => {} };

/**
 * Step 1: the request lines of an input. An input that is no batch input, is gone, or was
 * already scored by this version is skipped, and a model without a manifest or a file that
 * cannot be parsed fails with a manifest, as on the Lambda path. Rows with a missing value
 * cannot be sent: JSON has no NaN and Batch Transform splits lines, which rules out Triton's
 * binary tensors; such a file fails with a manifest that says so.
 */
export async function prepareTransform(inputKey: string, deps: TransformDependencies): Promise<PreparedTransform | BatchJobOutcome> {
  let created: RequestRecorder | undefined;
  const prepared = await prepareJob(inputKey, jobDependencies(deps, async (model) => (created = new RequestRecorder(await deps.manifestOf(model)))));
  if ('status' in prepared) return prepared;
  const { keys, input, head, model, base, startedAt } = prepared;
  const recorder = created!;
  const staging = transformKeys(keys, head.etag, model.version);
  const writer = await deps.store.openWriter(staging.requests);
  recorder.attach(writer);
  try {
    await formats[keys.format].score(input, recorder, { predictions: discard, errors: discard }, { chunkRows: deps.rowsPerRequest });
  } catch (error) {
    await writer.abort();
    if (error instanceof InvalidFileError || error instanceof MissingValueError) return writeFailedManifest(deps.store, keys.manifest, base, model, startedAt, error.message);
    throw error;
  }
  await writer.commit();
  return {
    status: 'prepared',
    inputKey,
    etag: head.etag,
    version: model.version,
    requests: recorder.requests,
    rows: recorder.rows,
    requestsKey: staging.requests,
    outputPrefix: staging.outputPrefix,
    jobName: transformJobName(keys.model, model.version, head.etag, inputKey),
  };
}

/**
 * Step 3: the outputs of an input from the transform's answers, written by the batch job of the
 * Lambda path. An answer that is not the model's scores for its request's rows fails the step
 * (the state machine then writes a failed manifest); so does an input replaced since step 1.
 */
export async function finalizeTransform(prepared: Pick<PreparedTransform, 'inputKey' | 'etag' | 'version' | 'requests'>, deps: TransformDependencies): Promise<BatchJobOutcome> {
  const keys = batchKeys(prepared.inputKey);
  const head = await deps.store.head(prepared.inputKey);
  if (!head) return { status: 'skipped', reason: `${prepared.inputKey}: the object no longer exists` };
  if (head.etag !== prepared.etag) {
    return { status: 'skipped', reason: `${prepared.inputKey} was replaced (ETag ${head.etag}, transformed ${prepared.etag}); the new object is scored on its own event` };
  }
  const output = transformKeys(keys, prepared.etag, prepared.version).output;
  const answers = prepared.requests > 0 ? lines(deps.store.read(output)) : (async function* () {})();
  let replay: AnswerReplay | undefined;
  const outcome = await runBatchJob(
    prepared.inputKey,
    jobDependencies(deps, async (model) => (replay = new AnswerReplay(await deps.manifestOf(model), answers))),
  );
  if (outcome.status === 'succeeded' && replay && replay.used !== prepared.requests) {
    throw new TransformMismatchError(`${prepared.requests} requests were sent but ${replay.used} answers were used`);
  }
  return outcome;
}

/** Records why a transform failed outside the file (the job failed, a step kept crashing): a failed manifest. */
export async function failTransform(inputKey: string, version: string, reason: string, store: BatchObjectStore): Promise<BatchJobOutcome> {
  const keys = batchKeys(inputKey);
  const head = await store.head(inputKey);
  const base = { input: { location: inputKey, etag: head?.etag, bytes: head?.size }, outputs: { predictions: keys.predictions, errors: keys.errors } };
  return writeFailedManifest(store, keys.manifest, base, { name: keys.model, version, file: TRANSFORM_MODEL_FILE }, new Date(), reason);
}

/** CreateTransformJob's name: `<model>-<version>-<hash>`, letters, digits and hyphens, at most 63 characters. */
export function transformJobName(model: string, version: string, etag: string, inputKey: string): string {
  const stamp = createHash('sha256').update(`${inputKey}\u0000${etag}`).digest('hex').slice(0, 12);
  const prefix = `${model}-${version}`.replace(/[^a-zA-Z0-9-]/g, '-').slice(0, 63 - stamp.length - 1);
  return `${prefix}-${stamp}`;
}

// --- Internals ------------------------------------------------------------------------------

function jobDependencies(deps: TransformDependencies, scorer: (model: string) => Promise<Scorer>): BatchJobDependencies {
  return {
    store: deps.store,
    chunkRows: deps.rowsPerRequest,
    // The version the Triton model serves is fixed by the GPU stack; the registry's serving version does not apply.
    scorerFor: async (model) => Object.assign(await scorer(model), { modelFile: TRANSFORM_MODEL_FILE }),
  };
}

class MissingValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MissingValueError';
  }
}

/** A scorer that writes each chunk as a request line and scores nothing (step 1's outputs are discarded). */
class RequestRecorder implements Scorer {
  requests = 0;
  rows = 0;
  private writer: TextSink = discard;

  constructor(readonly manifest: Manifest) {}

  attach(writer: TextSink): void {
    this.writer = writer;
  }

  predict(matrix: Matrix): Promise<BatchScores> {
    // The chunk's buffer is reused once this returns: the line is built now.
    const missing = matrix.data.findIndex(Number.isNaN);
    if (missing >= 0) {
      const feature = this.manifest.input.features[missing % matrix.cols]!.name;
      return Promise.reject(
        new MissingValueError(
          `a row has no value for the nullable feature "${feature}"; Batch Transform sends rows as JSON lines, which cannot carry a missing value ` +
            '(score such files on the Lambda path: servingMode "both")',
        ),
      );
    }
    const line = JSON.stringify({
      id: String(this.requests),
      inputs: [{ name: this.manifest.input.tensor, shape: [matrix.rows, matrix.cols], datatype: 'FP32', data: Array.from(matrix.data) }],
      outputs: [{ name: this.manifest.output.tensor, parameters: { binary_data: false } }],
    });
    this.requests++;
    this.rows += matrix.rows;
    const width = Math.max(classesOf(this.manifest).length, 1);
    return this.writer.write(`${line}\n`).then(() => ({ rows: matrix.rows, width, values: new Float32Array(matrix.rows * width) }));
  }
}

/** A scorer whose scores are the transform's answers, one line per call, in order. */
class AnswerReplay implements Scorer {
  used = 0;
  private previous: Promise<unknown> = Promise.resolve();

  constructor(
    readonly manifest: Manifest,
    private readonly answers: AsyncIterator<string>,
  ) {}

  predict(matrix: Matrix): Promise<BatchScores> {
    const index = this.used++;
    const rows = matrix.rows;
    // Calls may overlap (the chunk pipeline parses ahead); answers are taken in call order.
    const next = this.previous.then(() => this.answers.next());
    this.previous = next;
    return next.then(({ value, done }) => {
      if (done) throw new TransformMismatchError(`request ${index} has no answer: the transform output ends after ${index} lines`);
      let id: unknown;
      try {
        id = (JSON.parse(value) as { id?: unknown }).id;
      } catch (error) {
        throw new TransformMismatchError(`answer ${index} is not JSON: ${(error as Error).message}`);
      }
      if (id !== undefined && id !== String(index)) throw new TransformMismatchError(`answer ${index} answers request "${String(id)}"`);
      try {
        return decodeTritonResponse(this.manifest, rows, { body: new TextEncoder().encode(value), contentType: TritonContentTypes.json });
      } catch (error) {
        if (error instanceof EndpointError) throw new TransformMismatchError(`answer ${index}: ${error.detail ?? error.message}`);
        throw error;
      }
    });
  }
}

/** The non-blank lines of a byte stream, split on \n, decoded as UTF-8. */
async function* lines(source: AsyncIterable<Uint8Array>): AsyncIterator<string> {
  const decoder = new TextDecoder();
  let rest = '';
  for await (const bytes of source) {
    rest += decoder.decode(bytes, { stream: true });
    let newline = rest.indexOf('\n');
    while (newline >= 0) {
      const line = rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      if (line.trim() !== '') yield line;
      newline = rest.indexOf('\n');
    }
  }
  rest += decoder.decode();
  if (rest.trim() !== '') yield rest;
}
