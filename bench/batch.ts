import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnnxSession } from '../core/model/onnx-session';
import { Predictor } from '../core/model/predictor';
import { scoreFile } from '../local/batch/score-file';
import { Random } from '../core/random';
import { benchMlp } from './bench-model';

/**
 * Batch scoring end to end (read CSV → parse → score → write predictions, errors, manifest)
 * against raw ONNX Runtime at batch 1024 on the same model (MLP 64 → 512 → 512 → 10, one
 * thread), and peak memory as the file grows 10x (each size scored in its own process).
 *
 * Wall-clock ratios swing with whatever else runs on the machine, so the bench also reports
 * CPU time per row of each thread (Linux schedstat: time on a core, and time spent waiting
 * for one): which side is the bottleneck, and the ratio the design reaches when the main
 * thread and the ORT worker each have a core of their own.
 * Run: npm run bench:batch [-- --rows 1000000]
 */

const dir = join(fileURLToPath(new URL('../.bench/', import.meta.url)));
const argRows = process.argv.indexOf('--rows');
const rows = argRows > 0 ? Number(process.argv[argRows + 1]) : 1_000_000;

async function writeCsv(path: string, count: number): Promise<void> {
  if (existsSync(path)) return;
  const random = new Random(11);
  const out = createWriteStream(path);
  out.write(`id,${Array.from({ length: 64 }, (_, i) => `f${i}`).join(',')}\n`);
  let buffer = '';
  for (let r = 0; r < count; r++) {
    let line = `r${r}`;
    for (let c = 0; c < 64; c++) line += `,${random.normal().toFixed(4)}`;
    buffer += `${line}\n`;
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
}

/** Nanoseconds each thread of this process has run on a core and waited for one (Linux); empty elsewhere. */
function threadTimes(): Map<number, { run: number; wait: number }> {
  const times = new Map<number, { run: number; wait: number }>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const [run, wait] = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      times.set(Number(tid), { run: run!, wait: wait! });
    }
  } catch {
    // Not Linux, or a thread ended while being read: the CPU figures are left out.
  }
  return times;
}

