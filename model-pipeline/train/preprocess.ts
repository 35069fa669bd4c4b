import type { Feature } from '../../core/model/manifest';

/**
 * The feature transform a trained model carries in its ONNX graph: numeric features are
 * standardized (missing → the training mean, i.e. 0 after scaling), categorical level
 * indices are one-hot encoded (missing or unknown → all zeros). The design matrix holds
 * the numeric block first, then each categorical feature's one-hot block.
 */
export interface FeatureTransform {
  readonly inputWidth: number;
  readonly numeric: ReadonlyArray<{ readonly column: number; readonly mean: number; readonly std: number }>;
  readonly categorical: ReadonlyArray<{ readonly column: number; readonly levels: number }>;
  readonly designWidth: number;
}

/** Fits means and standard deviations on the encoded training matrix (NaN = missing). */
export function fitTransform(features: readonly Feature[], x: Float32Array, rows: number): FeatureTransform {
  const width = features.length;
  const numeric: { column: number; mean: number; std: number }[] = [];
  const categorical: { column: number; levels: number }[] = [];
  features.forEach((feature, column) => {
    if (feature.type === 'categorical') {
      categorical.push({ column, levels: feature.levels.length });
      return;
    }
    let count = 0;
    let mean = 0;
    let m2 = 0;
    for (let r = 0; r < rows; r++) {
      const v = x[r * width + column]!;
      if (Number.isNaN(v)) continue;
      count++;
      const delta = v - mean;
      mean += delta / count;
      m2 += delta * (v - mean);
    }
    const std = count > 1 ? Math.sqrt(m2 / (count - 1)) : 0;
    // A constant column carries no signal; a unit scale keeps the graph free of division by zero.
    numeric.push({ column, mean, std: std > 1e-12 ? std : 1 });
  });
  const designWidth = numeric.length + categorical.reduce((sum, c) => sum + c.levels, 0);
  return { inputWidth: width, numeric, categorical, designWidth };
}

/** Applies the transform to an encoded matrix, exactly as the exported graph does. */
export function designMatrix(transform: FeatureTransform, x: Float32Array, rows: number): Float64Array {
  const out = new Float64Array(rows * transform.designWidth);
  const { inputWidth, designWidth } = transform;
  for (let r = 0; r < rows; r++) {
    let j = r * designWidth;
    for (const { column, mean, std } of transform.numeric) {
      const v = x[r * inputWidth + column]!;
      // Float32 arithmetic, as in the graph, so that the two agree to rounding.
      out[j++] = Number.isNaN(v) ? 0 : Math.fround(Math.fround(v - Math.fround(mean)) / Math.fround(std));
    }
    for (const { column, levels } of transform.categorical) {
      const code = x[r * inputWidth + column]!;
      if (Number.isInteger(code) && code >= 0 && code < levels) out[j + code] = 1;
      j += levels;
    }
  }
  return out;
}
