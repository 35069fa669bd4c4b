import { describe, expect, it } from 'vitest';
import { keysOfS3Event } from '../../functions/batch/app';

/** An S3 event notification for one object, as S3 sends it to SQS, SNS or Lambda. */
function notification(bucket: string, key: string, eventName = 'ObjectCreated:Put'): unknown {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventName,
        s3: { s3SchemaVersion: '1.0', bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` }, object: { key, size: 1024, eTag: 'abc123' } },
      },
    ],
  };
}

/** An "Object Created" event as S3 sends it to EventBridge and the Batch stack's rule forwards it to SQS. */
function eventBridge(bucket: string, key: string, detailType = 'Object Created'): unknown {
  return {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': detailType,
    source: 'aws.s3',
    account: '111122223333',
    time: '2026-11-12T00:00:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: '0',
      bucket: { name: bucket },
      object: { key, size: 1024, etag: 'abc123', sequencer: '0062E99A88DC407460' },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '111122223333',
      reason: 'PutObject',
    },
  };
}

describe('keysOfS3Event with an S3 event notification', () => {
  it('names the bucket and key of every record', () => {
    const body = {
      Records: [
        ...(notification('data', 'batch/input/demo/a.csv') as { Records: unknown[] }).Records,
        ...(notification('data', 'batch/input/demo/b.jsonl') as { Records: unknown[] }).Records,
      ],
    };

    expect(keysOfS3Event(body)).toEqual([
      { bucket: 'data', key: 'batch/input/demo/a.csv' },
      { bucket: 'data', key: 'batch/input/demo/b.jsonl' },
    ]);
  });

  it("decodes a URL-encoded key whose spaces are '+'", () => {
    expect(keysOfS3Event(notification('data', 'batch/input/demo/my+customers+%282%29.csv'))).toEqual([
      { bucket: 'data', key: 'batch/input/demo/my customers (2).csv' },
    ]);
  });

  it("keeps a real '+' of the key, which S3 sends as %2B", () => {
    expect(keysOfS3Event(notification('data', 'batch/input/demo/c%2B%2B+results.csv'))).toEqual([
      { bucket: 'data', key: 'batch/input/demo/c++ results.csv' },
    ]);
  });

  it('skips a record without an object key', () => {
    const body = { Records: [{ eventSource: 'aws:s3', s3: { bucket: { name: 'data' } } }] };

    expect(keysOfS3Event(body)).toEqual([]);
  });
});

describe('keysOfS3Event with an EventBridge event from S3', () => {
  it('names the bucket and key of an "Object Created" event', () => {
    expect(keysOfS3Event(eventBridge('data', 'batch/input/demo/a.csv'))).toEqual([{ bucket: 'data', key: 'batch/input/demo/a.csv' }]);
  });

  it("decodes a URL-encoded key whose spaces are '+'", () => {
    expect(keysOfS3Event(eventBridge('data', 'batch/input/demo/2026%2F11+q4%3Aall.csv'))).toEqual([
      { bucket: 'data', key: 'batch/input/demo/2026/11 q4:all.csv' },
    ]);
  });

  it("keeps a real '+' of the key, which S3 sends as %2B", () => {
    expect(keysOfS3Event(eventBridge('data', 'batch/input/demo/a%2Bb.csv'))).toEqual([{ bucket: 'data', key: 'batch/input/demo/a+b.csv' }]);
  });

  it('names no object for another S3 event type, such as "Object Deleted"', () => {
    expect(keysOfS3Event(eventBridge('data', 'batch/input/demo/a.csv', 'Object Deleted'))).toEqual([]);
  });

  it('names no object for an event without an object key', () => {
    const event = eventBridge('data', 'batch/input/demo/a.csv') as { detail: { object: Record<string, unknown> } };
    delete event.detail.object.key;

    expect(keysOfS3Event(event)).toEqual([]);
  });
});

describe('keysOfS3Event with other bodies', () => {
  it('names no object for a body that is neither shape, such as S3\'s test event', () => {
    const testEvent = { Service: 'Amazon S3', Event: 's3:TestEvent', Time: '2026-11-12T00:00:00.000Z', Bucket: 'data' };

    expect(keysOfS3Event(testEvent)).toEqual([]);
  });

  it('names no object for a JSON value that is not an object', () => {
    expect(keysOfS3Event(null)).toEqual([]);
    expect(keysOfS3Event('batch/input/demo/a.csv')).toEqual([]);
  });
});
