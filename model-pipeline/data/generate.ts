import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Random } from '../../core/random';

/**
 * Synthetic customer data with known ground truth, so that tests can state what accuracy
 * the data allows (the Bayes rate) and inject each kind of drift on its own.
 */

/** Distribution changes applied to generated data; all default to none. */
export interface DriftSpec {
  /** Mean shift per numeric feature, in units of that feature's standard deviation. */
  readonly meanShift?: Readonly<Record<string, number>>;
  /** Multiplier of the standard deviation per numeric feature. */
  readonly scale?: Readonly<Record<string, number>>;
  /** Share added to one level of a categorical feature (others shrink proportionally), e.g. { plan: { level: 'pro', delta: 0.1 } }. */
  readonly categoryShift?: Readonly<Record<string, { readonly level: string; readonly delta: number }>>;
  /** Concept drift in [0, 1]: how far the label's dependence on the features moves to a different relation. */
  readonly concept?: number;
  /** Shift of the label's log-odds (binary) or of the first class's logit (multiclass): changes the positive rate. */
  readonly labelShift?: number;
  /** Share of missing values per feature. */
  readonly missing?: Readonly<Record<string, number>>;
}

export interface GenerateOptions {
  readonly rows: number;
  /** @default 1 */
  readonly seed?: number;
  /** @default 'binary' */
  readonly task?: 'binary' | 'multiclass';
  /** Label noise: the temperature of the true logits; lower is more separable. @default 1 */
  readonly noise?: number;
  readonly drift?: DriftSpec;
}

interface NumericSpec {
  readonly name: string;
  readonly toValue: (z: number) => number;
  readonly decimals: number;
}

interface CategoricalSpec {
  readonly name: string;
  readonly levels: readonly string[];
  readonly shares: readonly number[];
}

const NUMERIC: readonly NumericSpec[] = [
  { name: 'age', toValue: (z) => Math.max(18, 41 + 12 * z), decimals: 0 },
  { name: 'income', toValue: (z) => Math.exp(10.8 + 0.45 * z), decimals: 2 },
  { name: 'tenure_months', toValue: (z) => Math.max(0, 30 + 18 * z), decimals: 0 },
  { name: 'sessions_per_week', toValue: (z) => Math.max(0, 6 + 3 * z), decimals: 1 },
  { name: 'support_tickets', toValue: (z) => Math.max(0, Math.round(1.5 + 1.3 * z)), decimals: 0 },
  { name: 'monthly_spend', toValue: (z) => 62 + 24 * z, decimals: 2 },
];

const CATEGORICAL: readonly CategoricalSpec[] = [
  { name: 'plan', levels: ['basic', 'pro', 'enterprise'], shares: [0.5, 0.35, 0.15] },
  { name: 'region', levels: ['na', 'eu', 'apac', 'latam'], shares: [0.4, 0.3, 0.2, 0.1] },
  { name: 'channel', levels: ['web', 'mobile', 'partner'], shares: [0.5, 0.4, 0.1] },
];

/** Latent (standard-normal) numeric weights and per-level effects of each class's logit. */
interface Relation {
  readonly numeric: readonly number[];
  readonly categorical: readonly (readonly number[])[];
  readonly interaction: number;
  readonly bias: number;
}

const BINARY: Relation = {
  numeric: [-0.6, -0.4, -1.1, -0.9, 1.2, 0.5],
  categorical: [[0.6, -0.2, -1.0], [0, 0.2, 0.4, -0.3], [0, 0.5, -0.6]],
  interaction: 0.9,
  bias: -1.3,
};
/** The relation concept drift moves towards: some effects reverse, others appear. */
const BINARY_ALT: Relation = {
  numeric: [0.8, -0.4, 0.6, -0.2, 0.3, -1.2],
  categorical: [[-0.6, 0.4, 0.8], [0.5, -0.4, 0, 0.2], [0.4, -0.5, 0]],
  interaction: -0.9,
  bias: -1.3,
};
const MULTICLASS: readonly Relation[] = [
  { numeric: [0, 0, 0, 0, 0, 0], categorical: [[0, 0, 0], [0, 0, 0, 0], [0, 0, 0]], interaction: 0, bias: 0 },
  { numeric: [0.3, 1.4, 0.4, 0.2, -0.5, 1.0], categorical: [[-0.6, 0.4, 0.6], [0, 0.2, 0, 0], [0, 0, 0]], interaction: 0.6, bias: 0.1 },
  { numeric: [0.6, 2.4, 0.8, 0.6, -1.0, 2.0], categorical: [[-1.5, 0.6, 1.8], [0, 0.4, 0, -0.4], [0, 0.2, 0.4]], interaction: 1.0, bias: -1.2 },
];
const MULTICLASS_ALT: readonly Relation[] = [MULTICLASS[0]!, MULTICLASS[2]!, MULTICLASS[1]!];