/** Time the calling thread has run on a core, in ns (Linux), or NaN. */
function threadRunTime(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

interface ScoreRun {
  readonly rows: number;
  readonly rowsPerSecond: number;
  readonly maxRssMb: number;
  /** CPU µs a row: main thread (read, parse, format, write), ORT worker thread, all other threads (file I/O, GC helpers). */
  readonly mainUs: number;
  readonly workerUs: number;
  readonly otherUs: number;
  /** µs a row that runnable threads spent waiting for a core: the machine's other load. */
  readonly waitUs: number;
}

/** Child-process mode: score one file and print rows/s, peak RSS and CPU per row of each thread as JSON. */
async function scoreOnce(path: string): Promise<void> {
  const { pkg } = benchMlp();
  const predictor = await Predictor.create(pkg, { worker: true });
  const before = threadTimes();
  const start = performance.now();
  const manifest = await scoreFile(predictor, path, `${path}.out.csv`);
  const seconds = (performance.now() - start) / 1000;
  const after = threadTimes();
  await rm(`${path}.out.csv`, { force: true });
  await predictor.release();
  // The main thread's id is the process id; the ORT worker is the busiest of the others.
  const deltas = [...after].map(([tid, t]) => ({ tid, run: t.run - (before.get(tid)?.run ?? 0), wait: t.wait - (before.get(tid)?.wait ?? 0) }));
  const main = deltas.find((d) => d.tid === process.pid);
  const others = deltas.filter((d) => d.tid !== process.pid).sort((a, b) => b.run - a.run);
  const perRow = (ns: number) => ns / 1000 / manifest.scored;
  const run: ScoreRun = {
    rows: manifest.scored,
    rowsPerSecond: manifest.scored / seconds,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    mainUs: perRow(main?.run ?? Number.NaN),
    workerUs: perRow(others[0]?.run ?? Number.NaN),
    otherUs: perRow(others.slice(1).reduce((sum, d) => sum + d.run, 0)),
    waitUs: perRow(deltas.reduce((sum, d) => sum + d.wait, 0)),
  };
  console.log(JSON.stringify(run));
}

/** Raw ORT on this thread: rows/s (wall clock) and CPU µs a row. */
async function rawOrt(): Promise<{ rowsPerSecond: number; cpuUs: number }> {
  const { onnx } = benchMlp();
  const session = await OnnxSession.create(onnx);
  const random = new Random(5);
  const matrix = { data: Float32Array.from({ length: 1024 * 64 }, () => random.normal()), rows: 1024, cols: 64 };
  for (let i = 0; i < 10; i++) await session.run('features', matrix);
  let done = 0;
  const start = performance.now();
  const cpuStart = threadRunTime();
  while (performance.now() - start < 4000) {
    await session.run('features', matrix);
    done += 1024;
  }
  const cpuUs = (threadRunTime() - cpuStart) / 1000 / done;
  const rowsPerSecond = done / ((performance.now() - start) / 1000);
  await session.release();
  return { rowsPerSecond, cpuUs };
}

function child(path: string): ScoreRun {
  const output = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--score', path], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(output.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  const scoreArg = process.argv.indexOf('--score');
  if (scoreArg > 0) return scoreOnce(process.argv[scoreArg + 1]!);
  await mkdir(dir, { recursive: true });
  const small = join(dir, `bench-${rows / 10}.csv`);
  const large = join(dir, `bench-${rows}.csv`);
  console.log(`preparing ${rows / 10} and ${rows} row files in ${dir} (kept for the next run)…`);
  await writeCsv(small, rows / 10);
  await writeCsv(large, rows);
  // Alternate raw and end-to-end so machine noise hits both alike.
  const raw1 = await rawOrt();
  const smallRun = child(small);
  const largeRun = child(large);
  const raw2 = await rawOrt();
  const raw = (raw1.rowsPerSecond + raw2.rowsPerSecond) / 2;
  const rawCpu = (raw1.cpuUs + raw2.cpuUs) / 2;
  const us = (v: number) => `${v.toFixed(2)} µs`;
  console.table([
    { measure: 'raw ORT, batch 1024 (rows/s)', value: raw.toFixed(0) },
    { measure: `end to end, ${largeRun.rows} rows (rows/s)`, value: largeRun.rowsPerSecond.toFixed(0) },
    { measure: 'end to end / raw (wall clock)', value: `${(largeRun.rowsPerSecond / raw).toFixed(2)}x` },
    { measure: 'CPU a row: raw ORT', value: us(rawCpu) },
    { measure: 'CPU a row: main thread (read, parse, format, write)', value: us(largeRun.mainUs) },
    { measure: 'CPU a row: ORT worker thread', value: us(largeRun.workerUs) },
    { measure: 'CPU a row: other threads (file I/O, GC)', value: us(largeRun.otherUs) },
    { measure: 'waiting for a core a row (other load on the machine)', value: us(largeRun.waitUs) },
    // With both cores to itself the job goes at the pace of its busier thread, or of all its threads shared over two cores.
    { measure: 'end to end / raw, both cores to itself (from CPU a row)', value: `${(rawCpu / Math.max(largeRun.mainUs, largeRun.workerUs, (largeRun.mainUs + largeRun.workerUs + largeRun.otherUs) / 2)).toFixed(2)}x` },
    { measure: `peak RSS, ${smallRun.rows} rows (MB)`, value: smallRun.maxRssMb.toFixed(0) },
    { measure: `peak RSS, ${largeRun.rows} rows (MB)`, value: largeRun.maxRssMb.toFixed(0) },
    { measure: 'peak RSS growth for 10x rows', value: `${(largeRun.maxRssMb / smallRun.maxRssMb).toFixed(2)}x` },
  ]);
}

await main();
