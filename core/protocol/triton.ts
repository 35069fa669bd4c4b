import { type CaptureRecord, toCaptureRecords } from '../capture/capture';
import { classesOf, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';
import { json, type HttpResponse } from './http';

/**
 * The GPU endpoint's side of the API, without the AWS SDK: the Open Inference Protocol v2 body
 * Triton takes, Triton's answer turned into the scores the serverless path produces, the retry
 * policy of the proxy, the errors it answers with, and SageMaker's data capture converted to
 * the monitor's capture records.
 */

/** Content types of the SageMaker Triton container. */
export const TritonContentTypes = {
  json: 'application/json',
  /** JSON header followed by raw tensor bytes; the header's length goes in a `json-header-size` parameter. */
  binaryJson: 'application/vnd.sagemaker-triton.binary+json',
} as const;

/** A request body for InvokeEndpoint. */
export interface EndpointPayload {
  readonly body: Uint8Array;
  readonly contentType: string;
}

/** An InvokeEndpoint answer. */
export interface EndpointAnswer {
  readonly body: Uint8Array;
  readonly contentType?: string;
}

interface OipTensor {
  name: string;
  shape: number[];
  datatype: string;
  data?: unknown[];
  parameters?: Record<string, unknown>;
}

/**
 * The OIP v2 request for Triton: one FP32 tensor named like the model input, shape [N, F], and
 * the manifest's output requested as JSON. JSON has no NaN, so a matrix holding one (a missing
 * value of a nullable feature, which the model imputes) travels as a binary tensor instead:
 * Triton's binary tensor extension, little-endian FP32 after the JSON header.
 */
export function buildTritonRequest(manifest: Manifest, matrix: Matrix, options: { id?: string } = {}): EndpointPayload {
  const input: OipTensor = { name: manifest.input.tensor, shape: [matrix.rows, matrix.cols], datatype: 'FP32' };
  const header: Record<string, unknown> = {
    ...(options.id !== undefined ? { id: options.id } : {}),
    inputs: [input],
    outputs: [{ name: manifest.output.tensor, parameters: { binary_data: false } }],
  };
  if (!matrix.data.some(Number.isNaN)) {
    input.data = Array.from(matrix.data);
    return { body: new TextEncoder().encode(JSON.stringify(header)), contentType: TritonContentTypes.json };
  }
  input.parameters = { binary_data_size: matrix.data.byteLength };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const body = new Uint8Array(headerBytes.length + matrix.data.byteLength);
  body.set(headerBytes, 0);
  body.set(float32Bytes(matrix.data), headerBytes.length);
  return { body, contentType: `${TritonContentTypes.binaryJson};json-header-size=${headerBytes.length}` };
}

/** The feature matrix of a request built by {@link buildTritonRequest} (used to read captured requests). */
export function decodeTritonRequest(manifest: Manifest, body: Uint8Array, contentType: string): Matrix {
  const { header, binary } = splitBinaryJson(body, contentType);
  const inputs = (header as { inputs?: OipTensor[] }).inputs ?? [];
  const input = inputs.find((t) => t.name === manifest.input.tensor);
  if (!input) throw new Error(`the request has no input "${manifest.input.tensor}"`);
  const [rows = 0, cols = 0] = input.shape;
  const values = tensorValues(input, binary);
  if (cols !== manifest.input.features.length || values.length !== rows * cols) {
    throw new Error(`input "${input.name}" has shape [${input.shape.join(', ')}] and ${values.length} values; the model takes [N, ${manifest.input.features.length}]`);
  }
  return { data: values, rows, cols };
}

/**
 * Triton's answer as the scores the serverless path computes from the same model output: the
 * manifest's output tensor, softmax applied to logits, a single sigmoid column widened to two
 * classes (what core/model/predictor.ts does after ONNX Runtime, repeated here because that
 * module loads ONNX Runtime, which the proxy does not ship).
 */
export function decodeTritonResponse(manifest: Manifest, rows: number, answer: EndpointAnswer): BatchScores {
  let parsed: { header: unknown; binary: Uint8Array };
  try {
    parsed = splitBinaryJson(answer.body, answer.contentType ?? TritonContentTypes.json);
  } catch (error) {
    throw badResponse(`its body is not an OIP v2 response: ${(error as Error).message}`);
  }
  const outputs = (parsed.header as { outputs?: unknown }).outputs;
  if (!Array.isArray(outputs)) throw badResponse('its body has no "outputs" array');
  const output = (outputs as OipTensor[]).find((o) => o?.name === manifest.output.tensor);
  if (!output) throw badResponse(`it has no output "${manifest.output.tensor}"`);
  if (!['FP32', 'FP16', 'FP64'].includes(output.datatype)) throw badResponse(`output "${output.name}" is ${output.datatype}, not a float tensor`);
  if (!Array.isArray(output.shape) || output.shape[0] !== rows) {
    throw badResponse(`output "${output.name}" has shape [${String(output.shape)}] for ${rows} rows`);
  }
  let values: Float32Array;
  try {
    values = tensorValues(output, parsed.binary);
  } catch (error) {
    throw badResponse((error as Error).message);
  }
  const width = output.shape.slice(1).reduce((a, b) => a * b, 1);
  if (values.length !== rows * width) throw badResponse(`output "${output.name}" has ${values.length} values for shape [${output.shape.join(', ')}]`);
  return toBatchScores(manifest, rows, width, values);
}

/** Raw model output → calibrated scores, as {@link Predictor.predict} does. */
export function toBatchScores(manifest: Manifest, rows: number, width: number, raw: Float32Array): BatchScores {
  const { kind } = manifest.output;
  if (kind === 'value') {
    if (width !== 1) throw badResponse(`a regression output has 1 column per row, got ${width}`);
    return { rows, width: 1, values: raw };
  }
  const classes = classesOf(manifest).length;
  if (width === 1 && classes === 2) {
    const widened = new Float32Array(rows * 2);
    raw.forEach((v, i) => {
      const p = kind === 'logits' ? 1 / (1 + Math.exp(-v)) : v;
      widened[2 * i] = 1 - p;
      widened[2 * i + 1] = p;
    });
    return { rows, width: 2, values: widened };
  }
  if (width !== classes) throw badResponse(`the output has ${width} score columns but the manifest lists ${classes} classes`);
  if (kind === 'logits') {
    for (let offset = 0; offset < raw.length; offset += width) {
      let max = -Infinity;
      for (let j = 0; j < width; j++) max = Math.max(max, raw[offset + j]!);
      let sum = 0;
      for (let j = 0; j < width; j++) sum += raw[offset + j] = Math.exp(raw[offset + j]! - max);
      for (let j = 0; j < width; j++) raw[offset + j] = raw[offset + j]! / sum;
    }
  }
  return { rows, width, values: raw };
}

// --- Failures and retries -------------------------------------------------------------------

/** What went wrong calling the endpoint, which decides retrying and the answer. */
export type EndpointFailure =
  /** Throttled by SageMaker (ThrottlingException, 429) or the model not ready: retried, then 503. */
  | 'throttled'
  /** A 5xx of SageMaker itself or a dropped connection: retried, then 503. */
  | 'unavailable'
  /** The container answered 4xx/5xx (ModelError) to input that passed validation: 502, not retried. */
  | 'model'
  /** No answer within the time budget: 504, not retried (the endpoint may still be working on it). */
  | 'timeout'
  /** SageMaker refused the call (validation, access, missing endpoint): a deployment fault, 502. */
  | 'rejected';

/** Machine-readable codes of the proxy's own failures (the API's other codes are in errors.ts). */
export type EndpointErrorCode = 'endpoint_throttled' | 'endpoint_unavailable' | 'endpoint_model_error' | 'endpoint_timeout' | 'endpoint_error' | 'endpoint_bad_response';

/** A failure of the GPU endpoint, answered with a 5xx that says it is not the client's fault. */
export class EndpointError extends Error {
  constructor(
    readonly status: 502 | 503 | 504,
    readonly code: EndpointErrorCode,
    message: string,
    /** Seconds a client should wait before trying again (503 only). */
    readonly retryAfterSeconds?: number,
    /** What the endpoint said, for logs; never sent to the client. */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'EndpointError';
  }
}

/** The error body ({ error, code, request_id }, as for every API error), with Retry-After on a 503. */
export function endpointErrorResponse(error: EndpointError, requestId?: string): HttpResponse<string> {
  const headers: Record<string, string> = error.retryAfterSeconds !== undefined ? { 'retry-after': String(error.retryAfterSeconds) } : {};
  return json(error.status, { error: error.message, code: error.code, ...(requestId ? { request_id: requestId } : {}) }, headers);
}

/** The shape of an AWS SDK v3 error, read without importing the SDK. */
interface SdkErrorLike {
  name?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  OriginalStatusCode?: number;
  message?: string;
}

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'ThrottledException', 'TooManyRequestsException', 'RequestLimitExceeded', 'ModelNotReadyException']);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

