import { isMissing } from '../../core/data/coerce';
import type { Feature } from '../../core/model/manifest';
import type { Table } from '../data/table';

export interface SchemaOptions {
  /** Ground-truth column; never a feature. */
  readonly label?: string;
  /** Columns passed through as ids, never features. */
  readonly ignore?: readonly string[];
  /**
   * A text column with more distinct values than this is taken for an id, not a category.
   * @default 50
   */
  readonly maxLevels?: number;
}

export interface InferredSchema {
  readonly features: Feature[];
  /** Columns that are neither features nor the label (ids and the like). */
  readonly passthrough: string[];
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Decides from the data which columns are numeric features, which are categorical (levels
 * ordered by frequency), and which are ids to pass through.
 */
export function inferSchema(table: Table, options: SchemaOptions = {}): InferredSchema {
  const maxLevels = options.maxLevels ?? 50;
  const ignore = new Set(options.ignore ?? []);
  const features: Feature[] = [];
  const passthrough: string[] = [];
  table.header.forEach((name, column) => {
    if (name === options.label) return;
    if (ignore.has(name) || /(^|_)id$/i.test(name)) {
      passthrough.push(name);
      return;
    }
    const counts = new Map<string, number>();
    let missing = 0;
    let numeric = true;
    for (const row of table.rows) {
      const value = row[column];
      if (isMissing(value)) {
        missing++;
        continue;
      }
      const text = value!.trim();
      if (numeric && !NUMBER.test(text)) numeric = false;
      if (counts.size <= maxLevels || counts.has(text)) counts.set(text, (counts.get(text) ?? 0) + 1);
    }
    const nullable = missing > 0;
    if (numeric && counts.size > 0) {
      features.push({ name, type: 'numeric', nullable });
    } else if (counts.size > 0 && counts.size <= maxLevels) {
      const levels = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([level]) => level);
      features.push({ name, type: 'categorical', levels, nullable });
    } else {
      passthrough.push(name);
    }
  });
  if (features.length === 0) throw new Error(`no feature columns found among ${table.header.join(', ')}`);
  return { features, passthrough };
}
