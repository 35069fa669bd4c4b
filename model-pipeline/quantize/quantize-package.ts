import { type Baseline, BaselineSchema } from '../../core/drift/baseline';
import type { BlobStore } from '../../core/model/blob-store';
import { classesOf, type Manifest, PackageFiles, type QuantizationSummary } from '../../core/model/manifest';
import { type ModelPackage, packageJson, writePackage } from '../../core/model/model-package';
import type { Matrix } from '../../core/model/onnx-session';
import { type BatchScores, Predictor } from '../../core/model/predictor';
import { Random } from '../../core/random';
import { columnIndex, type Table } from '../data/table';
import { qualityOf, scoreAll } from '../evaluate/evaluate';
import { encodeTable } from '../train/trainer';
import type { CalibrationMethod } from './calibrate';
import { agreement, maxAbsDifference } from './compare';
import { convertToFloat16 } from './fp16';
import { DEFAULT_GATE, evaluateGate, type GateThresholds } from './gate';
import { measureSideBySide, type SideBySideOptions } from './latency';
import { type QuantizationMode, quantizeModel } from './quantize-model';
import { QUANTIZATION_REPORT_FILE, type QuantizationReport } from './report';

/** File name of the optional float16 model (for GPU serving). */
export const FP16_MODEL_FILE = 'model.fp16.onnx';

export interface QuantizePackageOptions {
  /** @default 'dynamic' */
  readonly mode?: QuantizationMode;
  /** Rows to calibrate activation ranges on (static) and to find layers that must stay float. @default rows sampled from the package's baseline profile */
  readonly calibration?: { readonly table: Table; readonly source: string };
  /** Rows to compare the two models on; with `label`, accuracy and F1 too. @default the calibration rows */
  readonly evaluation?: { readonly table: Table; readonly source: string; readonly label?: string };
  /** @default 'minmax' */
  readonly calibrationMethod?: CalibrationMethod;
  /** @default 99.99 */
  readonly percentile?: number;
  /** Keep weights in 7 bits, for CPUs without VNNI. @default false */
  readonly reduceRange?: boolean;
  /** Also write model.fp16.onnx, checked against the float model on the evaluation rows (skipped without rows). @default false */
  readonly fp16?: boolean;
  /** @default DEFAULT_GATE */
  readonly gate?: Partial<GateThresholds>;
  /** How latency is measured. @default 600 ms per batch size at batches 1, 32 and 1024 */
  readonly latency?: SideBySideOptions;
  /** Most rows used for calibration and for evaluation. @default 5000 */
  readonly maxRows?: number;
  /** Called as each step starts, for progress output. */
  readonly onStep?: (step: string) => void;
}

/**
 * Quantizes a package's model, compares the int8 model with the float one (agreement,
 * accuracy, latency side by side, size), applies the gate, and writes model.int8.onnx and
 * quantization.json into the package; the manifest's `quantization` section says whether
 * the int8 model may serve.
 */
