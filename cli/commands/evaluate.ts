import { type Command, InvalidArgumentError } from 'commander';
import { classesOf } from '../../core/model/manifest';
import { Predictor } from '../../core/model/predictor';
import { readCsvTable } from '../../model-pipeline/data/table';
import { evaluateTable } from '../../model-pipeline/evaluate/evaluate';
import { formatNumber, table } from '../format';
import { openPackage } from '../args';

/** `mlops evaluate`. */
export function registerEvaluate(program: Command): void {
  program
    .command('evaluate')
    .description('Evaluate a package on a labelled CSV file (columns in any order).')
    .argument('<package>', 'package folder')
    .requiredOption('--data <file>', 'labelled CSV')
    .option('--label <column>', 'ground-truth column (default: the manifest\'s)')
    .option('--json', 'print the report as JSON')
    .action(async (location, o) => {
      const pkg = await openPackage(location);
      const label = o.label ?? pkg.manifest.labelColumn;
      if (!label) throw new InvalidArgumentError('--label is required: the manifest names no label column');
      const predictor = await Predictor.create(pkg);
      try {
        const evaluation = await evaluateTable(predictor, await readCsvTable(o.data), label, { latency: true });
        if (o.json) {
          console.log(JSON.stringify(evaluation, null, 2));
          return;
        }
        const { confusion, ...quality } = evaluation.quality as typeof evaluation.quality & { confusion?: number[][] };
        console.log(table([['metric', 'value'], ...Object.entries(quality).map(([k, v]) => [k, v as number])]));
        if (confusion) {
          const classes = classesOf(pkg.manifest);
          console.log(`\nconfusion (rows: actual, columns: predicted)\n${table([['', ...classes], ...confusion.map((r, i) => [classes[i]!, ...r])])}`);
        }
        if (evaluation.latency) {
          console.log(`\nlatency: ${formatNumber(evaluation.latency.batch1P50Ms)} ms p50 at batch 1, ${formatNumber(evaluation.latency.rowsPerSecondAt1024)} rows/s at batch 1024`);
        }
        if (evaluation.skipped.count) console.error(`skipped ${evaluation.skipped.count} rows, e.g. ${evaluation.skipped.examples[0]}`);
      } finally {
        await predictor.release();
      }
    });
}