/**
 * Classifies an error of one InvokeEndpoint call; undefined for an error that did not come from
 * the call (a bug here), which must surface as such. `aborted` says the time budget ran out.
 */
export function classifyEndpointError(error: unknown, aborted = false): EndpointFailure | undefined {
  if (aborted) return 'timeout';
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as SdkErrorLike;
  const status = e.$metadata?.httpStatusCode;
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return 'timeout';
  // ModelStreamError and InternalStreamFailure arrive inside an InvokeEndpointWithResponseStream
  // stream: the container failed while generating, or SageMaker lost the stream.
  if (e.name === 'ModelError' || e.name === 'ModelStreamError') return 'model';
  if (e.name === 'InternalStreamFailure') return 'unavailable';
  if ((e.name && THROTTLING.has(e.name)) || status === 429) return 'throttled';
  if ((status !== undefined && status >= 500) || e.$fault === 'server') return 'unavailable';
  if (e.code && NETWORK.has(e.code)) return 'unavailable';
  if (status !== undefined && status >= 400) return 'rejected';
  return undefined;
}

/** Whether a failure may succeed when tried again. */
export function isRetryable(failure: EndpointFailure): boolean {
  return failure === 'throttled' || failure === 'unavailable';
}

/** Retries of the proxy: bounded attempts with capped exponential backoff and full jitter. */
export interface RetryPolicy {
  /** Calls in all, the first included. */
  readonly maxAttempts: number;
  /** Cap of the first backoff; doubles with every retry. */
  readonly baseDelayMs: number;
  /** Largest backoff. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 1000 };

/**
 * "Full jitter" backoff before retry number `retry` (0 for the first): uniform in
 * [0, min(maxDelay, base·2^retry)). Spreading retries over the whole interval keeps throttled
 * clients from retrying in lockstep (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */
export function fullJitterDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.floor(random() * cap);
}

