import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPrefixes } from '../../core/layout';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { ensureDemoModel } from '../../local/bootstrap';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { localPipelineContext } from '../../local/pipeline';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { abortRunCanary, loadRun, runPipeline } from '../../model-pipeline/pipeline/runner';
import type { PipelineState } from '../../model-pipeline/pipeline/state';
import type { PipelineContext } from '../../model-pipeline/pipeline/steps';
import { useTempDir } from '../helpers/tmp';

/**
 * The state machine's AbortCanary task (the Catch of a CanaryCheck that failed for good: retries
 * exhausted, a timeout, a crash) calls abortRunCanary: the canary stops taking traffic, the
 * registry and the run record say why, and a second call changes nothing.
 */

const tmp = useTempDir();
let s3: EmbeddedS3;
let models: ModelRepository;
let ctx: PipelineContext;
let canaryRun: PipelineState;
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  models = new ModelRepository(new S3BlobStore(s3.client, 'models'));
  const data = new S3BlobStore(s3.client, 'data');
  await ensureDemoModel(models, data, tmp.file('work'));
  const drifted = [...generateRows({ rows: 1500, seed: 21, drift: { concept: 0.9 } })];
  await data.write(`${DataPrefixes.labels}demo/${today}/labels.csv`, [generatedHeader().join(','), ...drifted.map((r) => r.cells.join(','))].join('\n'));
  ctx = {
    ...localPipelineContext(models, data, tmp.file('work'), () => {}, { epochs: 10, quantize: false, canary: { weight: 0.2, windowSeconds: 3600 } }),
    // Too few requests to judge: the check waits; the first wait is where the "timeout" strikes.
    versionStats: async () => ({ requests: 0, errors: 0, p99Ms: null }),
    sleep: async () => {
      throw new Error('stopped while the canary waits');
    },
  };
  await expect(runPipeline(ctx, { model: 'demo', runId: 'canary-1', trigger: { kind: 'manual', reason: 'abort test' } })).rejects.toThrow('stopped while the canary waits');
  canaryRun = (await loadRun(ctx, 'demo', 'canary-1'))!;
}, 120_000);

afterAll(async () => {
  await s3?.close();
});

describe('abortRunCanary, after a canary check failed for good', () => {
  it('starts from a run whose canary takes a share of the traffic', async () => {
    expect(canaryRun.outcome).toBe('canary');
    expect((await models.registryOf('demo')).canary).toMatchObject({ version: canaryRun.candidateVersion, weight: 0.2 });
  });

  it('ends the canary: every request goes to the serving version again, and the registry says why', async () => {
    const { summary } = await abortRunCanary(ctx, canaryRun, 'States.Timeout: CanaryCheck timed out');
    const registry = await models.registryOf('demo');

    expect(summary).toBe(`canary ${canaryRun.candidateVersion} aborted after its check failed (States.Timeout: CanaryCheck timed out); 1.0.0 serves every request`);
    expect(registry.canary).toBeNull();
    expect(registry.serving).toBe('1.0.0');
    expect(registry.versions.find((v) => v.version === canaryRun.candidateVersion)).toMatchObject({
      status: 'retired',
      note: 'canary rolled back: the canary check failed: States.Timeout: CanaryCheck timed out',
    });
  });

  it('records the run as failed at canaryCheck with the reason', async () => {
    const run = await loadRun(ctx, 'demo', 'canary-1');

    expect(run?.outcome).toBe('failed');
    expect(run?.steps.canaryCheck).toMatchObject({ status: 'failed', error: 'States.Timeout: CanaryCheck timed out' });
  });

  it('changes nothing when called again (a retried AbortCanary)', async () => {
    const before = await models.registryOf('demo');
    const { summary } = await abortRunCanary(ctx, (await loadRun(ctx, 'demo', 'canary-1'))!, 'States.Timeout: CanaryCheck timed out');

    expect(summary).toBe(`canary ${canaryRun.candidateVersion} is no longer running; nothing to abort`);
    expect(await models.registryOf('demo')).toEqual(before);
  });
});
