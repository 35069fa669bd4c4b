import { encodeRow } from '../../core/data/coerce';
import { type CsvRecord, RecordAssembler } from '../../core/data/csv';
import { boundedEcho } from '../../core/data/echo';
import { scan, scanDecimal } from '../../core/data/fast-number';
import { asBytes, bomLength, DEFAULT_MAX_LINE_BYTES, LineCarry, type OverlongLine, withoutBreak } from '../../core/data/line-carry';
import { classesOf, type Manifest } from '../../core/model/manifest';

/** Rows a CSV stream could not use: how many, and the reasons of the first few. */
export interface SkippedRows {
  count: number;
  readonly examples: string[];
}

/** A chunk of CSV rows encoded for a model. */
export interface FeatureChunk {
  /** Row-major in the manifest's feature order: numbers, level indices, NaN for an accepted missing value. */
  readonly x: Float32Array;
  readonly rows: number;
  /** Per row: class index or regression target, NaN where the label is empty (meaningful when the file has the label column). */
  readonly labels: Float64Array;
}

/** Unreadable rows quoted by reason; the rest are only counted. */
const SKIP_EXAMPLES = 5;

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;
const QUOTE = 34;
const COMMA = 44;

/** What a column of the file is to the model. */
const enum Column {
  Ignored,
  Numeric,
  Categorical,
  ClassLabel,
  ValueLabel,
}

/** The header, as both paths read rows: where each feature and the label sit, and per column its role. */
interface Plan {
  readonly fields: number;
  /** Column of each feature, in manifest order. */
  readonly columns: readonly number[];
  /** Column of the label, or -1. */
  readonly label: number;
  readonly kinds: Uint8Array;
  /** Per column: the feature index (features) or 0. */
  readonly targets: Int32Array;
  /** Per column: the accepted range of a numeric feature. */
  readonly mins: Float64Array;
  readonly maxs: Float64Array;
  /** Per column: level (or class) → index, for categorical features and a class label. */
  readonly levels: readonly (ReadonlyMap<string, number> | null)[];
}

/**
 * Reads a CSV stream (header row naming the features in any order; the manifest's label column,
 * when present, read too; other columns ignored) into the model's input matrix, a chunk at a time,
 * in memory bounded by the chunk whatever the file's size.
 *
 * Rows are read as batch scoring reads them (core/batch/score-csv.ts): a row without quotes is
 * parsed straight from bytes, numbers without a string per field, since parsing is what a
 * million-row file costs; a row with quotes, a missing value or anything unusual takes the
 * general RFC 4180 path (core/data/csv.ts), which also words the reason a row is skipped. Both
 * accept exactly what coerceFeature accepts. An empty value is missing (NaN), whether or not the
 * manifest lets the API take it, and an empty label marks that row unlabelled; a row with a value
 * the model cannot take, or a label that is not one of its classes (not a number, for
 * regression), is skipped and counted.
 */
