import { describe, expect, it } from 'vitest';
import { type InputRecord, scoreRecords } from '../../core/batch/score-records';
import type { Scorer } from '../../core/batch/scorer';
import { parseManifest } from '../../core/model/manifest';

/** A scorer for one numeric feature that must never be asked: every record below is rejected before scoring. */
const neverAsked: Scorer = {
  manifest: parseManifest({
    schemaVersion: 1,
    name: 'm',
    version: '1.0.0',
    task: 'binary',
    input: { tensor: 'x', features: [{ name: 'a', type: 'numeric' }] },
    output: { tensor: 'p', kind: 'probabilities', classes: ['no', 'yes'] },
    createdAt: '2026-11-23T10:00:00.000Z',
    files: { 'model.onnx': { sha256: '0'.repeat(64), bytes: 1 } },
  }),
  predict: () => Promise.reject(new Error('no record should reach the model')),
};

describe('scoreRecords', () => {
  it('writes rejected records out as they pile up, long before the input ends, when every record is rejected', async () => {
    const batches = 200;
    let batchesRead = 0;
    const writes: { afterBatches: number; lines: number }[] = [];
    async function* source(): AsyncGenerator<InputRecord[]> {
      for (let b = 0; b < batches; b++) {
        batchesRead++;
        yield Array.from({ length: 100 }, (_, i) => {
          const line = b * 100 + i + 1;
          return { line, value: { a: 'not a number' }, raw: JSON.stringify({ a: 'not a number', pad: 'x'.repeat(100) }) };
        });
      }
    }
    const errors = { write: async (text: string | Uint8Array) => void writes.push({ afterBatches: batchesRead, lines: String(text).split('\n').length - 1 }) };

    const counts = await scoreRecords(source(), neverAsked, { predictions: { write: async () => {} }, errors });

    expect(counts).toEqual({ rowsIn: 20_000, scored: 0, rejected: 20_000 });
    expect(writes.reduce((sum, w) => sum + w.lines, 0)).toBe(20_000);
    expect(writes.length).toBeGreaterThan(1);
    expect(writes[0]!.afterBatches).toBeLessThan(batches);
  });
});
