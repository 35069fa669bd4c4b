import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/model/model-package';
import { type GenerateOptions, generatedHeader, generatedSchema, generateRows } from '../../model-pipeline/data/generate';
import { mlops, mlopsJson, mlopsOk } from '../helpers/cli';
import { useTempDir } from '../helpers/tmp';

/** The part of `mlops evaluate --json` these tests read. */
interface EvaluationJson {
  quality: { rows: number; accuracy: number; confusion: number[][] };
  skipped: { count: number };
}

/** The part of `mlops inspect --json` these tests read. */
interface ManifestJson {
  name: string;
  version: string;
  task: string;
  input: { tensor: string; features: { name: string; type: string }[] };
  output: { tensor: string; kind: string; classes?: string[] };
  files: Record<string, { sha256: string; bytes: number }>;
}

/**
 * The accuracy the data allows: the share of rows whose label is the class the generator's
 * true probabilities favour. Also checks that `file` holds exactly these rows, so the CLI
 * and this computation see the same data.
 */
async function bayesAccuracy(file: string, options: GenerateOptions): Promise<number> {
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  expect(lines[0]).toBe(generatedHeader(options.task).join(','));
  const { classes } = generatedSchema(options.task);
  let rows = 0;
  let correct = 0;
  for (const row of generateRows(options)) {
    rows++;
    if (lines[rows] !== row.cells.join(',')) throw new Error(`${file} line ${rows + 1} differs from the generator's row`);
    const p = row.trueProbabilities;
    const best = p.indexOf(Math.max(...p));
    if (classes[best] === row.cells[row.cells.length - 1]) correct++;
  }
  expect(rows).toBe(lines.length - 1);
  return correct / rows;
}

/** Generates a training and a test file with different seeds and trains a package on the first. */
async function trainOnGenerated(
  dir: { file(name: string): string },
  name: string,
  options: { rows: number; testRows: number; task?: 'binary' | 'multiclass'; noise?: number; model?: 'logreg' | 'mlp' },
) {
  const task = options.task ?? 'binary';
  const noise = options.noise ?? 1;
  const train = dir.file(`${name}-train.csv`);
  const test = dir.file(`${name}-test.csv`);
  const pkg = dir.file(name);
  const common = ['--task', task, '--noise', String(noise)];
  await Promise.all([
    mlopsOk(['generate', '--out', train, '--rows', String(options.rows), '--seed', '1', ...common]),
    mlopsOk(['generate', '--out', test, '--rows', String(options.testRows), '--seed', '2', ...common]),
  ]);
  const label = generatedSchema(task).label;
  await mlopsOk(['train', '--data', train, '--label', label, '--out', pkg, '--model', options.model ?? 'mlp']);
  const bayes = await bayesAccuracy(test, { rows: options.testRows, seed: 2, task, noise });
  return { pkg, test, label, bayes };
}

describe('mlops train on generated binary data', () => {
  const tmp = useTempDir('mlops-train-');
  let run: Awaited<ReturnType<typeof trainOnGenerated>>;
  let evaluation: EvaluationJson;

  beforeAll(async () => {
    run = await trainOnGenerated(tmp, 'churn', { rows: 8000, testRows: 3000 });
    evaluation = await mlopsJson<EvaluationJson>(['evaluate', run.pkg, '--data', run.test]);
  });

  it('reaches the Bayes-optimal accuracy of held-out data within 0.02', () => {
    // Prepare: run.bayes is what the true probabilities achieve on the same test rows.
    // Act: evaluation comes from `mlops evaluate --json` on the trained package.
    // Assess
    expect(evaluation.quality.rows).toBe(3000);
    expect(evaluation.skipped.count).toBe(0);
    expect(evaluation.quality.accuracy).toBeGreaterThanOrEqual(run.bayes - 0.02);
  });

  it('inspect prints the name, version, every feature and every file', async () => {
    // Act
    const result = await mlops(['inspect', run.pkg]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^churn 1\.0\.0\s+binary/);
    for (const feature of [...generatedSchema().numeric, ...generatedSchema().categorical.map((c) => c.name)]) {
      expect(result.stdout).toMatch(new RegExp(`^${feature}\\s+(numeric|categorical)`, 'm'));
    }
    expect(result.stdout).toMatch(/^model\.onnx\s/m);
    expect(result.stdout).toMatch(/^baseline\.json\s/m);
    expect(result.stdout).not.toMatch(/^customer_id\s/m);
  });

  it('inspect --json prints the manifest, listing model.onnx and baseline.json with the sha256 of the files on disk', async () => {
    // Act
    const manifest = await mlopsJson<ManifestJson>(['inspect', run.pkg]);

    // Assess
    expect(manifest).toMatchObject({ name: 'churn', version: '1.0.0', task: 'binary', output: { classes: ['no', 'yes'] } });
    expect(Object.keys(manifest.files).sort()).toEqual(['baseline.json', 'model.onnx']);
    for (const [name, entry] of Object.entries(manifest.files)) {
      const bytes = await readFile(tmp.file('churn', name));
      expect(entry.sha256).toBe(sha256Hex(bytes));
      expect(entry.bytes).toBe(bytes.byteLength);
    }
  });
});

describe('mlops train on nearly separable binary data (--noise 0.25)', () => {
  const tmp = useTempDir('mlops-train-sep-');
  let run: Awaited<ReturnType<typeof trainOnGenerated>>;
  let evaluation: EvaluationJson;

  beforeAll(async () => {
    run = await trainOnGenerated(tmp, 'separable', { rows: 6000, testRows: 3000, noise: 0.25 });
    evaluation = await mlopsJson<EvaluationJson>(['evaluate', run.pkg, '--data', run.test]);
  });

  it('reaches at least 90% accuracy on held-out data', () => {
    // Assess: the generator's Bayes rate here is ~0.95, but it is computed from latent values
    // the files only show rounded and clipped (support_tickets, age, tenure), so it is not
    // reachable from the columns; 0.9 is the floor the data set is meant to guarantee.
    expect(run.bayes).toBeGreaterThan(0.93);
    expect(evaluation.quality.accuracy).toBeGreaterThanOrEqual(0.9);
  });
});

describe('mlops train on generated multiclass data (--task multiclass)', () => {
  const tmp = useTempDir('mlops-train-multi-');
  let run: Awaited<ReturnType<typeof trainOnGenerated>>;
  let evaluation: EvaluationJson;
  let manifest: ManifestJson;

  beforeAll(async () => {
    run = await trainOnGenerated(tmp, 'segments', { rows: 4000, testRows: 2000, task: 'multiclass' });
    evaluation = await mlopsJson<EvaluationJson>(['evaluate', run.pkg, '--data', run.test]);
    manifest = JSON.parse(await readFile(tmp.file('segments', 'manifest.json'), 'utf8')) as ManifestJson;
  });

  it('makes a multiclass package with the three segments as classes', () => {
    expect(run.label).toBe('segment');
    expect(manifest.task).toBe('multiclass');
    expect([...manifest.output.classes!].sort()).toEqual(['high', 'low', 'medium']);
  });

  it('evaluates into a 3×3 confusion matrix that accounts for every test row', () => {
    const { confusion, rows } = evaluation.quality;
    expect(confusion).toHaveLength(3);
    for (const row of confusion) expect(row).toHaveLength(3);
    expect(confusion.flat().reduce((a, b) => a + b, 0)).toBe(rows);
    expect(rows).toBe(2000);
  });

  it('reaches the Bayes-optimal accuracy of held-out data within 0.02', () => {
    expect(evaluation.quality.accuracy).toBeGreaterThanOrEqual(run.bayes - 0.02);
  });
});
