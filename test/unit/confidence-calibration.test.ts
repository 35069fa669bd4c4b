import { mkdir } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Baseline, BaselineSchema } from '../../core/drift/baseline';
import { PackageFiles } from '../../core/model/manifest';
import { type ModelPackage, packageJson } from '../../core/model/model-package';
import { demoReports } from '../helpers/drift-report';
import { trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';

/** Training fits the confidence calibration of label-free performance estimation (CBPE) on its held-out rows. */

const tmp = useTempDir();
let pkg: ModelPackage;
let baseline: Baseline;

beforeAll(async () => {
  pkg = await trainDemoPackage(tmp.path);
  baseline = BaselineSchema.parse(packageJson(pkg, PackageFiles.baseline));
});

describe('a trained classifier', () => {
  it('carries a calibration fitted on its validation rows', () => {
    const calibration = baseline.prediction?.kind === 'classification' ? baseline.prediction.calibration : undefined;

    expect(calibration?.rows).toBe(pkg.manifest.provenance?.validationRows);
    // An isotonic fit preserves the mean: calibrated confidences average to the validation accuracy.
    expect(calibration?.expectedAccuracy).toBeCloseTo(pkg.manifest.metrics.accuracy!, 6);
  });

  it('has its drift reports estimate accuracy from calibrated confidences', async () => {
    await mkdir(tmp.file('reports'), { recursive: true });
    const [report] = await demoReports(tmp.file('reports'), [{ rows: 1_000, seed: 3 }]);

    expect(report!.quality?.estimated).toMatchObject({ calibrated: true, alarm: false });
  });
});
