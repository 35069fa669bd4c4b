import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureKey } from '../core/capture/capture';
import { BaselineBuilder } from '../core/drift/baseline';
import { DirectoryStore } from '../core/model/blob-store';
import { writePackage } from '../core/model/model-package';
import { StaticModelSource } from '../core/model/registry';
import { runMonitor } from '../core/monitor/monitor';
import { Random } from '../core/random';
import { benchMlp } from './bench-model';

/**
 * Drift over 1,000,000 rows × 30 features, two ways, each against pandas + SciPy on the same files:
 *  - the monitor on captured JSONL, against pandas + SciPy running the same tests (KS and PSI per
 *    feature, KS on the score; bench/monitor_reference.py);
 *  - `mlops drift PKG current.csv` (the real CLI: streams the CSV, scores every row, all of the
 *    monitor's tests), against the per-feature KS loop a user would write with pandas + SciPy.
 * Each run is its own process and reports its own peak RSS; the monitor pair time their work from
 * the inside, the CSV pair are timed from start to exit, as a user waits for a command. The
 * pandas + SciPy runs need a Python with both (BENCH_PYTHON, default /tmp/fxvenv/bin/python);
 * they are skipped without it.
 * Run: npm run bench:monitor [-- --rows 1000000]; or BENCH_ROWS=100000 npm run bench:monitor for a quick run.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const dir = join(here, '../.bench/monitor');
const argRows = process.argv.indexOf('--rows');
const rows = Number(argRows > 0 ? process.argv[argRows + 1] : (process.env.BENCH_ROWS ?? 1_000_000));
const perFile = 1000;
const { pkg } = benchMlp({ inputs: 30, hidden: [16], classes: 2, seed: 3 });
const features = pkg.manifest.input.features.map((f) => f.name);

/** One current row: 30 standard normal features, f0 shifted by 0.3σ, written to 4 decimals. */
function currentRow(random: Random): string[] {
  return features.map((_, j) => (random.normal() + (j === 0 ? 0.3 : 0)).toFixed(4));
}

/**
 * The baseline, 5,000 standard normal rows: as baseline.json of the package on disk that the CLI
 * reads, and as the reference.csv a pandas user would load. Returns the generator, which goes on
 * to draw the captured rows.
 */
async function prepareBaseline(): Promise<Random> {
  const random = new Random(17);
  const builder = new BaselineBuilder(pkg.manifest);
  const base = new Float32Array(5000 * 30).map(() => random.normal());
  const scores = Array.from({ length: 5000 }, () => random.next()).flatMap((p) => [1 - p, p]);
  builder.addRows(base, 5000, { values: scores, width: 2 });
  const baseline = JSON.stringify(builder.finish());
  await writeFile(join(dir, 'baseline.json'), baseline);
  const reference = Array.from({ length: 5000 }, (_, r) => base.subarray(r * 30, (r + 1) * 30).join(','));
  await writeFile(join(dir, 'reference.csv'), `${features.join(',')}\n${reference.join('\n')}\n`);
  const { files: _files, schemaVersion: _version, ...draft } = pkg.manifest;
  await writePackage(new DirectoryStore(join(dir, 'pkg')), draft, { 'model.onnx': pkg.files.get('model.onnx')!, 'baseline.json': baseline });
  return random;
}

async function prepareCapture(random: Random): Promise<string> {
  const data = join(dir, `data-${rows}`);
  if (existsSync(join(data, 'ready'))) return data;
  const store = new DirectoryStore(data);
  const start = Date.parse('2026-11-23T00:00:00Z');
  for (let f = 0; f < rows / perFile; f++) {
    let body = '';
    for (let r = 0; r < perFile; r++) {
      const row = currentRow(random);
      const values = Object.fromEntries(features.map((name, j) => [name, Number(row[j])]));
      const p = Number(random.next().toFixed(6));
      body += `${JSON.stringify({ v: 1, requestId: `r${f}-${r}`, row: 0, ts: new Date(start + f * 1000).toISOString(), model: 'bench', version: '1.0.0', features: values, prediction: { label: p > 0.5 ? 'c1' : 'c0', probabilities: [1 - p, p] }, latencyMs: 1 })}\n`;
    }
    await store.write(captureKey('bench', '1.0.0', new Date(start + f * 1000), String(f).padStart(6, '0')), body);
  }
  await writeFile(join(data, 'ready'), '');
  return data;
}