/** Column names and label column for a generated task. */
export function generatedSchema(task: 'binary' | 'multiclass' = 'binary') {
  return {
    id: 'customer_id',
    numeric: NUMERIC.map((f) => f.name),
    categorical: CATEGORICAL.map((f) => ({ name: f.name, levels: [...f.levels] })),
    label: task === 'binary' ? 'churned' : 'segment',
    classes: task === 'binary' ? ['no', 'yes'] : ['low', 'medium', 'high'],
  };
}

/** One generated row: CSV cells in header order, and the true class probabilities behind its label. */
export interface GeneratedRow {
  readonly cells: readonly string[];
  readonly trueProbabilities: readonly number[];
}

/** The header row of generated data. */
export function generatedHeader(task: 'binary' | 'multiclass' = 'binary'): string[] {
  const schema = generatedSchema(task);
  return [schema.id, ...schema.numeric, ...schema.categorical.map((c) => c.name), schema.label];
}

/** Yields rows one at a time, so any number of rows fits in constant memory. */
export function* generateRows(options: GenerateOptions): Generator<GeneratedRow> {
  const task = options.task ?? 'binary';
  const drift = options.drift ?? {};
  const random = new Random(options.seed ?? 1);
  const temperature = options.noise ?? 1;
  validateDrift(drift);
  const concept = drift.concept ?? 0;
  const relations = task === 'binary' ? [BINARY] : MULTICLASS;
  const alternatives = task === 'binary' ? [BINARY_ALT] : MULTICLASS_ALT;
  const { classes } = generatedSchema(task);
  const shares = CATEGORICAL.map((c) => shiftedShares(c, drift.categoryShift?.[c.name]));

  for (let row = 0; row < options.rows; row++) {
    const z = NUMERIC.map((f) => (random.normal() * (drift.scale?.[f.name] ?? 1)) + (drift.meanShift?.[f.name] ?? 0));
    const levels = CATEGORICAL.map((_, i) => random.choice(shares[i]!));
    const logits = relations.map((relation, k) => {
      const base = logit(relation, z, levels);
      const moved = (1 - concept) * base + concept * logit(alternatives[k]!, z, levels);
      return (moved + (k === 0 ? (drift.labelShift ?? 0) : 0)) / temperature;
    });
    const probabilities = task === 'binary' ? [1 - sigmoid(logits[0]!), sigmoid(logits[0]!)] : softmax(logits);
    // Binary shift acts on the positive class's log-odds; in multiclass it raises class 0.
    const label = classes[random.choice(probabilities)]!;
    const cells = [
      `c${String(row + 1).padStart(7, '0')}`,
      ...NUMERIC.map((f, i) => maybeMissing(random, drift, f.name, f.toValue(z[i]!).toFixed(f.decimals))),
      ...CATEGORICAL.map((c, i) => maybeMissing(random, drift, c.name, c.levels[levels[i]!]!)),
      label,
    ];
    yield { cells, trueProbabilities: probabilities };
  }
}

function logit(relation: Relation, z: readonly number[], levels: readonly number[]): number {
  let value = relation.bias + relation.interaction * z[0]! * z[2]!;
  relation.numeric.forEach((w, i) => (value += w * z[i]!));
  relation.categorical.forEach((effects, i) => (value += effects[levels[i]!]!));
  return value;
}

function shiftedShares(spec: CategoricalSpec, shift?: { level: string; delta: number }): number[] {
  if (!shift) return [...spec.shares];
  const target = spec.levels.indexOf(shift.level);
  const current = spec.shares[target]!;
  const updated = Math.min(1, Math.max(0, current + shift.delta));
  const rest = 1 - current;
  return spec.shares.map((s, i) => (i === target ? updated : rest > 0 ? (s * (1 - updated)) / rest : 0));
}

function maybeMissing(random: Random, drift: DriftSpec, name: string, value: string): string {
  const rate = drift.missing?.[name] ?? 0;
  return rate > 0 && random.next() < rate ? '' : value;
}