/** How {@link invokeWithRetries} waits and reports. */
export interface RetryHooks {
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** @default Math.random */
  readonly random?: () => number;
  /** Told before each retry. */
  readonly onRetry?: (event: { attempt: number; failure: EndpointFailure; delayMs: number; error: unknown }) => void;
}

/**
 * Calls the endpoint until it answers, a failure is not worth retrying, the attempts are used up,
 * or `timeoutMs` (for all attempts and waits together) runs out. Each call gets an AbortSignal
 * that fires when the budget is spent. Failures become {@link EndpointError}s; errors that did not
 * come from the call are rethrown unchanged.
 */
export async function invokeWithRetries<T>(
  call: (signal: AbortSignal, attempt: number) => Promise<T>,
  policy: RetryPolicy & { readonly timeoutMs: number },
  hooks: RetryHooks = {},
): Promise<T> {
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = performance.now() + policy.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - performance.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), Math.max(0, remaining));
    let failure: EndpointFailure | undefined;
    let caught: unknown;
    try {
      return await call(controller.signal, attempt);
    } catch (error) {
      caught = error;
      failure = classifyEndpointError(error, controller.signal.aborted);
      if (!failure) throw error;
    } finally {
      clearTimeout(timer);
    }
    const delayMs = fullJitterDelay(policy, attempt - 1, hooks.random);
    const canRetry = isRetryable(failure) && attempt < policy.maxAttempts && performance.now() + delayMs < deadline;
    if (!canRetry) throw endpointErrorFor(failure, caught, attempt, policy);
    hooks.onRetry?.({ attempt, failure, delayMs, error: caught });
    await sleep(delayMs);
  }
}

/** The answer to a failure that is final. */
export function endpointErrorFor(failure: EndpointFailure, error: unknown, attempts: number, policy: RetryPolicy): EndpointError {
  const e = (error ?? {}) as SdkErrorLike;
  const detail = `${e.name ?? 'Error'}: ${e.message ?? String(error)}`;
  const retryAfter = Math.max(1, Math.ceil(policy.maxDelayMs / 1000));
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  switch (failure) {
    case 'throttled':
      return new EndpointError(503, 'endpoint_throttled', `the GPU endpoint is at capacity (throttled after ${tries}); retry after ${retryAfter} s`, retryAfter, detail);
    case 'unavailable':
      return new EndpointError(503, 'endpoint_unavailable', `the GPU endpoint is unavailable (after ${tries}); retry after ${retryAfter} s`, retryAfter, detail);
    case 'model': {
      const status = e.OriginalStatusCode !== undefined ? ` (status ${e.OriginalStatusCode})` : '';
      return new EndpointError(
        502,
        'endpoint_model_error',
        `the model server failed on a request that passed validation${status}; this is not a problem with your input, and the operator has been told`,
        undefined,
        detail,
      );
    }
    case 'timeout':
      return new EndpointError(504, 'endpoint_timeout', 'the GPU endpoint did not answer in time; the operator has been told', undefined, detail);
    case 'rejected':
      return new EndpointError(502, 'endpoint_error', 'the GPU endpoint refused the call; the operator has been told', undefined, detail);
  }
}

