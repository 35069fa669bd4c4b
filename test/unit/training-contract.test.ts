import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/model/manifest';
import { untar } from '../../model-pipeline/pipeline/training-artifact';
import { trainingHyperparameters, trainingJobName, trainingJobSpec } from '../../model-pipeline/pipeline/training-contract';
import { tarArchive } from '../../model-pipeline/triton/tar';
import { useTempDir } from '../helpers/tmp';

const tmp = useTempDir();
const SAGEMAKER_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;

describe('trainingJobName', () => {
  it('is <model>-<runId> when that is a valid SageMaker name', () => {
    expect(trainingJobName('churn', 'drift-2026-11-23')).toBe('churn-drift-2026-11-23');
  });

  it('turns characters SageMaker refuses into dashes and adds a hash, so that run ids differing only there stay apart', () => {
    const a = trainingJobName('churn', 'run_1.2');
    const b = trainingJobName('churn', 'run.1_2');

    expect(a).toMatch(SAGEMAKER_NAME);
    expect(a).toMatch(/^churn-run-1-2-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
  });

  it('keeps a long run id within 63 characters, distinct per run', () => {
    const long = (n: number) => trainingJobName('a-model-with-a-long-name', `${'x'.repeat(120)}-${n}`);

    expect(long(1)).toMatch(SAGEMAKER_NAME);
    expect(long(1).length).toBeLessThanOrEqual(63);
    expect(long(1)).not.toBe(long(2));
  });

  it('is the same for the same model and run: a resumed run names the same job', () => {
    expect(trainingJobName('churn', 'run_1')).toBe(trainingJobName('churn', 'run_1'));
  });
});

describe('trainingHyperparameters', () => {
  const serving = parseManifest({
    schemaVersion: 1,
    name: 'churn',
    version: '1.0.0',
    task: 'binary',
    input: { tensor: 'x', features: [{ name: 'age', type: 'numeric' }, { name: 'plan', type: 'categorical', levels: ['basic', 'pro'] }] },
    output: { tensor: 'p', kind: 'probabilities', classes: ['no', 'yes'] },
    labelColumn: 'churned',
    files: { 'model.onnx': { sha256: '0'.repeat(64), bytes: 1 } },
    createdAt: '2026-01-01T00:00:00.000Z',
  });

  it("tells the image the label, the features in input order, the serving schema and the classes, next to the configured ones", () => {
    expect(trainingHyperparameters(serving, { epochs: '30' })).toEqual({
      epochs: '30',
      label_column: 'churned',
      feature_names: 'age,plan',
      features: JSON.stringify(serving.input.features),
      classes: '["no","yes"]',
    });
  });

  it('refuses a configured hyperparameter the platform sets', () => {
    expect(() => trainingHyperparameters(serving, { classes: 'a,b' })).toThrow('hyperparameters classes are set by the platform; rename them');
  });

  it("refuses a value longer than SageMaker's 2500 characters, naming it, before any job starts", () => {
    expect(() => trainingHyperparameters(serving, { notes: 'x'.repeat(2501) })).toThrow('hyperparameter notes is 2501 characters long; SageMaker allows 2500');
  });

  it("puts the artifact where SageMaker writes it: <output path><job name>/output/model.tar.gz", () => {
    const spec = trainingJobSpec('churn', 'run-1', { train: 'pipeline/churn/run-1/train.csv', holdout: 'pipeline/churn/run-1/holdout.csv' }, serving);

    expect(spec.outputPrefix).toBe('pipeline/churn/run-1/training/');
    expect(spec.artifactKey).toBe('pipeline/churn/run-1/training/churn-run-1/output/model.tar.gz');
  });
});

describe('untar', () => {
  it('reads a model.tar.gz made by GNU tar, as SageMaker makes it (./ prefixes, folders)', async () => {
    const dir = tmp.file('model');
    mkdirSync(join(dir, 'extra'), { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), 'onnx bytes');
    writeFileSync(join(dir, 'extra', 'notes.txt'), 'hello');
    execFileSync('tar', ['-czf', tmp.file('model.tar.gz'), '-C', dir, '.']);

    const files = await untar(new Uint8Array(readFileSync(tmp.file('model.tar.gz'))));

    expect([...files.keys()].sort()).toEqual(['extra/notes.txt', 'model.onnx']);
    expect(new TextDecoder().decode(files.get('model.onnx'))).toBe('onnx bytes');
  });

  it('reads an uncompressed archive too', async () => {
    const files = await untar(tarArchive([{ name: 'model.onnx', body: new TextEncoder().encode('x') }]));

    expect([...files.keys()]).toEqual(['model.onnx']);
  });

  it('throws on bytes that are no archive', async () => {
    await expect(untar(gzipSync(new TextEncoder().encode('not a tar archive at all')))).rejects.toThrow();
  });
});
