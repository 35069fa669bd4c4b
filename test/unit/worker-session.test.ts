import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxSession } from '../../core/model/onnx-session';
import { WorkerSession } from '../../core/model/worker-session';
import { GraphBuilder } from '../../model-pipeline/onnx/graph-builder';
import { ElementType } from '../../model-pipeline/onnx/proto';

/** x·W + b over 3 features, 2 outputs. */
function linearModel(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input('x', ElementType.FLOAT, ['N', 3]);
  g.node('Gemm', [x, g.floats('W', [1, -1, 0.5, 2, -0.25, 1], [3, 2]), g.floats('b', [0.1, -0.1], [2])], {}, 'y');
  g.output('y', ElementType.FLOAT, ['N', 2]);
  return g.build({ graphName: 'test', producer: 'test' });
}

function matrix(rows: number, seed: number) {
  return { data: Float32Array.from({ length: rows * 3 }, (_, i) => ((i * 7 + seed) % 11) - 5), rows, cols: 3 };
}

describe('WorkerSession', () => {
  const model = linearModel();
  let inProcess: OnnxSession;
  let worker: WorkerSession;
  beforeAll(async () => {
    inProcess = await OnnxSession.create(model);
    worker = await WorkerSession.create(model);
  });
  afterAll(async () => {
    await worker.release();
    await inProcess.release();
  });

  it('scores batches of changing sizes, one after another and at once, as the in-process session does', async () => {
    const batches = [4, 1, 9, 9, 2, 16].map((rows, seed) => matrix(rows, seed));
    const expected = await Promise.all(batches.map((m) => inProcess.run('x', m)));
    const sequential = [];
    for (const m of batches) sequential.push(await worker.run('x', m));
    const concurrent = await Promise.all(batches.map((m) => worker.run('x', m)));
    for (const results of [sequential, concurrent]) {
      expect(results.map((r) => Array.from(r.y!.data as Float32Array))).toEqual(expected.map((r) => Array.from(r.y!.data as Float32Array)));
      expect(results.map((r) => r.y!.dims)).toEqual(batches.map((m) => [m.rows, 2]));
    }
  });

  it("leaves the caller's matrix intact (it is copied, never moved)", async () => {
    const m = matrix(5, 3);
    const before = Array.from(m.data);
    await worker.run('x', m);
    expect(Array.from(m.data)).toEqual(before);
  });

  it('rejects a call naming an unknown input and keeps serving the next', async () => {
    await expect(worker.run('nope', matrix(2, 1))).rejects.toThrow(/input 'x' is missing/);
    const result = await worker.run('x', matrix(2, 1));
    expect(result.y!.dims).toEqual([2, 2]);
  });
});
