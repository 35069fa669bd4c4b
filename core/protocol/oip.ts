import { z } from 'zod';
import { coerceFeature } from '../data/coerce';
import { classesOf, type Feature, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import { argmaxRow } from '../model/argmax';
import type { BatchScores } from '../model/predictor';
import { decodeBytesTensor, encodeBytesTensor, frameBody, INFERENCE_HEADER, sliceBinaryInputs, typedView } from './binary-tensors';
import { ProtocolError } from './errors';
import { json, type HttpResponse } from './http';
import { truncate } from './instances';
import type { ProtocolLimits } from './limits';

/**
 * Open Inference Protocol v2 (KServe / Triton) REST bodies, with the binary tensor data extension.
 * https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 */

const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
type Datatype = (typeof DATATYPES)[number];

/** The model's input tensor is FP32 (core/model/predictor.ts checks the ONNX signature), so the whole-matrix input must be too. */
const MODEL_INPUT_DATATYPE = 'FP32';
/**
 * Datatypes a per-feature tensor of a numeric feature may have: the float and integer types
 * numpy and JSON clients produce by default, all exact or rounded once into the model's float32.
 */
const NUMERIC_FEATURE_DATATYPES: ReadonlySet<Datatype> = new Set(['FP32', 'FP64', 'INT32', 'INT64']);

const Parameters = z.record(z.string(), z.unknown());

const TensorSchema = z.object({
  name: z.string().min(1).max(256),
  shape: z.array(z.number().int().nonnegative()).min(1).max(2),
  datatype: z.enum(DATATYPES),
  /**
   * Absent when the tensor's bytes follow the JSON (parameters.binary_data_size). Checked as an
   * array only: its elements are checked once, against the model's features, when decoded (a
   * schema over each element would walk and copy thousands of numbers a second time).
   */
  data: z.custom<unknown[]>(Array.isArray, { message: 'Expected array' }).optional(),
  parameters: Parameters.optional(),
});

export const InferRequestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: Parameters.optional(),
  inputs: z.array(TensorSchema).min(1).max(1024),
  outputs: z.array(z.object({ name: z.string().min(1).max(256), parameters: Parameters.optional() })).optional(),
});

export type InferRequest = z.infer<typeof InferRequestSchema>;
type Tensor = z.infer<typeof TensorSchema>;

/** An input with its elements: parsed JSON (flattened) or a typed view of its binary bytes. */
interface InputValues {
  readonly tensor: Tensor;
  readonly index: number;
  readonly values: ArrayLike<unknown>;
  readonly binary: boolean;
}

/** Output tensor names this server returns. */
export const OipOutputs = { probabilities: 'probabilities', label: 'label', prediction: 'prediction' } as const;

/** Validates the request's structure, naming the first bad field by its path (e.g. inputs[0].shape). */
export function parseInferRequest(body: unknown): InferRequest {
  const result = InferRequestSchema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.reduce<string>((path, part) => (typeof part === 'number' ? `${path}[${part}]` : path ? `${path}.${String(part)}` : String(part)), '');
  throw new ProtocolError(400, 'invalid_request', `${field || 'body'}: ${issue.message}`, { field: field || 'body' });
}

/**
 * Decodes the inputs into the model's feature matrix. Two forms are accepted: one FP32 tensor
 * named like the model input, shape [N, features] (categorical features as level indices), or
 * one tensor per feature, shape [N] or [N, 1] (categorical features as BYTES strings). Either
 * form may carry its elements as JSON `data` or as binary bytes after the JSON (`binary`).
 */
