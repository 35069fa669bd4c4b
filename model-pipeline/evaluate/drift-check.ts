import { BaselineBuilder, BaselineSchema, type Baseline } from '../../core/drift/baseline';
import { detectDriftOnRows, type DriftOptions } from '../../core/drift/detect';
import type { DriftReport } from '../../core/drift/report';
import { classesOf, PackageFiles } from '../../core/model/manifest';
import { type ModelPackage, packageJson } from '../../core/model/model-package';
import type { Predictor } from '../../core/model/predictor';
import type { Table } from '../data/table';
import { encodeTable } from '../train/trainer';
import { scoreAll } from './evaluate';

/** The package's baseline profile, or an error saying how to make one. */
export function baselineOf(pkg: ModelPackage): Baseline {
  const raw = packageJson<unknown>(pkg, PackageFiles.baseline);
  if (!raw) throw new Error(`${pkg.manifest.name} ${pkg.manifest.version} has no ${PackageFiles.baseline}; make one with mlops baseline`);
  return BaselineSchema.parse(raw);
}

/** Encodes a table's rows for a package (label column used when present), with the rows that could not be read. */
function encodeFor(pkg: ModelPackage, table: Table) {
  const { manifest } = pkg;
  const labelColumn = manifest.labelColumn ? table.header.indexOf(manifest.labelColumn) : -1;
  return { ...encodeTable(table, manifest.input.features, labelColumn, manifest.task, classesOf(manifest)), labelled: labelColumn >= 0 };
}

/** Compares a data file with the package's baseline: data drift, prediction drift, and quality drift when labels are present. */
export async function driftOfTable(pkg: ModelPackage, predictor: Predictor, table: Table, options: DriftOptions = {}): Promise<{ report: DriftReport; skipped: { count: number; examples: string[] } }> {
  const { set, skipped, labelled } = encodeFor(pkg, table);
  const scores = await scoreAll(predictor, set);
  const report = detectDriftOnRows(baselineOf(pkg), set.x, set.rows, { scores, ...(labelled ? { labels: set.y } : {}) }, options);
  return { report, skipped };
}

/** A new baseline profile from a data file (the model's scores on it included). */
export async function baselineOfTable(pkg: ModelPackage, predictor: Predictor, table: Table): Promise<Baseline> {
  const { set } = encodeFor(pkg, table);
  const builder = new BaselineBuilder(pkg.manifest);
  builder.addRows(set.x, set.rows, await scoreAll(predictor, set));
  return builder.finish();
}
