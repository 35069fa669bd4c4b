import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineError, mlops, mlopsJson, mlopsOk, repoRoot } from '../helpers/cli';
import { useTempDir } from '../helpers/tmp';

const fixtures = join(repoRoot, 'test/fixtures/external');
const sample = join(fixtures, 'sample.csv');
const holdout = join(fixtures, 'holdout.csv');

interface ExpectedModel {
  file: string;
  holdout_accuracy: number;
  first_rows_probabilities: number[][];
}

interface Expected {
  features: string[];
  classes: string[];
  holdout_csv: { rows: number };
  holdout_first_rows: { ids: string[] };
  models: Record<string, ExpectedModel>;
}

interface ManifestJson {
  task: string;
  labelColumn?: string;
  input: { tensor: string; features: { name: string; type: string }[] };
  output: { tensor: string; kind: string; classes?: string[] };
  metrics: Record<string, number>;
  provenance: Record<string, unknown>;
  files: Record<string, { sha256: string }>;
}

/** The manifest.json a package folder holds. */
async function readManifest(pkg: string): Promise<ManifestJson> {
  return JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8')) as ManifestJson;
}

const expected = JSON.parse(await readFile(join(fixtures, 'expected.json'), 'utf8')) as Expected;

describe.each(['sklearn-logreg', 'sklearn-mlp'])('mlops import of the scikit-learn fixture %s', (model) => {
  const tmp = useTempDir(`mlops-import-${model}-`);
  const reference = expected.models[model]!;
  let pkg: string;
  let out: string;

  beforeAll(async () => {
    pkg = tmp.file('pkg');
    out = tmp.file('holdout-scores.csv');
    await mlopsOk(['import', join(fixtures, reference.file), '--data', sample, '--out', pkg, '--label', 'segment', '--classes', expected.classes.join(',')]);
    await mlopsOk(['score', pkg, holdout, '--out', out]);
  });

  it('builds the manifest from the model signature: input "float_input", output "probabilities" read as probabilities', async () => {
    // Act
    const manifest = await readManifest(pkg);

    // Assess
    expect(manifest.input.tensor).toBe('float_input');
    expect(manifest.output).toEqual({ tensor: 'probabilities', kind: 'probabilities', classes: expected.classes });
    expect(manifest.task).toBe('multiclass');
    expect(manifest.labelColumn).toBe('segment');
    expect(manifest.input.features.map((f) => f.name)).toEqual(expected.features);
    expect(manifest.provenance).toMatchObject({ importedFrom: reference.file, producer: expect.stringContaining('skl2onnx') });
    expect(Object.keys(manifest.files).sort()).toEqual(['baseline.json', 'model.onnx']);
  });

  it('makes a package that inspect verifies and describes', async () => {
    // Act
    const result = await mlops(['inspect', pkg]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('input "float_input" [batch, 4]');
    expect(result.stdout).toContain('classes: bronze, silver, gold');
  });

  it(`evaluates on holdout.csv, whose columns are in another order, to the accuracy scikit-learn measured`, async () => {
    // Act
    const evaluation = await mlopsJson<{ quality: { rows: number; accuracy: number } }>(['evaluate', pkg, '--data', holdout]);

    // Assess
    expect(evaluation.quality.rows).toBe(expected.holdout_csv.rows);
    expect(Math.abs(evaluation.quality.accuracy - reference.holdout_accuracy)).toBeLessThanOrEqual(0.002);
  });

  it('scores every row of holdout.csv with a prediction and a manifest that reconciles', async () => {
    // Act
    const predictions = parse(await readFile(out, 'utf8'), { columns: true }) as Record<string, string>[];
    const errors = await readFile(`${out}.errors.jsonl`, 'utf8');
    const manifest = JSON.parse(await readFile(`${out}.manifest.json`, 'utf8')) as Record<string, unknown>;

    // Assess
    expect(predictions).toHaveLength(expected.holdout_csv.rows);
    expect(errors).toBe('');
    expect(manifest).toMatchObject({ status: 'succeeded', rowsIn: 500, scored: 500, rejected: 0 });
    expect(Object.keys(predictions[0]!)).toEqual(['line', 'segment', 'customer_id', 'prediction', 'prob_bronze', 'prob_silver', 'prob_gold']);
  });

  it('scores the first rows of holdout.csv with the probabilities Python ONNX Runtime gave, to 1e-5', async () => {
    // Act
    const predictions = parse(await readFile(out, 'utf8'), { columns: true }) as Record<string, string>[];

    // Assess
    reference.first_rows_probabilities.forEach((probabilities, i) => {
      const row = predictions[i]!;
      expect(row.line).toBe(String(i + 2));
      expect(row.customer_id).toBe(expected.holdout_first_rows.ids[i]);
      expected.classes.forEach((label, k) => {
        expect(Math.abs(Number(row[`prob_${label}`]) - probabilities[k]!), `row ${i + 1} prob_${label}`).toBeLessThan(1e-5);
      });
      expect(row.prediction).toBe(expected.classes[probabilities.indexOf(Math.max(...probabilities))]);
    });
  });
});

describe('mlops import without a label', () => {
  const tmp = useTempDir('mlops-import-unlabelled-');

  it('makes a package whose classes are the score column indexes "0", "1", "2"', async () => {
    // Act
    const result = await mlops(['import', join(fixtures, 'sklearn-logreg.onnx'), '--data', sample, '--out', tmp.file('pkg')]);
    const manifest = await readManifest(tmp.file('pkg'));

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(manifest.output.classes).toEqual(['0', '1', '2']);
    expect(manifest.input.features.map((f) => f.name)).toEqual(expected.features);
    expect(manifest.labelColumn).toBeUndefined();
    expect(manifest.metrics).toEqual({});
  });
});

describe('mlops import refuses what it cannot make a package of', () => {
  const tmp = useTempDir('mlops-import-bad-');

  it('fails with one line naming the width mismatch when the sample has more numeric columns than the model takes', async () => {
    // Prepare: a fifth numeric column the model does not take.
    const lines = (await readFile(sample, 'utf8')).trimEnd().split('\n');
    await writeFile(tmp.file('wide.csv'), `${lines.map((line, i) => `${line},${i === 0 ? 'f_extra' : (i % 7) + 0.5}`).join('\n')}\n`);

    // Act
    const result = await mlops(['import', join(fixtures, 'sklearn-mlp.onnx'), '--data', tmp.file('wide.csv'), '--out', tmp.file('wide-pkg')]);

    // Assess
    const error = expectOneLineError(result);
    expect(error).toContain('float_input');
    expect(error).toMatch(/takes 4 features but the sample has 5/);
    expect(error).toContain('f_extra');
  });

  it('fails with one line naming the file when it is not an ONNX model', async () => {
    // Prepare
    await writeFile(tmp.file('not-a-model.onnx'), 'customer_id,f_income\nc1,2\n');

    // Act
    const result = await mlops(['import', tmp.file('not-a-model.onnx'), '--data', sample, '--out', tmp.file('bad-pkg')]);

    // Assess
    const error = expectOneLineError(result);
    expect(error).toContain('not-a-model.onnx');
    expect(error).toMatch(/cannot load/i);
  });
});

describe('mlops import names the model', () => {
  const tmp = useTempDir('mlops-import-name-');

  it('after the folder above the package when the package folder is a version: …/byo/1.0.0 → "byo"', async () => {
    // Act
    const pkg = tmp.file('models', 'byo', '1.0.0');
    const result = await mlopsOk(['import', join(fixtures, 'sklearn-logreg.onnx'), '--data', sample, '--out', pkg]);

    // Assess
    expect(JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8'))).toMatchObject({ name: 'byo', version: '1.0.0' });
    expect(result.stdout).toContain('as byo 1.0.0');
  });

  it('after the package folder when it is not a version: …/models/churn → "churn"', async () => {
    // Act
    const pkg = tmp.file('models', 'churn');
    const result = await mlopsOk(['import', join(fixtures, 'sklearn-logreg.onnx'), '--data', sample, '--out', pkg]);

    // Assess
    expect(JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8'))).toMatchObject({ name: 'churn' });
    expect(result.stdout).toContain('as churn 1.0.0');
  });

  it('with the version its folder names: …/byo/2.0.0 → byo 2.0.0', async () => {
    // Act
    const pkg = tmp.file('models', 'byo', '2.0.0');
    const result = await mlopsOk(['import', join(fixtures, 'sklearn-logreg.onnx'), '--data', sample, '--out', pkg]);

    // Assess
    expect(JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8'))).toMatchObject({ name: 'byo', version: '2.0.0' });
    expect(result.stdout).toContain('as byo 2.0.0');
  });

  it('as --name says, whatever the folder', async () => {
    // Act
    const pkg = tmp.file('named', 'pkg');
    const result = await mlopsOk(['import', join(fixtures, 'sklearn-logreg.onnx'), '--data', sample, '--out', pkg, '--name', 'segments']);

    // Assess
    expect(JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8'))).toMatchObject({ name: 'segments' });
    expect(result.stdout).toContain('as segments 1.0.0');
  });
});
