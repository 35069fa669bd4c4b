import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { InferenceEngine } from '../core/model/engine';
import { OnnxSession, ortSessionOptions } from '../core/model/onnx-session';
import { StaticModelSource } from '../core/model/registry';
import { Random } from '../core/random';
import { startApiServer } from '../local/api-server';
import { benchMlp } from './bench-model';

/**
 * Serving throughput over real HTTP, side by side in one run: 32 concurrent keep-alive clients
 * (their own process, bench/http-load.ts) against
 *   (a) a bare node:http server around one ONNX Runtime session: JSON.parse, one session.run,
 *       JSON.stringify, no validation: the floor of this stack;
 *   (b) the platform (local/api-server.ts: validation, micro-batching, labels) with JSON tensors;
 *   (c) the platform with binary tensors (OIP binary data extension, binary outputs);
 *   (d) FastAPI + ONNX Runtime (bench/fastapi_server.py), when BENCH_PYTHON has them;
 *   and, as the ceiling, node:http answering `{}` to the same binary body without reading it.
 * Models: the design's MLP 64 → 512 → 512 → 10 and a small 64 → 32 → 2 MLP; batch 1 and 32;
 * one ONNX Runtime thread everywhere. Rounds interleave the servers so noise hits all alike;
 * the median round is reported. Then the cold start (package → session → first prediction).
 * Run: npm run bench:serving [-- --seconds 2 --rounds 3]
 */

const here = dirname(fileURLToPath(import.meta.url));
const argument = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const SECONDS = argument('seconds', 2);
const ROUNDS = argument('rounds', 3);
const CONCURRENCY = 32;
const PYTHON = process.env.BENCH_PYTHON ?? 'python3';

interface Target {
  readonly name: string;
  readonly url: string;
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

/** (a) The floor: what a minimal server does with the same model and body. */
async function startBareServer(onnx: Uint8Array): Promise<{ url: string; close: () => void }> {
  const session = await ort.InferenceSession.create(onnx, ortSessionOptions({}));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const tensor = JSON.parse(Buffer.concat(chunks).toString('utf8')).inputs[0];
      void session.run({ [tensor.name]: new ort.Tensor('float32', Float32Array.from(tensor.data), tensor.shape) }).then((out) => {
        const p = out.probabilities!;
        const answer = JSON.stringify({ model_name: 'bench', outputs: [{ name: 'probabilities', shape: p.dims, datatype: 'FP32', data: Array.from(p.data as Float32Array) }] });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(answer)) });
        res.end(answer);
      });
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/bench/infer`, close: () => server.close() };
}

/** The ceiling of node:http on this machine: an empty answer, nothing parsed or run. */
async function startEmptyServer(): Promise<{ url: string; close: () => void }> {
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
      res.end('{}');
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
}

/** (d) FastAPI + ONNX Runtime, if the Python packages are there. */
async function startFastApi(onnx: Uint8Array): Promise<{ url: string; close: () => void } | null> {
  const check = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn, onnxruntime, numpy'], { stdio: 'ignore' });
  if (check.status !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'bench-fastapi-'));
  writeFileSync(join(dir, 'model.onnx'), onnx);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child: ChildProcess = spawn(PYTHON, [join(here, 'fastapi_server.py'), join(dir, 'model.onnx'), String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/v2/models/bench/infer`;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const ok = await fetch(url, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 64], datatype: 'FP32', data: new Array(64).fill(0) }] }) }).then((r) => r.ok, () => false);
    if (ok) return { url, close: () => child.kill() };
  }
  child.kill();
  return null;
}

