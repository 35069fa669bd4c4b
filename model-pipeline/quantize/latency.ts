import type { Matrix } from '../../core/model/onnx-session';

/** Median latency of two models at one batch size, measured side by side. */
export interface LatencyPair {
  readonly batch: number;
  readonly fp32Ms: number;
  readonly int8Ms: number;
  /** fp32Ms / int8Ms */
  readonly speedup: number;
}

export interface SideBySideOptions {
  /** @default [1, 32, 1024] */
  readonly batches?: readonly number[];
  /** Time spent measuring each batch size (both models together), after the warm-up. @default 600 */
  readonly budgetMs?: number;
  /** Calls of each model before measuring. @default 10 */
  readonly warmup?: number;
}

/**
 * Measures two models on the same batches, taking turns in short blocks (A B, B A, …) so
 * that both see the same machine state: a noisy neighbour or a frequency change slows both,
 * and the ratio stays meaningful where absolute times would not. The first calls of each
 * block are not timed, so each model is measured with its own weights in cache, as when it
 * serves, rather than right after the other model evicted them.
 */
export async function measureSideBySide(
  fp32: (batch: Matrix) => Promise<unknown>,
  int8: (batch: Matrix) => Promise<unknown>,
  rows: Matrix,
  options: SideBySideOptions = {},
): Promise<LatencyPair[]> {
  if (rows.rows === 0) throw new Error('latency needs at least one row');
  const results: LatencyPair[] = [];
  for (const batch of options.batches ?? [1, 32, 1024]) {
    const matrix = tile(rows, batch);
    const models = { fp32, int8 };
    for (let i = 0; i < (options.warmup ?? 10); i++) {
      await fp32(matrix);
      await int8(matrix);
    }
    const block = batch >= 1024 ? 2 : batch >= 32 ? 10 : 20;
    const times = { fp32: [] as number[], int8: [] as number[] };
    const end = performance.now() + (options.budgetMs ?? 600);
    // At least a few rounds, however slow the model: a median of one is no median.
    for (let round = 0; round < 3 || performance.now() < end; round++) {
      for (const which of round % 2 === 0 ? (['fp32', 'int8'] as const) : (['int8', 'fp32'] as const)) {
        await models[which](matrix);
        for (let i = 0; i < block; i++) {
          const start = performance.now();
          await models[which](matrix);
          times[which].push(performance.now() - start);
        }
      }
    }
    const fp32Ms = median(times.fp32);
    const int8Ms = median(times.int8);
    results.push({ batch, fp32Ms, int8Ms, speedup: fp32Ms / int8Ms });
  }
  return results;
}

/** The first `batch` rows, repeating the rows when there are fewer. */
export function tile(rows: Matrix, batch: number): Matrix {
  const data = new Float32Array(batch * rows.cols);
  for (let r = 0; r < batch; r++) {
    const source = r % rows.rows;
    data.set(rows.data.subarray(source * rows.cols, (source + 1) * rows.cols), r * rows.cols);
  }
  return { data, rows: batch, cols: rows.cols };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
