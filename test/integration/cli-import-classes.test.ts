import { readFile, writeFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  boostedRegressorClassifier,
  type ClassifierModel,
  gradientBoosting,
  linearBinary,
  linearMulticlass,
  linearRegressor,
  mlpProbabilitiesOnly,
  mlpWithZipMap,
  randomForest,
  runModel,
  sampleFeatures,
  writeSample,
} from '../helpers/classifier-models';
import { expectOneLineError, mlops, mlopsOk } from '../helpers/cli';
import { type TempDir, useTempDir } from '../helpers/tmp';

/**
 * `mlops import` keeps the class labels a classifier carries, in the model's order, for every
 * family users export (scikit-learn via skl2onnx, LightGBM and XGBoost via onnxmltools): the class
 * it serves for a row is the class the model itself labels the row with.
 */

const rows = sampleFeatures(200);

interface ManifestJson {
  name: string;
  task: string;
  output: { tensor: string; kind: string; classes?: string[] };
  metrics: Record<string, number>;
}

/** The labels ONNX Runtime gives the sample rows: the model's "label" output, or for a model without one the class of its largest probability. */
async function ownLabels(model: ClassifierModel): Promise<string[]> {
  const { labels, probabilities } = await runModel(model.bytes, rows);
  if (labels) return labels;
  const k = model.classes.length;
  return rows.map((_, i) => {
    const p = Array.from(probabilities!.subarray(i * k, (i + 1) * k));
    return model.classes[p.indexOf(Math.max(...p))]!;
  });
}

/** Writes the model and returns its path. */
async function writeModel(tmp: TempDir, name: string, bytes: Uint8Array): Promise<string> {
  const path = tmp.file(`${name}.onnx`);
  await writeFile(path, bytes);
  return path;
}

/** Scores the sample with the package and returns the served class of every row. */
async function servedClasses(tmp: TempDir, pkg: string, sample: string): Promise<string[]> {
  const out = tmp.file(`${pkg.split('/').pop()}-scores.csv`);
  await mlopsOk(['score', pkg, sample, '--out', out]);
  const predictions = parse(await readFile(out, 'utf8'), { columns: true }) as Record<string, string>[];
  return predictions.map((p) => p.prediction!);
}

async function readManifest(pkg: string): Promise<ManifestJson> {
  return JSON.parse(await readFile(`${pkg}/manifest.json`, 'utf8')) as ManifestJson;
}

const families: readonly [string, () => ClassifierModel][] = [
  ['linear (LinearClassifier), binary, mixed-case string labels Malignant/benign', () => linearBinary(['Malignant', 'benign'])],
  ['linear (LinearClassifier), multiclass, int64 labels 2, 0, 1', () => linearMulticlass(['2', '0', '1'])],
  ['random forest (TreeEnsembleClassifier), multiclass, string labels virginica, setosa, versicolor', () => randomForest(['virginica', 'setosa', 'versicolor'])],
  ['random forest (TreeEnsembleClassifier), binary, int64 labels 0/1', () => randomForest(['0', '1'])],
  ['LightGBM (TreeEnsembleClassifier, LOGISTIC), binary, mixed-case string labels Yes/no', () => gradientBoosting(['Yes', 'no'], 'LightGBM')],
  ['LightGBM (TreeEnsembleClassifier, SOFTMAX), multiclass, string labels low, medium, high', () => gradientBoosting(['low', 'medium', 'high'], 'LightGBM')],
  ['XGBoost (TreeEnsembleClassifier, SOFTMAX), multiclass, int64 labels 0, 1, 2', () => gradientBoosting(['0', '1', '2'], 'XGBoost')],
  ['XGBoost (TreeEnsembleClassifier, LOGISTIC), binary, int64 labels -1/1', () => gradientBoosting(['-1', '1'], 'XGBoost')],
  ['boosting as TreeEnsembleRegressor + Sigmoid, binary, string label output Spam/ham', () => boostedRegressorClassifier(['Spam', 'ham'])],
  ['boosting as TreeEnsembleRegressor (SOFTMAX), multiclass, int64 label output 7, 3, 5', () => boostedRegressorClassifier(['7', '3', '5'])],
  ['MLP with ZipMap keys b, C, a and no label output', () => mlpWithZipMap(['b', 'C', 'a'])],
];

