import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { runBatchInput } from '../core/batch/fan-out';
import { batchKeys } from '../core/batch/layout';
import { ModelLayout } from '../core/layout';
import { Random } from '../core/random';
import { createBatchApp } from '../functions/batch/app';
import { startEmbeddedS3 } from '../local/embedded-s3';
import { benchMlp } from './bench-model';

/**
 * One input scored in one run and split into parts (plan, parts two at a time, merge), side by
 * side over the embedded S3, on the bench model (MLP 64 → 512 → 512 → 10): wall-clock ratio, and
 * whether both runs wrote the same bytes. On this 2-core machine parts cannot run faster than one
 * run (one ONNX Runtime worker, one parsing thread): the ratio is the fan-out's overhead (the plan
 * scan, per-part S3 round trips, the merge copy), which Lambda pays once per file while running
 * parts on many machines at once.
 * Run: npx tsx bench/batch-fan-out.ts [--rows 200000] [--parts 4]
 */

const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const rows = arg('--rows', 200_000);
const partsWanted = arg('--parts', 4);

const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-fan-out-'));
const s3 = await startEmbeddedS3({ directory: join(dir, 's3'), port: 0, buckets: ['models', 'data'] });
try {
  const { pkg } = benchMlp();
  for (const [name, body] of [...pkg.files, ['manifest.json', JSON.stringify(pkg.manifest)] as const]) {
    await s3.client.send(new PutObjectCommand({ Bucket: 'models', Key: `${ModelLayout.package(pkg.manifest.name, pkg.manifest.version)}${name}`, Body: body }));
  }
  const random = new Random(3);
  const lines = [`id,${Array.from({ length: 64 }, (_, i) => `f${i}`).join(',')}`];
  for (let r = 0; r < rows; r++) {
    let line = `r${r}`;
    for (let c = 0; c < 64; c++) line += `,${random.normal().toFixed(4)}`;
    lines.push(line);
  }
  const body = new TextEncoder().encode(`${lines.join('\n')}\n`);
  const model = pkg.manifest.name;
  const inputs = { whole: `batch/input/${model}/whole.csv`, one: `batch/input/${model}/split-1.csv`, two: `batch/input/${model}/split-2.csv` };
  for (const key of Object.values(inputs)) await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: key, Body: body }));

  const app = createBatchApp(s3.client, { models: 'models', data: 'data' });
  await app.scorerFor(model); // load once, outside both timings
  const time = async (run: () => Promise<unknown>) => {
    const start = performance.now();
    await run();
    return (performance.now() - start) / 1000;
  };
  const whole = await time(() => runBatchInput(inputs.whole, app));
  const partBytes = Math.ceil(body.length / partsWanted);
  const digest = async (key: string) => createHash('sha256').update(await (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: key }))).Body!.transformToByteArray()).digest('hex');
  const reference = await digest(batchKeys(inputs.whole).predictions);
  console.log(`${rows} rows, ${(body.length / 1e6).toFixed(0)} MB over the embedded S3`);
  console.log(`one run:             ${whole.toFixed(1)} s (${Math.round(rows / whole)} rows/s)`);
  for (const [key, concurrency] of [[inputs.one, 1], [inputs.two, 2]] as const) {
    let parts = 0;
    const split = await time(async () => {
      parts = (await runBatchInput(key, app, { aboveBytes: 1, partBytes, concurrency })).manifest?.parts ?? 0;
    });
    const same = (await digest(batchKeys(key).predictions)) === reference;
    console.log(`${parts} parts, ${concurrency} at once:  ${split.toFixed(1)} s (${Math.round(rows / split)} rows/s), ${(whole / split).toFixed(2)}x one run's rate; predictions identical: ${same}`);
  }
  await app.engine.release();
} finally {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
}