function load(target: Target): Promise<{ requests: number; errors: number; seconds: number; p50Ms: number }> {
  const child = fork(join(here, 'http-load.ts'), [], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    child.once('message', (result) => resolve(result as { requests: number; errors: number; seconds: number; p50Ms: number }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${target.name}: the load generator exited with ${code}`)));
    child.send({ url: target.url, body: target.body.toString('base64'), headers: target.headers, seconds: SECONDS, concurrency: CONCURRENCY });
  });
}

function bodies(rows: number, random: Random) {
  const values = Array.from({ length: rows * 64 }, () => Number(random.normal().toFixed(4)));
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'features', shape: [rows, 64], datatype: 'FP32', data: values }] }));
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'features', shape: [rows, 64], datatype: 'FP32', parameters: { binary_data_size: rows * 64 * 4 } }], parameters: { binary_data_output: true } }));
  const tensor = Float32Array.from(values);
  const binary = Buffer.concat([header, Buffer.from(tensor.buffer)]);
  return { json, binary, headerLength: header.length };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function benchModel(label: string, hidden: number[], classes: number) {
  const { pkg, onnx } = benchMlp({ hidden, classes });
  const engine = new InferenceEngine(new StaticModelSource([pkg]));
  await engine.model('bench');
  const platform = await startApiServer({ engine }, { port: 0 });
  const bare = await startBareServer(onnx);
  const empty = await startEmptyServer();
  const fastapi = await startFastApi(onnx);
  const random = new Random(3);
  const rows: Record<string, string>[] = [];
  for (const batch of [1, 32]) {
    const { json, binary, headerLength } = bodies(batch, random);
    const infer = `${platform.url}/v2/models/bench/infer`;
    const targets: Target[] = [
      { name: 'node:http, empty answer', url: empty.url, body: binary, headers: { 'content-type': 'application/octet-stream' } },
      { name: 'bare node:http JSON', url: bare.url, body: json, headers: { 'content-type': 'application/json' } },
      { name: 'platform JSON', url: infer, body: json, headers: { 'content-type': 'application/json' } },
      { name: 'platform binary', url: infer, body: binary, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) } },
      ...(fastapi ? [{ name: 'FastAPI + ORT JSON', url: fastapi.url, body: json, headers: { 'content-type': 'application/json' } }] : []),
    ];
    const rates = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    const latencies = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) {
        const result = await load(target);
        if (result.errors) throw new Error(`${target.name}: ${result.errors} failed requests`);
        rates.get(target.name)!.push(result.requests / result.seconds);
        latencies.get(target.name)!.push(result.p50Ms);
      }
    }
    const floor = median(rates.get('bare node:http JSON')!);
    const platformJson = median(rates.get('platform JSON')!);
    for (const target of targets) {
      const rate = median(rates.get(target.name)!);
      rows.push({
        model: label,
        batch: String(batch),
        server: target.name,
        'requests/s': rate.toFixed(0),
        'rows/s': (rate * batch).toFixed(0),
        'p50 ms': median(latencies.get(target.name)!).toFixed(2),
        'vs bare': `${(rate / floor).toFixed(2)}x`,
        'vs platform JSON': `${(rate / platformJson).toFixed(2)}x`,
      });
    }
  }
  await platform.close();
  bare.close();
  empty.close();
  fastapi?.close();
  await engine.release();
  return rows;
}

async function main(): Promise<void> {
  console.log(`serving throughput: ${CONCURRENCY} concurrent keep-alive clients, ${SECONDS} s per measure, median of ${ROUNDS} interleaved rounds, 1 ONNX Runtime thread`);
  const table = [...(await benchModel('MLP 64→512→512→10', [512, 512], 10)), ...(await benchModel('MLP 64→32→2', [32], 2))];
  console.table(table);
  if (spawnSync(PYTHON, ['-c', 'import fastapi'], { stdio: 'ignore' }).status !== 0) console.log(`(FastAPI + ONNX Runtime skipped: ${PYTHON} lacks fastapi, uvicorn, onnxruntime or numpy; set BENCH_PYTHON)`);

  const { onnx } = benchMlp();
  const coldStart = performance.now();
  const session = await OnnxSession.create(onnx);
  await session.run('features', { data: new Float32Array(64), rows: 1, cols: 64 });
  console.log(`\ncold start (session + first prediction, MLP 64→512→512→10): ${(performance.now() - coldStart).toFixed(0)} ms`);
  await session.release();
}

await main();
