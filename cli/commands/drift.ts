import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PackageFiles } from '../../core/model/manifest';
import { updatePackage } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { renderReportHtml } from '../../core/monitor/report-html';
import { readCsvTable } from '../../model-pipeline/data/table';
import { baselineOfTable, driftOfTable } from '../../model-pipeline/evaluate/drift-check';
import { openPackage, packageStore } from '../args';
import { table } from '../format';

/** `mlops drift` and `mlops baseline`. */
export function registerDrift(program: Command): void {
  program
    .command('drift')
    .description('Compare a data file with the package baseline: per-feature and dataset verdicts. Exit 0 no drift, 3 drift.')
    .argument('<package>', 'package folder or s3:// location')
    .argument('<current>', 'CSV file of current data (features by name; the label column adds quality drift)')
    .option('--json <file>', 'write the full report as JSON')
    .option('--html <file>', 'write a self-contained HTML report')
    .option('--correction <kind>', 'multiple-testing correction: bonferroni, benjamini-hochberg or none', 'bonferroni')
    .action(async (location: string, current: string, o) => {
      if (!['bonferroni', 'benjamini-hochberg', 'none'].includes(o.correction)) throw new Error(`--correction must be bonferroni, benjamini-hochberg or none, got "${o.correction}"`);
      const pkg = await openPackage(location);
      const predictor = await Predictor.create(pkg);
      try {
        const { report, skipped } = await driftOfTable(pkg, predictor, await readCsvTable(current), { correction: o.correction });
        const fmt = (v: number | null) => (v === null ? '–' : Math.abs(v) < 1e-4 && v !== 0 ? v.toExponential(2) : v.toFixed(4));
        console.log(table([
          ['feature', 'verdict', 'test', 'p (adjusted)', 'effect', 'value', 'threshold'],
          ...report.features.map((f) => [f.name, f.verdict, f.test, fmt(f.adjustedPValue), f.effect?.name ?? '–', fmt(f.effect?.value ?? null), fmt(f.effect?.threshold ?? null)]),
        ]));
        const d = report.dataset;
        console.log(`\n${d.alert ? 'DRIFT' : d.verdict === 'insufficient_data' ? 'INSUFFICIENT DATA' : 'NO DRIFT'}: ${d.driftedFeatures.length} of ${d.testedFeatures} features drifted${d.driftedFeatures.length ? ` (${d.driftedFeatures.join(', ')})` : ''}${d.predictionDrift ? '; predictions drifted' : ''}; ${report.sampleSizes.currentRows} rows vs ${report.sampleSizes.baselineRows} baseline rows`);
        if (report.quality?.estimated) console.log(`estimated accuracy without labels (CBPE): ${fmt(report.quality.estimated.estimate ?? null)}`);
        if (skipped.count) console.error(`skipped ${skipped.count} unreadable rows, e.g. ${skipped.examples[0]}`);
        if (o.json) await writeFile(o.json, `${JSON.stringify(report, null, 2)}\n`);
        if (o.html) await writeFile(o.html, renderReportHtml(report, { model: pkg.manifest.name, version: pkg.manifest.version, createdAt: new Date().toISOString(), window: current }));
        if (d.alert) process.exitCode = 3;
      } finally {
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
