import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskPayload } from '../../functions/pipeline/handler';
import { DataPrefixes } from '../../core/layout';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { ensureDemoModel } from '../../local/bootstrap';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { commandTrainingJob } from '../../local/training-command';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { loadRun } from '../../model-pipeline/pipeline/runner';
import { startCanary } from '../../model-pipeline/registry/registry-ops';
import { useTempDir } from '../helpers/tmp';
import { handlerEnvironmentFor } from '../helpers/embedded-buckets';

/**
 * The pipeline's Lambda handlers in training mode sagemaker, over the embedded S3, with the
 * state machine's data flow between them: Prepare returns the SageMaker task's inputs, a stand-in
 * for SageMaker runs the fixture training script under the contract and writes model.tar.gz where
 * SageMaker would, ImportArtifact takes the task's result; AbortCanary ends a canary.
 */

const SCRIPT = fileURLToPath(new URL('../fixtures/training/train.ts', import.meta.url));
const tmp = useTempDir();
let s3: EmbeddedS3;
let models: ModelRepository;
let data: S3BlobStore;
let handlers: typeof import('../../functions/pipeline/handler');
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  models = new ModelRepository(new S3BlobStore(s3.client, 'models'));
  data = new S3BlobStore(s3.client, 'data');
  await ensureDemoModel(models, data, tmp.file('work'));
  const drifted = [...generateRows({ rows: 1500, seed: 21, drift: { concept: 0.9 } })];
  await data.write(`${DataPrefixes.labels}demo/${today}/labels.csv`, [generatedHeader().join(','), ...drifted.map((r) => r.cells.join(','))].join('\n'));
  Object.assign(process.env, {
    MODEL_BUCKET: 'models',
    DATA_BUCKET: 'data',
    TRAINING_MODE: 'sagemaker',
    EPOCHS: '10',
    QUANTIZE: 'false',
    ...handlerEnvironmentFor(s3),
  });
  handlers = await import('../../functions/pipeline/handler');
}, 60_000);

afterAll(async () => {
  await s3?.close();
});

const key = (uri: string) => uri.replace(/^s3:\/\/data\//, '');

describe('the pipeline handlers with a SageMaker training job', { timeout: 120_000 }, () => {
  let prepared: TaskPayload;

  it("return from Prepare the job's name, channel and output URIs in the data bucket, and the platform's hyperparameters", async () => {
    const started = await handlers.start({ model: 'demo', runId: 'sm-1', trigger: { kind: 'manual', reason: 'handler test' } });
    prepared = await handlers.prepare(started);

    expect(prepared.trainingJob).toMatchObject({
      name: 'demo-sm-1',
      train: 's3://data/pipeline/demo/sm-1/train.csv',
      holdout: 's3://data/pipeline/demo/sm-1/holdout.csv',
      output: 's3://data/pipeline/demo/sm-1/training/',
      hyperparameters: { label_column: 'churned', feature_names: expect.stringMatching(/^age,income,/) },
    });
    expect(prepared.trainingJob).not.toHaveProperty('trained');
  });

  it("import the job's artifact from the URI the SageMaker task returns, as the candidate with the run's lineage", async () => {
    const job = prepared.trainingJob!;
    const artifact = `${job.output}${job.name}/output/model.tar.gz`;
    // SageMaker's part: run the image under the contract, upload /opt/ml/model as model.tar.gz.
    await commandTrainingJob(data, { command: [process.execPath, '--import', 'tsx', SCRIPT], workDir: tmp.file('jobs') })({
      name: job.name,
      channels: { train: key(job.train), holdout: key(job.holdout) },
      outputPrefix: key(job.output),
      artifactKey: key(artifact),
      hyperparameters: { ...job.hyperparameters, epochs: '10' },
    });

    const imported = await handlers.importArtifact({ ...prepared, trainingJob: { ...job, trained: { job: job.name, artifact } } });
    const run = await loadRun({ data }, 'demo', 'sm-1');

    expect(imported).toEqual({ model: 'demo', runId: 'sm-1', outcome: 'running' });
    expect(run?.training).toEqual({ job: 'demo-sm-1', artifact: 'pipeline/demo/sm-1/training/demo-sm-1/output/model.tar.gz' });
    expect((await models.load('demo', run!.candidateVersion!)).manifest).toMatchObject({ parentVersion: '1.0.0', provenance: { trainingJob: 'demo-sm-1', runId: 'sm-1' } });
  });

  it('tell a resumed run that its job already ran, so that the state machine skips to ImportArtifact', async () => {
    const again = await handlers.prepare({ model: 'demo', runId: 'sm-1' });

    expect(again.trainingJob?.trained).toEqual({ job: 'demo-sm-1', artifact: 's3://data/pipeline/demo/sm-1/training/demo-sm-1/output/model.tar.gz' });
  });

  it('refuse an artifact outside the data bucket, naming it', async () => {
    const started = await handlers.start({ model: 'demo', runId: 'sm-2', trigger: { kind: 'manual', reason: 'handler test' } });
    const payload = await handlers.prepare(started);

    await expect(handlers.importArtifact({ ...payload, trainingJob: { ...payload.trainingJob!, trained: { job: 'demo-sm-2', artifact: 's3://elsewhere/model.tar.gz' } } })).rejects.toThrow(
      'importArtifact: the model artifact s3://elsewhere/model.tar.gz is not in the data bucket (s3://data/)',
    );
  });
});

describe('the AbortCanary handler', () => {
  it("ends the run's canary with the error message of the Lambda error that the Catch passed on, and passes the error on", async () => {
    const run = (await loadRun({ data }, 'demo', 'sm-1'))!;
    await startCanary(models, 'demo', run.candidateVersion!, { weight: 0.1, runId: 'sm-1' });
    const error = { Error: 'Error', Cause: JSON.stringify({ errorType: 'Error', errorMessage: 'GetMetricData: rate exceeded', trace: [] }) };

    const result = await handlers.abortCanary({ model: 'demo', runId: 'sm-1', outcome: 'canary', error });
    const registry = await models.registryOf('demo');

    expect(result).toEqual({ model: 'demo', runId: 'sm-1', outcome: 'failed', error });
    expect(registry.canary).toBeNull();
    expect(registry.versions.find((v) => v.version === run.candidateVersion)?.note).toBe('canary rolled back: the canary check failed: Error: GetMetricData: rate exceeded');
  });
});
