import { coerceFeature } from '../data/coerce';
import { classesOf, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';
import { ProtocolError } from './errors';
import type { ProtocolLimits } from './limits';

/**
 * The SageMaker / TF-Serving style body: `{"instances": [[41, 52000, …], …]}` with values in
 * the manifest's feature order, or `{"instances": [{"age": 41, "plan": "pro"}, …]}`.
 */
export function decodeInstances(body: unknown, manifest: Manifest, limits: ProtocolLimits): Matrix {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ProtocolError(400, 'invalid_request', 'the body must be a JSON object with an "instances" array', { field: 'instances' });
  }
  const instances = (body as { instances?: unknown }).instances;
  if (instances === undefined) throw new ProtocolError(400, 'invalid_request', 'the body has no "instances" array', { field: 'instances' });
  if (!Array.isArray(instances)) throw new ProtocolError(400, 'invalid_request', '"instances" must be an array of instances', { field: 'instances' });
  if (instances.length === 0) throw new ProtocolError(400, 'invalid_request', '"instances" must not be empty', { field: 'instances' });
  if (instances.length > limits.maxBatchRows) {
    throw new ProtocolError(413, 'batch_too_large', `"instances" has ${instances.length} instances; at most ${limits.maxBatchRows} are accepted per request`, { field: 'instances' });
  }
  const features = manifest.input.features;
  const names = features.map((f) => f.name);
  const known = new Set(names);
  const data = new Float32Array(instances.length * features.length);
  instances.forEach((instance: unknown, i) => {
    let get: (index: number) => unknown;
    if (Array.isArray(instance)) {
      if (instance.length !== features.length) {
        throw new ProtocolError(400, 'invalid_request', `instances[${i}] has ${instance.length} values; the model takes ${features.length} features in this order: ${names.join(', ')}`, { field: `instances[${i}]`, instance: i });
      }
      get = (index) => instance[index];
    } else if (typeof instance === 'object' && instance !== null) {
      const record = instance as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (!known.has(key)) {
          throw new ProtocolError(400, 'invalid_feature', `instances[${i}] has unknown feature ${JSON.stringify(truncate(key))}; the model's features are ${names.join(', ')}`, { field: key === '' ? '""' : truncate(key), instance: i });
        }
      }
      get = (index) => record[names[index]!];
    } else {
      throw new ProtocolError(400, 'invalid_request', `instances[${i}] must be an array of feature values or an object keyed by feature name`, { field: `instances[${i}]`, instance: i });
    }
    features.forEach((feature, j) => {
      const value = coerceFeature(feature, get(j));
      if (typeof value === 'string') {
        throw new ProtocolError(400, 'invalid_feature', `instances[${i}].${feature.name}: feature "${feature.name}" ${value}`, { field: feature.name, instance: i });
      }
      data[i * features.length + j] = value;
    });
  });
  return { data, rows: instances.length, cols: features.length };
}

/** `{"predictions": [{"label": "yes", "probabilities": {"no": 0.2, "yes": 0.8}}]}` or `[{"value": 12.5}]` for regression. */
export function encodePredictions(manifest: Manifest, scores: BatchScores): unknown {
  const classes = classesOf(manifest);
  const predictions = [];
  for (let r = 0; r < scores.rows; r++) {
    const row = scores.values.subarray(r * scores.width, (r + 1) * scores.width);
    if (classes.length === 0) {
      predictions.push({ value: row[0] });
      continue;
    }
    let best = 0;
    for (let k = 1; k < row.length; k++) if (row[k]! > row[best]!) best = k;
    predictions.push({ label: classes[best], probabilities: Object.fromEntries(classes.map((c, k) => [c, row[k]])) });
  }
  return { model_name: manifest.name, model_version: manifest.version, predictions };
}

/** Keeps hostile keys from bloating error messages. */
export function truncate(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