export class CsvFeatureReader {
  readonly skipped: SkippedRows = { count: 0, examples: [] };
  private readonly features: Manifest['input']['features'];
  private readonly width: number;
  private readonly classes: readonly string[];
  private readonly regression: boolean;
  private plan: Plan | undefined;
  private x: Float32Array;
  private labels: Float64Array;
  private rows = 0;
  /** Chunks filled and not yet handed out (more than one only when a re-read unclosed quote yields many rows at once). */
  private readonly ready: FeatureChunk[] = [];
  /** Buffers of chunks handed out and done with, to fill again. */
  private readonly spare: FeatureChunk[] = [];
  private readonly assembler = new RecordAssembler();
  private readonly records: CsvRecord[] = [];
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly manifest: Manifest,
    private readonly chunkRows = 4096,
  ) {
    // Missing values are data to a drift check (the missing-rate test), not unreadable rows: every
    // feature is read as nullable, as the monitor reads capture.
    this.features = manifest.input.features.map((f) => ({ ...f, nullable: true }));
    this.width = this.features.length;
    this.classes = classesOf(manifest);
    this.regression = manifest.task === 'regression';
    this.x = new Float32Array(chunkRows * this.width);
    this.labels = new Float64Array(chunkRows);
  }

  /** Whether the file has the label column (known once its header is read). */
  get labelled(): boolean {
    return (this.plan?.label ?? -1) >= 0;
  }

  /**
   * The rows of `source` in chunks of `chunkRows` (the last one shorter). A chunk's buffers are
   * filled again once the next chunk is asked for: use them before.
   */
  async *read(source: AsyncIterable<Uint8Array | string>): AsyncGenerator<FeatureChunk> {
    const carry = new LineCarry();
    let lineNumber = 0;
    let first = true;
    for await (const piece of source) {
      const bytes = asBytes(piece);
      let start = first ? bomLength(bytes) : 0;
      if (bytes.length) first = false;
      if (carry.carrying) {
        // The carried line ends at this piece's first newline.
        const nl = bytes.indexOf(NEWLINE);
        if (nl < 0) {
          carry.add(bytes);
          continue;
        }
        this.carried(++lineNumber, carry.take(bytes, nl + 1));
        start = nl + 1;
        if (this.ready.length) yield* this.handOut();
      }
      for (let nl = bytes.indexOf(NEWLINE, start); nl >= 0; nl = bytes.indexOf(NEWLINE, start)) {
        lineNumber++;
        if (nl + 1 - start > carry.maxLineBytes) this.overlong(lineNumber, carry.tooLong(bytes, start, nl + 1));
        else this.line(lineNumber, bytes, start, nl > start && bytes[nl - 1] === CARRIAGE_RETURN ? nl - 1 : nl);
        start = nl + 1;
        if (this.ready.length) yield* this.handOut();
      }
      carry.add(bytes, start);
    }
    if (carry.carrying) this.carried(++lineNumber, carry.take(new Uint8Array(0), 0));
    this.assembler.end(this.records);
    this.drain();
    if (!this.plan) throw new Error('the file is empty; expected a header row naming the features');
    if (this.rows) this.seal();
    yield* this.handOut();
  }

  /** Yields the filled chunks; each one's buffers are reused once the consumer asks for more. */
  private *handOut(): Generator<FeatureChunk> {
    while (this.ready.length) {
      const chunk = this.ready.shift()!;
      yield chunk;
      if (chunk.rows === this.chunkRows) this.spare.push(chunk);
    }
  }

  /** One physical line [start, end) of `bytes`, its line break left out. */
  private line(lineNumber: number, bytes: Uint8Array, start: number, end: number): void {
    if (this.plan && !this.assembler.open && start < end && this.fastRow(bytes, start, end)) return;
    this.assembler.push(lineNumber, this.decoder.decode(bytes.subarray(start, end)), this.records);
    this.drain();
  }

  private carried(lineNumber: number, line: Uint8Array | OverlongLine): void {
    if (!(line instanceof Uint8Array)) return this.overlong(lineNumber, line);
    const body = withoutBreak(line);
    this.line(lineNumber, body, 0, body.length);
  }

  private overlong(lineNumber: number, line: OverlongLine): void {
    if (!this.plan) throw new Error(`line ${lineNumber}: the header row is longer than the ${DEFAULT_MAX_LINE_BYTES}-byte limit`);
    this.assembler.skip(lineNumber, line, this.records);
    this.drain();
  }

  /** The general path: the records the assembler finished, the header first. */
  private drain(): void {
    for (const record of this.records) {
      if (this.plan) this.accept(record);
      else if (record.fields) this.plan = this.planOf(record.fields.map((h) => h.trim()));
      else throw new Error(`line ${record.line}: the header row cannot be read: ${record.error ?? 'malformed row'}`);
    }
    this.records.length = 0;
  }

  private accept({ line, fields, error }: CsvRecord): void {
    const plan = this.plan!;
    if (!fields) return this.skip(line, error ?? 'malformed row');
    if (fields.length !== plan.fields) return this.skip(line, `row has ${fields.length} fields; the header has ${plan.fields}`);
    const invalid = encodeRow(this.features, (_, i) => fields[plan.columns[i]!], this.x, this.rows * this.width);
    if (invalid) return this.skip(line, invalid.reason);
    if (plan.label >= 0) {
      const { regression } = this;
      const text = fields[plan.label]!.trim();
      const target = text === '' ? Number.NaN : regression ? Number(text) : this.classes.indexOf(text);
      if (text !== '' && !(regression ? Number.isFinite(target) : target >= 0)) {
        return this.skip(line, `label ${JSON.stringify(boundedEcho(text, 200))} is not ${regression ? 'a number' : `one of the classes ${this.classes.join(', ')}`}`);
      }
      this.labels[this.rows] = target;
    }
    this.commit();
  }

  /**
   * The fast path: one line without quotes, from bytes, in one pass that finds each field's end
   * while reading it. Returns false, having committed nothing, for anything it does not read
   * exactly as the general path would (quotes, missing or padded values, unknown levels, unusual
   * numbers, the wrong number of fields): the general path decides those.
   */
  private fastRow(bytes: Uint8Array, start: number, end: number): boolean {
    const { kinds, targets, mins, maxs, levels } = this.plan!;
    const x = this.x;
    const offset = this.rows * this.width;
    const last = kinds.length - 1;
    let label = Number.NaN;
    let at = start;
    for (let column = 0; ; column++) {
      const kind = kinds[column]!;
      let fieldEnd: number;
      if (kind === Column.Numeric || kind === Column.ValueLabel) {
        const value = scanDecimal(bytes, at, end);
        fieldEnd = scan.end;
        if (!(value >= mins[column]! && value <= maxs[column]!)) return false;
        if (kind === Column.Numeric) x[offset + targets[column]!] = value;
        else label = value;
      } else {
        for (fieldEnd = at; fieldEnd < end; fieldEnd++) {
          const c = bytes[fieldEnd]!;
          if (c === COMMA) break;
          if (c === QUOTE) return false;
        }
        if (kind !== Column.Ignored) {
          const text = this.decoder.decode(bytes.subarray(at, fieldEnd));
          const index = levels[column]!.get(text);
          // A blank value is missing to the general path, whatever the levels.
          if (index === undefined || text.trim() === '') return false;
          if (kind === Column.Categorical) x[offset + targets[column]!] = index;
          else label = index;
        }
      }
      if (fieldEnd === end) {
        if (column !== last) return false;
        break;
      }
      if (bytes[fieldEnd] !== COMMA || column === last) return false;
      at = fieldEnd + 1;
    }
    this.labels[this.rows] = label;
    this.commit();
    return true;
  }

  private commit(): void {
    if (++this.rows === this.chunkRows) this.seal();
  }

  /** Hands the current chunk over and starts the next one, in spare buffers when there are some. */
  private seal(): void {
    const rows = this.rows;
    this.ready.push({ x: rows === this.chunkRows ? this.x : this.x.subarray(0, rows * this.width), rows, labels: this.labels });
    const next = this.spare.pop();
    this.x = next?.x ?? new Float32Array(this.chunkRows * this.width);
    this.labels = next?.labels ?? new Float64Array(this.chunkRows);
    this.rows = 0;
  }

  private skip(line: number, reason: string): void {
    if (this.skipped.count++ < SKIP_EXAMPLES) this.skipped.examples.push(`line ${line}: ${reason}`);
  }

  /** The plan of a header; an error naming every missing feature. */
  private planOf(header: readonly string[]): Plan {
    const { features } = this;
    const columns = features.map((f) => header.indexOf(f.name));
    const missing = features.filter((_, i) => columns[i]! < 0).map((f) => f.name);
    if (missing.length) throw new Error(`the header lacks feature column(s) ${boundedEcho(missing.join(', '))}; columns are ${boundedEcho(header.join(', '))}`);
    const labelName = this.manifest.labelColumn;
    const labelIndex = labelName ? header.indexOf(labelName) : -1;
    const label = columns.includes(labelIndex) ? -1 : labelIndex;
    const kinds = new Uint8Array(header.length);
    const targets = new Int32Array(header.length);
    const mins = new Float64Array(header.length).fill(-Infinity);
    const maxs = new Float64Array(header.length).fill(Infinity);
    const levels: (Map<string, number> | null)[] = header.map(() => null);
    features.forEach((feature, i) => {
      const c = columns[i]!;
      targets[c] = i;
      if (feature.type === 'numeric') {
        kinds[c] = Column.Numeric;
        mins[c] = feature.min ?? -Infinity;
        maxs[c] = feature.max ?? Infinity;
      } else {
        kinds[c] = Column.Categorical;
        levels[c] = new Map(feature.levels.map((level, index) => [level, index]));
      }
    });
    if (label >= 0 && this.regression) kinds[label] = Column.ValueLabel;
    else if (label >= 0) {
      kinds[label] = Column.ClassLabel;
      levels[label] = new Map(this.classes.map((name, index) => [name, index]));
    }
    return { fields: header.length, columns, label, kinds, targets, mins, maxs, levels };
  }
}
