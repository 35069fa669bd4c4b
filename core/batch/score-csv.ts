import { coerceFeature } from '../data/coerce';
import { type CsvReaderOptions, type CsvRecord, csvField, csvLine, parseCsvRecord, RecordAssembler } from '../data/csv';
import { scan, scanDecimal } from '../data/fast-number';
import { classesOf, type Manifest } from '../model/manifest';
import { type Chunk, ChunkPipeline } from './chunk-pipeline';
import { formatScoreCells, InvalidFileError, type RejectedRow, type ScoreCounts, scoreColumns, type Scorer, type TextSink } from './scorer';

export { InvalidFileError, type RejectedRow, type ScoreCounts, type Scorer, type TextSink } from './scorer';

export interface ScoreOptions extends CsvReaderOptions {
  /** Rows per model call. @default 1024 */
  readonly chunkRows?: number;
  /** Called after each chunk is written, with the counts so far. */
  readonly onProgress?: (counts: ScoreCounts) => void;
  /** Lines before the source's first line, for a part of a larger file (its header prepended). @default 0 */
  readonly lineOffset?: number;
}

/** Header of the predictions file for a model and the input's pass-through columns. */
export function predictionColumns(manifest: Manifest, passthrough: readonly string[]): string[] {
  return ['line', ...passthrough, ...scoreColumns(manifest)];
}

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;
const QUOTE = 34;
const COMMA = 44;

/** What each input column is for. */
const enum Role {
  Numeric,
  Categorical,
  Passthrough,
}

/**
 * Scores a CSV stream with a header row: features are found by name in any column order,
 * other columns are passed through as ids. Every data row ends up in exactly one of the two
 * sinks: predictions, or errors with its line number and the reason.
 *
 * Rows without quotes are parsed straight from bytes into the model's input matrix (no
 * strings for numeric fields); a row with quotes, or any value the fast path cannot read
 * exactly, takes the general RFC 4180 path, which also produces the precise error.
 */
