import { InferenceEngine } from '../core/model/engine';
import { OnnxSession } from '../core/model/onnx-session';
import { StaticModelSource } from '../core/model/registry';
import { handleApiRequest } from '../core/protocol/router';
import { Random } from '../core/random';
import { benchMlp, median, timeCalls } from './bench-model';

/**
 * Serving overhead and micro-batching, measured side by side in one run on the design's
 * MLP (64 → 512 → 512 → 10, one ONNX Runtime thread):
 *   1. handler latency (JSON in → validation → model → JSON out) vs raw session.run, batch 1 and 32;
 *   2. throughput of 32 concurrent clients sending 1-row requests, micro-batching on vs off;
 *   3. cold start: package → session → first prediction.
 * Run: npm run bench:serving
 */

const { pkg, features, onnx } = benchMlp();
const random = new Random(3);
const row = () => features.map(() => Number(random.normal().toFixed(4)));
const bodies = { 1: JSON.stringify({ instances: [row()] }), 32: JSON.stringify({ instances: Array.from({ length: 32 }, row) }) };
const matrices = {
  1: { data: Float32Array.from(JSON.parse(bodies[1]).instances.flat()), rows: 1, cols: 64 },
  32: { data: Float32Array.from(JSON.parse(bodies[32]).instances.flat()), rows: 32, cols: 64 },
};
const request = (body: string, n: number) => ({ method: 'POST', path: '/models/bench/predict', headers: { 'content-type': 'application/json' }, body, requestId: `r${n}` });

async function main(): Promise<void> {
  const coldStart = performance.now();
  const session = await OnnxSession.create(onnx);
  await session.run('features', matrices[1]);
  const coldMs = performance.now() - coldStart;

  const unbatched = new InferenceEngine(new StaticModelSource([pkg]), { batching: false });
  const batched = new InferenceEngine(new StaticModelSource([pkg]), { batching: { maxBatchRows: 256 } });
  await unbatched.model('bench');
  await batched.model('bench');
  let n = 0;

  console.log('serving overhead (median µs per call; ratio = handler / raw session.run)');
  const latency: string[][] = [];
  for (const size of [1, 32] as const) {
    // Interleave the two measurements so machine noise hits both alike.
    const raw: number[] = [];
    const handler: number[] = [];
    for (let round = 0; round < 4; round++) {
      raw.push(...(await timeCalls(() => session.run('features', matrices[size]), 400)));
      handler.push(...(await timeCalls(() => handleApiRequest(request(bodies[size], n++), { engine: batched }), 400)));
    }
    const ratio = median(handler) / median(raw);
    latency.push([`batch ${size}`, median(raw).toFixed(0), median(handler).toFixed(0), `${ratio.toFixed(2)}x`]);
  }
  console.table(latency.map(([b, r, h, x]) => ({ batch: b, 'raw session.run µs': r, 'handler µs': h, ratio: x })));

  console.log('\nthroughput: 32 concurrent clients, 1-row requests, 3 s each');
  const throughput = async (engine: InferenceEngine) => {
    let done = 0;
    const end = performance.now() + 3000;
    const client = async () => {
      while (performance.now() < end) {
        const response = await handleApiRequest(request(bodies[1], n++), { engine });
        if (response.status !== 200) throw new Error(String(response.body));
        done++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, client));
    return done / 3;
  };
  const off = await throughput(unbatched);
  const on = await throughput(batched);
  const off2 = await throughput(unbatched);
  const on2 = await throughput(batched);
  const offRate = (off + off2) / 2;
  const onRate = (on + on2) / 2;
  console.table([
    { micro_batching: 'off', 'requests/s': offRate.toFixed(0) },
    { micro_batching: 'on', 'requests/s': onRate.toFixed(0) },
  ]);
  console.log(`\nsummary: handler/raw at batch 1 = ${latency[0]![3]}, at batch 32 = ${latency[1]![3]}; micro-batching speed-up = ${(onRate / offRate).toFixed(1)}x; cold start (session + first prediction) = ${coldMs.toFixed(0)} ms`);
  await Promise.all([unbatched.release(), batched.release(), session.release()]);
}

await main();
