import { beforeAll, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { QuantizationReportSchema } from '../../model-pipeline/quantize/report';
import { trainPackage } from '../../model-pipeline/train/train-package';
import { expectOneLineError, mlops } from '../helpers/cli';
import { useTempDir } from '../helpers/tmp';

describe('mlops quantize', () => {
  const tmp = useTempDir('mlops-quantize-cli-');
  /** Timing never decides these tests: the speed check is set to pass or to fail outright. */
  const fast = ['--latency-ms', '20'];

  beforeAll(async () => {
    await writeGeneratedCsv(tmp.file('train.csv'), { rows: 3000, seed: 31, task: 'multiclass', noise: 0.4 });
    await writeGeneratedCsv(tmp.file('eval.csv'), { rows: 1000, seed: 32, task: 'multiclass', noise: 0.4 });
    await trainPackage(new DirectoryStore(tmp.file('pkg')), { data: tmp.file('train.csv'), label: 'segment', name: 'segments', epochs: 15 });
  });

  it('prints the layers, the fp32/int8 comparison and a SERVABLE verdict, and exits 0 when the gate passes', async () => {
    // Act
    const result = await mlops(['quantize', tmp.file('pkg'), '--data', tmp.file('eval.csv'), '--label', 'segment', '--min-speedup', '0', ...fast]);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    for (const text of ['layer', 'latency batch 1 ', 'latency batch 32', 'latency batch 1024', 'accuracy', 'macro-F1', 'top-1 agreement', 'max |Δ probability|']) expect(result.stdout).toContain(text);
    expect(result.stdout).toMatch(/verdict: SERVABLE/);
  });

  it('says NOT SERVABLE, names the failed check and exits 3 when the gate fails', async () => {
    // Act
    const result = await mlops(['quantize', tmp.file('pkg'), '--min-speedup', '1000000', ...fast]);

    // Assess
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/speedup\s+FAIL/);
    expect(result.stdout).toMatch(/verdict: NOT SERVABLE/);
  });

  it('quantizes in static mode with a calibration file and prints the report as JSON', async () => {
    // Act
    const result = await mlops(['quantize', tmp.file('pkg'), '--mode', 'static', '--calibration', tmp.file('train.csv'), '--method', 'percentile', '--json', ...fast]);

    // Assess
    const report = QuantizationReportSchema.parse(JSON.parse(result.stdout));
    expect(report).toMatchObject({ mode: 'static', calibration: { method: 'percentile', rows: 3000 } });
  });

  it('rejects an unknown mode in one line', async () => {
    expect(expectOneLineError(await mlops(['quantize', tmp.file('pkg'), '--mode', 'int4']))).toMatch(/--mode.*int4/);
  });

  it('fails in one line when the label column is not in --data', async () => {
    expect(expectOneLineError(await mlops(['quantize', tmp.file('pkg'), '--data', tmp.file('eval.csv'), '--label', 'nope', ...fast]))).toMatch(/label column "nope" is not in the header/);
  });
});