export async function scoreCsv(
  source: AsyncIterable<Uint8Array | string>,
  scorer: Scorer,
  sinks: { readonly predictions: TextSink; readonly errors: TextSink },
  options: ScoreOptions = {},
): Promise<ScoreCounts> {
  const { manifest } = scorer;
  const features = manifest.input.features;
  const width = features.length;
  const classes = classesOf(manifest);
  const decoder = new TextDecoder();
  const assembler = new RecordAssembler(options);
  const counts = { rowsIn: 0, scored: 0, rejected: 0 };
  let errorText = '';

  let header: string[] | undefined;
  let roles: Role[] = [];
  let targets: number[] = [];
  let passthroughCount = 0;
  const levelIndex = features.map((f) => (f.type === 'categorical' ? new Map(f.levels.map((l, i) => [l, i])) : null));
  const mins = features.map((f) => (f.type === 'numeric' ? (f.min ?? -Infinity) : -Infinity));
  const maxs = features.map((f) => (f.type === 'numeric' ? (f.max ?? Infinity) : Infinity));

  const pipeline = new ChunkPipeline(scorer, options.chunkRows ?? 1024, async (chunk: Chunk, scores) => {
    let out = '';
    for (let r = 0; r < chunk.rows; r++) {
      const ids = chunk.ids[r] as string[];
      let row = String(chunk.lines[r]);
      for (const id of ids) row += `,${csvField(id)}`;
      const cells = formatScoreCells(scores, r, classes);
      // Label cells may need quoting; probabilities never do.
      row += `,${csvField(cells[0]!)}`;
      for (let k = 1; k < cells.length; k++) row += `,${cells[k]}`;
      out += `${row}\n`;
    }
    await sinks.predictions.write(out);
    counts.scored += chunk.rows;
    if (errorText) {
      const text = errorText;
      errorText = '';
      await sinks.errors.write(text);
    }
    options.onProgress?.({ ...counts });
  });

  const reject = (row: RejectedRow) => {
    counts.rejected++;
    errorText += `${JSON.stringify(row)}\n`;
  };

  const readHeader = async (record: CsvRecord) => {
    if (!record.fields) throw new InvalidFileError(`line ${record.line}: the header row cannot be read: ${record.error}`);
    header = record.fields.map((h) => h.trim());
    ({ roles, targets, passthroughCount } = mapColumns(header, manifest));
    const passthrough = header.filter((_, c) => roles[c] === Role.Passthrough);
    await sinks.predictions.write(csvLine(predictionColumns(manifest, passthrough)));
  };

  /** The general path: a parsed record of strings. */
  const acceptRecord = (record: CsvRecord): Promise<void> | undefined => {
    counts.rowsIn++;
    const fields = record.fields;
    if (!fields) return void reject({ line: record.line, reason: record.error ?? 'malformed row', raw: record.raw });
    if (fields.length !== header!.length) {
      return void reject({ line: record.line, reason: `row has ${fields.length} fields; the header has ${header!.length}`, raw: record.raw });
    }
    const chunk = pipeline.current;
    const offset = chunk.rows * width;
    const ids = new Array<string>(passthroughCount);
    for (let c = 0; c < fields.length; c++) {
      const target = targets[c]!;
      if (roles[c] === Role.Passthrough) {
        ids[target] = fields[c]!;
        continue;
      }
      const feature = features[target]!;
      const value = coerceFeature(feature, fields[c]);
      if (typeof value === 'string') return void reject({ line: record.line, reason: `feature "${feature.name}" ${value}`, field: feature.name, raw: record.raw });
      chunk.data[offset + target] = value;
    }
    return pipeline.commit(record.line, ids);
  };

  /** The fast path: one unquoted line, straight from bytes. Falls back to acceptRecord on anything unusual. */
  const acceptBytes = (line: number, bytes: Uint8Array, start: number, end: number): Promise<void> | undefined => {
    const chunk = pipeline.current;
    const offset = chunk.rows * width;
    const ids = new Array<string>(passthroughCount);
    let column = 0;
    let fieldStart = start;
    const columns = roles.length;
    while (column < columns) {
      const role = roles[column]!;
      const target = targets[column]!;
      let fieldEnd: number;
      if (role === Role.Numeric) {
        const value = scanDecimal(bytes, fieldStart, end);
        fieldEnd = scan.end;
        if (!(value >= mins[target]! && value <= maxs[target]!)) break;
        chunk.data[offset + target] = value;
      } else {
        fieldEnd = bytes.indexOf(COMMA, fieldStart);
        if (fieldEnd < 0 || fieldEnd > end) fieldEnd = end;
        const text = decoder.decode(bytes.subarray(fieldStart, fieldEnd));
        if (role === Role.Categorical) {
          const index = levelIndex[target]!.get(text);
          if (index === undefined) break;
          chunk.data[offset + target] = index;
        } else {
          ids[target] = text;
        }
      }
      column++;
      if (fieldEnd === end) {
        fieldStart = end + 1;
        break;
      }
      if (bytes[fieldEnd] !== COMMA) break;
      fieldStart = fieldEnd + 1;
    }
    if (column === roles.length && fieldStart === end + 1) {
      counts.rowsIn++;
      return pipeline.commit(line, ids);
    }
    // Missing values, wrong field counts, unknown levels, unusual numbers: the general path decides.
    const text = decoder.decode(bytes.subarray(start, end));
    const parsed = parseCsvRecord(text);
    return acceptRecord(parsed === 'open' || 'error' in parsed ? { line, raw: text, fields: null, error: parsed === 'open' ? 'unclosed quote' : parsed.error } : { line, raw: text, fields: parsed.fields });
  };

  const assembled: CsvRecord[] = [];
  const drainAssembled = async () => {
    for (const record of assembled) {
      if (!header) await readHeader(record);
      else await acceptRecord(record);
    }
    assembled.length = 0;
  };

  let lineNumber = options.lineOffset ?? 0;
  let carry: Uint8Array = new Uint8Array(0);
  let first = true;
  for await (const piece of source) {
    let bytes = typeof piece === 'string' ? new TextEncoder().encode(piece) : piece;
    if (carry.length) {
      const joined = new Uint8Array(carry.length + bytes.length);
      joined.set(carry);
      joined.set(bytes, carry.length);
      bytes = joined;
    }
    let start = 0;
    if (first && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    if (bytes.length) first = false;
    // Position of the next quote in the buffer, searched again only once passed: rows rarely have one.
    let nextQuote = bytes.indexOf(QUOTE, start);
    for (let nl = bytes.indexOf(NEWLINE, start); nl >= 0; nl = bytes.indexOf(NEWLINE, start)) {
      const end = nl > start && bytes[nl - 1] === CARRIAGE_RETURN ? nl - 1 : nl;
      lineNumber++;
      if (nextQuote >= 0 && nextQuote < start) nextQuote = bytes.indexOf(QUOTE, start);
      if (header && !assembler.open && (nextQuote < 0 || nextQuote >= end)) {
        if (end > start) {
          const handedOver = acceptBytes(lineNumber, bytes, start, end);
          if (handedOver) await handedOver;
        }
        start = nl + 1;
        continue;
      }
      assembler.push(lineNumber, decoder.decode(bytes.subarray(start, end)), assembled);
      await drainAssembled();
      start = nl + 1;
    }
    carry = bytes.slice(start);
    // Errors are flushed as they accumulate so their memory stays bounded too.
    if (errorText.length > 1 << 20) {
      const text = errorText;
      errorText = '';
      await sinks.errors.write(text);
    }
  }
  if (carry.length) {
    const end = carry[carry.length - 1] === CARRIAGE_RETURN ? carry.length - 1 : carry.length;
    assembler.push(++lineNumber, decoder.decode(carry.subarray(0, end)), assembled);
  }
  assembler.end(assembled);
  await drainAssembled();
  if (!header) throw new InvalidFileError('the file is empty; expected a header row naming the features');
  await pipeline.finish();
  if (errorText) await sinks.errors.write(errorText);
  return counts;
}

function mapColumns(header: readonly string[], manifest: Manifest) {
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) throw new InvalidFileError(`the header names column "${name}" twice`);
    seen.add(name);
  }
  const features = manifest.input.features;
  const missing = features.filter((f) => !seen.has(f.name)).map((f) => f.name);
  if (missing.length) {
    throw new InvalidFileError(`the header lacks feature column(s) ${missing.join(', ')} required by ${manifest.name} ${manifest.version}; it has ${header.join(', ')}`);
  }
  const roles: Role[] = [];
  const targets: number[] = [];
  let passthroughCount = 0;
  for (const name of header) {
    const index = features.findIndex((f) => f.name === name);
    if (index < 0) {
      roles.push(Role.Passthrough);
      targets.push(passthroughCount++);
    } else {
      roles.push(features[index]!.type === 'numeric' ? Role.Numeric : Role.Categorical);
      targets.push(index);
    }
  }
  return { roles, targets, passthroughCount };
}