/** The current rows as a CSV file with a header, written once (renamed into place when complete). */
async function prepareCsv(): Promise<string> {
  const path = join(dir, `current-${rows}.csv`);
  if (existsSync(path)) return path;
  const random = new Random(29);
  const out = createWriteStream(`${path}.partial`);
  out.write(`${features.join(',')}\n`);
  for (let done = 0; done < rows; ) {
    let lines = '';
    for (const end = Math.min(rows, done + 10_000); done < end; done++) lines += `${currentRow(random).join(',')}\n`;
    if (!out.write(lines)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.once('error', reject).end(resolve));
  await rename(`${path}.partial`, path);
  return path;
}

/** Child-process mode: one monitoring run over the prepared capture. */
async function monitorOnce(data: string): Promise<void> {
  const { rm } = await import('node:fs/promises');
  // Each measurement starts from scratch: no watermark, no earlier reports.
  await rm(join(data, 'monitor'), { recursive: true, force: true });
  await rm(join(data, 'reports'), { recursive: true, force: true });
  const baseline = await readFile(join(dir, 'baseline.json'));
  const withBaseline = { ...pkg, files: new Map([...pkg.files, ['baseline.json', new Uint8Array(baseline)]]) };
  const start = performance.now();
  const outcome = await runMonitor({ models: new StaticModelSource([withBaseline]), data: new DirectoryStore(data), options: { lateArrivalSeconds: 0 } }, 'bench');
  const seconds = (performance.now() - start) / 1000;
  const drifted = outcome.status === 'reported' ? outcome.report.dataset.driftedFeatures : [];
  console.log(JSON.stringify({ seconds, rows: outcome.rows, maxRssMb: process.resourceUsage().maxRSS / 1024, drifted }));
}

interface Run {
  readonly seconds: number;
  readonly rows: number;
  readonly maxRssMb: number;
  readonly drifted: string[];
}

/** A child that times itself and prints its Run as its last stdout line. */
function child(command: string, args: string[]): Run {
  const output = execFileSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(output.trim().split('\n').pop()!);
}

/** Loaded into the CLI's process: its peak RSS (kB) as the last line on stderr, when it exits. */
const RSS_HOOK = `data:text/javascript,${encodeURIComponent('process.on("exit", () => process.stderr.write(`\\nmaxRSS=${process.resourceUsage().maxRSS}\\n`));')}`;

/** `mlops drift` on the CSV, as a user runs it: the real command in its own process, timed from start to exit. */
async function cliDrift(csv: string): Promise<Run> {
  const report = join(dir, `drift-${rows}.json`);
  const start = performance.now();
  const run = spawnSync(process.execPath, ['--import', RSS_HOOK, join(here, '../bin/mlops.js'), 'drift', join(dir, 'pkg'), csv, '--json', report], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const seconds = (performance.now() - start) / 1000;
  // 3 is the verdict on drifted data, not a failure.
  if (run.status !== 0 && run.status !== 3) throw new Error(`mlops drift exited ${run.status}: ${run.stderr}`);
  const maxRss = /maxRSS=(\d+)\s*$/.exec(run.stderr);
  const { sampleSizes, dataset } = JSON.parse(await readFile(report, 'utf8'));
  return { seconds, rows: sampleSizes.currentRows, maxRssMb: Number(maxRss![1]) / 1024, drifted: dataset.driftedFeatures };
}

/** What a pandas user writes for the same question: read both files, KS per feature, Bonferroni. */
const PANDAS_KS = `
import json, resource, sys
import pandas as pd
from scipy import stats

current = pd.read_csv(sys.argv[1])
reference = pd.read_csv(sys.argv[2])
features = list(reference.columns)
drifted = [f for f in features if stats.ks_2samp(reference[f], current[f].dropna()).pvalue * len(features) < 0.05]
print(json.dumps({"rows": len(current), "drifted": drifted, "maxRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

/** The pandas + SciPy script in its own process, timed from start to exit like the CLI. */
function pandasKs(python: string, csv: string): Run {
  const start = performance.now();
  const output = execFileSync(python, ['-c', PANDAS_KS, csv, join(dir, 'reference.csv')], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return { seconds: (performance.now() - start) / 1000, ...JSON.parse(output.trim().split('\n').pop()!) };
}

/** The peer's run, or null (with the reason printed) when Python, pandas or SciPy is missing. */
function peer(run: () => Run): Run | null {
  try {
    return run();
  } catch (error) {
    console.log(`pandas + SciPy comparison skipped: ${(error as Error).message.split('\n')[0]}`);
    return null;
  }
}

/** Prints our run and the peer's side by side, with the ratios. */
function compare(title: string, ours: [string, Run], reference: Run | null): void {
  const line = (run: string, r: Run) => ({ run, seconds: r.seconds.toFixed(1), 'peak RSS MB': r.maxRssMb.toFixed(0), rows: r.rows, drifted: r.drifted.join(',') });
  console.log(`\n${title}`);
  console.table([line(...ours), ...(reference ? [line('pandas + SciPy', reference)] : [])]);
  if (reference) console.log(`time ratio (ours / pandas + SciPy) = ${(ours[1].seconds / reference.seconds).toFixed(2)}; memory ratio = ${(ours[1].maxRssMb / reference.maxRssMb).toFixed(2)}`);
}

async function main(): Promise<void> {
  const mode = process.argv.indexOf('--monitor');
  if (mode > 0) return monitorOnce(process.argv[mode + 1]!);
  await mkdir(dir, { recursive: true });
  console.log(`preparing ${rows} rows × 30 features (capture JSONL and CSV) in ${dir} (kept for the next run)…`);
  const capture = await prepareCapture(await prepareBaseline());
  const csv = await prepareCsv();
  const python = process.env.BENCH_PYTHON ?? '/tmp/fxvenv/bin/python';

  const monitor = child(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--monitor', capture]);
  compare('monitor on captured JSONL (time inside each process)', ['mlops monitor', monitor], peer(() => child(python, [join(here, 'monitor_reference.py'), capture, join(dir, 'baseline.json')])));
  const cli = await cliDrift(csv);
  compare('mlops drift on CSV (time of each whole process)', ['mlops drift', cli], peer(() => pandasKs(python, csv)));
}

await main();
