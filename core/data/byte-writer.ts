/**
 * A growable byte buffer that output rows are formatted into, reused from chunk to chunk.
 *
 * Batch scoring writes ~100 bytes a row; building them as strings (a template per cell,
 * `toFixed` or `String()` per number, one concatenation per row) cost more main-thread
 * time than ONNX Runtime spends scoring the row. Writing digits by hand into one buffer
 * makes no string per cell and no garbage per row. Node's Buffer and TextEncoder write
 * text, not numbers with a fixed number of decimals, so this small writer is hand-made.
 */
export class ByteWriter {
  bytes: Uint8Array;
  length = 0;
  private readonly encoder = new TextEncoder();

  constructor(capacity = 1 << 16) {
    this.bytes = new Uint8Array(capacity);
  }

  /** Makes room for `count` more bytes; writers that take no care of capacity themselves rely on it. */
  reserve(count: number): void {
    const needed = this.length + count;
    if (needed <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(needed, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** One byte; room must have been reserved. */
  byte(value: number): void {
    this.bytes[this.length++] = value;
  }

  /** Bytes [start, end) of `source`; room must have been reserved. */
  copy(source: Uint8Array, start: number, end: number): void {
    // A loop beats subarray + set (two native calls and an object) on the short fields of a row.
    if (end - start < 32) {
      const out = this.bytes;
      let at = this.length;
      for (let i = start; i < end; i++) out[at++] = source[i]!;
      this.length = at;
    } else {
      this.bytes.set(source.subarray(start, end), this.length);
      this.length += end - start;
    }
  }

  /** All bytes of `source`, reserving room. */
  append(source: Uint8Array): void {
    this.reserve(source.length);
    this.bytes.set(source, this.length);
    this.length += source.length;
  }

  /** Text as UTF-8, reserving room. */
  text(value: string): void {
    this.reserve(value.length * 3);
    this.length += this.encoder.encodeInto(value, this.bytes.subarray(this.length)).written;
  }

  /** A non-negative integer in decimal (as String(n) writes it); room for 10 digits must have been reserved. */
  uint(n: number): void {
    // Above 2^31 - 1 (never a line number in practice) String() does it; below, int32 arithmetic (division by 10 becomes a multiplication).
    if (n > 0x7fffffff) return this.text(String(n));
    const out = this.bytes;
    let digits = 1;
    for (let rest = n | 0; rest >= 10; rest = (rest / 10) | 0) digits++;
    let at = this.length + digits;
    this.length = at;
    let rest = n | 0;
    do {
      const next = (rest / 10) | 0;
      out[--at] = 48 + rest - next * 10;
      rest = next;
    } while (rest > 0);
  }

  /**
   * A probability as `p.toFixed(6)` writes it, with 6 decimals, reserving room. Values
   * outside [0, 1] and NaN go through toFixed itself.
   *
   * For values in [0, 1] this is exact: the scores are float32, whose 24-bit mantissa times
   * 1e6 (= 2^6 · 15625, 14 bits) fits a double exactly, so Math.round rounds the exact
   * product half up, as toFixed does.
   */
  fixed6(p: number): void {
    if (!(p >= 0 && p <= 1)) return this.text(p.toFixed(6));
    this.reserve(8);
    let n = Math.round(p * 1e6) | 0;
    const out = this.bytes;
    const at = this.length;
    if (n === 1e6) {
      out[at] = 49;
      n = 0;
    } else out[at] = 48;
    out[at + 1] = 46;
    for (let k = at + 7; k > at + 1; k--) {
      const next = (n / 10) | 0;
      out[k] = 48 + n - next * 10;
      n = next;
    }
    this.length = at + 8;
  }

  /** A copy of the bytes written so far (the consumer may hold it while this buffer is reused); then empties the buffer. */
  take(): Uint8Array {
    // Not zero-filled first (slice would be): every byte is overwritten at once.
    const taken = Buffer.allocUnsafe(this.length);
    taken.set(this.bytes.subarray(0, this.length));
    this.length = 0;
    return taken;
  }
}