export function decodeInferInputs(request: InferRequest, binary: Uint8Array, manifest: Manifest, limits: ProtocolLimits): Matrix {
  const inputs = resolveValues(request, binary);
  const features = manifest.input.features;
  const names = features.map((f) => f.name);
  if (inputs.length === 1 && inputs[0]!.tensor.name === manifest.input.tensor) return decodeWholeTensor(inputs[0]!, manifest, limits);

  const byName = new Map<string, InputValues>();
  for (const input of inputs) {
    const { tensor, index } = input;
    if (!names.includes(tensor.name)) {
      throw new ProtocolError(400, 'invalid_feature', `inputs[${index}].name: unknown input "${truncate(tensor.name)}"; send one tensor "${manifest.input.tensor}" [N, ${features.length}] or one tensor per feature: ${names.join(', ')}`, { field: `inputs[${index}].name` });
    }
    if (byName.has(tensor.name)) throw new ProtocolError(400, 'invalid_request', `inputs[${index}].name: input "${tensor.name}" is given twice`, { field: `inputs[${index}].name` });
    const [, width = 1] = tensor.shape;
    if (width !== 1) throw new ProtocolError(400, 'invalid_request', `inputs[${index}].shape: a per-feature tensor has shape [N] or [N, 1], got [${tensor.shape.join(', ')}]`, { field: `inputs[${index}].shape` });
    const previous = byName.values().next().value;
    if (previous && previous.tensor.shape[0] !== tensor.shape[0]) {
      throw new ProtocolError(400, 'invalid_request', `inputs[${index}].shape: every input must have the same batch size; got ${tensor.shape[0]} and ${previous.tensor.shape[0]}`, { field: `inputs[${index}].shape` });
    }
    byName.set(tensor.name, input);
  }
  const batch = checkBatch(byName.values().next().value?.tensor.shape[0] ?? 0, limits, 'inputs[0].shape');
  const width = features.length;
  const data = new Float32Array(batch * width);
  features.forEach((feature, j) => {
    const input = byName.get(feature.name);
    if (!input) {
      if (!feature.nullable) throw new ProtocolError(400, 'invalid_feature', `inputs: feature "${feature.name}" is required but no input has that name`, { field: feature.name });
      for (let r = 0; r < batch; r++) data[r * width + j] = Number.NaN;
      return;
    }
    const { tensor, index, values } = input;
    checkFeatureDatatype(feature, tensor, index);
    if (values.length !== batch) {
      throw new ProtocolError(400, 'invalid_request', `inputs[${index}].data: shape [${tensor.shape.join(', ')}] needs ${batch} values, got ${values.length}`, { field: `inputs[${index}].data` });
    }
    for (let r = 0; r < batch; r++) {
      const value = coerceFeature(feature, elementValue(tensor, values[r], input.binary, `inputs[${index}].data[${r}]`));
      if (typeof value === 'string') {
        throw new ProtocolError(400, 'invalid_feature', `inputs[${index}].data[${r}]: feature "${feature.name}" ${value}`, { field: feature.name, instance: r });
      }
      data[r * width + j] = value;
    }
  });
  return { data, rows: batch, cols: width };
}

