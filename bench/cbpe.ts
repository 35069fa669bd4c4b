import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaselineSchema } from '../core/drift/baseline';
import { detectDriftOnRows } from '../core/drift/detect';
import { encodeRow } from '../core/data/coerce';
import { DirectoryStore } from '../core/model/blob-store';
import { classesOf, PackageFiles } from '../core/model/manifest';
import { packageJson } from '../core/model/model-package';
import { Predictor } from '../core/model/predictor';
import { type DriftSpec, generatedHeader, generateRows, writeGeneratedCsv } from '../model-pipeline/data/generate';
import { trainPackage } from '../model-pipeline/train/train-package';

/**
 * Label-free estimation (CBPE) against the accuracy the labels then show, side by side in one run:
 * the demo churn model trained here (its calibration fitted on its validation rows), windows of
 * generated traffic under no drift, covariate shift, a label shift at unchanged features and
 * concept drift. CBPE follows covariate shift (the model's confidence moves with the features)
 * and, by design, not the others: a relation between features and label that changed leaves the
 * confidence where it was. That is what the realized quality on late labels is for.
 *
 *   npx tsx bench/cbpe.ts            (BENCH_WINDOWS=20 windows of BENCH_ROWS=2000 rows per scenario)
 */

const WINDOWS = Number(process.env.BENCH_WINDOWS ?? 20);
const ROWS = Number(process.env.BENCH_ROWS ?? 2000);

const SCENARIOS: { name: string; drift?: DriftSpec }[] = [
  { name: 'no drift' },
  { name: 'covariate shift: tenure_months +1σ', drift: { meanShift: { tenure_months: 1 } } },
  { name: 'covariate shift: sessions_per_week −1σ', drift: { meanShift: { sessions_per_week: -1 } } },
  { name: 'churn odds raised at the same features', drift: { labelShift: 0.5 } },
  { name: 'concept drift 0.5', drift: { concept: 0.5 } },
  { name: 'concept drift 1', drift: { concept: 1 } },
];

const home = await mkdtemp(join(tmpdir(), 'bench-cbpe-'));
try {
  const data = join(home, 'train.csv');
  await writeGeneratedCsv(data, { rows: 20_000, seed: 1 });
  const { pkg } = await trainPackage(new DirectoryStore(join(home, 'demo')), { data, label: 'churned', name: 'demo', version: '1.0.0' });
  const baseline = BaselineSchema.parse(packageJson(pkg, PackageFiles.baseline));
  const predictor = await Predictor.create(pkg);
  const features = pkg.manifest.input.features;
  const classes = classesOf(pkg.manifest);
  const header = generatedHeader();
  const label = header.indexOf('churned');
  const calibrated = baseline.prediction?.kind === 'classification' && baseline.prediction.calibration !== undefined;
  console.log(`demo model: validation accuracy ${pkg.manifest.metrics.accuracy?.toFixed(3)}, CBPE ${calibrated ? 'calibrated' : 'uncalibrated'}; ${WINDOWS} windows × ${ROWS} rows per scenario\n`);
  console.log('| scenario | realized accuracy | CBPE estimate | mean abs. error | realized alarms | CBPE alarms |');
  console.log('|---|---|---|---|---|---|');
  for (const scenario of SCENARIOS) {
    let realized = 0;
    let estimated = 0;
    let error = 0;
    let realizedAlarms = 0;
    let estimatedAlarms = 0;
    for (let w = 0; w < WINDOWS; w++) {
      const rows = [...generateRows({ rows: ROWS, seed: 1000 + w, drift: scenario.drift })];
      const x = new Float32Array(ROWS * features.length);
      rows.forEach((row, r) => encodeRow(features, (name) => row.cells[header.indexOf(name)], x, r * features.length));
      const labels = Float64Array.from(rows, (row) => classes.indexOf(String(row.cells[label])));
      const scores = await predictor.predict({ data: x, rows: ROWS, cols: features.length });
      const report = detectDriftOnRows(baseline, x, ROWS, { scores: { values: scores.values, width: scores.width }, labels });
      const accuracy = report.quality?.metrics.find((m) => m.name === 'accuracy');
      const estimate = report.quality?.estimated;
      realized += accuracy?.current ?? NaN;
      estimated += estimate?.estimate ?? NaN;
      error += Math.abs((estimate?.estimate ?? NaN) - (accuracy?.current ?? NaN));
      if (accuracy?.verdict === 'degraded') realizedAlarms++;
      if (estimate?.alarm) estimatedAlarms++;
    }
    const pct = (n: number) => `${((100 * n) / WINDOWS).toFixed(0)}%`;
    console.log(`| ${scenario.name} | ${(realized / WINDOWS).toFixed(3)} | ${(estimated / WINDOWS).toFixed(3)} | ${(error / WINDOWS).toFixed(3)} | ${pct(realizedAlarms)} | ${pct(estimatedAlarms)} |`);
  }
  await predictor.release();
} finally {
  await rm(home, { recursive: true, force: true });
}