describe.each(families)('mlops import of a %s', (_, build) => {
  const tmp = useTempDir('mlops-import-classes-');
  const model = build();
  let own: string[];
  let manifest: ManifestJson;
  let served: string[];

  beforeAll(async () => {
    own = await ownLabels(model);
    const missing = model.classes.filter((c) => !own.includes(c));
    if (missing.length) throw new Error(`fixture ${model.id}: no sample row is labelled ${missing.join(', ')}`);
    const sample = tmp.file('sample.csv');
    await writeSample(sample, rows, { column: 'target', values: own });
    const pkg = tmp.file(model.id);
    await mlopsOk(['import', await writeModel(tmp, model.id, model.bytes), '--data', sample, '--out', pkg, '--label', 'target']);
    manifest = await readManifest(pkg);
    served = await servedClasses(tmp, pkg, sample);
  });

  it(`keeps the class labels the model carries, in its order: ${model.classes.join(', ')}`, () => {
    expect(manifest.output.classes).toEqual(model.classes);
    expect(manifest.task).toBe(model.classes.length === 2 ? 'binary' : 'multiclass');
  });

  it('serves every sample row the class the model itself labels it with', () => {
    expect(served).toHaveLength(rows.length);
    expect(served).toEqual(own);
  });
});

describe('mlops import of a classifier without --label', () => {
  const tmp = useTempDir('mlops-import-classes-unlabelled-');

  it('still takes the classes from the model: Malignant, benign', async () => {
    // Prepare
    const model = linearBinary(['Malignant', 'benign']);
    const sample = tmp.file('sample.csv');
    await writeSample(sample, rows);

    // Act
    await mlopsOk(['import', await writeModel(tmp, model.id, model.bytes), '--data', sample, '--out', tmp.file('pkg')]);

    // Assess
    expect((await readManifest(tmp.file('pkg'))).output.classes).toEqual(['Malignant', 'benign']);
    expect(await servedClasses(tmp, tmp.file('pkg'), sample)).toEqual(await ownLabels(model));
  });
});

