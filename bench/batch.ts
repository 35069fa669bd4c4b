import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
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

/** Child-process mode: score one file and print rows/s and peak RSS as JSON. */
async function scoreOnce(path: string): Promise<void> {
  const { pkg } = benchMlp();
  const predictor = await Predictor.create(pkg, { worker: true });
  const start = performance.now();
  const manifest = await scoreFile(predictor, path, `${path}.out.csv`);
  const seconds = (performance.now() - start) / 1000;
  await rm(`${path}.out.csv`, { force: true });
  await predictor.release();
  console.log(JSON.stringify({ rows: manifest.scored, rowsPerSecond: manifest.scored / seconds, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
}

async function rawOrt(): Promise<number> {
  const { onnx } = benchMlp();
  const session = await OnnxSession.create(onnx);
  const random = new Random(5);
  const matrix = { data: Float32Array.from({ length: 1024 * 64 }, () => random.normal()), rows: 1024, cols: 64 };
  for (let i = 0; i < 10; i++) await session.run('features', matrix);
  let done = 0;
  const start = performance.now();
  while (performance.now() - start < 4000) {
    await session.run('features', matrix);
    done += 1024;
  }
  await session.release();
  return done / ((performance.now() - start) / 1000);
}

function child(path: string): { rows: number; rowsPerSecond: number; maxRssMb: number } {
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
  const raw = (raw1 + raw2) / 2;
  console.table([
    { measure: 'raw ORT, batch 1024 (rows/s)', value: raw.toFixed(0) },
    { measure: `end to end, ${largeRun.rows} rows (rows/s)`, value: largeRun.rowsPerSecond.toFixed(0) },
    { measure: 'end to end / raw', value: `${(largeRun.rowsPerSecond / raw).toFixed(2)}x` },
    { measure: `peak RSS, ${smallRun.rows} rows (MB)`, value: smallRun.maxRssMb.toFixed(0) },
    { measure: `peak RSS, ${largeRun.rows} rows (MB)`, value: largeRun.maxRssMb.toFixed(0) },
    { measure: 'peak RSS growth for 10x rows', value: `${(largeRun.maxRssMb / smallRun.maxRssMb).toFixed(2)}x` },
  ]);
}

await main();
