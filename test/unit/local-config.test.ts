import { describe, expect, it } from 'vitest';
import { localConfig } from '../../local/config';

describe('localConfig', () => {
  it('fills the documented defaults', () => {
    expect(localConfig({})).toMatchObject({ port: 8080, s3Port: 4569, monitorSeconds: 60 });
  });

  it('splits batch inputs above 256 MiB into 64 MiB parts unless told otherwise', () => {
    expect(localConfig({})).toMatchObject({ batchFanOutBytes: 256 * 1024 * 1024, batchPartBytes: 64 * 1024 * 1024 });
    expect(localConfig({ MLOPS_BATCH_FAN_OUT_BYTES: '1000', MLOPS_BATCH_PART_BYTES: '300' })).toMatchObject({ batchFanOutBytes: 1000, batchPartBytes: 300 });
  });

  it('reads a training command as a JSON array, and trains with the built-in trainer without one', () => {
    expect(localConfig({}).trainingCommand).toBeUndefined();
    expect(localConfig({ MLOPS_TRAINING_COMMAND: '["npx","tsx","train.ts"]' }).trainingCommand).toEqual(['npx', 'tsx', 'train.ts']);
  });

  it('refuses a training command that is not a JSON array of strings, naming the variable', () => {
    expect(() => localConfig({ MLOPS_TRAINING_COMMAND: 'npx tsx train.ts' })).toThrow(/environment variable MLOPS_TRAINING_COMMAND must be a JSON array .*\(got "npx tsx train.ts"\)/);
  });

  it('names a bad variable and the value received', () => {
    expect(() => localConfig({ MLOPS_PORT: 'eighty' })).toThrow(/environment variable MLOPS_PORT .*\(got "eighty"\)/);
    expect(() => localConfig({ MLOPS_S3_PORT: '70000' })).toThrow(/MLOPS_S3_PORT/);
  });

  it('looks for unscored batch inputs every 30 s and joins labels 30 days late unless told otherwise', () => {
    expect(localConfig({})).toMatchObject({ batchRescanSeconds: 30, labelWindowDays: 30 });
    expect(localConfig({ MLOPS_BATCH_RESCAN_SECONDS: '0', MLOPS_LABEL_WINDOW_DAYS: '90' })).toMatchObject({ batchRescanSeconds: 0, labelWindowDays: 90 });
  });

  it('refuses a negative rescan period and a label window that is not a positive number, naming each', () => {
    expect(() => localConfig({ MLOPS_BATCH_RESCAN_SECONDS: '-5' })).toThrow(/environment variable MLOPS_BATCH_RESCAN_SECONDS .*\(got "-5"\)/);
    expect(() => localConfig({ MLOPS_LABEL_WINDOW_DAYS: '0' })).toThrow(/environment variable MLOPS_LABEL_WINDOW_DAYS .*\(got "0"\)/);
    expect(() => localConfig({ MLOPS_LABEL_WINDOW_DAYS: 'a month' })).toThrow(/MLOPS_LABEL_WINDOW_DAYS/);
  });
});
