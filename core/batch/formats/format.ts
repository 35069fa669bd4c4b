import type { BatchObjectStore } from '../job';
import type { BatchPart, CsvHeaderRange } from '../plan';
import type { ScoreOptions } from '../score-csv';
import type { ScoreCounts, Scorer, TextSink } from '../scorer';

/** Input formats batch scoring reads (core/batch/formats/*.ts), as keys and logs name them. */
export type BatchFormatName = 'csv' | 'jsonl' | 'parquet';

/** One input object as its format reads it. */
export interface BatchInput {
  readonly store: BatchObjectStore;
  readonly key: string;
  /** The object's size in bytes (Parquet reads its footer from the end). */
  readonly size: number;
  /** The key ends in `.gz` after the format's extension. */
  readonly gzip: boolean;
}

/** A part of a split input, as its format's own plan cut it. */
export interface BatchPartInput<Part extends BatchPart> extends BatchInput {
  /** Where the plan is staged, for messages. */
  readonly planKey: string;
  readonly part: Part;
  /** The plan's CSV header range. */
  readonly header?: CsvHeaderRange;
}

/** Where a scoring run writes: every row ends up in exactly one of the two. */
export interface ScoreSinks {
  readonly predictions: TextSink;
  readonly errors: TextSink;
}

/** What a scoring run is told, the same for every format. */
export type ScoreRunOptions = Pick<ScoreOptions, 'chunkRows' | 'onProgress'>;

/** How a format cuts an input: its parts, and for CSV the header range every part after the first is scored with. */
export interface BatchFormatPlan<Part extends BatchPart> {
  readonly parts: Part[];
  readonly header?: CsvHeaderRange;
}

/**
 * An input format of batch scoring (core/batch/formats/*.ts): which keys it reads, what it
 * writes, and how it scores an input whole or in parts. `formatOf` (./index.ts) picks one by extension.
 */
export interface BatchFormat<Part extends BatchPart = BatchPart> {
  readonly name: BatchFormatName;
  /** Extensions of the object key (lower case, without the dot) that name this format. */
  readonly extensions: readonly string[];
  /** Why `.gz` after the extension is refused; absent when gzip input is read. */
  readonly gzipRefused?: string;
  /** The predictions file's extension (the errors file is JSONL for every format). */
  readonly outputExtension: 'csv' | 'jsonl';
  /** Scores a whole input. An input that cannot be read as this format ends with an InvalidFileError. */
  score(input: BatchInput, scorer: Scorer, sinks: ScoreSinks, options: ScoreRunOptions): Promise<ScoreCounts>;
  /** Cuts an uncompressed input into parts of about `partBytes`, at record boundaries. */
  plan(input: BatchInput, partBytes: number): Promise<BatchFormatPlan<Part>>;
  /**
   * Scores one part of a split input. The merge concatenates the parts' outputs in order, so a
   * part writes just what its rows add to a single run's outputs, with the file's own line numbers.
   */
  scorePart(input: BatchPartInput<Part>, scorer: Scorer, sinks: ScoreSinks, options: ScoreRunOptions): Promise<ScoreCounts>;
}
