import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatchApp } from '../../functions/batch/app';
import { S3BlobStore } from '../../functions/shared/s3-blob-store';
import { BatchWatcher } from '../../local/batch-watcher';
import { type EmbeddedS3, startEmbeddedS3 } from '../../local/embedded-s3';
import { generatedHeader, generateRows } from '../../model-pipeline/data/generate';
import { trainDemoPackage } from '../helpers/demo-package';
import { uploadPackage } from '../helpers/embedded-buckets';
import { useTempDir } from '../helpers/tmp';

/**
 * The local batch watcher scores what S3 events announce, whatever characters a key holds, and
 * looks again on a timer, so an input no event announced (or whose lease was held) is still scored.
 */

const tmp = useTempDir();
let s3: EmbeddedS3;
let app: ReturnType<typeof createBatchApp>;

beforeAll(async () => {
  s3 = await startEmbeddedS3({ directory: tmp.file('s3'), port: 0, buckets: ['models', 'data'] });
  await uploadPackage(s3, 'models', await trainDemoPackage(tmp.path));
  app = createBatchApp(s3.client, { models: 'models', data: 'data' });
});

afterAll(async () => {
  await app?.engine.release();
  await s3?.close();
});

const csv = (rows: number) => `${[generatedHeader().join(','), ...[...generateRows({ rows, seed: 4 })].map((r) => r.cells.join(','))].join('\n')}\n`;

describe('the batch watcher on a timer', () => {
  it('scores an input that no event announced on its next look, and only once', async () => {
    // Not subscribed to events: only the rescans can find the file.
    const watcher = new BatchWatcher(app, () => undefined);
    watcher.rescanEvery(new S3BlobStore(s3.client, 'data'), 100);
    try {
      await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key: 'batch/input/demo/unannounced.csv', Body: csv(20) }));
      for (let i = 0; i < 100 && watcher.outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      // Several more looks: each finds the manifest and queues nothing.
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await watcher.stop();
    }

    expect(watcher.outcomes.map((o) => [o.key, o.outcome.status])).toEqual([['batch/input/demo/unannounced.csv', 'succeeded']]);
  });
});

describe('the batch watcher on events', () => {
  // One watcher: listeners cannot be removed from the embedded S3, and a second would race the first for each file.
  let watcher: BatchWatcher;
  beforeAll(() => {
    watcher = new BatchWatcher(app, () => undefined);
    watcher.watch(s3, 'data');
  });

  it.each(['batch/input/demo/100%.csv', 'batch/input/demo/a+b c.csv', 'batch/input/demo/données é 数据.csv'])('scores %s under its own key', async (Key) => {
    await s3.client.send(new PutObjectCommand({ Bucket: 'data', Key, Body: csv(5) }));
    for (let i = 0; i < 100 && !watcher.outcomes.some((o) => o.key === Key); i++) await new Promise((r) => setTimeout(r, 50));
    await watcher.idle();

    expect(watcher.outcomes.find((o) => o.key === Key)?.outcome.status).toBe('succeeded');
    const manifest = JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: 'data', Key: Key.replace('batch/input/', 'batch/manifests/') + '.manifest.json' }))).Body!.transformToString());
    expect(manifest).toMatchObject({ status: 'succeeded', rowsIn: 5, input: { location: Key } });
  });
});
