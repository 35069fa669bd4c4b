import { z } from 'zod';
import { coerceFeature } from '../data/coerce';
import { classesOf, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';
import { ProtocolError } from './errors';
import { truncate } from './instances';
import type { ProtocolLimits } from './limits';

/**
 * Open Inference Protocol v2 (KServe / Triton) REST bodies.
 * https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 */

const NUMERIC_TYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64'] as const;

const TensorSchema = z.object({
  name: z.string().min(1).max(256),
  shape: z.array(z.number().int().nonnegative()).min(1).max(2),
  datatype: z.enum([...NUMERIC_TYPES, 'BYTES']),
  data: z.array(z.unknown()),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

export const InferRequestSchema = z.object({
  id: z.string().max(256).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z.array(TensorSchema).min(1).max(1024),
  outputs: z.array(z.object({ name: z.string().min(1).max(256), parameters: z.record(z.string(), z.unknown()).optional() })).optional(),
});

export type InferRequest = z.infer<typeof InferRequestSchema>;
type Tensor = z.infer<typeof TensorSchema>;

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
 * Decodes the inputs into the model's feature matrix. Two forms are accepted: one tensor
 * named like the model input, shape [N, features] (categorical features as level indices),
 * or one tensor per feature, shape [N] or [N, 1] (categorical features as BYTES strings).
 */
export function decodeInferInputs(request: InferRequest, manifest: Manifest, limits: ProtocolLimits): Matrix {
  const features = manifest.input.features;
  const names = features.map((f) => f.name);
  const inputs = request.inputs;
  const whole = inputs.length === 1 && inputs[0]!.name === manifest.input.tensor;
  if (whole) return decodeWholeTensor(inputs[0]!, manifest, limits);

  const byName = new Map<string, { tensor: Tensor; index: number }>();
  inputs.forEach((tensor, index) => {
    if (!names.includes(tensor.name)) {
      throw new ProtocolError(400, 'invalid_feature', `inputs[${index}].name: unknown input "${truncate(tensor.name)}"; send one tensor "${manifest.input.tensor}" [N, ${features.length}] or one tensor per feature: ${names.join(', ')}`, { field: `inputs[${index}].name` });
    }
    if (byName.has(tensor.name)) throw new ProtocolError(400, 'invalid_request', `inputs[${index}].name: input "${tensor.name}" is given twice`, { field: `inputs[${index}].name` });
    byName.set(tensor.name, { tensor, index });
  });
  let rows: number | undefined;
  for (const [, { tensor, index }] of byName) {
    const [n, width = 1] = tensor.shape;
    if (width !== 1) throw new ProtocolError(400, 'invalid_request', `inputs[${index}].shape: a per-feature tensor has shape [N] or [N, 1], got [${tensor.shape.join(', ')}]`, { field: `inputs[${index}].shape` });
    if (rows !== undefined && n !== rows) throw new ProtocolError(400, 'invalid_request', `inputs[${index}].shape: every input must have the same batch size; got ${n} and ${rows}`, { field: `inputs[${index}].shape` });
    rows = n;
  }
  const batch = checkBatch(rows ?? 0, limits, 'inputs[0].shape');
  const data = new Float32Array(batch * features.length);
  features.forEach((feature, j) => {
    const entry = byName.get(feature.name);
    if (!entry) {
      if (feature.nullable) {
        for (let r = 0; r < batch; r++) data[r * features.length + j] = Number.NaN;
        return;
      }
      throw new ProtocolError(400, 'invalid_feature', `inputs: feature "${feature.name}" is required but no input has that name`, { field: feature.name });
    }
    const { tensor, index } = entry;
    const values = flatten(tensor, index);
    if (values.length !== batch) {
      throw new ProtocolError(400, 'invalid_request', `inputs[${index}].data: shape [${tensor.shape.join(', ')}] needs ${batch} values, got ${values.length}`, { field: `inputs[${index}].data` });
    }
    const expected = feature.type === 'categorical' ? 'BYTES' : 'numeric';
    if ((tensor.datatype === 'BYTES') !== (expected === 'BYTES')) {
      throw new ProtocolError(400, 'invalid_feature', `inputs[${index}].datatype: feature "${feature.name}" is ${feature.type}; send it as ${feature.type === 'categorical' ? 'BYTES' : 'FP32 (or another numeric type)'}, not ${tensor.datatype}`, { field: feature.name });
    }
    values.forEach((raw, r) => {
      const value = coerceFeature(feature, raw);
      if (typeof value === 'string') {
        throw new ProtocolError(400, 'invalid_feature', `inputs[${index}].data[${r}]: feature "${feature.name}" ${value}`, { field: feature.name, instance: r });
      }
      data[r * features.length + j] = value;
    });
  });
  return { data, rows: batch, cols: features.length };
}

function decodeWholeTensor(tensor: Tensor, manifest: Manifest, limits: ProtocolLimits): Matrix {
  const features = manifest.input.features;
  const [n, width] = tensor.shape as [number, number | undefined];
  if (width !== features.length) {
    throw new ProtocolError(400, 'invalid_request', `inputs[0].shape: "${tensor.name}" has shape [N, ${features.length}], got [${tensor.shape.join(', ')}]`, { field: 'inputs[0].shape' });
  }
  if (tensor.datatype === 'BYTES') {
    throw new ProtocolError(400, 'invalid_request', `inputs[0].datatype: "${tensor.name}" is numeric (FP32); send categorical features as level indices, or use one BYTES tensor per categorical feature`, { field: 'inputs[0].datatype' });
  }
  const rows = checkBatch(n, limits, 'inputs[0].shape');
  const values = flatten(tensor, 0);
  if (values.length !== rows * width) {
    throw new ProtocolError(400, 'invalid_request', `inputs[0].data: shape [${tensor.shape.join(', ')}] needs ${rows * width} values, got ${values.length}`, { field: 'inputs[0].data' });
  }
  const data = new Float32Array(values.length);
  values.forEach((raw, k) => {
    const r = Math.floor(k / width);
    const feature = features[k % width]!;
    let value: number | string;
    if (feature.type === 'categorical') {
      value = typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 && raw < feature.levels.length
        ? raw
        : `must be a level index from 0 to ${feature.levels.length - 1} (${feature.levels.slice(0, 5).join(', ')}${feature.levels.length > 5 ? ', …' : ''}), got ${JSON.stringify(raw)}`;
    } else {
      value = typeof raw === 'number' || raw === null ? coerceFeature(feature, raw) : `must be a number, got ${JSON.stringify(typeof raw === 'string' ? truncate(raw) : typeof raw)}`;
    }
    if (typeof value === 'string') {
      throw new ProtocolError(400, 'invalid_feature', `inputs[0].data[${k}] (row ${r}): feature "${feature.name}" ${value}`, { field: feature.name, instance: r });
    }
    data[k] = value;
  });
  return { data, rows, cols: width };
}

function checkBatch(rows: number, limits: ProtocolLimits, field: string): number {
  if (rows === 0) throw new ProtocolError(400, 'invalid_request', `${field}: the batch is empty`, { field });
  if (rows > limits.maxBatchRows) throw new ProtocolError(413, 'batch_too_large', `${field}: batch of ${rows} rows; at most ${limits.maxBatchRows} are accepted per request`, { field });
  return rows;
}

/** OIP data is flat row-major; clients often send nested rows, which are flattened here (two levels at most). */
function flatten(tensor: Tensor, index: number): unknown[] {
  const flat: unknown[] = [];
  for (const item of tensor.data) {
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

/** The OIP response: probabilities [N, classes] and label [N] (BYTES), or prediction [N] for regression. */
export function encodeInferResponse(manifest: Manifest, scores: BatchScores, request: InferRequest): unknown {
  const classes = classesOf(manifest);
  const available = classes.length ? [OipOutputs.probabilities, OipOutputs.label] : [OipOutputs.prediction];
  const wanted = request.outputs?.map((o) => o.name) ?? available;
  wanted.forEach((name, i) => {
    if (!(available as string[]).includes(name)) {
      throw new ProtocolError(400, 'invalid_request', `outputs[${i}].name: unknown output "${truncate(name)}"; this model has ${available.join(', ')}`, { field: `outputs[${i}].name` });
    }
  });
  const outputs = wanted.map((name) => {
    if (name === OipOutputs.prediction) return { name, shape: [scores.rows], datatype: 'FP32', data: Array.from(scores.values) };
    if (name === OipOutputs.probabilities) return { name, shape: [scores.rows, scores.width], datatype: 'FP32', data: Array.from(scores.values) };
    const labels = [];
    for (let r = 0; r < scores.rows; r++) {
      let best = 0;
      for (let k = 1; k < scores.width; k++) if (scores.values[r * scores.width + k]! > scores.values[r * scores.width + best]!) best = k;
      labels.push(classes[best]);
    }
    return { name, shape: [scores.rows], datatype: 'BYTES', data: labels, parameters: { classes } };
  });
  return { model_name: manifest.name, model_version: manifest.version, ...(request.id !== undefined ? { id: request.id } : {}), outputs };
}

/** Model metadata (GET /v2/models/{name}), with the feature schema as an extension. */
export function modelMetadata(manifest: Manifest, versions: readonly string[]): unknown {
  const classes = classesOf(manifest);
  return {
    name: manifest.name,
    versions,
    platform: 'onnxruntime_onnx',
    inputs: [{ name: manifest.input.tensor, datatype: 'FP32', shape: [-1, manifest.input.features.length] }],
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
