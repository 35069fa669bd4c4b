import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DirectoryStore } from '../../core/model/blob-store';
import { InferenceEngine } from '../../core/model/engine';
import { loadPackage, type ModelPackage, packageJson } from '../../core/model/model-package';
import { StaticModelSource } from '../../core/model/registry';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { readCsvTable, type Table } from '../../model-pipeline/data/table';
import { importModel } from '../../model-pipeline/import/import-model';
import { FP16_MODEL_FILE, quantizePackage, type QuantizePackageOptions } from '../../model-pipeline/quantize/quantize-package';
import { QUANTIZATION_REPORT_FILE, type QuantizationReport, QuantizationReportSchema } from '../../model-pipeline/quantize/report';
import { trainPackage } from '../../model-pipeline/train/train-package';
import { useTempDir } from '../helpers/tmp';

/** Latency is measured, never asserted: a short budget keeps the tests fast. */
const quick = { latency: { budgetMs: 20, warmup: 2 } } satisfies QuantizePackageOptions;
/** Thresholds that do not depend on timing, so the verdict is deterministic. */
const passable = { ...quick, gate: { minSpeedupAt32: 0 } } satisfies QuantizePackageOptions;

describe('quantizePackage', () => {
  const tmp = useTempDir('mlops-quantize-pkg-');
  let evaluation: Table;

  /** A fresh copy of the trained package in its own folder, so tests do not see each other's writes. */
  async function freshPackage(name: string): Promise<{ store: DirectoryStore; pkg: ModelPackage }> {
    const store = new DirectoryStore(tmp.file(name));
    // Low label noise gives a confident model, whose int8 version can meet a 99.5% agreement gate.
    const { pkg } = await trainPackage(store, { data: tmp.file('train.csv'), label: 'segment', name: 'segments', epochs: 15, hidden: [32] });
    return { store, pkg };
  }

  beforeAll(async () => {
    await writeGeneratedCsv(tmp.file('train.csv'), { rows: 3000, seed: 21, task: 'multiclass', noise: 0.4 });
    await writeGeneratedCsv(tmp.file('eval.csv'), { rows: 2000, seed: 22, task: 'multiclass', noise: 0.4 });
    evaluation = await readCsvTable(tmp.file('eval.csv'));
  });

  it('writes model.int8.onnx and quantization.json into the package, both listed with their hashes', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('written');

    // Act
    await quantizePackage(store, pkg, { ...quick, evaluation: { table: evaluation, source: 'eval.csv', label: 'segment' } });

    // Assess: loadPackage verifies every listed hash.
    const reloaded = await loadPackage(store);
    expect(Object.keys(reloaded.manifest.files).sort()).toEqual(['baseline.json', 'model.int8.onnx', 'model.onnx', QUANTIZATION_REPORT_FILE]);
    expect(reloaded.manifest.quantization).toMatchObject({ file: 'model.int8.onnx', mode: 'dynamic', report: QUANTIZATION_REPORT_FILE });
    expect(() => QuantizationReportSchema.parse(packageJson(reloaded, QUANTIZATION_REPORT_FILE))).not.toThrow();
  });

  it('reports size, side-by-side latency at batch 1, 32 and 1024, agreement, and accuracy and F1 before and after', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('reported');

    // Act
    const { report } = await quantizePackage(store, pkg, { ...quick, mode: 'static', calibration: { table: await readCsvTable(tmp.file('train.csv')), source: 'train.csv' }, evaluation: { table: evaluation, source: 'eval.csv', label: 'segment' } });

    // Assess
    expect(report.size.ratio).toBeCloseTo(report.size.int8Bytes! / report.size.fp32Bytes, 9);
    expect(report.latency.map((l) => l.batch)).toEqual([1, 32, 1024]);
    for (const l of report.latency) expect(l.fp32Ms > 0 && l.int8Ms > 0 && l.speedup > 0).toBe(true);
    expect(report.evaluation).toMatchObject({ rows: 2000, labelled: true, fp32: { accuracy: expect.any(Number), macroF1: expect.any(Number) }, int8: { accuracy: expect.any(Number) } });
    expect(report.evaluation!.agreement).toBeGreaterThanOrEqual(0.995);
    expect(report.evaluation!.accuracyDropPoints!).toBeLessThanOrEqual(0.5);
    expect(report.evaluation!.maxAbsProbabilityDiff).toBeGreaterThan(0);
  });

  it('marks the int8 model servable when every check passes, and the engine then serves model.int8.onnx', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('servable');

    // Act
    const { pkg: quantized } = await quantizePackage(store, pkg, { ...passable, evaluation: { table: evaluation, source: 'eval.csv', label: 'segment' } });

    // Assess
    expect(quantized.manifest.quantization).toMatchObject({ servable: true, failures: [] });
    const engine = new InferenceEngine(new StaticModelSource([await loadPackage(store)]), { batching: false });
    expect((await engine.model('segments')).modelFile).toBe('model.int8.onnx');
    await engine.release();
  });

  it('keeps serving model.onnx when the engine is told not to prefer int8', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('float-preferred');
    await quantizePackage(store, pkg, { ...passable, evaluation: { table: evaluation, source: 'eval.csv', label: 'segment' } });

    // Act
    const engine = new InferenceEngine(new StaticModelSource([await loadPackage(store)]), { batching: false, preferQuantized: false });

    // Assess
    expect((await engine.model('segments')).modelFile).toBe('model.onnx');
    await engine.release();
  });

  it('marks the int8 model not servable when a check fails, names the failure, and the engine keeps serving model.onnx', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('too-slow');

    // Act
    const { pkg: quantized, report } = await quantizePackage(store, pkg, { ...quick, gate: { minSpeedupAt32: 1e6 } });

    // Assess
    expect(report.gate.passed).toBe(false);
    expect(quantized.manifest.quantization).toMatchObject({ servable: false, failures: [expect.stringMatching(/^speedup: /)] });
    const engine = new InferenceEngine(new StaticModelSource([await loadPackage(store)]), { batching: false });
    expect((await engine.model('segments')).modelFile).toBe('model.onnx');
    await engine.release();
  });

  it('without data, compares on rows sampled from the baseline profile and bounds the accuracy drop by the disagreement', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('baseline-only');

    // Act
    const { report } = await quantizePackage(store, pkg, { ...passable, mode: 'static' });

    // Assess
    expect(report.calibration?.source).toMatch(/sampled from baseline\.json/);
    expect(report.evaluation).toMatchObject({ labelled: false, fp32: null, int8: null });
    expect(report.gate.checks.find((c) => c.name === 'accuracy')?.detail).toMatch(/bound from agreement/);
  });

  it('writes model.fp16.onnx and its agreement when asked', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('half');

    // Act
    const { pkg: written, report } = await quantizePackage(store, pkg, { ...quick, fp16: true, evaluation: { table: evaluation, source: 'eval.csv', label: 'segment' } });

    // Assess
    expect(written.files.has(FP16_MODEL_FILE)).toBe(true);
    expect(report.fp16!.agreement).toBeGreaterThanOrEqual(0.995);
  });

  it('replaces the int8 model and report of an earlier run', async () => {
    // Prepare
    const { store, pkg } = await freshPackage('again');
    const first = await quantizePackage(store, pkg, { ...quick, mode: 'dynamic' });

    // Act
    const second = await quantizePackage(store, first.pkg, { ...quick, mode: 'static' });

    // Assess
    const reloaded = await loadPackage(store);
    expect(reloaded.manifest.quantization?.mode).toBe('static');
    expect(reloaded.manifest.files['model.int8.onnx']!.sha256).not.toBe(first.pkg.manifest.files['model.int8.onnx']!.sha256);
    expect(packageJson<QuantizationReport>(reloaded, QUANTIZATION_REPORT_FILE)?.createdAt).toBe(second.report.createdAt);
  });

  it('handles a skl2onnx logistic regression it cannot quantize: no int8 file, LinearClassifier named, not servable', async () => {
    // Prepare
    const fixtures = fileURLToPath(new URL('../fixtures/external/', import.meta.url));
    const store = new DirectoryStore(tmp.file('logreg'));
    const pkg = await importModel(store, { model: `${fixtures}sklearn-logreg.onnx`, data: `${fixtures}sample.csv`, name: 'logreg', label: 'segment', classes: ['bronze', 'silver', 'gold'], ignore: ['customer_id'] });

    // Act
    const { pkg: written, report } = await quantizePackage(store, pkg, quick);

    // Assess
    expect(report.file).toBeNull();
    expect(report.floatOps.find((f) => f.op === 'LinearClassifier')?.reason).toMatch(/no int8 kernel/);
    expect(report.gate.checks.find((c) => c.name === 'quantized')).toMatchObject({ passed: false, detail: 'no layer could be quantized' });
    expect(written.manifest.quantization).toMatchObject({ file: null, servable: false });
    expect(written.files.has('model.int8.onnx')).toBe(false);
  });
});
