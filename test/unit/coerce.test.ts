import { describe, expect, it } from 'vitest';
import { coerceFeature, encodeRow } from '../../core/data/coerce';
import type { Feature } from '../../core/model/manifest';

const age: Feature = { name: 'age', type: 'numeric', min: 0, max: 130, nullable: false };
const income: Feature = { name: 'income', type: 'numeric', nullable: true };
const plan: Feature = { name: 'plan', type: 'categorical', levels: ['basic', 'pro'], nullable: false };

describe('coerceFeature on a numeric feature', () => {
  it('accepts a JSON number and a decimal string', () => {
    expect(coerceFeature(age, 41)).toBe(41);
    expect(coerceFeature(age, ' 41.5 ')).toBe(41.5);
    expect(coerceFeature(age, '4.1e1')).toBe(41);
  });

  it.each(['abc', '0x1f', '1_000', 'Infinity', 'NaN', '1,5'])('rejects the string %s', (raw) => {
    expect(coerceFeature(age, raw)).toMatch(/must be a number/);
  });

  it('rejects a value outside the allowed range, naming the bound', () => {
    expect(coerceFeature(age, 131)).toBe('must be ≤ 130, got 131');
    expect(coerceFeature(age, -1)).toBe('must be ≥ 0, got -1');
  });

  it('rejects booleans, arrays and objects', () => {
    expect(coerceFeature(age, true)).toMatch(/must be a number, got boolean/);
    expect(coerceFeature(age, [1])).toMatch(/got an array/);
    expect(coerceFeature(age, { v: 1 })).toMatch(/got an object/);
  });

  it('maps a missing value to NaN when the feature is nullable, and rejects it otherwise', () => {
    expect(coerceFeature(income, '')).toBeNaN();
    expect(coerceFeature(income, null)).toBeNaN();
    expect(coerceFeature(age, '')).toBe('is required but missing');
  });
});

describe('coerceFeature on a categorical feature', () => {
  it('returns the level index', () => {
    expect(coerceFeature(plan, 'pro')).toBe(1);
  });

  it('rejects an unknown level, listing the known ones', () => {
    expect(coerceFeature(plan, 'gold')).toBe('has unknown level "gold"; expected one of "basic", "pro"');
  });
});

describe('encodeRow', () => {
  it('writes features in manifest order at the given offset', () => {
    const out = new Float32Array(6);
    const row: Record<string, unknown> = { plan: 'pro', age: 30, income: '' };
    expect(encodeRow([age, income, plan], (name) => row[name], out, 3)).toBeNull();
    expect(Array.from(out)).toEqual([0, 0, 0, 30, Number.NaN, 1]);
  });

  it('returns the first bad field by name', () => {
    const row: Record<string, unknown> = { age: 30, plan: 'gold' };
    expect(encodeRow([age, plan], (name) => row[name], new Float32Array(2), 0)).toEqual({
      field: 'plan',
      reason: 'feature "plan" has unknown level "gold"; expected one of "basic", "pro"',
    });
  });
});
