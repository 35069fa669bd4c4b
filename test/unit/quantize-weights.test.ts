import { describe, expect, it } from 'vitest';
import { toHalfBits } from '../../model-pipeline/quantize/fp16';
import { activationParameters, quantizeWeights } from '../../model-pipeline/quantize/weights';

describe('quantizeWeights (symmetric int8, one scale per output column)', () => {
  // W is [K=3, N=2] row-major: column 0 is small, column 1 is 100x larger.
  const weights = Float32Array.from([0.01, 1, -0.02, -2, 0.005, 0.5]);

  it('gives each output column its own scale, max |w| / 127', () => {
    // Act
    const q = quantizeWeights(weights, 3, 2);

    // Assess
    expect(q.scales[0]).toBeCloseTo(0.02 / 127, 9);
    expect(q.scales[1]).toBeCloseTo(2 / 127, 9);
  });

  it('reconstructs every weight within half a quantization step of its column', () => {
    // Act
    const q = quantizeWeights(weights, 3, 2);

    // Assess
    weights.forEach((w, i) => expect(Math.abs(q.values[i]! * q.scales[i % 2]! - w)).toBeLessThanOrEqual(q.scales[i % 2]! / 2 + 1e-9));
  });

  it('keeps the small column precise although the other column is 100x larger', () => {
    // Act
    const q = quantizeWeights(weights, 3, 2);

    // Assess: a single scale for the matrix would round 0.005 to 0.
    expect(q.values[4]).not.toBe(0);
    expect(q.relativeError).toBeLessThan(0.01);
  });

  it('quantizes an all-zero column to zeros with a finite scale', () => {
    // Act
    const q = quantizeWeights(Float32Array.from([0, 1, 0, 2]), 2, 2);

    // Assess
    expect([q.values[0], q.values[2]]).toEqual([0, 0]);
    expect(Number.isFinite(q.scales[0]!)).toBe(true);
  });

  it('keeps weights within ±63 with reduceRange (7 bits for CPUs without VNNI)', () => {
    // Act
    const q = quantizeWeights(weights, 3, 2, { reduceRange: true });

    // Assess
    expect(Math.max(...Array.from(q.values, Math.abs))).toBe(63);
  });
});

describe('activationParameters (asymmetric uint8)', () => {
  it('maps a range starting at 0 (after a Relu) to zero point 0', () => {
    expect(activationParameters({ min: 0, max: 5.1 })).toEqual({ scale: Math.fround(5.1 / 255), zeroPoint: 0 });
  });

  it('stretches a range that excludes 0 so that 0 stays exactly representable', () => {
    // Act
    const { scale, zeroPoint } = activationParameters({ min: 2, max: 10 });

    // Assess
    expect(zeroPoint).toBe(0);
    expect(scale * 255).toBeCloseTo(10, 5);
  });

  it('places the zero point inside the range for a signed activation', () => {
    // Act
    const { scale, zeroPoint } = activationParameters({ min: -1, max: 3 });

    // Assess
    expect(zeroPoint).toBe(64);
    expect(scale).toBeCloseTo(4 / 255, 7);
  });

  it('returns a usable scale for a constant-zero activation', () => {
    expect(activationParameters({ min: 0, max: 0 })).toEqual({ scale: 1, zeroPoint: 0 });
  });
});

describe('toHalfBits (float32 → IEEE binary16)', () => {
  it('encodes exact values, the largest half and overflow', () => {
    expect(Array.from(toHalfBits(Float32Array.from([1, -2, 0.5, 65504, 1e6, 0])))).toEqual([0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00, 0]);
  });

  it('rounds to nearest even and keeps subnormals', () => {
    // 1 + 2^-11 is halfway between two halves and rounds to even (1.0); 2^-24 is the smallest subnormal.
    expect(Array.from(toHalfBits(Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 2 ** -26])))).toEqual([0x3c00, 0x3c02, 0x0001, 0]);
  });
});
