import { DataPrefixes } from '../layout';
import { formatOf, formats, InvalidBatchKeyError } from './formats';
import type { BatchFormatName } from './formats/format';

/** The keys a batch job reads and writes for one input object. */
export interface BatchKeys {
  readonly model: string;
  /** The key below `batch/input/<model>/`, e.g. `2026/11/customers.csv.gz`. */
  readonly relative: string;
  readonly format: BatchFormatName;
  readonly gzip: boolean;
  readonly predictions: string;
  readonly errors: string;
  readonly manifest: string;
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
  const { format, gzip } = formatOf(inputKey);
  return {
    model,
    relative,
    format: format.name,
    gzip,
    predictions: `${DataPrefixes.batchOutput}${model}/${relative}.predictions.${format.outputExtension}`,
    errors: `${DataPrefixes.batchErrors}${model}/${relative}.errors.jsonl`,
    manifest: `${DataPrefixes.batchManifests}${model}/${relative}.manifest.json`,
  };
}

/**
 * Staging keys of one job: an input (by its ETag) scored by one model version. Keyed by both, so
 * a replaced input or a new serving version is a new job, and a redelivery is the same one.
 */
export interface JobStagingKeys {
  /** Everything the job stages, under batch/staging/. */
  readonly root: string;
  /** The fan-out plan (parts, header range, model version). */
  readonly plan: string;
  /** Lease generations are `${lease}0`, `${lease}1`, … (core/batch/lock.ts). */
  readonly lease: string;
  /** A part's outputs, in the format of the final ones, and its counts. */
  part(index: number): { readonly predictions: string; readonly errors: string; readonly result: string };
}

/** The staging keys of `keys`' input with ETag `etag`, scored by model version `version`. */
export function jobStagingKeys(keys: BatchKeys, etag: string, version: string): JobStagingKeys {
  const root = `${DataPrefixes.batchStaging}jobs/${keys.model}/${keys.relative}/${etag}/${version}/`;
  return {
    root,
    plan: `${root}plan.json`,
    lease: `${root}lease/`,
    part: (index) => {
      // Zero-padded so a listing sorts parts in order.
      const name = `${root}parts/${String(index).padStart(6, '0')}`;
      return { predictions: `${name}.predictions.${formats[keys.format].outputExtension}`, errors: `${name}.errors.jsonl`, result: `${name}.json` };
    },
  };
}
