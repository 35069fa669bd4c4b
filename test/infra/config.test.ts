import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../core/platform-config';

const repoConfig = new URL('../../mlops.config.json', import.meta.url).pathname;

describe('parseConfig', () => {
  it('fills in a default for every key but the stage', () => {
    const config = parseConfig({ stage: 'dev', models: [{ name: 'demo' }] });

    expect(config).toEqual({
      stage: 'dev',
      region: 'us-east-1',
      models: [{ name: 'demo', servingMode: 'serverless', gpuInstanceType: 'ml.g5.xlarge', minInstances: 1, maxInstances: 2 }],
      storage: { dataRetentionDays: 90, noncurrentModelVersionDays: 365, rawCaptureRetentionDays: 7, accessLogRetentionDays: 365, useKmsKey: true },
      serverless: {
        memoryMb: 2048,
        timeoutSeconds: 29,
        architecture: 'arm64',
        provisionedConcurrency: 0,
        reservedConcurrency: 100,
        apiAuth: 'iam',
        throttle: { rateLimit: 100, burstLimit: 200 },
        captureSampleRate: 1,
        maxBatchRows: 1000,
        canary: 'canary10Percent5Minutes',
      },
      batch: { memoryMb: 3008, timeoutMinutes: 15, maxConcurrency: 10, chunkRows: 1024, alarmOnDlq: true, fanOutAboveBytes: 512 * 1024 * 1024, partBytes: 128 * 1024 * 1024, partConcurrency: 20 },
      monitoring: { scheduleMinutes: 60, minRows: 200, maxWaitHours: 24, confirmRuns: 2, ofLastRuns: 3, cooldownHours: 24, memoryMb: 1024, labelWindowDays: 30 },
      pipeline: { maxDropPoints: 0.5, epochs: 40, quantize: true, manualApproval: false, trainMemoryMb: 3008, canary: { enabled: true, weight: 0.1, windowMinutes: 30, checkMinutes: 5, minRequests: 100, maxErrorRateIncrease: 0.01, latencyFactor: 1.5 }, training: { mode: 'builtin', instanceType: 'ml.m5.xlarge', instanceCount: 1, volumeSizeGb: 30, maxRuntimeMinutes: 60, hyperparameters: {} } },
      removalPolicy: 'retain',
    });
  });

  it('fills in the serverless throttle defaults a partial throttle leaves out', () => {
    const config = parseConfig({ stage: 'dev', serverless: { throttle: { rateLimit: 20 } } });

    expect(config.serverless.throttle).toEqual({ rateLimit: 20, burstLimit: 200 });
  });

  it('keeps a daily quota for API keys when one is given', () => {
    const config = parseConfig({ stage: 'dev', serverless: { apiAuth: 'apiKey', dailyQuota: 10000 } });

    expect(config.serverless.dailyQuota).toBe(10000);
  });

  it('rejects a daily quota without API keys', () => {
    expect(() => parseConfig({ stage: 'dev', serverless: { dailyQuota: 10000 } })).toThrow(
      /serverless\.dailyQuota: applies only when apiAuth is "apiKey"/,
    );
  });

  it('reserves 100 of the account\'s concurrency for the inference function by default', () => {
    expect(parseConfig({ stage: 'dev' }).serverless.reservedConcurrency).toBe(100);
  });

  it('keeps the reserved concurrency it is given, and null for none', () => {
    expect(parseConfig({ stage: 'dev', serverless: { reservedConcurrency: 250 } }).serverless.reservedConcurrency).toBe(250);
    expect(parseConfig({ stage: 'dev', serverless: { reservedConcurrency: null } }).serverless.reservedConcurrency).toBeNull();
  });

  it('rejects a longest wait of 0 hours, naming monitoring.maxWaitHours', () => {
    expect(() => parseConfig({ stage: 'dev', monitoring: { maxWaitHours: 0 } })).toThrow(/monitoring\.maxWaitHours/);
  });

  it('rejects a label window under a day, naming monitoring.labelWindowDays', () => {
    expect(() => parseConfig({ stage: 'dev', monitoring: { labelWindowDays: 0 } })).toThrow(/monitoring\.labelWindowDays/);
  });

  it('rejects a reserved concurrency of 0, which would throttle every request', () => {
    expect(() => parseConfig({ stage: 'dev', serverless: { reservedConcurrency: 0 } })).toThrow(/serverless\.reservedConcurrency: .*\(received 0\)/);
  });

  it('rejects more provisioned than reserved concurrency, naming provisionedConcurrency', () => {
    expect(() => parseConfig({ stage: 'dev', serverless: { provisionedConcurrency: 20, reservedConcurrency: 10 } })).toThrow(
      /serverless\.provisionedConcurrency: must be at most reservedConcurrency/,
    );
  });

  it('rejects a serverless timeout above API Gateway\'s 29 seconds', () => {
    expect(() => parseConfig({ stage: 'dev', serverless: { timeoutSeconds: 60 } })).toThrow(
      /serverless\.timeoutSeconds: .*\(received 60\)/,
    );
  });

  it('rejects a capture sample rate above 1', () => {
    expect(() => parseConfig({ stage: 'dev', serverless: { captureSampleRate: 1.5 } })).toThrow(
      /serverless\.captureSampleRate: .*\(received 1\.5\)/,
    );
  });

  it('rejects an unknown canary, listing the accepted ones', () => {
    expect(() => parseConfig({ stage: 'dev', serverless: { canary: 'blueGreen' } })).toThrow(
      /serverless\.canary: must be one of "canary10Percent5Minutes", "linear10PercentEvery1Minute", "allAtOnce" \(received "blueGreen"\)/,
    );
  });

  it('rejects an unknown serverless architecture', () => {
    expect(() => parseConfig({ stage: 'dev', serverless: { architecture: 'arm' } })).toThrow(
      /serverless\.architecture: must be one of "arm64", "x86_64" \(received "arm"\)/,
    );
  });

  it('fills in the batch defaults a partial batch section leaves out', () => {
    const config = parseConfig({ stage: 'dev', batch: { memoryMb: 4096 } });

    expect(config.batch).toEqual({ memoryMb: 4096, timeoutMinutes: 15, maxConcurrency: 10, chunkRows: 1024, alarmOnDlq: true, fanOutAboveBytes: 512 * 1024 * 1024, partBytes: 128 * 1024 * 1024, partConcurrency: 20 });
  });

  it('keeps a batch reserved concurrency of at least maxConcurrency', () => {
    const config = parseConfig({ stage: 'dev', batch: { maxConcurrency: 5, reservedConcurrency: 5 } });

    expect(config.batch.reservedConcurrency).toBe(5);
  });

  it('rejects a batch reserved concurrency below maxConcurrency', () => {
    expect(() => parseConfig({ stage: 'dev', batch: { reservedConcurrency: 4 } })).toThrow(
      /batch\.reservedConcurrency: must be at least maxConcurrency/,
    );
  });

  it("rejects a batch timeout above Lambda's 15 minutes", () => {
    expect(() => parseConfig({ stage: 'dev', batch: { timeoutMinutes: 20 } })).toThrow(/batch\.timeoutMinutes: .*\(received 20\)/);
  });

  it("rejects a batch maxConcurrency below 2, the SQS event source's minimum", () => {
    expect(() => parseConfig({ stage: 'dev', batch: { maxConcurrency: 1 } })).toThrow(/batch\.maxConcurrency: .*\(received 1\)/);
  });

  it('rejects a batch chunk of no rows', () => {
    expect(() => parseConfig({ stage: 'dev', batch: { chunkRows: 0 } })).toThrow(/batch\.chunkRows: .*\(received 0\)/);
  });

  it('rejects an unknown batch key', () => {
    expect(() => parseConfig({ stage: 'dev', batch: { timeoutSeconds: 900 } })).toThrow(/batch: unknown key\(s\) "timeoutSeconds"/);
  });

  it('fills in the monitoring defaults a partial monitoring section leaves out', () => {
    const config = parseConfig({ stage: 'dev', monitoring: { scheduleMinutes: 15 } });

    expect(config.monitoring).toEqual({ scheduleMinutes: 15, minRows: 200, maxWaitHours: 24, confirmRuns: 2, ofLastRuns: 3, cooldownHours: 24, memoryMb: 1024, labelWindowDays: 30 });
  });

  it('keeps a fractional monitoring cooldown and a cooldown of 0', () => {
    expect(parseConfig({ stage: 'dev', monitoring: { cooldownHours: 0.5 } }).monitoring.cooldownHours).toBe(0.5);
    expect(parseConfig({ stage: 'dev', monitoring: { cooldownHours: 0 } }).monitoring.cooldownHours).toBe(0);
  });

  it("rejects a monitoring schedule shorter than the monitor's 5-minute timeout", () => {
    expect(() => parseConfig({ stage: 'dev', monitoring: { scheduleMinutes: 2 } })).toThrow(/monitoring\.scheduleMinutes: .*\(received 2\)/);
  });

  it('rejects a monitoring schedule longer than a day', () => {
    expect(() => parseConfig({ stage: 'dev', monitoring: { scheduleMinutes: 1441 } })).toThrow(/monitoring\.scheduleMinutes: .*\(received 1441\)/);
  });

  it('rejects more confirming runs than the runs they are counted in', () => {
    expect(() => parseConfig({ stage: 'dev', monitoring: { confirmRuns: 4, ofLastRuns: 3 } })).toThrow(
      /monitoring\.confirmRuns: must be at most ofLastRuns/,
    );
  });

  it('rejects a negative monitoring cooldown', () => {
    expect(() => parseConfig({ stage: 'dev', monitoring: { cooldownHours: -1 } })).toThrow(/monitoring\.cooldownHours: .*\(received -1\)/);
  });

  it('rejects an unknown monitoring key', () => {
    expect(() => parseConfig({ stage: 'dev', monitoring: { timeoutMinutes: 5 } })).toThrow(/monitoring: unknown key\(s\) "timeoutMinutes"/);
  });

  it('fills in the pipeline defaults a partial pipeline section leaves out', () => {
    const config = parseConfig({ stage: 'dev', pipeline: { manualApproval: true } });

    expect(config.pipeline).toEqual({ maxDropPoints: 0.5, epochs: 40, quantize: true, manualApproval: true, trainMemoryMb: 3008, canary: { enabled: true, weight: 0.1, windowMinutes: 30, checkMinutes: 5, minRequests: 100, maxErrorRateIncrease: 0.01, latencyFactor: 1.5 }, training: { mode: 'builtin', instanceType: 'ml.m5.xlarge', instanceCount: 1, volumeSizeGb: 30, maxRuntimeMinutes: 60, hyperparameters: {} } });
  });

  it('keeps a SageMaker training job section with its image and fills in the rest', () => {
    const image = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/trainer:1.2';
    const config = parseConfig({ stage: 'dev', pipeline: { training: { mode: 'sagemaker', image, hyperparameters: { epochs: '30' } } } });

    expect(config.pipeline.training).toEqual({ mode: 'sagemaker', image, instanceType: 'ml.m5.xlarge', instanceCount: 1, volumeSizeGb: 30, maxRuntimeMinutes: 60, hyperparameters: { epochs: '30' } });
  });

  it('requires pipeline.training.image when the mode is sagemaker', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { training: { mode: 'sagemaker' } } })).toThrow(/pipeline\.training\.image: is required when mode is "sagemaker"/);
  });

  it('rejects a training image that is not an ECR URI, showing it', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { training: { mode: 'sagemaker', image: 'me/trainer:1' } } })).toThrow(/pipeline\.training\.image: must be an ECR image URI .*\(received "me\/trainer:1"\)/);
  });

  it('rejects a training hyperparameter the platform sets, naming it', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { training: { hyperparameters: { label_column: 'y' } } } })).toThrow(/pipeline\.training\.hyperparameters\.label_column: is set by the platform/);
  });

  it('rejects an unknown training mode', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { training: { mode: 'docker' } } })).toThrow(/pipeline\.training\.mode: must be one of "builtin", "sagemaker" \(received "docker"\)/);
  });

  it('keeps a pipeline maxDropPoints of 0: a candidate must be at least as good', () => {
    expect(parseConfig({ stage: 'dev', pipeline: { maxDropPoints: 0 } }).pipeline.maxDropPoints).toBe(0);
  });

  it('rejects a negative pipeline maxDropPoints', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { maxDropPoints: -1 } })).toThrow(/pipeline\.maxDropPoints: .*\(received -1\)/);
  });

  it('rejects a pipeline training of no epochs', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { epochs: 0 } })).toThrow(/pipeline\.epochs: .*\(received 0\)/);
  });

  it("rejects a pipeline train memory above Lambda's 10240 MB", () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { trainMemoryMb: 10241 } })).toThrow(/pipeline\.trainMemoryMb: .*\(received 10241\)/);
  });

  it('rejects a canary check interval longer than its window, naming the key', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { canary: { windowMinutes: 10, checkMinutes: 15 } } })).toThrow(/pipeline\.canary\.checkMinutes: must be at most windowMinutes/);
  });

  it('rejects a canary weight of 0 or above 1, naming the key', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { canary: { weight: 0 } } })).toThrow(/pipeline\.canary\.weight/);
    expect(() => parseConfig({ stage: 'dev', pipeline: { canary: { weight: 1.5 } } })).toThrow(/pipeline\.canary\.weight/);
  });

  it('rejects an unknown pipeline key', () => {
    expect(() => parseConfig({ stage: 'dev', pipeline: { autoApprove: true } })).toThrow(/pipeline: unknown key\(s\) "autoApprove"/);
  });

  it('keeps the account and alarm email it is given', () => {
    const config = parseConfig({ stage: 'prod', account: '123456789012', alarmEmail: 'oncall@example.com' });

    expect(config.account).toBe('123456789012');
    expect(config.alarmEmail).toBe('oncall@example.com');
  });

  it('rejects a missing stage', () => {
    expect(() => parseConfig({})).toThrow(/stage: is required/);
  });

  it('rejects a model name that is not DNS-safe, naming the field and the value received', () => {
    expect(() => parseConfig({ stage: 'dev', models: [{ name: 'Demo Model' }] })).toThrow(
      /models\[0\]\.name: must be a lowercase DNS-safe name .*\(received "Demo Model"\)/,
    );
  });

  it('rejects an unknown serving mode, listing the accepted ones', () => {
    expect(() => parseConfig({ stage: 'dev', models: [{ name: 'demo', servingMode: 'tpu' }] })).toThrow(
      /models\[0\]\.servingMode: must be one of "serverless", "gpu", "both" \(received "tpu"\)/,
    );
  });

  it('rejects an alarm email that is not an email address', () => {
    expect(() => parseConfig({ stage: 'dev', alarmEmail: 'oncall' })).toThrow(
      /alarmEmail: must be an email address \(received "oncall"\)/,
    );
  });

  it('rejects a model whose maxInstances is below its minInstances', () => {
    expect(() => parseConfig({ stage: 'dev', models: [{ name: 'demo', minInstances: 3, maxInstances: 2 }] })).toThrow(
      /models\[0\]\.maxInstances: must be at least minInstances/,
    );
  });

  it('rejects two models with the same name', () => {
    expect(() => parseConfig({ stage: 'dev', models: [{ name: 'demo' }, { name: 'demo' }] })).toThrow(
      /models\[1\]\.name: must be unique \(received "demo"\)/,
    );
  });

  it('rejects a field of the wrong type, naming the expected type', () => {
    expect(() => parseConfig({ stage: 'dev', storage: { useKmsKey: 'yes' } })).toThrow(
      /storage\.useKmsKey: must be of type boolean \(received "yes"\)/,
    );
  });

  it('rejects an unknown key, so a misspelt setting is not silently ignored', () => {
    expect(() => parseConfig({ stage: 'dev', storage: { dataRetentionDay: 30 } })).toThrow(
      /storage: unknown key\(s\) "dataRetentionDay"/,
    );
  });

  it('names every invalid field in one error', () => {
    const act = () => parseConfig({ stage: 'Dev', region: 'mars', removalPolicy: 'keep' });

    expect(act).toThrow(ConfigError);
    expect(act).toThrow(/stage: .*\n.*region: .*\n.*removalPolicy: /);
  });
});

describe('loadConfig', () => {
  it("loads the repository's mlops.config.json", () => {
    const config = loadConfig(repoConfig);

    expect(config.stage).toBe('dev');
    expect(config.models.map((m) => m.name)).toEqual(['demo']);
  });

  it('names the file when it cannot be read', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mlops-config-')), 'missing.json');

    expect(() => loadConfig(file)).toThrow(new RegExp(`Cannot read config ${file}: ENOENT`));
  });

  it('names the file when it is not JSON', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mlops-config-')), 'broken.json');
    writeFileSync(file, '{ "stage": ');

    expect(() => loadConfig(file)).toThrow(new RegExp(`Invalid ${file}: not JSON`));
  });

  it('names the file when a field is invalid', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mlops-config-')), 'bad.json');
    writeFileSync(file, JSON.stringify({ stage: 'dev', models: [{ name: 'demo', servingMode: 'tpu' }] }));

    expect(() => loadConfig(file)).toThrow(new RegExp(`Invalid ${file}:\\n  - models\\[0\\]\\.servingMode`));
  });
});