function decodeWholeTensor(input: InputValues, manifest: Manifest, limits: ProtocolLimits): Matrix {
  const { tensor, values } = input;
  const features = manifest.input.features;
  const [n, width] = tensor.shape as [number, number | undefined];
  if (width !== features.length) {
    throw new ProtocolError(400, 'invalid_request', `inputs[0].shape: "${tensor.name}" has shape [N, ${features.length}], got [${tensor.shape.join(', ')}]`, { field: 'inputs[0].shape' });
  }
  if (tensor.datatype !== MODEL_INPUT_DATATYPE) {
    const hint = tensor.datatype === 'BYTES' ? '; send categorical features as level indices, or use one BYTES tensor per categorical feature' : '';
    throw new ProtocolError(400, 'invalid_request', `inputs[0].datatype: "${tensor.name}" is ${MODEL_INPUT_DATATYPE}, got ${tensor.datatype}${hint}`, { field: 'inputs[0].datatype' });
  }
  const rows = checkBatch(n, limits, 'inputs[0].shape');
  if (values.length !== rows * width) {
    throw new ProtocolError(400, 'invalid_request', `inputs[0].data: shape [${tensor.shape.join(', ')}] needs ${rows * width} values, got ${values.length}`, { field: 'inputs[0].data' });
  }
  // Binary FP32 elements are the matrix already: checked in place, not converted.
  const bounds = elementBounds(features);
  if (values instanceof Float32Array) {
    for (let k = 0, j = 0; k < values.length; k++, j = j + 1 === width ? 0 : j + 1) {
      const v = values[k]!;
      if (v >= bounds.lows[j]! && v <= bounds.highs[j]! && (bounds.integer[j] === 0 || v === Math.floor(v))) continue;
      // NaN, the binary form of a missing value, lands here too: the full check knows nullable features.
      if (typeof featureCheck(features[j]!)(v) === 'string') wholeTensorError(features, width, k, v);
    }
    return { data: values, rows, cols: width };
  }
  const data = new Float32Array(values.length);
  // The common element (a number within its feature's bounds, an in-range level index) passes
  // one comparison pair; anything else takes the full check, which words the error.
  for (let k = 0, j = 0; k < values.length; k++, j = j + 1 === width ? 0 : j + 1) {
    const raw = values[k];
    if (typeof raw === 'number' && raw >= bounds.lows[j]! && raw <= bounds.highs[j]! && (bounds.integer[j] === 0 || Number.isInteger(raw))) {
      data[k] = raw;
      continue;
    }
    const value = featureCheck(features[j]!)(raw);
    if (typeof value === 'string') wholeTensorError(features, width, k, raw);
    data[k] = value as number;
  }
  return { data, rows, cols: width };
}

function wholeTensorError(features: readonly Feature[], width: number, k: number, raw: unknown): never {
  const feature = features[k % width]!;
  const row = Math.floor(k / width);
  const reason = featureCheck(feature)(raw) as string;
  throw new ProtocolError(400, 'invalid_feature', `inputs[0].data[${k}] (row ${row}): feature "${feature.name}" ${reason}`, { field: feature.name, instance: row });
}

const FLOAT32_MAX = 3.4028234663852886e38;

interface ElementBounds {
  readonly lows: Float64Array;
  readonly highs: Float64Array;
  readonly integer: Uint8Array;
}

const boundsCache = new WeakMap<readonly Feature[], ElementBounds>();

/** Per feature, the range an element passes without the full check: its bounds within float32, or 0 … levels − 1 as integers. */
function elementBounds(features: readonly Feature[]): ElementBounds {
  const cached = boundsCache.get(features);
  if (cached) return cached;
  const bounds = { lows: new Float64Array(features.length), highs: new Float64Array(features.length), integer: new Uint8Array(features.length) };
  features.forEach((feature, j) => {
    if (feature.type === 'categorical') {
      bounds.highs[j] = feature.levels.length - 1;
      bounds.integer[j] = 1;
    } else {
      bounds.lows[j] = Math.max(feature.min ?? -FLOAT32_MAX, -FLOAT32_MAX);
      bounds.highs[j] = Math.min(feature.max ?? FLOAT32_MAX, FLOAT32_MAX);
    }
  });
  boundsCache.set(features, bounds);
  return bounds;
}

/** How one element of the whole-matrix tensor is checked: a number (NaN for missing), or a categorical level's index. */
function featureCheck(feature: Feature): (raw: unknown) => number | string {
  if (feature.type === 'categorical') {
    const levels = feature.levels.length;
    return (raw) =>
      typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw < levels
        ? raw
        : raw === null || (typeof raw === 'number' && Number.isNaN(raw))
          ? coerceFeature(feature, null)
          : `must be a level index from 0 to ${levels - 1} (${feature.levels.slice(0, 5).join(', ')}${levels > 5 ? ', …' : ''}), got ${typeof raw === 'string' ? JSON.stringify(truncate(raw)) : typeof raw === 'number' ? raw : typeof raw}`;
  }
  return (raw) => {
    if (typeof raw === 'number') {
      // NaN only reaches here from binary FP32 (JSON has no NaN): the binary form of a missing value.
      if (Number.isNaN(raw)) return coerceFeature(feature, null);
      return coerceFeature(feature, raw);
    }
    return raw === null ? coerceFeature(feature, null) : `must be a number, got ${typeof raw === 'string' ? JSON.stringify(truncate(raw)) : typeof raw}`;
  };
}

