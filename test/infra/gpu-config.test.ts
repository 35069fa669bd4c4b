import { describe, expect, it } from 'vitest';
import { DEFAULT_TRITON_IMAGE, gpuEndpointName, gpuModelVersion, gpuSettings, parseConfig, transformModels } from '../../core/platform-config';
import { ecrRepositoryOf, resolveTritonImage } from '../../infra/constructs/triton-image';

describe('the gpu section of the configuration', () => {
  it('is optional, and gpuSettings fills in a default for every key', () => {
    const config = parseConfig({ stage: 'dev', models: [{ name: 'demo', servingMode: 'gpu' }] });

    expect(config.gpu).toBeUndefined();
    expect(gpuSettings(config)).toEqual({
      tritonImage: DEFAULT_TRITON_IMAGE,
      modelVersions: {},
      canaryPercent: 10,
      canaryWaitSeconds: 600,
      maxDeploymentSeconds: 3600,
      terminationWaitSeconds: 300,
      latencyP99Ms: 100,
      targetInvocationsPerInstance: 100,
      maxBatchSize: 1024,
      preferredBatchSizes: [8, 16, 32],
      maxQueueDelayMicros: 500,
      instancesPerGpu: 1,
      useTensorRt: false,
      captureSamplePercent: 100,
      invokeTimeoutMs: 10000,
      batchTransform: { enabled: true, instanceType: 'ml.g5.xlarge', instanceCount: 1, maxPayloadMb: 6 },
    });
  });

  it('sends the batch files of gpu models, not of both models, to Batch Transform', () => {
    const config = parseConfig({ stage: 'dev', models: [{ name: 'a', servingMode: 'gpu' }, { name: 'b', servingMode: 'both' }, { name: 'c' }] });

    expect(transformModels(config)).toEqual(['a']);
    expect(transformModels(parseConfig({ ...config, gpu: { batchTransform: { enabled: false } } }))).toEqual([]);
  });

  it('rejects more rows per transform request than maxBatchSize, naming the field', () => {
    expect(() => parseConfig({ stage: 'dev', gpu: { maxBatchSize: 64, batchTransform: { rowsPerRequest: 128 } } })).toThrow(/gpu\.batchTransform\.rowsPerRequest: must be at most maxBatchSize \(64\)/);
  });

  it('fills in the defaults a partial gpu section leaves out', () => {
    const gpu = gpuSettings(parseConfig({ stage: 'dev', gpu: { canaryPercent: 20, useTensorRt: true } }));

    expect(gpu).toMatchObject({ canaryPercent: 20, useTensorRt: true, canaryWaitSeconds: 600, preferredBatchSizes: [8, 16, 32] });
  });

  it('serves version 1.0.0 of a model not listed in modelVersions, and the listed version otherwise', () => {
    const gpu = gpuSettings(parseConfig({ stage: 'dev', models: [{ name: 'a', servingMode: 'gpu' }, { name: 'b', servingMode: 'both' }], gpu: { modelVersions: { b: '2.3.0' } } }));

    expect(gpuModelVersion(gpu, 'a')).toBe('1.0.0');
    expect(gpuModelVersion(gpu, 'b')).toBe('2.3.0');
  });

  it('keeps a VPC it is given', () => {
    const gpu = gpuSettings(parseConfig({ stage: 'dev', gpu: { vpc: { subnetIds: ['subnet-0abc'], securityGroupIds: ['sg-0def'] } } }));

    expect(gpu.vpc).toEqual({ subnetIds: ['subnet-0abc'], securityGroupIds: ['sg-0def'] });
  });

  it('rejects a preferred batch size above maxBatchSize, naming the entry', () => {
    expect(() => parseConfig({ stage: 'dev', gpu: { maxBatchSize: 16, preferredBatchSizes: [8, 16, 32] } })).toThrow(
      /gpu\.preferredBatchSizes\[2\]: must be at most maxBatchSize \(16\) \(received 32\)/,
    );
  });

  it('rejects a model version for a model that is not served on GPU', () => {
    expect(() => parseConfig({ stage: 'dev', models: [{ name: 'demo' }], gpu: { modelVersions: { demo: '1.1.0' } } })).toThrow(
      /gpu\.modelVersions\.demo: names no model whose servingMode is gpu or both \(received "demo"\)/,
    );
  });

  it('rejects a model version that is not a semantic version', () => {
    expect(() => parseConfig({ stage: 'dev', models: [{ name: 'demo', servingMode: 'gpu' }], gpu: { modelVersions: { demo: 'latest' } } })).toThrow(
      /gpu\.modelVersions\.demo: must be a semantic version such as 1\.0\.0 \(received "latest"\)/,
    );
  });

  it('rejects a GPU model whose endpoint name would exceed SageMaker\'s 63 characters', () => {
    const name = `m${'x'.repeat(55)}`;

    expect(() => parseConfig({ stage: 'production', models: [{ name, servingMode: 'gpu' }] })).toThrow(
      /models\[0\]\.name: makes the SageMaker endpoint name "mlops-production-mx+" 73 characters long; SageMaker allows 63/,
    );
  });

  it('accepts the same long name for a model served only by Lambda', () => {
    expect(() => parseConfig({ stage: 'production', models: [{ name: `m${'x'.repeat(55)}` }] })).not.toThrow();
  });

  it('rejects a canary above half the fleet', () => {
    expect(() => parseConfig({ stage: 'dev', gpu: { canaryPercent: 60 } })).toThrow(/gpu\.canaryPercent: .*\(received 60\)/);
  });

  it('rejects a deployment timeout that the canary wait and termination wait do not fit in', () => {
    expect(() => parseConfig({ stage: 'dev', gpu: { canaryWaitSeconds: 3000, terminationWaitSeconds: 1000, maxDeploymentSeconds: 3600 } })).toThrow(
      /gpu\.maxDeploymentSeconds: must exceed canaryWaitSeconds \+ terminationWaitSeconds \(4000\) \(received 3600\)/,
    );
  });

  it('rejects an image that is not an ECR URI', () => {
    expect(() => parseConfig({ stage: 'dev', gpu: { tritonImage: 'nvcr.io/nvidia/tritonserver:24.09-py3' } })).toThrow(/gpu\.tritonImage: must be an ECR image URI/);
  });

  it('rejects an unknown gpu key', () => {
    expect(() => parseConfig({ stage: 'dev', gpu: { instanceType: 'ml.g5.xlarge' } })).toThrow(/gpu: unknown key\(s\) "instanceType"/);
  });

  it('names the endpoint mlops-<stage>-<model>', () => {
    expect(gpuEndpointName('dev', 'demo')).toBe('mlops-dev-demo');
  });
});

