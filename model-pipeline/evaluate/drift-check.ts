import { BaselineBuilder, BaselineSchema, type Baseline } from '../../core/drift/baseline';
import { detectDrift, type DriftOptions } from '../../core/drift/detect';
import type { DriftReport } from '../../core/drift/report';
import { DriftWindow } from '../../core/drift/window';
import { classesOf, PackageFiles } from '../../core/model/manifest';
import { type ModelPackage, packageJson } from '../../core/model/model-package';
import type { Predictor } from '../../core/model/predictor';
import type { Table } from '../data/table';
import { encodeTable } from '../train/trainer';
import { CsvFeatureReader, type SkippedRows } from './csv-features';
import { scoreAll } from './evaluate';

/** The package's baseline profile, or an error saying how to make one. */
export function baselineOf(pkg: ModelPackage): Baseline {
  const raw = packageJson<unknown>(pkg, PackageFiles.baseline);
  if (!raw) throw new Error(`${pkg.manifest.name} ${pkg.manifest.version} has no ${PackageFiles.baseline}; make one with mlops baseline`);
  return BaselineSchema.parse(raw);
}

export interface CsvDriftOptions {
  readonly drift?: DriftOptions;
  /** Rows encoded, scored and added to the window at a time. @default 4096 */
  readonly chunkRows?: number;
}

/**
 * Compares a CSV stream (header row naming the features, any column order; the label column,
 * when present, adds quality drift) with the package's baseline: data drift, prediction drift,
 * missing rates and model quality. Memory is bounded whatever the file's size: rows are encoded
 * a chunk at a time, scored, and folded into a DriftWindow (fixed-size reservoirs), as the
 * monitor does with captured requests; the file is never held whole.
 */
export async function driftOfCsv(
  pkg: ModelPackage,
  predictor: Predictor,
  source: AsyncIterable<Uint8Array | string>,
  options: CsvDriftOptions = {},
): Promise<{ report: DriftReport; skipped: SkippedRows }> {
  const baseline = baselineOf(pkg);
  const window = new DriftWindow(baseline);
  const reader = new CsvFeatureReader(pkg.manifest, options.chunkRows);
  const cols = pkg.manifest.input.features.length;
  for await (const { x, rows, labels } of reader.read(source)) {
    const scores = await predictor.predict({ data: x, rows, cols });
    window.addRows(x, rows, scores, reader.labelled ? labels : undefined);
  }
  return { report: detectDrift(baseline, window, options.drift), skipped: reader.skipped };
}

/** A new baseline profile from a data file (the model's scores on it included). */
export async function baselineOfTable(pkg: ModelPackage, predictor: Predictor, table: Table): Promise<Baseline> {
  const { manifest } = pkg;
  const labelColumn = manifest.labelColumn ? table.header.indexOf(manifest.labelColumn) : -1;
  const { set } = encodeTable(table, manifest.input.features, labelColumn, manifest.task, classesOf(manifest));
  const builder = new BaselineBuilder(manifest);
  builder.addRows(set.x, set.rows, await scoreAll(predictor, set));
  return builder.finish();
}
