import { describe, expect, it } from 'vitest';
import { batchEnv } from '../../functions/batch/env';
import { inferenceEnv } from '../../functions/inference/env';
import { monitorEnv } from '../../functions/monitor/env';
import { pipelineEnv } from '../../functions/pipeline/env';

describe('Lambda environments', () => {
  it('reject a missing bucket, naming the variable', () => {
    expect(() => inferenceEnv({ DATA_BUCKET: 'data' })).toThrow(/MODEL_BUCKET/);
    expect(() => batchEnv({ MODEL_BUCKET: 'models' })).toThrow(/DATA_BUCKET/);
    expect(() => pipelineEnv({})).toThrow(/MODEL_BUCKET/);
  });

  it('reject values out of range, naming the variable', () => {
    expect(() => inferenceEnv({ MODEL_BUCKET: 'models', DATA_BUCKET: 'data', CAPTURE_SAMPLE_RATE: '2' })).toThrow(/CAPTURE_SAMPLE_RATE/);
    expect(() => monitorEnv({ MODEL_BUCKET: 'models', DATA_BUCKET: 'data', MODEL_NAMES: 'demo', MIN_ROWS: '-1' })).toThrow(/MIN_ROWS/);
    expect(() => pipelineEnv({ MODEL_BUCKET: 'models', DATA_BUCKET: 'data', CANARY_WEIGHT: '2' })).toThrow(/CANARY_WEIGHT/);
    expect(() => pipelineEnv({ MODEL_BUCKET: 'models', DATA_BUCKET: 'data', CANARY_WINDOW_SECONDS: '-5' })).toThrow(/CANARY_WINDOW_SECONDS/);
  });

  it('parse lists and flags', () => {
    expect(inferenceEnv({ MODEL_BUCKET: 'models', DATA_BUCKET: 'data', MODEL_NAMES: 'a, b', S3_FORCE_PATH_STYLE: 'true' })).toMatchObject({ MODEL_NAMES: ['a', 'b'], S3_FORCE_PATH_STYLE: true });
  });
});
