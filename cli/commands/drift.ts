import { open, writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { DRIFT_DEFAULTS } from '../../core/drift/detect';
import { QUALITY_DEFAULTS } from '../../core/drift/quality';
import { VERDICT_EXIT_CODES, verdictOf } from '../../core/drift/verdict';
import { PackageFiles } from '../../core/model/manifest';
import { updatePackage } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { renderReportHtml } from '../../core/monitor/report-html';
import { readCsvTable } from '../../model-pipeline/data/table';
import { baselineOfTable, driftOfCsv } from '../../model-pipeline/evaluate/drift-check';
import { integer, openPackage, packageStore } from '../args';
import { table } from '../format';
import { progress } from '../progress';

/** `--min-rows`: the detector needs at least one row a side. */
const minRows = (value: string) => {
  const n = integer('--min-rows')(value);
  if (n < 1) throw new InvalidArgumentError(`--min-rows must be at least 1, got ${n}`);
  return n;
};

/** A CSV file's bytes, a piece at a time, with the fraction read so far; a file that cannot be opened is an error naming it. */
async function csvFile(path: string, onProgress: (fraction: number) => void): Promise<AsyncIterable<Uint8Array>> {
  const file = await open(path).catch((error: Error) => {
    throw new Error(`${path}: cannot read the file (${error.message})`);
  });
  const total = Math.max((await file.stat()).size, 1);
  return (async function* () {
    let read = 0;
    for await (const piece of file.createReadStream({ highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      read += piece.length;
      onProgress(read / total);
      yield piece;
    }
  })();
}

/** `mlops drift` and `mlops baseline`. */
export function registerDrift(program: Command): void {
  program
    .command('drift')
    .description(
      'Compare a CSV file with the package baseline, streamed in bounded memory: per-feature verdicts and one verdict over data, predictions, missing rates and model quality. ' +
        'Exit 0 no drift, 3 drift of any kind (quality included), 4 insufficient data.',
    )
    .argument('<package>', 'package folder or s3:// location')
    .argument('<current>', 'CSV file of current data (features by name; the label column adds quality drift)')
    .option('--json <file>', 'write the full report as JSON')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--correction <kind>', 'multiple-testing correction: bonferroni, benjamini-hochberg or none', 'bonferroni')
    .option('--min-rows <n>', `fewest rows a side for a verdict and values a side for a feature's test (default: ${DRIFT_DEFAULTS.minSampleSize}); when given, also the fewest labelled rows for the quality tests (default: ${QUALITY_DEFAULTS.minSampleSize}); fewer is insufficient data`, minRows)
    .action(async (location: string, current: string, o) => {
      if (!['bonferroni', 'benjamini-hochberg', 'none'].includes(o.correction)) throw new Error(`--correction must be bonferroni, benjamini-hochberg or none, got "${o.correction}"`);
      const pkg = await openPackage(location);
      const predictor = await Predictor.create(pkg);
      const bar = progress('drift', 100, '%');
      try {
        const source = await csvFile(current, (fraction) => bar.update(Math.round(100 * fraction)));
        const { report, skipped } = await driftOfCsv(pkg, predictor, source, { drift: { correction: o.correction, minSampleSize: o.minRows } }).catch((error: Error) => {
          throw new Error(`${current}: ${error.message}`);
        });
        bar.stop();
        const fmt = (v: number | null) => (v === null ? '–' : Math.abs(v) < 1e-4 && v !== 0 ? v.toExponential(2) : v.toFixed(4));
        console.log(table([
          ['feature', 'verdict', 'test', 'p (adjusted)', 'effect', 'value', 'threshold'],
          ...report.features.map((f) => [f.name, f.verdict, f.test, fmt(f.adjustedPValue), f.effect?.name ?? '–', fmt(f.effect?.value ?? null), fmt(f.effect?.threshold ?? null)]),
        ]));
        const verdict = verdictOf(report);
        const { currentRows, baselineRows, labeledRows } = report.sampleSizes;
        console.log(`\n${verdict.headline}`);
        // The insufficient-data headline states the row counts itself.
        if (verdict.status !== 'insufficient_data') console.log(`${currentRows} rows${labeledRows ? ` (${labeledRows} labelled)` : ''} against ${baselineRows} baseline rows`);
        if (labeledRows && report.quality) console.log(`model quality on labels: ${report.quality.metrics.map((m) => `${m.name} ${fmt(m.current)} vs ${fmt(m.baseline)} (${m.verdict.replace('_', ' ')})`).join(', ')}`);
        if (report.quality?.estimated) console.log(`estimated accuracy without labels (CBPE): ${fmt(report.quality.estimated.estimate ?? null)}`);
        const mv = report.multivariate;
        if (mv && mv.verdict !== 'insufficient_data') console.log(`multivariate (PCA reconstruction, outside the verdict): ${mv.verdict.replace('_', ' ')}, p = ${fmt(mv.pValue)}`);
        if (skipped.count) console.error(`skipped ${skipped.count} unreadable rows, e.g. ${skipped.examples.join('; ')}`);
        if (o.json) await writeFile(o.json, `${JSON.stringify(report, null, 2)}\n`);
        if (o.html) await writeFile(o.html, renderReportHtml(report, { model: pkg.manifest.name, version: pkg.manifest.version, createdAt: new Date().toISOString(), window: current }));
        process.exitCode = VERDICT_EXIT_CODES[verdict.status];
      } finally {
        bar.stop();
        await predictor.release();
      }
    });

  program
    .command('baseline')
    .description('Recompute the package baseline (baseline.json) from a data file.')
    .argument('<package>', 'package folder or s3:// location')
    .argument('<data>', 'CSV file representative of the data the model should see')
    .action(async (location: string, data: string) => {
      const pkg = await openPackage(location);
      const predictor = await Predictor.create(pkg);
      try {
        const baseline = await baselineOfTable(pkg, predictor, await readCsvTable(data));
        await updatePackage(packageStore(location), pkg, { contents: { [PackageFiles.baseline]: `${JSON.stringify(baseline)}\n` } });
        console.log(`baseline.json of ${pkg.manifest.name} ${pkg.manifest.version} recomputed from ${baseline.rows} rows of ${data}`);
      } finally {
        await predictor.release();
      }
    });
}
