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

  /** At the end of input: rejects any open record's first line and reads the rest again, until none is open. */
  end(out: CsvRecord[]): void {
    while (this.pending.length) this.giveUp('unclosed quote: the file ends inside a quoted field', out);
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
 * Memory is bounded by the chunk size plus one record.
 */
export async function* readCsv(
  source: AsyncIterable<Uint8Array | string>,
  options: CsvReaderOptions = {},
): AsyncGenerator<CsvRecord[]> {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  const assembler = new RecordAssembler(options);
  let carry = '';
  let lineNumber = 0;
  for await (const chunk of source) {
    const text = carry + (typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    const records: CsvRecord[] = [];
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      assembler.push(++lineNumber, text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end), records);
      start = end + 1;
    }
    carry = text.slice(start);
    if (records.length) yield records;
  }
  const tail = carry + decoder.decode();
  const records: CsvRecord[] = [];
  if (tail.length) assembler.push(++lineNumber, tail.endsWith('\r') ? tail.slice(0, -1) : tail, records);
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
