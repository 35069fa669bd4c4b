import { describe, expect, it } from 'vitest';
import { MicroBatcher } from '../../core/model/micro-batcher';
import type { Matrix } from '../../core/model/onnx-session';
import type { BatchScores } from '../../core/model/predictor';

/** A fake model that records the batch sizes it sees and echoes each row's first value. */
function recordingModel(delayMs = 5) {
  const calls: number[] = [];
  const run = async (m: Matrix): Promise<BatchScores> => {
    calls.push(m.rows);
    await new Promise((r) => setTimeout(r, delayMs));
    const values = new Float32Array(m.rows);
    for (let r = 0; r < m.rows; r++) values[r] = m.data[r * m.cols]!;
    return { rows: m.rows, width: 1, values };
  };
  return { calls, run };
}
const matrix = (value: number, rows = 1): Matrix => ({ data: new Float32Array(rows * 2).fill(value), rows, cols: 2 });

describe('MicroBatcher', () => {
  it('runs a lone request at once, without waiting for company', async () => {
    const model = recordingModel();
    const scores = await new MicroBatcher(model.run).submit(matrix(7));
    expect(model.calls).toEqual([1]);
    expect(Array.from(scores.values)).toEqual([7]);
  });

  it('coalesces requests that arrive while a call is in flight, and routes each its own rows', async () => {
    const model = recordingModel();
    const batcher = new MicroBatcher(model.run);
    const results = await Promise.all([1, 2, 3, 4, 5].map((v) => batcher.submit(matrix(v))));
    expect(model.calls).toEqual([1, 4]);
    expect(results.map((r) => r.values[0])).toEqual([1, 2, 3, 4, 5]);
  });

  it('never exceeds the maximum batch size', async () => {
    const model = recordingModel();
    const batcher = new MicroBatcher(model.run, { maxBatchRows: 3 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(matrix(i))));
    expect(Math.max(...model.calls)).toBeLessThanOrEqual(3);
    expect(model.calls.reduce((a, b) => a + b, 0)).toBe(10);
  });

  it('waits up to maxWaitMicros when idle to collect a batch', async () => {
    const model = recordingModel(0);
    const batcher = new MicroBatcher(model.run, { maxWaitMicros: 5000 });
    await Promise.all([batcher.submit(matrix(1)), batcher.submit(matrix(2))]);
    expect(model.calls).toEqual([2]);
  });

  it('fails every request of a batch whose model call fails', async () => {
    const batcher = new MicroBatcher(async () => {
      throw new Error('boom');
    });
    const results = await Promise.allSettled([batcher.submit(matrix(1)), batcher.submit(matrix(2))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
