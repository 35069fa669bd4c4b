import { MAX_ECHO_CHARS } from './echo';

/**
 * Most bytes a line of a batch input may have, its line break included. A row of 1,000
 * numeric features is about 20 KB, so this leaves room fifty times over, while a file
 * without line breaks costs at most this much memory before it is turned down.
 */
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

const NEWLINE = 10;
const CARRIAGE_RETURN = 13;

/** A line longer than the limit, as the errors file shows it: why, and its first MAX_ECHO_CHARS bytes (fewer under a lower limit). */
export interface OverlongLine {
  readonly reason: string;
  readonly raw: string;
}

/** A piece of input as a plain Uint8Array view, whatever the source yields (Buffer, say): one shape keeps the parsers' optimized code. */
export function asBytes(piece: Uint8Array | string): Uint8Array {
  return typeof piece === 'string' ? new TextEncoder().encode(piece) : new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength);
}

/** Bytes of the UTF-8 byte-order mark `bytes` starts with: 3, or 0 when it has none. */
export function bomLength(bytes: Uint8Array): number {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
}

/** `line` without the line break it ends with, if any ('\n', '\r\n', or a last line's '\r'). */
export function withoutBreak(line: Uint8Array): Uint8Array {
  let end = line.length;
  if (line[end - 1] === NEWLINE) end--;
  if (line[end - 1] === CARRIAGE_RETURN) end--;
  return line.subarray(0, end);
}

/**
 * The unfinished last line of a stream of byte pieces, carried until its newline arrives.
 *
 * It is kept as a list of pieces and concatenated once, when the line ends: copying the
 * carried bytes into each new piece made a line's cost grow with its square (45 s for a
 * 50 MB line). A line that passes the limit is not kept at all: only its first bytes, for
 * the errors file, and a count of the rest, which are skipped up to the next newline.
 */
export class LineCarry {
  private pieces: Uint8Array[] = [];
  /** The carried line's bytes so far, those of an overlong line that were dropped included. */
  private length = 0;
  /** An overlong line's first bytes: set once the line passes the limit. */
  private head: Uint8Array | undefined;
  /** How many of an overlong line's first bytes are shown: never more than the limit, so that many were carried when it was passed, whatever the pieces. */
  private readonly echoBytes: number;
  private readonly decoder = new TextDecoder();

  constructor(readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES) {
    this.echoBytes = Math.min(MAX_ECHO_CHARS, maxLineBytes);
  }

  /** Whether a line is being carried. */
  get carrying(): boolean {
    return this.length > 0;
  }

  /** Carries bytes [start, end of piece): the start of a line, or more of the carried one. */
  add(bytes: Uint8Array, start = 0): void {
    if (start >= bytes.length) return;
    this.length += bytes.length - start;
    if (this.head) return;
    if (this.length <= this.maxLineBytes) {
      // A copy: the source may reuse its buffer for the next piece.
      this.pieces.push(new Uint8Array(bytes.subarray(start)));
      return;
    }
    this.pieces.push(bytes.subarray(start));
    this.head = concat(this.pieces, this.echoBytes);
    this.pieces = [];
  }

  /**
   * Ends the carried line with bytes [0, end) of `bytes` (`end` just after its newline, or 0 at
   * the end of the input): the whole line, or what the errors file says of an overlong one.
   */
  take(bytes: Uint8Array, end: number): Uint8Array | OverlongLine {
    const length = this.length + end;
    let line: Uint8Array | OverlongLine;
    if (this.head) line = this.overlong(this.head, length);
    else {
      this.pieces.push(bytes.subarray(0, end));
      line = length > this.maxLineBytes ? this.overlong(concat(this.pieces, this.echoBytes), length) : concat(this.pieces, length);
    }
    this.pieces = [];
    this.length = 0;
    this.head = undefined;
    return line;
  }

  /** Bytes [start, end) of `bytes`, a whole line past the limit, as the errors file shows it. */
  tooLong(bytes: Uint8Array, start: number, end: number): OverlongLine {
    return this.overlong(bytes.subarray(start, start + this.echoBytes), end - start);
  }

  private overlong(head: Uint8Array, length: number): OverlongLine {
    return { reason: `the line is longer than ${this.maxLineBytes} bytes (the limit): it has ${length}, of which the first ${head.length} are shown`, raw: this.decoder.decode(head) };
  }
}

/** The first `length` bytes of `pieces` (they have at least that many), in one array. */
function concat(pieces: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const piece of pieces) {
    if (at === length) break;
    const part = piece.subarray(0, length - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** One line of text (its line break left out), or a line past the limit. */
export type Line = string | OverlongLine;

/**
 * Splits a stream into lines, in arrays (one per piece that ends a line, to keep per-line
 * overhead low). Lines are split as bytes, so the limit counts bytes and each line is decoded
 * whole; a UTF-8 byte-order mark at the start is dropped. A last line without a line break
 * is read too.
 */
export async function* readLines(source: AsyncIterable<Uint8Array | string>, maxLineBytes = DEFAULT_MAX_LINE_BYTES): AsyncGenerator<Line[]> {
  // Each line is decoded on its own: a byte-order mark is dropped once, below, not at the start of every line.
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const text = (line: Uint8Array) => decoder.decode(withoutBreak(line));
  const carry = new LineCarry(maxLineBytes);
  let first = true;
  for await (const piece of source) {
    const bytes = asBytes(piece);
    const lines: Line[] = [];
    let start = first ? bomLength(bytes) : 0;
    if (bytes.length) first = false;
    for (let nl = bytes.indexOf(NEWLINE, start); nl >= 0; nl = bytes.indexOf(NEWLINE, start)) {
      if (carry.carrying) {
        const line = carry.take(bytes, nl + 1);
        lines.push(line instanceof Uint8Array ? text(line) : line);
      } else lines.push(nl + 1 - start > maxLineBytes ? carry.tooLong(bytes, start, nl + 1) : text(bytes.subarray(start, nl + 1)));
      start = nl + 1;
    }
    carry.add(bytes, start);
    if (lines.length) yield lines;
  }
  if (carry.carrying) {
    const line = carry.take(new Uint8Array(0), 0);
    yield [line instanceof Uint8Array ? text(line) : line];
  }
}
