import type { Matrix } from './onnx-session';
import type { BatchScores } from './predictor';

export interface MicroBatchOptions {
  /** Most rows in one model call. @default 256 */
  readonly maxBatchRows?: number;
  /**
   * How long an idle batcher waits for company before running a lone request, in
   * microseconds. 0 runs at once; batches then form only while a call is in flight.
   * @default 0
   */
  readonly maxWaitMicros?: number;
}

interface Pending {
  readonly matrix: Matrix;
  readonly resolve: (scores: BatchScores) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Coalesces concurrent requests to one model into a single call. While a call is in flight
 * (ONNX Runtime runs it off the event loop), new requests queue; when it returns, everything
 * queued goes in the next call. An idle request runs at once (or after maxWaitMicros), so
 * batching adds no latency when there is no load, and raises throughput when there is.
 */
export class MicroBatcher {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly maxBatchRows: number;
  private readonly maxWaitMicros: number;

  constructor(
    private readonly run: (matrix: Matrix) => Promise<BatchScores>,
    options: MicroBatchOptions = {},
  ) {
    this.maxBatchRows = options.maxBatchRows ?? 256;
    this.maxWaitMicros = options.maxWaitMicros ?? 0;
  }

  /** Scores a matrix as part of the next batch. */
  submit(matrix: Matrix): Promise<BatchScores> {
    // A request larger than a batch gains nothing from company.
    if (matrix.rows >= this.maxBatchRows) return this.run(matrix);
    return new Promise((resolve, reject) => {
      this.queue.push({ matrix, resolve, reject });
      this.queuedRows += matrix.rows;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running) return;
    if (this.queuedRows >= this.maxBatchRows || this.maxWaitMicros === 0) {
      this.clearTimer();
      void this.drain();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.drain();
      }, Math.max(1, Math.round(this.maxWaitMicros / 1000)));
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async drain(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch: Pending[] = [];
    let rows = 0;
    while (this.queue.length && (batch.length === 0 || rows + this.queue[0]!.matrix.rows <= this.maxBatchRows)) {
      const next = this.queue.shift()!;
      batch.push(next);
      rows += next.matrix.rows;
    }
    this.queuedRows -= rows;
    try {
      const cols = batch[0]!.matrix.cols;
      const data = batch.length === 1 ? batch[0]!.matrix.data : new Float32Array(rows * cols);
      if (batch.length > 1) {
        let offset = 0;
        for (const { matrix } of batch) {
          data.set(matrix.data.subarray(0, matrix.rows * cols), offset);
          offset += matrix.rows * cols;
        }
      }
      const scores = await this.run({ data, rows, cols });
      let row = 0;
      for (const { matrix, resolve } of batch) {
        resolve({ rows: matrix.rows, width: scores.width, values: scores.values.subarray(row * scores.width, (row + matrix.rows) * scores.width) });
        row += matrix.rows;
      }
    } catch (error) {
      for (const { reject } of batch) reject(error);
    } finally {
      this.running = false;
      if (this.queue.length) this.schedule();
    }
  }
}