function badResponse(message: string): EndpointError {
  return new EndpointError(502, 'endpoint_bad_response', 'the GPU endpoint answered with something other than the model\'s scores; the operator has been told', undefined, `the endpoint's answer is unusable: ${message}`);
}

// --- SageMaker data capture -----------------------------------------------------------------

/** One line of a SageMaker data capture file (JSON Lines under the endpoint's capture prefix). */
interface SageMakerCaptureLine {
  captureData?: {
    endpointInput?: { observedContentType?: string; data?: string; encoding?: string };
    endpointOutput?: { observedContentType?: string; data?: string; encoding?: string };
  };
  eventMetadata?: { eventId?: string; inferenceId?: string; inferenceTime?: string };
}

/**
 * Converts one line of SageMaker data capture (request and response of one InvokeEndpoint call)
 * into the monitor's capture records (core/capture/capture.ts), one per row. The request id is the
 * InvokeEndpoint InferenceId the proxy sets (the API request id), so late labels join as they do
 * on the serverless path. Latency is not captured by SageMaker and is recorded as 0.
 */
export function captureRecordsFromSageMaker(line: string, manifest: Manifest): CaptureRecord[] {
  const event = JSON.parse(line) as SageMakerCaptureLine;
  const input = event.captureData?.endpointInput;
  const output = event.captureData?.endpointOutput;
  if (!input?.data || !output?.data) throw new Error('the capture line has no endpointInput or endpointOutput data');
  const bytes = (part: { data?: string; encoding?: string }) =>
    part.encoding === 'BASE64' ? new Uint8Array(Buffer.from(part.data!, 'base64')) : new TextEncoder().encode(part.data!);
  const matrix = decodeTritonRequest(manifest, bytes(input), input.observedContentType ?? TritonContentTypes.json);
  const scores = decodeTritonResponse(manifest, matrix.rows, { body: bytes(output), contentType: output.observedContentType });
  const at = new Date(event.eventMetadata?.inferenceTime ?? Number.NaN);
  if (Number.isNaN(at.getTime())) throw new Error('the capture line has no valid eventMetadata.inferenceTime');
  const requestId = event.eventMetadata?.inferenceId ?? event.eventMetadata?.eventId ?? 'unknown';
  return toCaptureRecords(manifest, matrix, scores, requestId, 0, at);
}

// --- Helpers --------------------------------------------------------------------------------

/** The JSON header and the binary part of a JSON or binary+json body. */
function splitBinaryJson(body: Uint8Array, contentType: string): { header: unknown; binary: Uint8Array } {
  const size = /json-header-size=(\d+)/i.exec(contentType)?.[1];
  const headerLength = size === undefined ? body.length : Number(size);
  if (headerLength > body.length) throw new Error(`json-header-size ${headerLength} exceeds the body's ${body.length} bytes`);
  const header: unknown = JSON.parse(new TextDecoder().decode(body.subarray(0, headerLength)));
  if (typeof header !== 'object' || header === null) throw new Error('the JSON is not an object');
  return { header, binary: body.subarray(headerLength) };
}

/** A tensor's values as float32: from `data`, or from its slice of the binary part. */
function tensorValues(tensor: OipTensor, binary: Uint8Array): Float32Array {
  const binarySize = tensor.parameters?.binary_data_size;
  if (typeof binarySize === 'number') {
    // Binary tensors follow the header in the order of the tensors that have them; there is one here.
    if (tensor.datatype !== 'FP32' || binarySize % 4 !== 0 || binarySize > binary.length) {
      throw new Error(`binary tensor "${tensor.name}" (${tensor.datatype}, ${binarySize} bytes) does not fit the ${binary.length} bytes after the header`);
    }
    const copy = binary.slice(0, binarySize);
    return new Float32Array(copy.buffer, copy.byteOffset, binarySize / 4);
  }
  if (!Array.isArray(tensor.data)) throw new Error(`tensor "${tensor.name}" has neither data nor binary_data_size`);
  const flat: unknown[] = (tensor.data as unknown[]).flat(Number.POSITIVE_INFINITY);
  const values = new Float32Array(flat.length);
  flat.forEach((v, i) => {
    if (typeof v !== 'number') throw new Error(`tensor "${tensor.name}" holds a non-number at ${i}: ${JSON.stringify(v)}`);
    values[i] = v;
  });
  return values;
}

/** The little-endian bytes of a float32 array (every platform Node.js and Lambda run on is little-endian). */
function float32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
