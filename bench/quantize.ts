/**
 * `npm run bench:quantize` — fp32 vs int8 on an MLP 64 → 512 → 512 → 10 trained on
 * clustered data: latency at batch 1, 32 and 1024 (all models measured round-robin in one
 * run, 1 intra-op thread), size, top-1 agreement, max |Δ probability| and accuracy; ours
 * side by side with ONNX Runtime's own Python quantizer when /tmp/fxvenv (or
 * $QUANTIZE_BENCH_PYTHON) has onnxruntime, skipped with a message otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Matrix, OnnxSession } from '../core/model/onnx-session';
import { agreement, maxAbsDifference, type Scores } from '../model-pipeline/quantize/compare';
import { quantizeModel } from '../model-pipeline/quantize/quantize-model';
import { median } from './bench-model';
import { benchModels, type ClusterData, clusterData, trainBenchMlp } from './quantize-data';

const GOALS = { speedupAt32: 2.5, speedupAt1024: 2.8, sizeRatio: 0.3, agreement: 0.995 };
const BUDGET_MS: Record<number, number> = { 1: 3000, 32: 3000, 1024: 6000 };
const python = process.env.QUANTIZE_BENCH_PYTHON ?? '/tmp/fxvenv/bin/python';

interface Candidate {
  readonly name: string;
  readonly bytes: Uint8Array;
}

async function main(): Promise<void> {
  const started = performance.now();
  const train = clusterData(6000, { seed: 1 });
  const test = clusterData(4000, { seed: 2 });
  const model = trainBenchMlp(train, { epochs: 2 });
  console.log(`trained MLP 64→512→512→10 with the project's trainer: ${model.epochsRun} epochs on ${model.train.rows} rows in ${seconds(started)} s`);
  const calibration = matrixOf(train, 1000);
  const rows = matrixOf(test);

  const work = await mkdtemp(join(tmpdir(), 'bench-quantize-'));
  try {
    const families = benchModels(model);
    for (const [family, fp32] of [['bare MLP (Gemm, Relu, Softmax)', families.bare], ['package model (exporter: + preprocessing and ArgMax)', families.exported]] as const) {
      const candidates: Candidate[] = [{ name: 'fp32', bytes: fp32 }];
      for (const mode of ['dynamic', 'static'] as const) {
        const q = await quantizeModel(fp32, { mode, input: 'features', output: 'probabilities', calibration });
        const kept = q.layers.filter((l) => !l.quantized).map((l) => l.name);
        candidates.push({ name: `ours ${mode}${kept.length ? ` (float: ${kept.join(', ')})` : ''}`, bytes: q.bytes! });
      }
      candidates.push(...(await ortQuantized(fp32, calibration, work)));
      await compare(family, candidates, rows, test.y);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  console.log(`\ntotal ${seconds(started)} s`);
}

/** Quality on the test rows, then latency round-robin over all candidates at each batch size. */
async function compare(family: string, candidates: readonly Candidate[], rows: Matrix, labels: Int32Array): Promise<void> {
  const sessions = await Promise.all(candidates.map((c) => OnnxSession.create(c.bytes)));
  try {
    const scores: Scores[] = [];
    for (const session of sessions) {
      const values = Float32Array.from((await session.run('features', rows, ['probabilities'])).probabilities!.data as ArrayLike<number>);
      scores.push({ values, width: values.length / rows.rows });
    }
    const latency = new Map<number, number[]>();
    for (const batch of [1, 32, 1024]) latency.set(batch, await roundRobin(sessions, tileRows(rows, batch), BUDGET_MS[batch]!));

    console.log(`\n${family}: fp32 ${(candidates[0]!.bytes.byteLength / 1e6).toFixed(2)} MB, median latency fp32 ${[1, 32, 1024].map((b) => `${latency.get(b)![0]!.toFixed(3)} ms @${b}`).join(', ')}`);
    const header = ['', 'size', 'top-1 agree', 'max |Δp|', 'accuracy', 'speed-up @1', '@32', '@1024'];
    const table = candidates.map((c, i) => [
      c.name,
      `${(c.bytes.byteLength / candidates[0]!.bytes.byteLength).toFixed(3)}x`,
      i === 0 ? '-' : `${(agreement(scores[0]!, scores[i]!) * 100).toFixed(2)}%`,
      i === 0 ? '-' : maxAbsDifference(scores[0]!.values, scores[i]!.values).toFixed(4),
      `${(accuracy(scores[i]!.values, labels) * 100).toFixed(2)}%`,
      ...[1, 32, 1024].map((b) => `${(latency.get(b)![0]! / latency.get(b)![i]!).toFixed(2)}x`),
    ]);
    printTable([header, ...table]);
    for (const [i, c] of candidates.entries()) {
      if (!c.name.startsWith('ours')) continue;
      const speedup = (batch: number) => latency.get(batch)![0]! / latency.get(batch)![i]!;
      const size = c.bytes.byteLength / candidates[0]!.bytes.byteLength;
      const agree = agreement(scores[0]!, scores[i]!);
      const goal = (met: boolean, text: string) => `${text} ${met ? 'met' : 'MISSED'}`;
      console.log(`goals, ${c.name}: ${[
        goal(speedup(32) >= GOALS.speedupAt32, `@32 ${speedup(32).toFixed(2)}x (goal ${GOALS.speedupAt32}x)`),
        goal(speedup(1024) >= GOALS.speedupAt1024, `@1024 ${speedup(1024).toFixed(2)}x (goal ${GOALS.speedupAt1024}x)`),
        goal(size <= GOALS.sizeRatio, `size ${size.toFixed(3)}x (goal ≤ ${GOALS.sizeRatio}x)`),
        goal(agree >= GOALS.agreement, `agreement ${(agree * 100).toFixed(2)}% (goal ≥ ${GOALS.agreement * 100}%)`),
      ].join('; ')}`);
    }
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/**
 * Median milliseconds per call of every session on the same batch. The sessions take
 * turns in short blocks (rotating who goes first) until the budget is spent, so all of them
 * share the machine's state and the ratios hold even when absolute times drift; the first
 * calls of each block are not timed, so each model is measured with its weights in cache,
 * as when it serves alone, not right after another model has evicted them.
 */
async function roundRobin(sessions: readonly OnnxSession[], batch: Matrix, budgetMs: number): Promise<number[]> {
  const block = batch.rows >= 1024 ? 4 : batch.rows >= 32 ? 20 : 50;
  const times: number[][] = sessions.map(() => []);
  const end = performance.now() + budgetMs;
  for (let round = 0; performance.now() < end || round < 3; round++) {
    for (let j = 0; j < sessions.length; j++) {
      const k = (j + round) % sessions.length;
      for (let i = 0; i < 2; i++) await sessions[k]!.run('features', batch, ['probabilities']);
      for (let i = 0; i < block; i++) {
        const start = performance.now();
        await sessions[k]!.run('features', batch, ['probabilities']);
        times[k]!.push(performance.now() - start);
      }
    }
  }
  return times.map(median);
}

/** ONNX Runtime's Python quantizer on the same model: quantize_dynamic and quantize_static (QDQ and QOperator). */
async function ortQuantized(fp32: Uint8Array, calibration: Matrix, work: string): Promise<Candidate[]> {
  if (!pythonAvailable()) return [];
  await writeFile(join(work, 'fp32.onnx'), fp32);
  await writeFile(join(work, 'calibration.f32'), new Uint8Array(calibration.data.buffer, calibration.data.byteOffset, calibration.data.byteLength));
  const script = `
import sys, numpy as np
from onnxruntime.quantization import quantize_dynamic, quantize_static, QuantType, QuantFormat, CalibrationDataReader
work, cols = sys.argv[1], int(sys.argv[2])
rows = np.fromfile(f"{work}/calibration.f32", dtype=np.float32).reshape(-1, cols)
class Reader(CalibrationDataReader):
    def __init__(self): self.batches = iter([{"features": rows[i:i + 100]} for i in range(0, len(rows), 100)])
    def get_next(self): return next(self.batches, None)
ops = ["Gemm", "MatMul"]
quantize_dynamic(f"{work}/fp32.onnx", f"{work}/ort_dynamic.onnx", weight_type=QuantType.QInt8, op_types_to_quantize=ops)
for fmt, name in [(QuantFormat.QDQ, "qdq"), (QuantFormat.QOperator, "qop")]:
    quantize_static(f"{work}/fp32.onnx", f"{work}/ort_static_{name}.onnx", Reader(), quant_format=fmt, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=ops)
`;
  const run = spawnSync(python, ['-c', script, work, String(calibration.cols)], { encoding: 'utf8' });
  if (run.status !== 0) {
    console.log(`(ONNX Runtime's Python quantizer failed, comparison skipped: ${run.stderr.trim().split('\n').at(-1)})`);
    return [];
  }
  return [
    { name: 'ORT quantize_dynamic (QInt8, per-tensor)', bytes: new Uint8Array(await readFile(join(work, 'ort_dynamic.onnx'))) },
    { name: 'ORT quantize_static QDQ (U8S8, per-channel)', bytes: new Uint8Array(await readFile(join(work, 'ort_static_qdq.onnx'))) },
    { name: 'ORT quantize_static QOperator (U8S8, per-channel)', bytes: new Uint8Array(await readFile(join(work, 'ort_static_qop.onnx'))) },
  ];
}

let pythonChecked: boolean | undefined;
/** Whether the Python with onnxruntime is there; says so once when it is not. */
function pythonAvailable(): boolean {
  if (pythonChecked === undefined) {
    const probe = existsSync(python) ? spawnSync(python, ['-c', 'import onnxruntime.quantization'], { encoding: 'utf8' }) : null;
    pythonChecked = probe?.status === 0;
    if (!pythonChecked) {
      console.log(`(skipping the comparison with ONNX Runtime's Python quantizer: ${python} ${probe ? 'cannot import onnxruntime.quantization' : 'is absent'}; set QUANTIZE_BENCH_PYTHON to a Python with onnxruntime)`);
    }
  }
  return pythonChecked;
}

function matrixOf(data: ClusterData, rows = data.rows): Matrix {
  return { data: data.x.subarray(0, rows * data.features), rows, cols: data.features };
}

function tileRows(rows: Matrix, batch: number): Matrix {
  const data = new Float32Array(batch * rows.cols);
  for (let r = 0; r < batch; r++) data.set(rows.data.subarray((r % rows.rows) * rows.cols, ((r % rows.rows) + 1) * rows.cols), r * rows.cols);
  return { data, rows: batch, cols: rows.cols };
}

function accuracy(values: ArrayLike<number>, labels: Int32Array): number {
  const width = values.length / labels.length;
  let correct = 0;
  labels.forEach((label, r) => {
    let best = 0;
    for (let j = 1; j < width; j++) if (values[r * width + j]! > values[r * width + best]!) best = j;
    if (best === label) correct++;
  });
  return correct / labels.length;
}

function printTable(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}

await main();
