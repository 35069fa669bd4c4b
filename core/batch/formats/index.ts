import { csv } from './csv';
import type { BatchFormat, BatchFormatName } from './format';
import { jsonl } from './jsonl';
import { parquet } from './parquet';

/** Every format batch scoring reads, by the name batch keys record (see core/batch/layout.ts). */
export const formats: { readonly [Name in BatchFormatName]: BatchFormat } = { csv, jsonl, parquet };

/**
 * Raised for an object key that is not a batch input (wrong prefix, no model folder, unknown
 * extension). Defined here, not in core/batch/layout.ts, because layout.ts imports formatOf.
 */
export class InvalidBatchKeyError extends Error {
  constructor(key: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'InvalidBatchKeyError';
  }
}

/** The format that reads an object, and whether the object is gzip-compressed. */
export interface InputFormat {
  readonly format: BatchFormat;
  readonly gzip: boolean;
}

/**
 * The format of an object, from its key's extension, optionally followed by `.gz`. Throws an
 * InvalidBatchKeyError naming the key for an extension no format reads, and for gzip where the format refuses it.
 */
export function formatOf(key: string): InputFormat {
  const gzip = key.endsWith('.gz');
  const base = gzip ? key.slice(0, -3) : key;
  const extension = base.slice(base.lastIndexOf('.') + 1).toLowerCase();
  const format = Object.values(formats).find((f) => f.extensions.includes(extension));
  if (!format) throw new InvalidBatchKeyError(key, 'unsupported file type; use .csv, .jsonl or .parquet (optionally .gz, not for parquet)');
  if (gzip && format.gzipRefused) throw new InvalidBatchKeyError(key, format.gzipRefused);
  return { format, gzip };
}
