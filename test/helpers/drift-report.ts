import { BaselineSchema } from '../../core/drift/baseline';
import { detectDriftOnRows } from '../../core/drift/detect';
import type { DriftReport } from '../../core/drift/report';
import { encodeRow } from '../../core/data/coerce';
import { PackageFiles } from '../../core/model/manifest';
import { packageJson } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { generatedHeader, generateRows, type DriftSpec } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from './demo-package';

/** Reports of the demo model on generated windows, as the monitor makes them: features, scores and the model's own predictions. */
export async function demoReports(dir: string, windows: readonly { rows: number; seed: number; drift?: DriftSpec }[]): Promise<DriftReport[]> {
  const pkg = await trainDemoPackage(dir);
  const baseline = BaselineSchema.parse(packageJson(pkg, PackageFiles.baseline));
  const predictor = await Predictor.create(pkg);
  const features = pkg.manifest.input.features;
  const header = generatedHeader();
  try {
    const reports: DriftReport[] = [];
    for (const window of windows) {
      const x = new Float32Array(window.rows * features.length);
      [...generateRows(window)].forEach((row, r) => encodeRow(features, (name) => row.cells[header.indexOf(name)], x, r * features.length));
      const scores = await predictor.predict({ data: x, rows: window.rows, cols: features.length });
      reports.push(detectDriftOnRows(baseline, x, window.rows, { scores: { values: scores.values, width: scores.width } }));
    }
    return reports;
  } finally {
    await predictor.release();
  }
}
