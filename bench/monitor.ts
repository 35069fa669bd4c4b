import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureKey } from '../core/capture/capture';
import { BaselineBuilder } from '../core/drift/baseline';
import { DirectoryStore } from '../core/model/blob-store';
import { StaticModelSource } from '../core/model/registry';
import { runMonitor } from '../core/monitor/monitor';
import { Random } from '../core/random';
import { benchMlp } from './bench-model';

/**
 * The drift monitor on 1,000,000 captured JSONL rows × 30 features, against pandas + SciPy
 * running the same tests (KS and PSI per feature, KS on the score) on the same files; each in
 * its own process, so wall time and peak RSS are both measured. Needs a Python with pandas and
 * scipy for the comparison (BENCH_PYTHON, default /tmp/fxvenv/bin/python); skipped without.
 * Run: npm run bench:monitor [-- --rows 1000000]
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const dir = join(here, '../.bench/monitor');
const argRows = process.argv.indexOf('--rows');
const rows = argRows > 0 ? Number(process.argv[argRows + 1]) : 1_000_000;
const perFile = 1000;
const { pkg } = benchMlp({ inputs: 30, hidden: [16], classes: 2, seed: 3 });
const features = pkg.manifest.input.features.map((f) => f.name);

async function prepare(): Promise<string> {
  const data = join(dir, `data-${rows}`);
  if (existsSync(join(data, 'ready'))) return data;
  const store = new DirectoryStore(data);
  const random = new Random(17);
  const builder = new BaselineBuilder(pkg.manifest);
  const base = new Float32Array(5000 * 30).map(() => random.normal());
  const scores = Array.from({ length: 5000 }, () => random.next()).flatMap((p) => [1 - p, p]);
  builder.addRows(base, 5000, { values: scores, width: 2 });
  await writeFile(join(dir, 'baseline.json'), JSON.stringify(builder.finish()));
  const start = Date.parse('2026-11-23T00:00:00Z');
  for (let f = 0; f < rows / perFile; f++) {
    let body = '';
    for (let r = 0; r < perFile; r++) {
      const values: Record<string, number> = {};
      features.forEach((name, j) => (values[name] = Number((random.normal() + (j === 0 ? 0.3 : 0)).toFixed(4))));
      const p = Number(random.next().toFixed(6));
      body += `${JSON.stringify({ v: 1, requestId: `r${f}-${r}`, row: 0, ts: new Date(start + f * 1000).toISOString(), model: 'bench', version: '1.0.0', features: values, prediction: { label: p > 0.5 ? 'c1' : 'c0', probabilities: [1 - p, p] }, latencyMs: 1 })}\n`;
    }
    await store.write(captureKey('bench', '1.0.0', new Date(start + f * 1000), String(f).padStart(6, '0')), body);
  }
  await writeFile(join(data, 'ready'), '');
  return data;
}

/** Child-process mode: one monitoring run over the prepared capture. */
async function monitorOnce(data: string): Promise<void> {
  const { readFile, rm } = await import('node:fs/promises');
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

function child(command: string, args: string[]): { seconds: number; rows: number; maxRssMb: number; drifted: string[] } {
  const output = execFileSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(output.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  const mode = process.argv.indexOf('--monitor');
  if (mode > 0) return monitorOnce(process.argv[mode + 1]!);
  await mkdir(dir, { recursive: true });
  console.log(`preparing ${rows} capture rows × 30 features in ${dir} (kept for the next run)…`);
  const data = await prepare();
  const ours = child(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--monitor', data]);
  const python = process.env.BENCH_PYTHON ?? '/tmp/fxvenv/bin/python';
  let reference: ReturnType<typeof child> | null = null;
  try {
    reference = child(python, [join(here, 'monitor_reference.py'), data, join(dir, 'baseline.json')]);
  } catch (error) {
    console.log(`pandas + SciPy comparison skipped: ${(error as Error).message.split('\n')[0]}`);
  }
  console.table([
    { run: 'mlops monitor', seconds: ours.seconds.toFixed(1), 'peak RSS MB': ours.maxRssMb.toFixed(0), rows: ours.rows, drifted: ours.drifted.join(',') },
    ...(reference ? [{ run: 'pandas + SciPy', seconds: reference.seconds.toFixed(1), 'peak RSS MB': reference.maxRssMb.toFixed(0), rows: reference.rows, drifted: reference.drifted.join(',') }] : []),
  ]);
  if (reference) console.log(`time ratio (ours / pandas + SciPy) = ${(ours.seconds / reference.seconds).toFixed(2)}; memory ratio = ${(ours.maxRssMb / reference.maxRssMb).toFixed(2)}`);
}

await main();