describe('resolveTritonImage', () => {
  it('uses the Deep Learning Containers account in most regions', () => {
    expect(resolveTritonImage(DEFAULT_TRITON_IMAGE, 'eu-west-1')).toBe('763104351884.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-tritonserver:24.09-py3');
  });

  it('uses the region\'s own registry account where AWS publishes the image under another one', () => {
    expect(resolveTritonImage(DEFAULT_TRITON_IMAGE, 'af-south-1')).toBe('626614931356.dkr.ecr.af-south-1.amazonaws.com/sagemaker-tritonserver:24.09-py3');
  });

  it('uses the amazonaws.com.cn domain in China', () => {
    expect(resolveTritonImage(DEFAULT_TRITON_IMAGE, 'cn-north-1')).toBe('727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-tritonserver:24.09-py3');
  });

  it('leaves a concrete image URI as it is', () => {
    const own = '123456789012.dkr.ecr.us-east-1.amazonaws.com/my-triton:25.01';

    expect(resolveTritonImage(own, 'us-east-1')).toBe(own);
  });

  it('refuses an unresolved region', () => {
    expect(() => resolveTritonImage(DEFAULT_TRITON_IMAGE, '${Token[AWS.Region.12]}')).toThrow(/needs a concrete region/);
  });
});

describe('ecrRepositoryOf', () => {
  it('reads account, region and repository from an image URI', () => {
    expect(ecrRepositoryOf('763104351884.dkr.ecr.us-east-1.amazonaws.com/sagemaker-tritonserver:24.09-py3')).toEqual({
      account: '763104351884',
      region: 'us-east-1',
      repository: 'sagemaker-tritonserver',
      partition: 'aws',
    });
  });

  it('accepts a digest instead of a tag, and China\'s partition', () => {
    expect(ecrRepositoryOf(`727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/team/triton@sha256:${'a'.repeat(64)}`)).toMatchObject({ repository: 'team/triton', partition: 'aws-cn' });
  });

  it('refuses an image outside ECR, showing it', () => {
    expect(() => ecrRepositoryOf('docker.io/library/tritonserver:latest')).toThrow(/Expected an ECR image URI .*\(received docker\.io\/library\/tritonserver:latest\)/);
  });
});
