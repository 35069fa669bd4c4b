/** Weights of one layer as int8, with one scale per output channel. */
export interface QuantizedWeights {
  /** [K, N] row-major, symmetric: w ≈ q · scale[column]. */
  readonly values: Int8Array;
  /** [N] */
  readonly scales: Float32Array;
  /** Root-mean-square quantization error relative to the weights' own RMS, for the report. */
  readonly relativeError: number;
}

/**
 * Symmetric per-output-channel int8 quantization. Per channel because the columns of a
 * trained layer differ in magnitude by 10x and more: one scale for the whole matrix would
 * round the small columns to a handful of levels. Symmetric (zero point 0) because ONNX
 * Runtime's u8s8 kernels are fastest with it and weights are centred on zero anyway.
 * `reduceRange` keeps weights in ±63 (7 bits) for CPUs without VNNI, whose u8·s8 pair
 * products can saturate 16-bit intermediates.
 */
export function quantizeWeights(weights: Float32Array, inputs: number, outputs: number, options: { reduceRange?: boolean } = {}): QuantizedWeights {
  const qmax = options.reduceRange ? 63 : 127;
  const scales = new Float32Array(outputs);
  for (let j = 0; j < outputs; j++) {
    let max = 0;
    for (let i = 0; i < inputs; i++) max = Math.max(max, Math.abs(weights[i * outputs + j]!));
    // An all-zero column quantizes exactly with any scale; 1 avoids dividing by zero
    // (also for a column of denormals, whose float32 scale would round to 0).
    scales[j] = max > 0 ? max / qmax : 1;
    if (scales[j] === 0) scales[j] = 1;
  }
  const values = new Int8Array(inputs * outputs);
  let error = 0;
  let energy = 0;
  for (let i = 0; i < inputs; i++) {
    for (let j = 0; j < outputs; j++) {
      const w = weights[i * outputs + j]!;
      const q = Math.max(-qmax, Math.min(qmax, Math.round(w / scales[j]!)));
      values[i * outputs + j] = q;
      error += (w - q * scales[j]!) ** 2;
      energy += w * w;
    }
  }
  return { values, scales, relativeError: energy > 0 ? Math.sqrt(error / energy) : 0 };
}

/** Scale and zero point of an asymmetric uint8 activation covering [min, max]; the range always includes 0 so that 0 is exact. */
export function activationParameters(range: { readonly min: number; readonly max: number }): { scale: number; zeroPoint: number } {
  const min = Math.min(range.min, 0);
  const max = Math.max(range.max, 0);
  if (!(max > min) || !Number.isFinite(max - min)) return { scale: 1, zeroPoint: 0 };
  // The model stores the scale as float32: derive the zero point from that same value.
  const scale = Math.fround((max - min) / 255);
  return { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-min / scale))) };
}
