/**
 * Parses a plain decimal number straight from UTF-8 bytes, without making a string.
 *
 * Batch scoring is bound by parsing (a generic CSV parser reaches 85–200k rows/s on 64
 * numeric columns; the model scores 250–400k). Creating a substring per field and calling
 * Number() costs ~100 ns a field; this costs a few. It reads what core/data/coerce.ts's
 * DECIMAL pattern accepts, up to 15 significant digits and |exponent| ≤ 22 (exact in double
 * arithmetic), and returns the same double Number() would; anything else returns NaN so the
 * caller takes the general path. (The literal `Number.NaN`:
 * a module constant is a boxed value to the optimizing compiler, which then boxes every
 * parsed double too, a heap allocation per field.)
 */

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** Where the last scanDecimal stopped (the first byte that is not part of the number): an object field, as module-level `let` exports are slow to read. */
export const scan = { end: 0 };

/**
 * Parses a plain decimal number from `start`, scanning forward until a byte that cannot continue
 * a number (a delimiter, usually), leaving its index in `scan.end`. Finding the field's end
 * and parsing it in one pass halves the work on numeric columns.
 *
 * Integer and fraction digits run in two tight loops (no per-digit state); the mantissa
 * counts every digit, leading zeros included, and fewer than 1e15 means at most 15
 * significant digits, so it is exact, as is its quotient or product with a power of ten up
 * to 1e22: the correctly rounded double, the one Number() returns.
 */
export function scanDecimal(bytes: Uint8Array, start: number, limit: number): number {
  let i = start;
  const sign = i < limit ? bytes[i]! : 0;
  const negative = sign === 45 /* - */;
  if (negative || sign === 43 /* + */) i++;
  let mantissa = 0;
  const integerStart = i;
  for (; i < limit; i++) {
    const digit = bytes[i]! - 48;
    if (digit < 0 || digit > 9) break;
    mantissa = mantissa * 10 + digit;
  }
  let digits = i - integerStart;
  let scale = 0;
  if (i < limit && bytes[i] === 46 /* . */) {
    const fractionStart = ++i;
    for (; i < limit; i++) {
      const digit = bytes[i]! - 48;
      if (digit < 0 || digit > 9) break;
      mantissa = mantissa * 10 + digit;
    }
    digits += i - fractionStart;
    scale = fractionStart - i;
  }
  scan.end = i;
  if (digits === 0 || mantissa >= 1e15) return Number.NaN;
  if (i < limit && (bytes[i] === 101 || bytes[i] === 69) /* e E */) return withExponent(bytes, i + 1, limit, mantissa, scale, negative);
  if (mantissa === 0) return negative ? -0 : 0;
  if (scale < -22) return Number.NaN;
  const value = mantissa / POW10[-scale]!;
  return negative ? -value : value;
}

/** The rest of scanDecimal for a number with an exponent (from the byte after the `e`); kept apart so the common case stays small enough to inline. */
function withExponent(bytes: Uint8Array, i: number, limit: number, mantissa: number, scale: number, negative: boolean): number {
  let exponentNegative = false;
  let c = i < limit ? bytes[i]! : 0;
  if (c === 45 || c === 43) {
    exponentNegative = c === 45;
    i++;
  }
  const exponentStart = i;
  let exponent = 0;
  for (; i < limit; i++) {
    c = bytes[i]! - 48;
    if (c < 0 || c > 9) break;
    // Beyond 1e22 either way is the general path's anyway; stop growing before precision is lost.
    if (exponent < 1000) exponent = exponent * 10 + c;
  }
  scan.end = i;
  if (i === exponentStart) return Number.NaN;
  scale += exponentNegative ? -exponent : exponent;
  if (mantissa === 0) return negative ? -0 : 0;
  if (scale < -22 || scale > 22) return Number.NaN;
  const value = scale < 0 ? mantissa / POW10[-scale]! : mantissa * POW10[scale]!;
  return negative ? -value : value;
}