function validateDrift(drift: DriftSpec): void {
  const known = new Set([...NUMERIC.map((f) => f.name), ...CATEGORICAL.map((c) => c.name)]);
  const numeric = new Set(NUMERIC.map((f) => f.name));
  const check = (kind: string, names: Iterable<string>, allowed: Set<string>) => {
    for (const name of names) {
      if (!allowed.has(name)) throw new Error(`drift ${kind}: unknown feature "${name}"; expected one of ${[...allowed].join(', ')}`);
    }
  };
  check('mean', Object.keys(drift.meanShift ?? {}), numeric);
  check('scale', Object.keys(drift.scale ?? {}), numeric);
  check('missing', Object.keys(drift.missing ?? {}), known);
  for (const [name, shift] of Object.entries(drift.categoryShift ?? {})) {
    const spec = CATEGORICAL.find((c) => c.name === name);
    if (!spec) throw new Error(`drift category: unknown categorical feature "${name}"; expected one of ${CATEGORICAL.map((c) => c.name).join(', ')}`);
    if (!spec.levels.includes(shift.level)) throw new Error(`drift category: "${name}" has no level "${shift.level}"; expected one of ${spec.levels.join(', ')}`);
  }
  if (drift.concept !== undefined && !(drift.concept >= 0 && drift.concept <= 1)) {
    throw new Error(`drift concept must be between 0 and 1, got ${drift.concept}`);
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function softmax(values: readonly number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * Parses drift knobs as written on the command line: `mean:age=0.5`, `scale:income=2`,
 * `category:plan=pro+0.1`, `missing:age=0.1`, `concept=0.5`, `label-shift=0.8`.
 */
export function parseDriftSpec(terms: readonly string[]): DriftSpec {
  const meanShift: Record<string, number> = {};
  const scale: Record<string, number> = {};
  const missing: Record<string, number> = {};
  const categoryShift: Record<string, { level: string; delta: number }> = {};
  let concept: number | undefined;
  let labelShift: number | undefined;
  const number = (text: string, term: string) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) throw new Error(`drift "${term}": "${text}" is not a number`);
    return value;
  };
  for (const term of terms.flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean)) {
    const match = /^([a-z-]+)(?::([\w-]+))?=(.+)$/.exec(term);
    if (!match) throw new Error(`drift "${term}": expected kind:feature=value or concept=value`);
    const [, kind, feature, value] = match as unknown as [string, string, string | undefined, string];
    const needFeature = () => {
      if (!feature) throw new Error(`drift "${term}": ${kind} needs a feature, e.g. ${kind}:age=…`);
      return feature;
    };
    if (kind === 'mean') meanShift[needFeature()] = number(value, term);
    else if (kind === 'scale') scale[needFeature()] = number(value, term);
    else if (kind === 'missing') missing[needFeature()] = number(value, term);
    else if (kind === 'category') {
      const shift = /^(.+?)([+-][\d.]+)$/.exec(value);
      if (!shift) throw new Error(`drift "${term}": expected category:feature=level+delta, e.g. category:plan=pro+0.1`);
      categoryShift[needFeature()] = { level: shift[1]!, delta: number(shift[2]!, term) };
    } else if (kind === 'concept') concept = number(value, term);
    else if (kind === 'label-shift') labelShift = number(value, term);
    else throw new Error(`drift "${term}": unknown kind "${kind}"; expected mean, scale, category, missing, concept or label-shift`);
  }
  const spec: DriftSpec = { meanShift, scale, missing, categoryShift, concept, labelShift };
  validateDrift(spec);
  return spec;
}

/** Writes generated rows to a CSV file, streaming, with back-pressure. */
export async function writeGeneratedCsv(path: string, options: GenerateOptions, onProgress?: (rows: number) => void): Promise<void> {
  const stream = createWriteStream(path);
  const write = async (text: string) => {
    if (!stream.write(text)) await once(stream, 'drain');
  };
  await write(`${generatedHeader(options.task).join(',')}\n`);
  let buffer = '';
  let rows = 0;
  for (const row of generateRows(options)) {
    buffer += `${row.cells.join(',')}\n`;
    if (++rows % 10_000 === 0) {
      await write(buffer);
      buffer = '';
      onProgress?.(rows);
    }
  }
  await write(buffer);
  onProgress?.(rows);
  await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}
