import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { sha256Hex } from '../../core/model/model-package';

/** A whole CSV file in memory: for training and evaluation sets, not for batch scoring (see core/data). */
export interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** sha256 of the file's bytes: the training-data fingerprint in a manifest. */
  readonly fingerprint: string;
}

/** Reads a CSV file with a header row; a row with the wrong number of fields is an error naming its line. */
export async function readCsvTable(path: string): Promise<Table> {
  let records: string[][];
  const bytes = await readFile(path).catch((error: Error) => {
    throw new Error(`${path}: cannot read the file (${error.message})`);
  });
  try {
    records = parse(bytes, { bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header) throw new Error(`${path}: the file is empty; expected a header row`);
  return { header: header.map((h) => h.trim()), rows, fingerprint: sha256Hex(bytes) };
}

/** Parses CSV bytes with a header row (for objects read from S3). */
export function parseCsvTable(bytes: Uint8Array, source: string): Table {
  let records: string[][];
  try {
    records = parse(bytes, { bom: true, skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (error) {
    throw new Error(`${source}: ${(error as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header) throw new Error(`${source}: the file is empty; expected a header row`);
  return { header: header.map((h) => h.trim()), rows, fingerprint: sha256Hex(bytes) };
}

/** Index of a column, or an error listing the columns there are. */
export function columnIndex(table: Table, name: string, role = 'column'): number {
  const index = table.header.indexOf(name);
  if (index < 0) throw new Error(`${role} "${name}" is not in the header; columns are ${table.header.join(', ')}`);
  return index;
}
