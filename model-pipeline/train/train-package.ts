import { withConfidenceCalibration } from '../evaluate/confidence-calibration';
import { basename } from 'node:path';
import { BaselineBuilder, smallBaselineWarning } from '../../core/drift/baseline';
import type { BlobStore } from '../../core/model/blob-store';
import { type Feature, type Manifest, PackageFiles, parseManifest } from '../../core/model/manifest';
import { type ManifestDraft, type ModelPackage, sha256Hex, writePackage } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { manifestMetrics, qualityOf, scoreAll } from '../evaluate/evaluate';
import { readCsvTable } from '../data/table';
import { exportTrainedModel, ExportedNames } from '../onnx/export-trained';
import { inferSchema } from './infer-schema';
import { type TrainedModel, type TrainOptions, trainModel } from './trainer';

export interface TrainPackageOptions extends TrainOptions {
  /** CSV file with a header row. */
  readonly data: string;
  readonly name: string;
  /** @default '1.0.0' */
  readonly version?: string;
  /** @default null */
  readonly parentVersion?: string | null;
  /** Columns to pass through instead of using as features. */
  readonly ignore?: readonly string[];
  /** Accepted value ranges per numeric feature, enforced at serving time. */
  readonly ranges?: Readonly<Record<string, { readonly min?: number; readonly max?: number }>>;
  readonly description?: string;
  /**
   * Receives what the user should know about the package made: a baseline profile too small to
   * detect drift on small windows against.
   * @default - a line on stderr
   */
  readonly onWarning?: (message: string) => void;
}

/** Trains a model on a CSV file and writes a complete package: ONNX model, manifest with metrics, baseline profile. */
export async function trainPackage(store: BlobStore, options: TrainPackageOptions): Promise<{ pkg: ModelPackage; model: TrainedModel }> {
  const table = await readCsvTable(options.data);
  const schema = inferSchema(table, { label: options.label, ignore: options.ignore });
  const features = applyRanges(schema.features, options.ranges ?? {});
  const model = trainModel(table, features, options);
  const onnxBytes = exportTrainedModel(model, options.name);
  const isRegression = model.task === 'regression';
  const draft: ManifestDraft = {
    name: options.name,
    version: options.version ?? '1.0.0',
    task: model.task,
    description: options.description,
    input: { tensor: ExportedNames.input, features },
    output: isRegression
      ? { tensor: ExportedNames.prediction, kind: 'value' }
      : { tensor: ExportedNames.probabilities, kind: 'probabilities', classes: [...model.classes] },
    labelColumn: options.label,
    trainingData: { fingerprint: table.fingerprint, rows: model.train.rows + model.validation.rows, source: basename(options.data) },
    parentVersion: options.parentVersion ?? null,
    createdAt: new Date().toISOString(),
    provenance: {
      trainer: options.model ?? 'mlp',
      hidden: (options.model ?? 'mlp') === 'mlp' ? [...(options.hidden ?? [32])] : [],
      epochsRun: model.epochsRun,
      seed: options.seed ?? 1,
      validationRows: model.validation.rows,
      skippedRows: model.skipped.count,
    },
  };
  const manifest = provisional(draft, onnxBytes);
  const predictor = await Predictor.fromModel(manifest, onnxBytes);
  try {
    // Metrics come from the exported ONNX model on the held-out rows, not from the trainer's own arithmetic.
    const validationScores = await scoreAll(predictor, model.validation);
    const metrics = manifestMetrics(qualityOf(predictor, validationScores, model.validation.y));
    const baseline = new BaselineBuilder({ ...manifest, metrics });
    baseline.addRows(model.train.x, model.train.rows, await scoreAll(predictor, model.train));
    baseline.addRows(model.validation.x, model.validation.rows, validationScores);
    const profile = withConfidenceCalibration(baseline.finish(), validationScores, isRegression ? null : model.validation.y);
    const small = smallBaselineWarning(profile.rows);
    if (small) (options.onWarning ?? ((message) => process.stderr.write(`warning: ${message}\n`)))(small);
    const pkg = await writePackage(store, { ...draft, metrics }, {
      [PackageFiles.model]: onnxBytes,
      [PackageFiles.baseline]: `${JSON.stringify(profile)}\n`,
    });
    return { pkg, model };
  } finally {
    await predictor.release();
  }
}

/** A parsed manifest for model bytes not yet written, to evaluate them before the package exists. */
export function provisional(draft: ManifestDraft, onnxBytes: Uint8Array): Manifest {
  return parseManifest({ ...draft, schemaVersion: 1, files: { [PackageFiles.model]: { sha256: sha256Hex(onnxBytes), bytes: onnxBytes.byteLength } } });
}

function applyRanges(features: Feature[], ranges: Readonly<Record<string, { min?: number; max?: number }>>): Feature[] {
  for (const name of Object.keys(ranges)) {
    const feature = features.find((f) => f.name === name);
    if (!feature) throw new Error(`range given for "${name}", which is not a feature; features are ${features.map((f) => f.name).join(', ')}`);
    if (feature.type !== 'numeric') throw new Error(`range given for "${name}", which is categorical`);
  }
  return features.map((f) => (f.type === 'numeric' && ranges[f.name] ? { ...f, ...ranges[f.name] } : f));
}