function checkFeatureDatatype(feature: Feature, tensor: Tensor, index: number): void {
  const categorical = feature.type === 'categorical';
  const fits = categorical ? tensor.datatype === 'BYTES' : NUMERIC_FEATURE_DATATYPES.has(tensor.datatype);
  if (!fits) {
    const wanted = categorical ? 'BYTES' : [...NUMERIC_FEATURE_DATATYPES].join(', ');
    throw new ProtocolError(400, 'invalid_feature', `inputs[${index}].datatype: feature "${feature.name}" is ${feature.type}; send it as ${wanted}, not ${tensor.datatype}`, { field: feature.name });
  }
}

/**
 * One element of a per-feature tensor as the value coerceFeature takes, checked against the
 * declared datatype (an INT64 tensor holds integers, a float tensor numbers; null is missing).
 */
function elementValue(tensor: Tensor, raw: unknown, binary: boolean, field: string): unknown {
  if (binary) {
    if (typeof raw !== 'bigint') return typeof raw === 'number' && Number.isNaN(raw) ? null : raw;
    if (Number.isSafeInteger(Number(raw))) return Number(raw);
  } else if (raw === null || tensor.datatype === 'BYTES' || (typeof raw === 'number' && (!tensor.datatype.startsWith('INT') || Number.isInteger(raw)))) {
    return raw;
  }
  const got = typeof raw === 'string' ? JSON.stringify(truncate(raw)) : typeof raw === 'number' || typeof raw === 'bigint' ? String(raw) : typeof raw;
  throw new ProtocolError(400, 'invalid_request', `${field}: "${tensor.name}" is ${tensor.datatype}; got ${got}`, { field });
}

/** Each input's elements: its JSON data flattened, or its slice of the binary part decoded by datatype. */
function resolveValues(request: InferRequest, binary: Uint8Array): InputValues[] {
  const slices = sliceBinaryInputs(
    request.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: t.parameters, hasData: t.data !== undefined })),
    binary,
  );
  return request.inputs.map((tensor, index) => {
    const bytes = slices[index];
    if (bytes) {
      const field = `inputs[${index}]`;
      const values = tensor.datatype === 'BYTES' ? decodeBytesTensor(bytes, field) : typedView(tensor.datatype, bytes);
      if (tensor.datatype === 'BYTES' && values.length !== tensor.shape.reduce((a, b) => a * b, 1)) {
        throw new ProtocolError(400, 'invalid_request', `${field}.parameters.binary_data_size: "${tensor.name}" of shape [${tensor.shape.join(', ')}] holds ${values.length} BYTES elements`, { field: `${field}.parameters.binary_data_size` });
      }
      return { tensor, index, values, binary: true };
    }
    if (!tensor.data) {
      throw new ProtocolError(400, 'invalid_request', `inputs[${index}]: "${tensor.name}" has neither data nor parameters.binary_data_size`, { field: `inputs[${index}].data` });
    }
    return { tensor, index, values: flatten(tensor, index), binary: false };
  });
}

function checkBatch(rows: number, limits: ProtocolLimits, field: string): number {
  if (rows === 0) throw new ProtocolError(400, 'invalid_request', `${field}: the batch is empty`, { field });
  if (rows > limits.maxBatchRows) throw new ProtocolError(413, 'batch_too_large', `${field}: batch of ${rows} rows; at most ${limits.maxBatchRows} are accepted per request`, { field });
  return rows;
}

