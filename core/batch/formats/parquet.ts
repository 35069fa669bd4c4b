import { planRowGroups, type RowRangePart } from '../plan';
import { type InputRecord, plainValue, scoreRecords } from '../score-records';
import { InvalidFileError } from '../scorer';
import type { BatchFormat, BatchInput } from './format';

/**
 * Parquet, read by ranged reads (its footer, then one row group at a time) and scored into JSONL
 * predictions. Split into whole row groups, which need no header; gzip is refused.
 */
export const parquet: BatchFormat<RowRangePart> = {
  name: 'parquet',
  extensions: ['parquet'],
  gzipRefused: 'Parquet compresses its own pages; drop the .gz',
  outputExtension: 'jsonl',
  score: (input, scorer, sinks, options) => scoreRecords(readParquet(input), scorer, sinks, options),
  plan: async (input, partBytes) => {
    const { metadata } = await parquetMetadataOf(input);
    return { parts: planRowGroups(metadata.row_groups.map((g) => ({ rows: Number(g.num_rows), bytes: Number(g.total_compressed_size ?? g.total_byte_size) })), partBytes) };
  },
  scorePart: (input, scorer, sinks, options) => scoreRecords(readParquet(input, input.part), scorer, sinks, options),
};

/** A Parquet file's metadata, read from its footer by ranged reads. */
async function parquetMetadataOf(input: BatchInput) {
  const { parquetMetadataAsync } = await import('hyparquet');
  const file = parquetFile(input);
  try {
    return { file, metadata: await parquetMetadataAsync(file) };
  } catch (error) {
    if (error instanceof StoreReadError) throw error.cause;
    throw new InvalidFileError(`not a readable Parquet file: ${(error as Error).message}`);
  }
}

/** An error of the store under a Parquet read, told apart from the decoder's errors so that it is passed on as it is. */
class StoreReadError extends Error {
  constructor(override readonly cause: unknown) {
    super('reading the object failed');
  }
}

function parquetFile({ store, key, size }: BatchInput) {
  return {
    byteLength: size,
    slice: async (start: number, end?: number) => {
      let bytes: Uint8Array;
      try {
        bytes = await store.readRange(key, start, end ?? size);
      } catch (error) {
        throw new StoreReadError(error);
      }
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

/**
 * Parquet rows, one row group at a time, so memory is bounded by the largest row group; with
 * `range`, only the row groups inside [rowStart, rowEnd) (a part of a split file), numbered as in the file.
 */
async function* readParquet(input: BatchInput, range?: RowRangePart): AsyncGenerator<InputRecord[]> {
  const { parquetReadObjects } = await import('hyparquet');
  const { file, metadata } = await parquetMetadataOf(input);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    if (range && (rowStart < range.rowStart || rowEnd > range.rowEnd)) {
      rowStart = rowEnd;
      continue;
    }
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, rowStart, rowEnd });
    } catch (error) {
      if (error instanceof StoreReadError) throw error.cause;
      // A valid footer over corrupt pages: the footer read, the data does not.
      throw new InvalidFileError(`rows ${rowStart + 1}–${rowEnd} (a row group) cannot be read: ${(error as Error).message ?? String(error)}`);
    }
    yield rows.map((row, i) => {
      const value: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(row)) value[name] = plainValue(v);
      return { line: rowStart + i + 1, value, raw: JSON.stringify(value) };
    });
    rowStart = rowEnd;
  }
}
