import { type CsvRecord, RecordAssembler } from '../data/csv';
import { DEFAULT_MAX_LINE_BYTES, LineCarry } from '../data/line-carry';

/** A byte range [start, end) of a CSV or JSONL input, cut at a record boundary. */
export interface ByteRangePart {
  readonly index: number;
  readonly kind: 'bytes';
  readonly start: number;
  readonly end: number;
  /** The file's own line number of the range's first line, so error lines stay the file's. */
  readonly firstLine: number;
}

/** Rows [rowStart, rowEnd) of a Parquet input: whole row groups. */
export interface RowRangePart {
  readonly index: number;
  readonly kind: 'rows';
  readonly rowStart: number;
  readonly rowEnd: number;
}

export type BatchPart = ByteRangePart | RowRangePart;

/** The CSV header a part after the first is scored with: bytes [0, end) of the file, `lines` physical lines. */
export interface CsvHeaderRange {
  readonly end: number;
  readonly lines: number;
}

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;
const QUOTE = 34;

/**
 * Splits a CSV or JSONL byte stream into ranges of about `partBytes`, each ending at a line
 * break where a record ends, and numbers each range's first line. Feed it the whole file in
 * order with `push`, then call `finish`.
 *
 * CSV: a line break inside a quoted field is no record boundary. Plain quote parity would not
 * do: the scorer recovers from an unclosed quote by rejecting that line and reading the next
 * ones again (core/data/csv.ts), so the planner feeds every line that has a quote, or follows an
 * open one, through the same RecordAssembler and cuts only where it holds no open record. Lines
 * without quotes outside a record, nearly all of them, are never decoded. Cuts come after the
 * header, which every later part gets prepended (`header`).
 *
 * JSONL: every line break is a record boundary (JSON strings cannot hold a raw line break).
 */
export class ByteRangePlanner {
  private readonly assembler = new RecordAssembler();
  private readonly decoder = new TextDecoder();
  private readonly records: CsvRecord[] = [];
  private readonly parts: ByteRangePart[] = [];
  /** Bytes of the file before the current piece. */
  private offset = 0;
  /**
   * The unfinished last line, carried as the scorer carries it (its pieces joined once, when it
   * ends; nothing kept past the line limit, since the scorer rejects such a line unread), and
   * where in the file it starts.
   */
  private readonly carry = new LineCarry(DEFAULT_MAX_LINE_BYTES);
  private carryStart = 0;
  /** Lines seen so far (the scorer's line counter). */
  private line = 0;
  private partStart = 0;
  private partFirstLine = 1;
  private headerRange: CsvHeaderRange | undefined;
  private headerBroken = false;
  private first = true;

  constructor(
    private readonly format: 'csv' | 'jsonl',
    private readonly partBytes: number,
  ) {
    if (!Number.isInteger(partBytes) || partBytes < 1) throw new Error(`partBytes must be a whole number of at least 1 (received ${partBytes})`);
  }

  push(piece: Uint8Array): void {
    let from = 0;
    if (this.carry.carrying) {
      const nl = piece.indexOf(NEWLINE);
      if (nl < 0) {
        this.carry.add(piece);
        this.offset += piece.length;
        return;
      }
      const line = this.carry.take(piece, nl + 1);
      if (line instanceof Uint8Array) this.scan(line, this.carryStart);
      else {
        this.endOverlongLine();
        this.boundary(this.offset + nl + 1);
      }
      from = nl + 1;
    }
    const rest = piece.subarray(from);
    const unfinished = this.scan(rest, this.offset + from);
    this.carryStart = this.offset + from + unfinished;
    this.carry.add(rest, unfinished);
    this.offset += piece.length;
  }