/** OIP data is flat row-major; clients often send nested rows, which are flattened here (two levels at most). */
function flatten(tensor: Tensor, index: number): unknown[] {
  const data = tensor.data!;
  if (!data.some(Array.isArray)) return data;
  const flat: unknown[] = [];
  for (const item of data) {
    if (!Array.isArray(item)) {
      flat.push(item);
      continue;
    }
    for (const inner of item) {
      if (Array.isArray(inner) || (typeof inner === 'object' && inner !== null)) {
        throw new ProtocolError(400, 'invalid_request', `inputs[${index}].data: nested more deeply than the tensor's shape [${tensor.shape.join(', ')}]`, { field: `inputs[${index}].data` });
      }
      flat.push(inner);
    }
  }
  return flat;
}

/**
 * The OIP response: probabilities [N, classes] and label [N] (BYTES), or prediction [N] for
 * regression. Outputs asked for as binary (`binary_data` per output, or `binary_data_output`
 * for all) follow the JSON as raw bytes, the scores' own buffer for FP32.
 */
export function encodeInferResponse(manifest: Manifest, scores: BatchScores, request: InferRequest): HttpResponse {
  const classes = classesOf(manifest);
  const available: string[] = classes.length ? [OipOutputs.probabilities, OipOutputs.label] : [OipOutputs.prediction];
  const requested = request.outputs ?? available.map((name) => ({ name, parameters: undefined }));
  const allBinary = request.parameters?.binary_data_output === true;
  const parts: Uint8Array[] = [];
  const outputs = requested.map(({ name, parameters }, i) => {
    if (!available.includes(name)) {
      throw new ProtocolError(400, 'invalid_request', `outputs[${i}].name: unknown output "${truncate(name)}"; this model has ${available.join(', ')}`, { field: `outputs[${i}].name` });
    }
    const binary = typeof parameters?.binary_data === 'boolean' ? parameters.binary_data : allBinary;
    const isLabel = name === OipOutputs.label;
    const tensor = {
      name,
      shape: name === OipOutputs.probabilities ? [scores.rows, scores.width] : [scores.rows],
      datatype: isLabel ? 'BYTES' : 'FP32',
    };
    const labels = isLabel ? Array.from({ length: scores.rows }, (_, r) => classes[argmaxRow(scores, r)]!) : undefined;
    const extra = isLabel ? { classes } : {};
    if (!binary) return { ...tensor, data: labels ?? Array.from(scores.values), parameters: isLabel ? extra : undefined };
    const bytes = labels ? encodeBytesTensor(labels) : new Uint8Array(scores.values.buffer, scores.values.byteOffset, scores.values.byteLength);
    parts.push(bytes);
    return { ...tensor, parameters: { ...extra, binary_data_size: bytes.byteLength } };
  });
  const header = { model_name: manifest.name, model_version: manifest.version, ...(request.id !== undefined ? { id: request.id } : {}), outputs };
  if (!parts.length) return json(200, header);
  const { body, headerLength } = frameBody(header, parts);
  return { status: 200, headers: { 'content-type': 'application/octet-stream', [INFERENCE_HEADER]: String(headerLength) }, body };
}

/** Model metadata (GET /v2/models/{name}), with the feature schema as an extension. */
export function modelMetadata(manifest: Manifest, versions: readonly string[]): unknown {
  const classes = classesOf(manifest);
  return {
    name: manifest.name,
    versions,
    platform: 'onnxruntime_onnx',
    inputs: [{ name: manifest.input.tensor, datatype: MODEL_INPUT_DATATYPE, shape: [-1, manifest.input.features.length] }],
    outputs: classes.length
      ? [
          { name: OipOutputs.probabilities, datatype: 'FP32', shape: [-1, classes.length] },
          { name: OipOutputs.label, datatype: 'BYTES', shape: [-1] },
        ]
      : [{ name: OipOutputs.prediction, datatype: 'FP32', shape: [-1] }],
    parameters: {
      version: manifest.version,
      task: manifest.task,
      classes,
      features: manifest.input.features,
      metrics: manifest.metrics,
    },
  };
}
