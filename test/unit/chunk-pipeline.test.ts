import { describe, expect, it } from 'vitest';
import { ChunkPipeline } from '../../core/batch/chunk-pipeline';
import type { Scorer } from '../../core/batch/scorer';
import type { Manifest } from '../../core/model/manifest';
import type { Matrix } from '../../core/model/onnx-session';
import type { BatchScores } from '../../core/model/predictor';

/**
 * A scorer whose answers the test releases by hand, in any order (the real model answers in
 * order; this checks that the pipeline does not depend on it). Each score is the row's feature.
 */
function manualScorer() {
  const calls: { matrix: Matrix; answer: () => void; fail: (error: Error) => void }[] = [];
  const scorer: Scorer = {
    manifest: { input: { tensor: 'x', features: [{ name: 'a', type: 'numeric' }] } } as unknown as Manifest,
    predict: (matrix) =>
      new Promise<BatchScores>((resolve, reject) => {
        const values = Float32Array.from(matrix.data);
        calls.push({ matrix, answer: () => resolve({ rows: matrix.rows, width: 1, values }), fail: reject });
      }),
  };
  return { scorer, calls };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ChunkPipeline', () => {
  it('writes chunks in input order even when a later chunk is scored first', async () => {
    const { scorer, calls } = manualScorer();
    const written: number[][] = [];
    const pipeline = new ChunkPipeline(scorer, 2, async (chunk, scores) => {
      written.push(Array.from(scores.values));
      expect(chunk.lines).toEqual(Array.from(scores.values));
    });
    for (let row = 1; row <= 6; row++) {
      pipeline.current.data[pipeline.current.rows] = row;
      await pipeline.commit(row, []);
    }
    expect(calls).toHaveLength(3);
    for (const call of [...calls].reverse()) call.answer();
    await pipeline.finish();
    expect(written).toEqual([[1, 2], [3, 4], [5, 6]]);
  });

  it('lets the caller fill at most four chunks before the model answers, so memory stays bounded', async () => {
    const { scorer, calls } = manualScorer();
    const pipeline = new ChunkPipeline(scorer, 1, async () => {});
    for (let row = 1; row <= 3; row++) await pipeline.commit(row, []);
    // The fourth chunk's hand-over needs chunk 1's buffer back: the caller waits for the model.
    let handedOver = false;
    void pipeline.commit(4, [])!.then(() => (handedOver = true));
    await settle();
    expect(handedOver).toBe(false);
    calls[0]!.answer();
    await settle();
    expect(handedOver).toBe(true);
  });

  it('surfaces a scoring failure by the time the job finishes', async () => {
    const { scorer, calls } = manualScorer();
    const pipeline = new ChunkPipeline(scorer, 1, async () => {});
    await pipeline.commit(1, []);
    await pipeline.commit(2, []);
    calls[0]!.answer();
    calls[1]!.fail(new Error('model crashed'));
    await expect(pipeline.finish()).rejects.toThrow('model crashed');
  });
});
