import { type Command, Option } from 'commander';
import { loadPackage } from '../../core/model/model-package';
import { readCsvTable } from '../../model-pipeline/data/table';
import { quantizePackage } from '../../model-pipeline/quantize/quantize-package';
import type { QuantizationReport } from '../../model-pipeline/quantize/report';
import { decimal, integer, packageStore } from '../args';
import { formatBytes, formatNumber, table } from '../format';

/** Exit code when the int8 model was written but failed its gate (a verdict, not an error). */
export const GATE_FAILED_EXIT_CODE = 3;

/** `mlops quantize`. */
export function registerQuantize(program: Command): void {
  program
    .command('quantize')
    .description(
      'Quantize a package\'s model to int8, compare it with the float model and write model.int8.onnx and quantization.json into the package. ' +
        `Exits 0 when the int8 model passed its gate (it will serve), ${GATE_FAILED_EXIT_CODE} when it did not.`,
    )
    .argument('<package>', 'package folder or s3:// location')
    .addOption(new Option('--mode <mode>', 'activations quantized at run time (dynamic) or from calibration (static)').choices(['dynamic', 'static']).default('dynamic'))
    .option('--calibration <file>', 'CSV of representative rows (default: rows sampled from the package\'s baseline profile)')
    .option('--data <file>', 'CSV to evaluate on (default: the calibration rows)')
    .option('--label <column>', 'ground-truth column of --data (default: the manifest\'s, when present)')
    .addOption(new Option('--method <method>', 'how static mode picks activation ranges').choices(['minmax', 'percentile']).default('minmax'))
    .option('--percentile <p>', 'share of values the percentile method keeps in range', decimal('--percentile'), 99.99)
    .option('--fp16', 'also write model.fp16.onnx for GPU serving')
    .option('--reduce-range', '7-bit weights, for CPUs without VNNI')
    .option('--min-agreement <share>', 'gate: least top-1 agreement with the float model', decimal('--min-agreement'), 0.995)
    .option('--max-accuracy-drop <points>', 'gate: largest accuracy drop in percentage points', decimal('--max-accuracy-drop'), 0.5)
    .option('--min-speedup <x>', 'gate: least speed-up at batch 32', decimal('--min-speedup'), 1.5)
    .option('--latency-ms <ms>', 'measuring time per batch size', integer('--latency-ms'), 600)
    .option('--json', 'print the report as JSON')
    .action(async (location, o) => {
      const store = packageStore(location);
      const pkg = await loadPackage(store);
      const step = (text: string) => {
        if (process.stderr.isTTY) process.stderr.write(`quantize: ${text}…\n`);
      };
      const evaluation = o.data ? await readCsvTable(o.data) : undefined;
      const label: string | undefined = o.label ?? (evaluation && pkg.manifest.labelColumn && evaluation.header.includes(pkg.manifest.labelColumn) ? pkg.manifest.labelColumn : undefined);
      const { report } = await quantizePackage(store, pkg, {
        mode: o.mode,
        calibration: o.calibration ? { table: await readCsvTable(o.calibration), source: o.calibration } : undefined,
        evaluation: evaluation ? { table: evaluation, source: o.data, label } : undefined,
        calibrationMethod: o.method,
        percentile: o.percentile,
        fp16: Boolean(o.fp16),
        reduceRange: Boolean(o.reduceRange),
        gate: { minAgreement: o.minAgreement, maxAccuracyDropPoints: o.maxAccuracyDrop, minSpeedupAt32: o.minSpeedup },
        latency: { budgetMs: o.latencyMs },
        onStep: step,
      });
      console.log(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
      if (!report.gate.passed) process.exitCode = GATE_FAILED_EXIT_CODE;
    });
}

/** The report as terminal tables: layers, comparison, latency, and the gate verdict last. */
export function formatReport(r: QuantizationReport): string {
  const lines: string[] = [];
  const c = r.calibration;
  lines.push(`mode: ${r.mode}${!c ? '' : r.mode === 'static' ? `, calibrated on ${c.source} (${c.method}, ${c.rows} rows)` : `, layers checked on ${c.rows} rows of ${c.source}`}`);
  lines.push('', table([['layer', 'shape', 'int8', 'weight error', 'note'], ...r.layers.map((l) => [l.name, `${l.shape[0]}×${l.shape[1]}`, l.quantized ? 'yes' : 'no', l.weightError, l.reason ?? ''])]));
  const kept = r.floatOps.filter((f) => !f.reason.startsWith('elementwise'));
  if (kept.length) lines.push('', table([['other ops', 'count', 'how they run'], ...kept.map((f) => [`${f.domain === 'ai.onnx' ? '' : `${f.domain}:`}${f.op}`, f.count, f.reason])]));
  const rows: (string | number)[][] = [['', 'fp32', 'int8', 'change']];
  rows.push(['size', formatBytes(r.size.fp32Bytes), r.size.int8Bytes === null ? '-' : formatBytes(r.size.int8Bytes), r.size.ratio === null ? '-' : `${r.size.ratio.toFixed(2)}x`]);
  for (const l of r.latency) rows.push([`latency batch ${l.batch}`, `${formatNumber(l.fp32Ms)} ms`, `${formatNumber(l.int8Ms)} ms`, `${l.speedup.toFixed(2)}x speed-up`]);
  const e = r.evaluation;
  if (e) {
    if (e.fp32 && e.int8) {
      rows.push(['accuracy', e.fp32.accuracy, e.int8.accuracy, points(e.accuracyDropPoints)]);
      if (e.fp32.macroF1 !== undefined && e.int8.macroF1 !== undefined) rows.push(['macro-F1', e.fp32.macroF1, e.int8.macroF1, points(e.macroF1DropPoints)]);
    }
    rows.push(['top-1 agreement', '', `${(e.agreement * 100).toFixed(2)}%`, ''], ['max |Δ probability|', '', e.maxAbsProbabilityDiff, '']);
  }
  lines.push('', table(rows));
  if (e) lines.push(`evaluated on ${e.rows} rows of ${e.source}${e.labelled ? '' : ' (unlabelled)'}`);
  if (r.fp16) lines.push(`fp16: ${r.fp16.file} (${formatBytes(r.fp16.bytes)}), agreement ${(r.fp16.agreement * 100).toFixed(2)}%, max |Δ probability| ${formatNumber(r.fp16.maxAbsProbabilityDiff)}`);
  lines.push('', table([['gate', 'result', ''], ...r.gate.checks.map((c) => [c.name, c.passed ? 'pass' : 'FAIL', c.detail])]));
  lines.push('', r.gate.passed ? `verdict: SERVABLE — ${r.file} passed the gate and will be served` : `verdict: NOT SERVABLE — the float model keeps serving${r.file ? ` (${r.file} is kept for inspection)` : ''}`);
  return lines.join('\n');
}

function points(drop: number | null): string {
  return drop === null ? '' : `${drop > 0 ? '-' : '+'}${Math.abs(drop).toFixed(2)} pt`;
}
