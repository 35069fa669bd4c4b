import { DataPrefixes } from '../layout';

/** Input formats batch scoring reads, from the object key's extension. */
export type BatchFormat = 'csv' | 'jsonl' | 'parquet';

/** The keys a batch job reads and writes for one input object. */
export interface BatchKeys {
  readonly model: string;
  /** The key below `batch/input/<model>/`, e.g. `2026/11/customers.csv.gz`. */
  readonly relative: string;
  readonly format: BatchFormat;
  readonly gzip: boolean;
  readonly predictions: string;
  readonly errors: string;
  readonly manifest: string;
}

/** Raised for an object key that is not a batch input (wrong prefix, no model folder, unknown extension). */
export class InvalidBatchKeyError extends Error {
  constructor(key: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'InvalidBatchKeyError';
  }
}

/**
 * `batch/input/<model>/<path>/<file>` → `batch/output/<model>/<path>/<file>.predictions.<csv|jsonl>`,
 * `batch/errors/<model>/<path>/<file>.errors.jsonl`, `batch/manifests/<model>/<path>/<file>.manifest.json`.
 */
export function batchKeys(inputKey: string): BatchKeys {
  if (!inputKey.startsWith(DataPrefixes.batchInput)) throw new InvalidBatchKeyError(inputKey, `not under ${DataPrefixes.batchInput}`);
  const rest = inputKey.slice(DataPrefixes.batchInput.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) throw new InvalidBatchKeyError(inputKey, `expected ${DataPrefixes.batchInput}<model>/<file>`);
  const model = rest.slice(0, slash);
  const relative = rest.slice(slash + 1);
  const gzip = relative.endsWith('.gz');
  const base = gzip ? relative.slice(0, -3) : relative;
  const extension = base.slice(base.lastIndexOf('.') + 1).toLowerCase();
  const format: BatchFormat | undefined = extension === 'csv' ? 'csv' : extension === 'jsonl' || extension === 'ndjson' ? 'jsonl' : extension === 'parquet' ? 'parquet' : undefined;
  if (!format) throw new InvalidBatchKeyError(inputKey, 'unsupported file type; use .csv, .jsonl or .parquet (optionally .gz, not for parquet)');
  if (format === 'parquet' && gzip) throw new InvalidBatchKeyError(inputKey, 'Parquet compresses its own pages; drop the .gz');
  const outputExtension = format === 'csv' ? 'csv' : 'jsonl';
  return {
    model,
    relative,
    format,
    gzip,
    predictions: `${DataPrefixes.batchOutput}${model}/${relative}.predictions.${outputExtension}`,
    errors: `${DataPrefixes.batchErrors}${model}/${relative}.errors.jsonl`,
    manifest: `${DataPrefixes.batchManifests}${model}/${relative}.manifest.json`,
  };
}
