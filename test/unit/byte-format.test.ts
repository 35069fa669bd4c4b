import { describe, expect, it } from 'vitest';
import { ScoreCellWriter } from '../../core/batch/scorer';
import { ByteWriter } from '../../core/data/byte-writer';
import { scan, scanDecimal } from '../../core/data/fast-number';
import { Random } from '../../core/random';

const decoder = new TextDecoder();

/** What `write` puts into a fresh ByteWriter, as text. */
function written(write: (out: ByteWriter) => void, capacity = 4): string {
  const out = new ByteWriter(capacity);
  write(out);
  return decoder.decode(out.take());
}

/** Probabilities as the model hands them over: float32 values. */
function float32(value: number): number {
  return Math.fround(value);
}

describe('ByteWriter.fixed6', () => {
  it('writes float32 probabilities in [0, 1] exactly as toFixed(6)', () => {
    const random = new Random(3);
    const values = [0, 1, -0, float32(1e-7), float32(5e-7), float32(4.999999e-7), float32(0.9999995), float32(0.9999994), 1 / 128, 3 / 128, 1.401298464324817e-45];
    for (let i = 0; i < 20_000; i++) values.push(float32(random.next()), float32(random.next() * 1e-5), float32(1 - random.next() * 1e-5), float32(Math.round(random.next() * 2e6) / 2e6));
    const differing = values.filter((p) => written((out) => out.fixed6(p)) !== p.toFixed(6));
    expect(differing).toEqual([]);
  });

  it('writes NaN, negative values and values above 1 as toFixed(6) does', () => {
    for (const p of [Number.NaN, -0.25, -1e-9, 1.5, 12345.678, Infinity, -Infinity, 1e21]) {
      expect(written((out) => out.fixed6(p))).toBe(p.toFixed(6));
    }
  });

  it('grows its buffer as rows are written beyond the initial capacity', () => {
    const text = written((out) => {
      for (let i = 0; i < 1000; i++) {
        out.fixed6(0.5);
        out.reserve(1);
        out.byte(44);
      }
    });
    expect(text).toBe('0.500000,'.repeat(1000));
  });
});

describe('ByteWriter.uint', () => {
  it.each([0, 7, 10, 99, 1024, 2 ** 31, 2 ** 32 + 1, 2 ** 53 - 1, 1e16, 1e21])('writes %d as String() does', (n) => {
    expect(
      written((out) => {
        out.reserve(16);
        out.uint(n);
      }),
    ).toBe(String(n));
  });
});

describe('ScoreCellWriter', () => {
  it('writes the most probable class (quoted when needed) and each probability with 6 decimals', () => {
    const cells = new ScoreCellWriter(['no', 'yes, sure']);
    const scores = { rows: 2, width: 2, values: Float32Array.from([0.25, 0.75, 0.9, 0.1]) };
    expect(written((out) => [0, 1].forEach((r) => cells.write(out, scores, r)))).toBe(',"yes, sure",0.250000,0.750000,no,0.900000,0.100000');
  });

  it('writes a regression value as String() does', () => {
    const cells = new ScoreCellWriter([]);
    const scores = { rows: 1, width: 1, values: Float32Array.from([52267.49609375]) };
    expect(written((out) => cells.write(out, scores, 0))).toBe(',52267.49609375');
  });
});

describe('scanDecimal', () => {
  const bytesOf = (text: string) => new TextEncoder().encode(text);

  it("returns Number()'s value for plain decimals and stops at the delimiter", () => {
    const random = new Random(9);
    const samples = ['0', '-0', '+3', '.5', '5.', '-.25', '0001.50', '1e3', '1E-2', '-7.25e-3', '123456789012345', '0.000000000000000000001', '1e22', '123e-22'];
    for (let i = 0; i < 20_000; i++) samples.push((random.normal() * 10 ** Math.floor(random.next() * 12 - 6)).toFixed(Math.floor(random.next() * 10)));
    const differing = samples.filter((text) => {
      const value = scanDecimal(bytesOf(`${text},x`), 0, text.length + 2);
      return !Object.is(value, Number(text)) || scan.end !== text.length;
    });
    expect(differing).toEqual([]);
  });

  it('declines (NaN) what it cannot read exactly, so the general path decides', () => {
    for (const text of ['', '-', '.', '1.5e', '1e+', '1234567890123456', '99999999999999999999', '0.0000000000000000000000001', '1e23', 'abc', 'Infinity', ' 1']) {
      expect(scanDecimal(bytesOf(text), 0, text.length), text).toBeNaN();
    }
  });

  it('reads only up to its limit', () => {
    expect(scanDecimal(bytesOf('12345'), 0, 3)).toBe(123);
    expect(scan.end).toBe(3);
  });
});
