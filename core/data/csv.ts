/**
 * Streaming CSV (RFC 4180) for batch scoring.
 *
 * Written by hand rather than with csv-parse for two reasons that matter to batch users:
 * (1) an unclosed quote in one row must cost that row only; RFC parsers (csv-parse
 * included) read the rest of the file into the open field and lose every later row;
 * (2) speed: rows without quotes, nearly all of them in practice, take a plain split path,
 * which parses several times faster than a character-by-character parser.
 * Records are yielded in arrays, one per input chunk, to keep per-row overhead low.
 */

import { type OverlongLine, readLines } from './line-carry';

/** One data record of a CSV file, or the reason it could not be read. */
export interface CsvRecord {
  /** 1-based physical line number where the record starts (the header is line 1). */
  readonly line: number;
  /** The record's text as it appears in the file (without the line break). */
  readonly raw: string;
  /** Parsed fields, or null when the record is malformed. */
  readonly fields: string[] | null;
  readonly error?: string;
}

export interface CsvReaderOptions {
  /** @default ',' */
  readonly delimiter?: string;
  /**
   * A quoted field may span lines; a record still open after this many lines is taken for
   * an unclosed quote, rejected, and parsing resumes on its second line.
   * @default 100
   */
  readonly maxRecordLines?: number;
  /**
   * Most bytes a line may have, its line break included: a longer line is rejected as one
   * record and its bytes are skipped, not kept. A row of 1,000 numeric features is about 20 KB.
   * @default 1048576 (1 MiB)
   */
  readonly maxLineBytes?: number;
}

/** Parses one logical record; returns null fields with a reason on malformed quoting, or 'open' when a quoted field continues on the next line. */
export function parseCsvRecord(text: string, delimiter = ','): { fields: string[] } | { error: string } | 'open' {
  if (!text.includes('"')) return { fields: text.split(delimiter) };
  const fields: string[] = [];
  let i = 0;
  const n = text.length;
  while (true) {
    if (text[i] === '"') {
      let value = '';
      i++;
      while (true) {
        const close = text.indexOf('"', i);
        if (close < 0) return 'open';
        value += text.slice(i, close);
        if (text[close + 1] === '"') {
          value += '"';
          i = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      fields.push(value);
      if (i === n) return { fields };
      if (text[i] !== delimiter) {
        return { error: `malformed quoting: unexpected ${JSON.stringify(text[i])} after the closing quote of field ${fields.length}` };
      }
      i++;
    } else {
      const next = text.indexOf(delimiter, i);
      const end = next < 0 ? n : next;
      const value = text.slice(i, end);
      if (value.includes('"')) return { error: `malformed quoting: a quote inside unquoted field ${fields.length + 1}` };
      fields.push(value);
      if (next < 0) return { fields };
      i = next + 1;
    }
    if (i === n) {
      fields.push('');
      return { fields };
    }
  }
}

/**
 * Assembles logical records from physical lines: joins the lines of a quoted field that
 * spans lines, and recovers from an unclosed quote by rejecting its first line and reading
 * the following lines again.
 */
export class RecordAssembler {
  private pending: string[] = [];
  private pendingStart = 0;
  private readonly delimiter: string;
  private readonly maxRecordLines: number;

  constructor(options: CsvReaderOptions = {}) {
    this.delimiter = options.delimiter ?? ',';
    this.maxRecordLines = options.maxRecordLines ?? 100;
  }

  /** Whether a quoted field is open, so the next line continues a record. */
  get open(): boolean {
    return this.pending.length > 0;
  }

  /** Takes the next physical line (without its line break); appends finished records to `out`. */
  push(lineNumber: number, line: string, out: CsvRecord[]): void {
    if (this.pending.length === 0) {
      if (line.length === 0) return;
      this.pendingStart = lineNumber;
    }
    this.pending.push(line);
    const text = this.pending.length === 1 ? line : this.pending.join('\n');
    const parsed = parseCsvRecord(text, this.delimiter);
    if (parsed === 'open') {
      if (this.pending.length >= this.maxRecordLines) this.giveUp(`unclosed quote: the quoted field is not closed within ${this.maxRecordLines} lines`, out);
      return;
    }
    if ('error' in parsed && this.pending.length > 1) {
      // A quote opened on the first line was "closed" by a quote on a later line into malformed
      // text: take it for an unclosed quote, reject the first line only and re-read the others.
      this.giveUp(`unclosed quote: the quoted field opened on this line does not close properly (${parsed.error})`, out);
      return;
    }
    this.pending = [];
    if ('error' in parsed) out.push({ line: this.pendingStart, raw: text, fields: null, error: parsed.error });
    else out.push({ line: this.pendingStart, raw: text, fields: parsed.fields });
  }

  /**
   * At the end of input, or before a line that is not read: rejects any open record's first
   * line and reads the rest again, until none is open.
   */
  end(out: CsvRecord[], reason = 'unclosed quote: the file ends inside a quoted field'): void {
    while (this.pending.length) this.giveUp(reason, out);
  }

  /** Takes a line that is not read (longer than the limit): no record continues past it. */
  skip(lineNumber: number, line: OverlongLine, out: CsvRecord[]): void {
    this.end(out, `unclosed quote: the quoted field is not closed before line ${lineNumber}, which is too long to read`);
    out.push({ line: lineNumber, raw: line.raw, fields: null, error: line.reason });
  }

  private giveUp(reason: string, out: CsvRecord[]): void {
    const [first, ...rest] = this.pending;
    const start = this.pendingStart;
    this.pending = [];
    out.push({ line: start, raw: first!, fields: null, error: reason });
    rest.forEach((line, i) => this.push(start + 1 + i, line, out));
  }
}

/**
 * Reads CSV records from a stream of bytes or text, in arrays (one per input chunk, to keep
 * per-row overhead low). Blank lines are skipped; a UTF-8 byte-order mark is dropped.
 * Memory is bounded by the chunk size plus one record of at most `maxRecordLines` lines of `maxLineBytes`.
 */
export async function* readCsv(
  source: AsyncIterable<Uint8Array | string>,
  options: CsvReaderOptions = {},
): AsyncGenerator<CsvRecord[]> {
  const assembler = new RecordAssembler(options);
  let lineNumber = 0;
  for await (const lines of readLines(source, options.maxLineBytes)) {
    const records: CsvRecord[] = [];
    for (const line of lines) {
      lineNumber++;
      if (typeof line === 'string') assembler.push(lineNumber, line, records);
      else assembler.skip(lineNumber, line, records);
    }
    if (records.length) yield records;
  }
  const records: CsvRecord[] = [];
  assembler.end(records);
  if (records.length) yield records;
}

/** Quotes a field when RFC 4180 requires it (delimiter, quote or line break inside). */
export function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One CSV line (with the trailing newline). */
export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(',')}\n`;
}
