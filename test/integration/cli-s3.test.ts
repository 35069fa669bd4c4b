import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { expectOneLineError, mlops, mlopsOk } from '../helpers/cli';
import { useTempDir } from '../helpers/tmp';
import { sdkEnvironmentFor } from '../helpers/embedded-buckets';

/** Packages addressed as s3:// URIs, against the embedded S3 (the same code reaches AWS S3). */

const tmp = useTempDir();
let s3: EmbeddedS3;
let env: Record<string, string>;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models'] });
  env = sdkEnvironmentFor(s3);
  await writeGeneratedCsv(tmp.file('train.csv'), { rows: 2000, seed: 1 });
});

afterAll(async () => {
  await s3?.close();
});

describe('s3:// package locations', () => {
  it('train writes a package to S3 and inspect verifies it there', async () => {
    await mlopsOk(['train', '--data', tmp.file('train.csv'), '--label', 'churned', '--out', 's3://models/models/churn/1.0.0', '--name', 'churn', '--epochs', '5'], { env });
    const { stdout } = await mlopsOk(['inspect', 's3://models/models/churn/1.0.0'], { env });
    expect(stdout).toMatch(/^churn 1\.0\.0 {2}binary/);
  });

  it('names manifest.json and the S3 location when nothing is there', async () => {
    const line = expectOneLineError(await mlops(['inspect', 's3://models/models/nothing/1.0.0'], { env }));
    expect(line).toMatch(/manifest\.json: missing from the package at s3:\/\/models\/models\/nothing\/1\.0\.0\//);
  });
});
