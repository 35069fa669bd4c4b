/**
 * Parses a plain decimal number straight from UTF-8 bytes, without making a string.
 *
 * Batch scoring is bound by parsing (a generic CSV parser reaches 85–200k rows/s on 64
 * numeric columns; the model scores 250–400k). Creating a substring per field and calling
 * Number() costs ~100 ns a field; this costs a few. It accepts exactly what
 * core/data/coerce.ts's DECIMAL pattern accepts and returns the same double Number() would
 * (mantissa ≤ 15 significant digits and |exponent| ≤ 22 are exact in double arithmetic);
 * anything else returns NaN_FALLBACK so the caller takes the general path.
 */

/** Returned when the bytes are not a simple number this parser can read exactly. */
export const NAN_FALLBACK = Number.NaN;

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

export function parseDecimalBytes(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  if (i >= end) return NAN_FALLBACK;
  let negative = false;
  let c = bytes[i]!;
  if (c === 45 /* - */ || c === 43 /* + */) {
    negative = c === 45;
    if (++i >= end) return NAN_FALLBACK;
  }
  let mantissa = 0;
  let digits = 0;
  let significant = 0;
  let scale = 0;
  let seenDot = false;
  for (; i < end; i++) {
    c = bytes[i]!;
    if (c >= 48 && c <= 57) {
      digits++;
      if (mantissa === 0 && c === 48) {
        if (seenDot) scale--;
        continue;
      }
      if (++significant > 15) return NAN_FALLBACK;
      mantissa = mantissa * 10 + (c - 48);
      if (seenDot) scale--;
    } else if (c === 46 /* . */ && !seenDot) {
      seenDot = true;
    } else break;
  }
  if (digits === 0) return NAN_FALLBACK;
  if (i < end) {
    c = bytes[i]!;
    if (c !== 101 && c !== 69 /* e E */) return NAN_FALLBACK;
    if (++i >= end) return NAN_FALLBACK;
    let expNegative = false;
    c = bytes[i]!;
    if (c === 45 || c === 43) {
      expNegative = c === 45;
      if (++i >= end) return NAN_FALLBACK;
    }
    let exponent = 0;
    for (; i < end; i++) {
      c = bytes[i]!;
      if (c < 48 || c > 57 || exponent > 1000) return NAN_FALLBACK;
      exponent = exponent * 10 + (c - 48);
    }
    scale += expNegative ? -exponent : exponent;
  }
  if (mantissa === 0) return negative ? -0 : 0;
  if (scale < -22 || scale > 22) return NAN_FALLBACK;
  const value = scale < 0 ? mantissa / POW10[-scale]! : mantissa * POW10[scale]!;
  return negative ? -value : value;
}

/** Where the last scanDecimal stopped (the first byte that is not part of the number): an object field, as module-level `let` exports are slow to read. */
export const scan = { end: 0 };

/**
 * Like parseDecimalBytes, but scans forward from `start` until a byte that cannot continue
 * a number (a delimiter, usually), leaving its index in `scan.end`. Finding the field's end
 * and parsing it in one pass halves the work on numeric columns.
 */
export function scanDecimal(bytes: Uint8Array, start: number, limit: number): number {
  let i = start;
  let negative = false;
  let c = i < limit ? bytes[i]! : 0;
  if (c === 45 || c === 43) {
    negative = c === 45;
    c = ++i < limit ? bytes[i]! : 0;
  }
  let mantissa = 0;
  let digits = 0;
  let significant = 0;
  let scale = 0;
  let seenDot = false;
  for (; i < limit; i++) {
    c = bytes[i]!;
    if (c >= 48 && c <= 57) {
      digits++;
      if (mantissa === 0 && c === 48) {
        if (seenDot) scale--;
        continue;
      }
      significant++;
      mantissa = mantissa * 10 + (c - 48);
      if (seenDot) scale--;
    } else if (c === 46 && !seenDot) {
      seenDot = true;
    } else break;
  }
  scan.end = i;
  if (digits === 0 || significant > 15) return NAN_FALLBACK;
  if (i < limit && (c === 101 || c === 69)) {
    // Exponents are rare in data files: hand the field to the exact parser.
    let j = i + 1;
    while (j < limit && bytes[j] !== 44 && bytes[j] !== 9 && bytes[j] !== 59) j++;
    scan.end = j;
    return parseDecimalBytes(bytes, start, j);
  }
  if (mantissa === 0) return negative ? -0 : 0;
  if (scale < -22) return NAN_FALLBACK;
  const value = scale < 0 ? mantissa / POW10[-scale]! : mantissa;
  return negative ? -value : value;
}
