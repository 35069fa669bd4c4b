import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../core/model/manifest';
import { TRAINING_ARTIFACT_LIMITS, untar } from '../../model-pipeline/pipeline/training-artifact';
import { trainingHyperparameters, trainingJobName, trainingJobSpec } from '../../core/training-contract';
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

/** A ustar header block for a regular file that claims `size` bytes, whatever follows it. */
function headerClaiming(name: string, size: number): Uint8Array {
  const block = tarArchive([{ name, body: new Uint8Array(0) }]).slice(0, 512);
  block.set(new TextEncoder().encode(`${size.toString(8).padStart(11, '0')}\0`), 124);
  block.fill(0x20, 148, 156); // the checksum is summed with its own field as eight spaces
  block.set(new TextEncoder().encode(`${block.reduce((sum, byte) => sum + byte, 0).toString(8).padStart(6, '0')}\0 `), 148);
  return block;
}

/** gzip of a tar whose one entry holds `bytes` zeros, compressed as it is generated: a few MB for a GiB. */
async function gzipBomb(name: string, bytes: number): Promise<Uint8Array> {
  const zeros = new Uint8Array(1 << 20);
  async function* tar() {
    yield headerClaiming(name, bytes);
    for (let left = bytes; left > 0; left -= zeros.length) yield left >= zeros.length ? zeros : zeros.subarray(0, left);
    yield new Uint8Array(1024);
  }
  const parts: Buffer[] = [];
  for await (const part of Readable.from(tar()).pipe(createGzip({ level: 1 }))) parts.push(part as Buffer);
  return new Uint8Array(Buffer.concat(parts));
}

/** How far resident memory grew while `work` ran: sampled every few ms, and from the process's high-water mark. */
async function rssGrowth(work: () => Promise<unknown>): Promise<number> {
  const start = process.memoryUsage().rss;
  const startPeak = process.resourceUsage().maxRSS * 1024;
  let peak = start;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(Math.max(peak, process.memoryUsage().rss) - start, process.resourceUsage().maxRSS * 1024 - startPeak);
}

describe('untar limits', () => {
  const MB = 1024 * 1024;

  it('refuses an entry whose header claims more than the entry limit, before reading its body', async () => {
    // Prepare: 8 GiB claimed, no body at all
    const archive = gzipSync(headerClaiming('model.onnx', 0o77777777777));

    // Act
    const result = untar(archive);

    // Assess
    await expect(result).rejects.toThrow(`training artifact: entry model.onnx is larger than ${TRAINING_ARTIFACT_LIMITS.maxEntryBytes} bytes`);
  });

  it('refuses an entry larger than a configured entry limit, naming it', async () => {
    const archive = tarArchive([{ name: 'model.onnx', body: new Uint8Array(10) }, { name: 'checkpoint.bin', body: new Uint8Array(2048) }]);

    await expect(untar(archive, { maxEntryBytes: 1024 })).rejects.toThrow('training artifact: entry checkpoint.bin is larger than 1024 bytes');
  });

  it('refuses an archive with more entries than the limit', async () => {
    const archive = tarArchive(Array.from({ length: 5 }, (_, i) => ({ name: `f${i}.txt`, body: new Uint8Array(1) })));

    await expect(untar(archive, { maxEntries: 4 })).rejects.toThrow('training artifact: holds more than 4 entries');
  });

  it('refuses a gzip bomb (1 GiB of zeros in a 4.7 MB archive) once it decompresses past the total limit, in bounded memory', async () => {
    // Prepare: the entry itself is under the entry limit; only the total limit stops it
    const bomb = await gzipBomb('model.onnx', 1024 * MB);
    expect(bomb.byteLength).toBeLessThan(8 * MB);
    let error: unknown;

    // Act
    const growth = await rssGrowth(() => untar(bomb, { maxTotalBytes: 128 * MB }).catch((e: unknown) => (error = e)));

    // Assess
    expect(String(error)).toContain(`training artifact: decompresses to more than ${128 * MB} bytes`);
    expect(growth).toBeLessThan(500 * MB);
  });

  it('reads an archive within the limits whole', async () => {
    const archive = gzipSync(tarArchive([{ name: 'model.onnx', body: new Uint8Array(3000).fill(7) }]));

    const files = await untar(archive, { maxEntryBytes: 3000, maxTotalBytes: 64 * 1024, maxEntries: 1 });

    expect(files.get('model.onnx')).toEqual(new Uint8Array(3000).fill(7));
  });
});
