import type { Feature } from '../model/manifest';

/** Why one field of one input row cannot be fed to the model. */
export interface FieldError {
  readonly field: string;
  readonly reason: string;
}

// Plain decimal notation only: Number() would also accept '0x1f', '1_000' or 'Infinity'.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Whether a raw value counts as missing (absent, null or an empty string). */
export function isMissing(raw: unknown): boolean {
  return raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '');
}

/**
 * Converts one raw value (a JSON value or a CSV string) to the float the model takes:
 * the number itself, a categorical level's index, or NaN for an accepted missing value.
 * Returns the reason as a string when the value is not acceptable.
 */
export function coerceFeature(feature: Feature, raw: unknown): number | string {
  if (isMissing(raw)) return feature.nullable ? Number.NaN : 'is required but missing';
  if (feature.type === 'categorical') {
    const level = typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : undefined;
    if (level === undefined) return `must be one of the levels ${listLevels(feature.levels)}, got ${describe(raw)}`;
    const index = feature.levels.indexOf(level);
    return index >= 0 ? index : `has unknown level ${describe(level)}; expected one of ${listLevels(feature.levels)}`;
  }
  let value: number;
  if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string' && DECIMAL.test(raw.trim())) value = Number(raw.trim());
  else return `must be a number, got ${describe(raw)}`;
  if (!Number.isFinite(value)) return `must be a finite number, got ${describe(raw)}`;
  // The model takes float32: a double beyond ±3.4e38 would reach it as ±Infinity.
  if (!Number.isFinite(Math.fround(value))) return `must be finite as a 32-bit float (|x| ≤ 3.4028235e38), got ${describe(raw)}`;
  if (feature.min !== undefined && value < feature.min) return `must be ≥ ${feature.min}, got ${value}`;
  if (feature.max !== undefined && value > feature.max) return `must be ≤ ${feature.max}, got ${value}`;
  return value;
}

/**
 * Encodes one row into `out` at `offset` in the manifest's feature order, reading each
 * feature's raw value through `get`. Returns the first field error, or null.
 */
export function encodeRow(
  features: readonly Feature[],
  get: (name: string, index: number) => unknown,
  out: Float32Array,
  offset: number,
): FieldError | null {
  for (let i = 0; i < features.length; i++) {
    const feature = features[i]!;
    const value = coerceFeature(feature, get(feature.name, i));
    if (typeof value === 'string') return { field: feature.name, reason: `feature "${feature.name}" ${value}` };
    out[offset + i] = value;
  }
  return null;
}

function listLevels(levels: readonly string[]): string {
  const shown = levels.slice(0, 10).map((l) => JSON.stringify(clip(l))).join(', ');
  return levels.length > 10 ? `${shown}, … (${levels.length} levels)` : shown;
}

/** Longest piece of a client's value echoed back in an error: a megabyte value must not make a megabyte error. */
export const MAX_ECHO_CHARS = 200;

function clip(text: string): string {
  return text.length > MAX_ECHO_CHARS ? `${text.slice(0, MAX_ECHO_CHARS)}… (${text.length} characters)` : text;
}

function describe(raw: unknown): string {
  if (typeof raw === 'string') return JSON.stringify(clip(raw));
  if (Array.isArray(raw)) return 'an array';
  if (raw === null) return 'null';
  return typeof raw === 'object' ? 'an object' : `${typeof raw} ${clip(String(raw))}`;
}