describe('mlops import with --classes', () => {
  const tmp = useTempDir('mlops-import-classes-given-');
  const model = linearBinary(['Malignant', 'benign']);
  let modelFile: string;
  let sample: string;

  beforeAll(async () => {
    modelFile = await writeModel(tmp, model.id, model.bytes);
    sample = tmp.file('sample.csv');
    await writeSample(sample, rows, { column: 'diagnosis', values: await ownLabels(model) });
  });

  it('accepts the classes the model carries, in its order', async () => {
    // Act
    const result = await mlops(['import', modelFile, '--data', sample, '--out', tmp.file('same'), '--label', 'diagnosis', '--classes', 'Malignant,benign']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect((await readManifest(tmp.file('same'))).output.classes).toEqual(['Malignant', 'benign']);
  });

  it('fails with one line naming both lists when they contradict the model', async () => {
    // Act
    const result = await mlops(['import', modelFile, '--data', sample, '--out', tmp.file('swapped'), '--label', 'diagnosis', '--classes', 'benign,Malignant']);

    // Assess
    const error = expectOneLineError(result);
    expect(error).toContain('--classes benign, Malignant');
    expect(error).toContain('Malignant, benign');
  });
});

describe('mlops import of a sample whose label column uses other names than the model', () => {
  const tmp = useTempDir('mlops-import-classes-names-');

  it('fails with one line naming the label values and the model\'s integer classes, and pointing to --classes', async () => {
    // Prepare: the model says 2, 0, 1; the sample says two, zero, one.
    const model = linearMulticlass(['2', '0', '1']);
    const words: Record<string, string> = { 0: 'zero', 1: 'one', 2: 'two' };
    const sample = tmp.file('sample.csv');
    await writeSample(sample, rows, { column: 'target', values: (await ownLabels(model)).map((l) => words[l]!) });

    // Act
    const result = await mlops(['import', await writeModel(tmp, model.id, model.bytes), '--data', sample, '--out', tmp.file('pkg'), '--label', 'target']);

    // Assess
    const error = expectOneLineError(result);
    expect(error).toMatch(/one, two, zero|two, zero, one/);
    expect(error).toContain('2, 0, 1');
    expect(error).toContain('--classes');
  });
});

describe('mlops import of a sample whose labels disagree with the model', () => {
  const tmp = useTempDir('mlops-import-classes-chance-');
  const model = linearBinary(['Malignant', 'benign']);
  let modelFile: string;
  let own: string[];

  beforeAll(async () => {
    modelFile = await writeModel(tmp, model.id, model.bytes);
    own = await ownLabels(model);
  });

  it('warns on stderr that accuracy far below chance suggests other class names or order', async () => {
    // Prepare: every row's label is the other class, as if the sample's author had the classes swapped.
    const sample = tmp.file('swapped.csv');
    await writeSample(sample, rows, { column: 'diagnosis', values: own.map((l) => (l === 'Malignant' ? 'benign' : 'Malignant')) });

    // Act
    const result = await mlops(['import', modelFile, '--data', sample, '--out', tmp.file('swapped'), '--label', 'diagnosis']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/accuracy 0(\.0+)? .*far below chance \(0\.5\)/);
    expect(result.stderr).toContain('other class names or order than the model');
  });

  it('does not warn about the classes when the labels agree with the model', async () => {
    // Prepare
    const sample = tmp.file('agrees.csv');
    await writeSample(sample, rows, { column: 'diagnosis', values: own });

    // Act
    const result = await mlops(['import', modelFile, '--data', sample, '--out', tmp.file('agrees'), '--label', 'diagnosis']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    // The 200-row sample still earns the small-baseline warning, which is about drift, not classes.
    expect(result.stderr).not.toMatch(/class|chance|order/i);
  });
});

describe('mlops import of a classifier that carries no class labels', () => {
  const tmp = useTempDir('mlops-import-classes-none-');

  it('takes the sorted label values and warns on stderr that their order is assumed', async () => {
    // Prepare: an MLP with only a probabilities output.
    const bytes = mlpProbabilitiesOnly(3);
    const { probabilities } = await runModel(bytes, rows);
    const names = ['alpha', 'beta', 'gamma'];
    const labels = rows.map((_, i) => {
      const p = Array.from(probabilities!.subarray(i * 3, i * 3 + 3));
      return names[p.indexOf(Math.max(...p))]!;
    });
    const sample = tmp.file('sample.csv');
    await writeSample(sample, rows, { column: 'target', values: labels });

    // Act
    const result = await mlops(['import', await writeModel(tmp, 'mlp', bytes), '--data', sample, '--out', tmp.file('pkg'), '--label', 'target']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect((await readManifest(tmp.file('pkg'))).output.classes).toEqual(names);
    expect(result.stderr).toContain('carries no class labels');
    expect(result.stderr).toContain('--classes');
  });
});

describe('mlops import of a regressor', () => {
  const tmp = useTempDir('mlops-import-regressor-');

  it('makes a regression package that serves the model\'s own values', async () => {
    // Prepare: a skl2onnx LinearRegression and a sample whose target is near its predictions.
    const bytes = linearRegressor();
    const { values } = await runModel(bytes, rows);
    const sample = tmp.file('sample.csv');
    await writeSample(sample, rows, { column: 'y', values: Array.from(values!, (v, i) => (v + ((i % 5) - 2) * 0.01).toFixed(4)) });

    // Act
    const result = await mlops(['import', await writeModel(tmp, 'linreg', bytes), '--data', sample, '--out', tmp.file('pkg'), '--label', 'y']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    const manifest = await readManifest(tmp.file('pkg'));
    expect(manifest.task).toBe('regression');
    expect(manifest.output).toEqual({ tensor: 'variable', kind: 'value' });
    expect(manifest.metrics.r2).toBeGreaterThan(0.99);
    const served = (await servedClasses(tmp, tmp.file('pkg'), sample)).map(Number);
    served.forEach((v, i) => expect(Math.abs(v - values![i]!), `row ${i + 1}`).toBeLessThan(1e-4));
  });
});