export async function quantizePackage(store: BlobStore, pkg: ModelPackage, options: QuantizePackageOptions = {}): Promise<{ pkg: ModelPackage; report: QuantizationReport }> {
  const { manifest } = pkg;
  const step = options.onStep ?? (() => {});
  const thresholds: GateThresholds = { ...DEFAULT_GATE, ...options.gate };
  const mode = options.mode ?? 'dynamic';
  const fp32 = pkg.files.get(PackageFiles.model);
  if (!fp32) throw new Error(`${PackageFiles.model} is missing from the package`);
  const maxRows = options.maxRows ?? 5000;

  step('reading data');
  const calibration = options.calibration
    ? { ...encodeRows(manifest, options.calibration.table, undefined, maxRows), source: options.calibration.source }
    : baselineRows(pkg, maxRows);
  if (mode === 'static' && !calibration) throw new Error(`static mode needs calibration rows: give a calibration file (the package has no ${PackageFiles.baseline} to sample them from)`);
  // Dynamic mode finds activation ranges per call, so scoring many rows per call (as here) is its least precise case.
  const evaluation = options.evaluation
    ? { ...encodeRows(manifest, options.evaluation.table, options.evaluation.label, maxRows), source: options.evaluation.source }
    : calibration;

  step(`quantizing (${mode})`);
  const quantized = await quantizeModel(fp32, {
    mode,
    input: manifest.input.tensor,
    output: manifest.output.tensor,
    calibration: calibration?.matrix,
    calibrationMethod: options.calibrationMethod,
    percentile: options.percentile,
    reduceRange: options.reduceRange,
    // The calibration rows are not the evaluation rows: aim halfway between the gate and 100%
    // so that the gate's agreement does not fail on the evaluation rows by chance.
    minAgreement: thresholds.minAgreement + (1 - thresholds.minAgreement) / 2,
  });

  let comparison: Comparison | null = null;
  let latency: QuantizationReport['latency'] = [];
  if (quantized.bytes && evaluation) {
    const reference = await Predictor.fromModel(manifest, fp32);
    const int8 = await Predictor.fromModel(manifest, quantized.bytes, { modelFile: PackageFiles.int8Model });
    try {
      step('evaluating');
      comparison = await compare(reference, int8, evaluation);
      step('measuring latency');
      latency = await measureSideBySide((m) => reference.predict(m), (m) => int8.predict(m), evaluation.matrix, options.latency);
    } finally {
      await Promise.all([reference.release(), int8.release()]);
    }
  }

  let fp16: QuantizationReport['fp16'] = null;
  const extraFiles: Record<string, Uint8Array> = {};
  if (options.fp16 && evaluation) {
    step('converting to float16');
    const bytes = convertToFloat16(fp32);
    const half = await Predictor.fromModel(manifest, bytes, { modelFile: FP16_MODEL_FILE });
    const reference = await Predictor.fromModel(manifest, fp32);
    try {
      const c = await compare(reference, half, evaluation);
      fp16 = { file: FP16_MODEL_FILE, bytes: bytes.byteLength, agreement: c.agreement, maxAbsProbabilityDiff: c.maxAbsProbabilityDiff };
      extraFiles[FP16_MODEL_FILE] = bytes;
    } finally {
      await Promise.all([reference.release(), half.release()]);
    }
  }

  const gate = evaluateGate(
    {
      quantizedLayers: quantized.layers.filter((l) => l.quantized).length,
      agreement: comparison?.agreement ?? null,
      accuracyDropPoints: comparison?.accuracyDropPoints ?? null,
      speedupAt32: latency.find((l) => l.batch === 32)?.speedup ?? null,
    },
    thresholds,
  );
  const int8File = quantized.bytes ? PackageFiles.int8Model : null;
  const report: QuantizationReport = {
    schemaVersion: 1,
    createdAt: new Date().toISOString(),
    mode,
    file: int8File,
    calibration: calibration
      ? {
          source: calibration.source,
          rows: calibration.matrix.rows,
          method: options.calibrationMethod ?? 'minmax',
          ...(options.calibrationMethod === 'percentile' ? { percentile: options.percentile ?? 99.99 } : {}),
        }
      : null,
    layers: quantized.layers.map((l) => ({ ...l, shape: [l.shape[0], l.shape[1]] as [number, number] })),
    floatOps: [...quantized.floatOps],
    size: {
      fp32Bytes: fp32.byteLength,
      int8Bytes: quantized.bytes?.byteLength ?? null,
      ratio: quantized.bytes ? quantized.bytes.byteLength / fp32.byteLength : null,
    },
    latency,
    evaluation: comparison && evaluation ? { source: evaluation.source, rows: evaluation.matrix.rows, labelled: evaluation.labels !== null, ...comparison } : null,
    fp16,
    gate: { passed: gate.passed, thresholds, checks: gate.checks },
  };

  step('writing the package');
  const summary: QuantizationSummary = {
    file: int8File,
    mode,
    servable: gate.passed,
    report: QUANTIZATION_REPORT_FILE,
    failures: gate.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail}`),
  };
  // Rewrite the package without a stale int8 or fp16 model from an earlier run.
  const contents: Record<string, Uint8Array | string> = Object.fromEntries([...pkg.files].filter(([name]) => name !== PackageFiles.int8Model && name !== FP16_MODEL_FILE));
  if (quantized.bytes) contents[PackageFiles.int8Model] = quantized.bytes;
  Object.assign(contents, extraFiles);
  contents[QUANTIZATION_REPORT_FILE] = `${JSON.stringify(report, null, 2)}\n`;
  const { files: _files, schemaVersion: _version, ...draft } = manifest;
  const written = await writePackage(store, { ...draft, quantization: summary }, contents);
  return { pkg: written, report };
}

interface Rows {
  readonly matrix: Matrix;
  /** Class index or regression target per row; null for unlabelled rows. */
  readonly labels: Float64Array | null;
  readonly source: string;
}

type Comparison = Omit<NonNullable<QuantizationReport['evaluation']>, 'source' | 'rows' | 'labelled'>;

async function compare(reference: Predictor, candidate: Predictor, rows: Rows): Promise<Comparison> {
  const set = { x: rows.matrix.data, rows: rows.matrix.rows };
  const [a, b] = [await scoreAll(reference, set), await scoreAll(candidate, set)];
  const quality = (scores: BatchScores) => {
    if (!rows.labels) return null;
    const q = qualityOf(reference, scores, rows.labels) as { accuracy?: number; macroF1?: number; r2?: number };
    return q.accuracy !== undefined ? { accuracy: q.accuracy, macroF1: q.macroF1 } : { accuracy: q.r2 ?? Number.NaN };
  };
  const [fp32, int8] = [quality(a), quality(b)];
  const drop = (key: 'accuracy' | 'macroF1') => (fp32?.[key] !== undefined && int8?.[key] !== undefined ? (fp32[key]! - int8[key]!) * 100 : null);
  return {
    agreement: agreement(a, b),
    maxAbsProbabilityDiff: maxAbsDifference(a.values, b.values),
    fp32,
    int8,
    accuracyDropPoints: drop('accuracy'),
    macroF1DropPoints: drop('macroF1'),
  };
}

/** Encodes a table's feature columns (by name, any order); with a label column, its targets too. Rows that cannot be read are skipped. */
function encodeRows(manifest: Manifest, table: Table, label: string | undefined, maxRows: number): Omit<Rows, 'source'> {
  const labelColumn = label ? columnIndex(table, label, 'label column') : -1;
  const { set } = encodeTable(table, manifest.input.features, labelColumn, manifest.task, classesOf(manifest));
  if (set.rows === 0) throw new Error('no usable rows: every row had a missing or invalid feature or label');
  const rows = Math.min(set.rows, maxRows);
  const width = manifest.input.features.length;
  return { matrix: { data: set.x.subarray(0, rows * width), rows, cols: width }, labels: label ? set.y.subarray(0, rows) : null };
}

/**
 * Without data, rows are drawn from the baseline profile: each feature independently from
 * its stored sample (numeric) or level shares (categorical). Realistic per feature, though
 * correlations between features are lost; the report names the source.
 */
function baselineRows(pkg: ModelPackage, maxRows: number): Rows | null {
  const json = packageJson<unknown>(pkg, PackageFiles.baseline);
  if (!json) return null;
  const baseline: Baseline = BaselineSchema.parse(json);
  const { features } = pkg.manifest.input;
  const random = new Random(17);
  const rows = Math.min(maxRows, 2000);
  const data = new Float32Array(rows * features.length);
  features.forEach((feature, f) => {
    const profile = baseline.features.find((p) => p.name === feature.name);
    for (let r = 0; r < rows; r++) {
      let value = 0;
      if (profile?.kind === 'numeric') value = profile.sample.length ? profile.sample[Math.floor(random.next() * profile.sample.length)]! : profile.mean;
      else if (profile?.kind === 'categorical' && feature.type === 'categorical') value = Math.max(0, feature.levels.indexOf(profile.levels[random.choice(profile.shares)] ?? ''));
      data[r * features.length + f] = value;
    }
  });
  return { matrix: { data, rows, cols: features.length }, labels: null, source: `${rows} rows sampled from ${PackageFiles.baseline}` };
}
