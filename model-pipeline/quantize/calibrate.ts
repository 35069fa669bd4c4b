import type { Matrix } from '../../core/model/onnx-session';
import { OnnxSession } from '../../core/model/onnx-session';
import { ElementType, encodeModel, type ModelProto } from '../onnx/proto';

/** How an activation's range is chosen from the calibration values. */
export type CalibrationMethod = 'minmax' | 'percentile';

export interface CalibrationOptions {
  /** @default 'minmax' */
  readonly method?: CalibrationMethod;
  /** For 'percentile': the share of values kept inside the range, in percent; the tails beyond it saturate. @default 99.99 */
  readonly percentile?: number;
}

/** The range an activation is quantized over. */
export interface ValueRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Runs the float model on calibration rows and records the range of each named
 * activation. The activations are made extra graph outputs of a copy of the model, so
 * ONNX Runtime computes them exactly as it will when serving.
 */
export async function calibrateRanges(model: ModelProto, input: string, rows: Matrix, tensors: readonly string[], options: CalibrationOptions = {}): Promise<Map<string, ValueRange>> {
  const method = options.method ?? 'minmax';
  const percentile = options.percentile ?? 99.99;
  if (!(percentile > 50 && percentile <= 100)) throw new Error(`percentile must be in (50, 100], got ${percentile}`);
  if (rows.rows === 0) throw new Error('calibration needs at least one row');

  const internal = tensors.filter((t) => t !== input);
  const values = new Map<string, Float32Array[]>(tensors.map((t) => [t, []]));
  if (tensors.includes(input)) values.get(input)!.push(rows.data);
  if (internal.length > 0) {
    const graph = model.graph!;
    const outputs = new Set((graph.output ?? []).map((o) => o.name));
    const probe: ModelProto = {
      ...model,
      graph: {
        ...graph,
        output: [...(graph.output ?? []), ...internal.filter((t) => !outputs.has(t)).map((name) => ({ name, type: { tensorType: { elemType: ElementType.FLOAT } } }))],
      },
    };
    const session = await OnnxSession.create(encodeModel(probe));
    try {
      const chunk = 512;
      for (let start = 0; start < rows.rows; start += chunk) {
        const n = Math.min(chunk, rows.rows - start);
        const result = await session.run(input, { data: rows.data.subarray(start * rows.cols, (start + n) * rows.cols), rows: n, cols: rows.cols }, internal);
        for (const name of internal) values.get(name)!.push(Float32Array.from(result[name]!.data as ArrayLike<number>));
      }
    } finally {
      await session.release();
    }
  }
  const ranges = new Map<string, ValueRange>();
  for (const [name, parts] of values) ranges.set(name, method === 'minmax' ? minMax(parts) : percentileRange(parts, percentile));
  return ranges;
}

function minMax(parts: readonly Float32Array[]): ValueRange {
  let min = Infinity;
  let max = -Infinity;
  for (const part of parts) {
    for (const v of part) {
      // NaN (a missing value before imputation) carries no range information.
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return Number.isFinite(min) ? { min, max } : { min: 0, max: 0 };
}

/** The central `percentile`% of the values: outliers saturate instead of stretching the scale for everyone else. */
function percentileRange(parts: readonly Float32Array[], percentile: number): ValueRange {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Float32Array(total);
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  const finite = all.filter((v) => Number.isFinite(v)).sort();
  if (finite.length === 0) return { min: 0, max: 0 };
  const tail = (100 - percentile) / 100 / 2;
  const at = (q: number) => finite[Math.min(finite.length - 1, Math.max(0, Math.round(q * (finite.length - 1))))]!;
  return { min: at(tail), max: at(1 - tail) };
}
