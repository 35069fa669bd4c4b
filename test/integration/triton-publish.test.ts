import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelPackage } from '../../core/model/model-package';
import { ModelRepository } from '../../core/model/registry';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { tritonArtifactKey } from '../../core/layout';
import { PackageConflictError, publishTritonArtifact } from '../../model-pipeline/triton/publish';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { expectOneLineError, mlops, mlopsOk } from '../helpers/cli';
import { trainDemoPackage } from '../helpers/demo-package';
import { useTempDir } from '../helpers/tmp';
import { sdkEnvironmentFor } from '../helpers/embedded-buckets';

const tmp = useTempDir('mlops-triton-publish-');
let s3: EmbeddedS3;
let demo: ModelPackage;
let env: Record<string, string>;

async function objectBytes(key: string): Promise<Buffer> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: 'models', Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

async function lastModified(key: string): Promise<number> {
  return (await s3.client.send(new HeadObjectCommand({ Bucket: 'models', Key: key }))).LastModified!.getTime();
}

/** A new folder under the test's temporary folder. */
function folder(name: string): string {
  const dir = tmp.file(name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The members of a .tar.gz, as GNU tar lists them. */
function tarMembers(archive: string): string[] {
  return execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' }).trim().split('\n');
}

beforeAll(async () => {
  demo = await trainDemoPackage(tmp.path);
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models'] });
  env = sdkEnvironmentFor(s3);
});

afterAll(async () => {
  await s3?.close();
});

describe('mlops triton publish', () => {
  it('--help exits 0 and lists its options', async () => {
    const result = await mlops(['triton', 'publish', '--help']);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: mlops triton publish/);
    for (const option of ['--repo', '--config']) expect(result.stdout).toContain(option);
  });

  it('copies the package and writes model.tar.gz where the GpuEndpoint construct points SageMaker', async () => {
    const { stdout } = await mlopsOk(['triton', 'publish', join(tmp.path, 'demo', '1.0.0'), '--repo', 's3://models'], { env, cwd: tmp.path });

    expect(stdout).toContain('package demo@1.0.0 copied to s3://models/models/demo/1.0.0/');
    expect(stdout).toMatch(/s3:\/\/models\/models\/demo\/1\.0\.0\/triton\/model\.tar\.gz: written, .*sha256 [0-9a-f]{64}/);
    expect(stdout).toContain('set gpu.modelVersions.demo to "1.0.0"');
    expect(tritonArtifactKey('demo', '1.0.0')).toBe('models/demo/1.0.0/triton/model.tar.gz');
  });

  it('uploads a tarball with the layout Triton loads: <model>/config.pbtxt and <model>/1/model.onnx', async () => {
    const archive = tmp.file('downloaded.tar.gz');
    writeFileSync(archive, await objectBytes('models/demo/1.0.0/triton/model.tar.gz'));
    execFileSync('tar', ['-xzf', archive, '-C', tmp.path]);

    expect(tarMembers(archive)).toEqual(['demo/', 'demo/config.pbtxt', 'demo/1/', 'demo/1/model.onnx']);
    const config = execFileSync('cat', [join(tmp.path, 'demo', 'config.pbtxt')], { encoding: 'utf8' });
    expect(config).toMatch(/^name: "demo"$/m);
    expect(config).toMatch(/^platform: "onnxruntime_onnx"$/m);
    expect(config).toMatch(/^max_batch_size: 1024$/m);
    expect(Buffer.from(execFileSync('cat', [join(tmp.path, 'demo', '1', 'model.onnx')])).equals(Buffer.from(demo.files.get('model.onnx')!))).toBe(true);
  });

  it('leaves the same artifact as it is when published again', async () => {
    const key = 'models/demo/1.0.0/triton/model.tar.gz';
    const before = await lastModified(key);

    const { stdout } = await mlopsOk(['triton', 'publish', join(tmp.path, 'demo', '1.0.0'), '--repo', 's3://models'], { env, cwd: tmp.path });

    expect(stdout).toMatch(/model\.tar\.gz: unchanged \(the same sha256 is already there\)/);
    expect(stdout).not.toContain('copied');
    expect(await lastModified(key)).toBe(before);
  });

  it("builds config.pbtxt from the gpu section of the platform config", async () => {
    const dir = folder('with-config');
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ stage: 'dev', models: [{ name: 'demo', servingMode: 'gpu' }], gpu: { maxBatchSize: 64, preferredBatchSizes: [16, 64] } }));

    const { stdout } = await mlopsOk(['triton', 'publish', join(tmp.path, 'demo', '1.0.0'), '--repo', 's3://models', '--config', join(dir, 'cfg.json')], { env, cwd: dir });

    expect(stdout).toMatch(/model\.tar\.gz: written/);
    expect(stdout).toContain('max_batch_size 64');
  });

  it('refuses, in one line, a different package under a version already in the repository', async () => {
    const other = await trainDemoPackage(folder('other'), { seed: 7 });

    const line = expectOneLineError(await mlops(['triton', 'publish', other.location, '--repo', 's3://models'], { env, cwd: tmp.path }));

    expect(line).toMatch(/already holds another demo@1\.0\.0 \(model\.onnx.* differ\); publish a new version/);
  });
});

describe('publishTritonArtifact', () => {
  it('copies a package the repository lacks, where it then loads and verifies', async () => {
    const repository = new ModelRepository(new S3BlobStore(s3.client, 'models'));
    const pkg = await trainDemoPackage(folder('v2'), { version: '2.0.0' });

    const published = await publishTritonArtifact(repository, pkg);

    expect(published).toMatchObject({ package: 'uploaded', artifact: 'uploaded', key: 'models/demo/2.0.0/triton/model.tar.gz' });
    expect((await repository.load('demo', '2.0.0')).manifest).toEqual(pkg.manifest);
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'models', Prefix: 'models/demo/2.0.0/' }));
    expect(listed.Contents?.map((o) => o.Key)).toContain('models/demo/2.0.0/manifest.json');
  });

  it('throws a PackageConflictError for another package under the same version', async () => {
    const repository = new ModelRepository(new S3BlobStore(s3.client, 'models'));
    const other = await trainDemoPackage(folder('conflict'), { version: '2.0.0', seed: 9 });

    await expect(publishTritonArtifact(repository, other)).rejects.toBeInstanceOf(PackageConflictError);
  });
});