  /** Scans the complete lines of `bytes`, which starts at byte `base` of the file; returns where its unfinished last line starts. */
  private scan(bytes: Uint8Array, base: number): number {
    let start = 0;
    // The scorer drops a BOM the same way; the header decoded here must match its header.
    if (this.first && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    if (bytes.length) this.first = false;
    const csv = this.format === 'csv';
    let nextQuote = csv ? bytes.indexOf(QUOTE, start) : -1;
    // The line counter and the next cut are kept in locals: this loop runs once per row of the file.
    let line = this.line;
    let cutAt = this.partStart + this.partBytes;
    for (let nl = bytes.indexOf(NEWLINE, start); nl >= 0; nl = bytes.indexOf(NEWLINE, start)) {
      line++;
      if (csv) {
        const end = nl > start && bytes[nl - 1] === CARRIAGE_RETURN ? nl - 1 : nl;
        if (nextQuote >= 0 && nextQuote < start) nextQuote = bytes.indexOf(QUOTE, start);
        const plain = this.headerRange && !this.assembler.open && (nextQuote < 0 || nextQuote >= end);
        if (!plain) {
          this.line = line;
          this.assemble(this.decoder.decode(bytes.subarray(start, end)), base + nl + 1);
        }
      }
      start = nl + 1;
      if (base + start >= cutAt) {
        this.line = line;
        this.boundary(base + start);
        cutAt = this.partStart + this.partBytes;
      }
    }
    this.line = line;
    return start;
  }

  /** A line past the limit ended: the scorer rejects it unread, giving up a quoted record open before it (an overlong header fails the file). */
  private endOverlongLine(): void {
    this.line++;
    if (this.format !== 'csv') return;
    if (!this.headerRange) {
      this.headerBroken = true;
      this.headerRange = { end: 0, lines: this.line };
      return;
    }
    this.assembler.skip(this.line, { reason: 'too long', raw: '' }, this.records);
    this.records.length = 0;
  }

  /** The parts, covering bytes [0, totalBytes); the header range for CSV (absent when the header is unreadable: one part then). */
  finish(): { parts: ByteRangePart[]; header?: CsvHeaderRange } {
    const total = this.offset;
    if (this.format === 'csv' && (!this.headerRange || this.headerBroken)) {
      return { parts: [{ index: 0, kind: 'bytes', start: 0, end: total, firstLine: 1 }] };
    }
    if (total > this.partStart || this.parts.length === 0) {
      this.parts.push({ index: this.parts.length, kind: 'bytes', start: this.partStart, end: total, firstLine: this.partFirstLine });
    }
    return { parts: this.parts, header: this.headerRange };
  }

  /** Pushes one line through the scorer's record assembler; the first record it completes is the header. */
  private assemble(text: string, endOfLine: number): void {
    this.assembler.push(this.line, text, this.records);
    if (!this.headerRange && this.records.length) {
      // An unreadable header fails the whole file; with re-read lines after it, no clean cut exists.
      if (!this.records[0]!.fields || this.records.length > 1 || this.assembler.open) this.headerBroken = true;
      this.headerRange = { end: endOfLine, lines: this.line };
      // The first part starts at byte 0 and holds the header itself.
    }
    this.records.length = 0;
  }

  /** At a line break at byte `at`: closes the current part there when it is full and no record is open. */
  private boundary(at: number): void {
    if (at - this.partStart < this.partBytes) return;
    if (this.format === 'csv' && (!this.headerRange || this.headerBroken || this.assembler.open)) return;
    this.parts.push({ index: this.parts.length, kind: 'bytes', start: this.partStart, end: at, firstLine: this.partFirstLine });
    this.partStart = at;
    this.partFirstLine = this.line + 1;
  }
}

/** Groups Parquet row groups (their row counts and compressed sizes, in order) into parts of about `partBytes`. */
export function planRowGroups(rowGroups: readonly { readonly rows: number; readonly bytes: number }[], partBytes: number): RowRangePart[] {
  const parts: RowRangePart[] = [];
  let rowStart = 0;
  let row = 0;
  let bytes = 0;
  for (const group of rowGroups) {
    row += group.rows;
    bytes += group.bytes;
    if (bytes >= partBytes) {
      parts.push({ index: parts.length, kind: 'rows', rowStart, rowEnd: row });
      rowStart = row;
      bytes = 0;
    }
  }
  if (row > rowStart || parts.length === 0) parts.push({ index: parts.length, kind: 'rows', rowStart, rowEnd: row });
  return parts;
}
