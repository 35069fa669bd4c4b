import { describe, expect, it } from 'vitest';
import { type Manifest, parseManifest } from '../../core/model/manifest';
import type { Matrix } from '../../core/model/onnx-session';
import {
  buildTritonRequest,
  captureRecordsFromSageMaker,
  classifyEndpointError,
  decodeTritonRequest,
  decodeTritonResponse,
  EndpointError,
  endpointErrorResponse,
  fullJitterDelay,
  invokeWithRetries,
  type RetryPolicy,
  TritonContentTypes,
} from '../../core/protocol/triton';

function manifest(output: Partial<Manifest['output']> = {}, task: Manifest['task'] = 'binary'): Manifest {
  return parseManifest({
    schemaVersion: 1,
    name: 'demo',
    version: '1.2.0',
    task,
    input: {
      tensor: 'features',
      features: [
        { name: 'age', type: 'numeric' },
        { name: 'income', type: 'numeric', nullable: true },
        { name: 'plan', type: 'categorical', levels: ['basic', 'pro'] },
      ],
    },
    output: { tensor: 'probabilities', kind: 'probabilities', classes: ['no', 'yes'], ...output },
    createdAt: '2024-01-02T03:04:05.000Z',
    files: { 'model.onnx': { sha256: '0'.repeat(64), bytes: 1 } },
  });
}

const binary = manifest();
const matrix: Matrix = { data: Float32Array.from([41, 52000.5, 0, 30, 1000, 1]), rows: 2, cols: 3 };
const withMissing: Matrix = { data: Float32Array.from([41, Number.NaN, 0, 30, 1000, 1]), rows: 2, cols: 3 };

function answer(outputs: unknown[], contentType = 'application/json') {
  return { body: new TextEncoder().encode(JSON.stringify({ model_name: 'demo', model_version: '1', outputs })), contentType };
}

function sdkError(name: string, status: number, extra: object = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, $fault: status >= 500 ? 'server' : 'client', ...extra });
}

describe('buildTritonRequest', () => {
  it('sends one FP32 tensor named like the model input, shape [N, F], as JSON', () => {
    const payload = buildTritonRequest(binary, matrix);
    const body = JSON.parse(new TextDecoder().decode(payload.body));

    expect(payload.contentType).toBe('application/json');
    expect(body.inputs).toEqual([{ name: 'features', shape: [2, 3], datatype: 'FP32', data: [41, 52000.5, 0, 30, 1000, 1] }]);
  });

  it('asks for the manifest\'s output tensor as JSON', () => {
    const body = JSON.parse(new TextDecoder().decode(buildTritonRequest(binary, matrix).body));

    expect(body.outputs).toEqual([{ name: 'probabilities', parameters: { binary_data: false } }]);
  });

  it('carries the request id when given one', () => {
    const body = JSON.parse(new TextDecoder().decode(buildTritonRequest(binary, matrix, { id: 'req-1' }).body));

    expect(body.id).toBe('req-1');
  });

  it('sends a matrix holding NaN (a missing nullable value) as a binary tensor, which JSON cannot carry', () => {
    const payload = buildTritonRequest(binary, withMissing);
    const headerSize = Number(/json-header-size=(\d+)/.exec(payload.contentType)?.[1]);
    const header = JSON.parse(new TextDecoder().decode(payload.body.subarray(0, headerSize)));
    const values = new Float32Array(payload.body.slice(headerSize).buffer);

    expect(payload.contentType).toMatch(/^application\/vnd\.sagemaker-triton\.binary\+json;json-header-size=\d+$/);
    expect(header.inputs).toEqual([{ name: 'features', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } }]);
    expect(Number.isNaN(values[1])).toBe(true);
    expect([...values].filter((v) => !Number.isNaN(v))).toEqual([41, 0, 30, 1000, 1]);
  });
});

describe('decodeTritonRequest', () => {
  it('reads back the matrix of a JSON request', () => {
    const payload = buildTritonRequest(binary, matrix);

    expect(decodeTritonRequest(binary, payload.body, payload.contentType)).toEqual(matrix);
  });

  it('reads back the matrix of a binary request, NaN included', () => {
    const payload = buildTritonRequest(binary, withMissing);
    const decoded = decodeTritonRequest(binary, payload.body, payload.contentType);

    expect(decoded.rows).toBe(2);
    expect(Number.isNaN(decoded.data[1])).toBe(true);
    expect(decoded.data[5]).toBe(1);
  });
});

describe('decodeTritonResponse', () => {
  it('returns the probabilities of the manifest\'s output tensor', () => {
    const scores = decodeTritonResponse(binary, 2, answer([{ name: 'probabilities', datatype: 'FP32', shape: [2, 2], data: [0.25, 0.75, 0.5, 0.5] }]));

    expect(scores).toEqual({ rows: 2, width: 2, values: Float32Array.from([0.25, 0.75, 0.5, 0.5]) });
  });

  it('picks the manifest\'s output among several', () => {
    const scores = decodeTritonResponse(
      binary,
      1,
      answer([
        { name: 'label', datatype: 'INT64', shape: [1], data: [1] },
        { name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.1, 0.9] },
      ]),
    );

    expect([...scores.values]).toEqual([Math.fround(0.1), Math.fround(0.9)]);
  });

  it('applies softmax to logits, as the serverless predictor does', () => {
    const scores = decodeTritonResponse(manifest({ kind: 'logits' }), 1, answer([{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0, Math.log(3)] }]));

    expect(scores.values[0]).toBeCloseTo(0.25, 6);
    expect(scores.values[1]).toBeCloseTo(0.75, 6);
  });

  it('widens a single sigmoid column to two classes', () => {
    const scores = decodeTritonResponse(binary, 2, answer([{ name: 'probabilities', datatype: 'FP32', shape: [2, 1], data: [0.2, 0.9] }]));

    expect(scores.width).toBe(2);
    expect([...scores.values].map((v) => Number(v.toFixed(6)))).toEqual([0.8, 0.2, 0.1, 0.9]);
  });

  it('returns one value per row for regression', () => {
    const regression = manifest({ tensor: 'prediction', kind: 'value', classes: undefined }, 'regression');

    const scores = decodeTritonResponse(regression, 2, answer([{ name: 'prediction', datatype: 'FP32', shape: [2, 1], data: [12.5, 3] }]));

    expect(scores).toEqual({ rows: 2, width: 1, values: Float32Array.from([12.5, 3]) });
  });

  it('reads an output sent as a binary tensor', () => {
    const header = new TextEncoder().encode(JSON.stringify({ outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } }] }));
    const body = new Uint8Array(header.length + 8);
    body.set(header);
    body.set(new Uint8Array(Float32Array.from([0.4, 0.6]).buffer), header.length);

    const scores = decodeTritonResponse(binary, 1, { body, contentType: `${TritonContentTypes.binaryJson};json-header-size=${header.length}` });

    expect([...scores.values]).toEqual([Math.fround(0.4), Math.fround(0.6)]);
  });

  it('rejects an answer with another number of rows as a 502 bad response', () => {
    const decode = () => decodeTritonResponse(binary, 3, answer([{ name: 'probabilities', datatype: 'FP32', shape: [2, 2], data: [0.25, 0.75, 0.5, 0.5] }]));

    expect(decode).toThrow(EndpointError);
    expect(decode).toThrow(expect.objectContaining({ status: 502, code: 'endpoint_bad_response', detail: expect.stringMatching(/shape \[2,2\] for 3 rows/) }));
  });

  it('rejects an answer without the manifest\'s output, naming it', () => {
    expect(() => decodeTritonResponse(binary, 1, answer([{ name: 'scores', datatype: 'FP32', shape: [1, 2], data: [0, 1] }]))).toThrow(
      expect.objectContaining({ code: 'endpoint_bad_response', detail: expect.stringMatching(/no output "probabilities"/) }),
    );
  });

  it('rejects a body that is not JSON', () => {
    expect(() => decodeTritonResponse(binary, 1, { body: new TextEncoder().encode('<html>'), contentType: 'text/html' })).toThrow(
      expect.objectContaining({ status: 502, code: 'endpoint_bad_response' }),
    );
  });

  it('rejects more score columns than the manifest has classes', () => {
    expect(() => decodeTritonResponse(binary, 1, answer([{ name: 'probabilities', datatype: 'FP32', shape: [1, 3], data: [0.2, 0.3, 0.5] }]))).toThrow(
      expect.objectContaining({ detail: expect.stringMatching(/3 score columns but the manifest lists 2 classes/) }),
    );
  });
});

describe('classifyEndpointError', () => {
  it('calls ThrottlingException and any 429 throttling', () => {
    expect(classifyEndpointError(sdkError('ThrottlingException', 400))).toBe('throttled');
    expect(classifyEndpointError(sdkError('SomethingElse', 429))).toBe('throttled');
    expect(classifyEndpointError(sdkError('ModelNotReadyException', 429))).toBe('throttled');
  });

  it('calls a SageMaker 5xx or a dropped connection unavailable', () => {
    expect(classifyEndpointError(sdkError('ServiceUnavailable', 503))).toBe('unavailable');
    expect(classifyEndpointError(sdkError('InternalFailure', 500))).toBe('unavailable');
    expect(classifyEndpointError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe('unavailable');
  });

  it('calls ModelError a model failure, whatever the container\'s status', () => {
    expect(classifyEndpointError(sdkError('ModelError', 424, { OriginalStatusCode: 400 }))).toBe('model');
    expect(classifyEndpointError(sdkError('ModelError', 424, { OriginalStatusCode: 500 }))).toBe('model');
  });

  it('calls an abort or a spent budget a timeout', () => {
    expect(classifyEndpointError(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe('timeout');
    expect(classifyEndpointError(new Error('anything'), true)).toBe('timeout');
  });

  it('calls another 4xx of SageMaker rejected', () => {
    expect(classifyEndpointError(sdkError('ValidationError', 400))).toBe('rejected');
  });

  it('does not classify an error that did not come from the call', () => {
    expect(classifyEndpointError(new TypeError('x is undefined'))).toBeUndefined();
  });
});

describe('fullJitterDelay', () => {
  const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };

  it('draws from [0, base·2^retry)', () => {
    expect(fullJitterDelay(policy, 0, () => 0)).toBe(0);
    expect(fullJitterDelay(policy, 0, () => 0.999)).toBe(99);
    expect(fullJitterDelay(policy, 2, () => 0.999)).toBe(399);
  });

  it('never exceeds maxDelayMs', () => {
    expect(fullJitterDelay(policy, 10, () => 0.999)).toBe(999);
  });
});

describe('invokeWithRetries', () => {
  const policy = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 100, timeoutMs: 5000 };
  /** Hooks that record backoffs instead of sleeping. */
  function recorder() {
    const sleeps: number[] = [];
    return { sleeps, hooks: { sleep: async (ms: number) => void sleeps.push(ms), random: () => 0.5 } };
  }

  it('retries throttling with jittered backoff and returns the first success', async () => {
    const { sleeps, hooks } = recorder();
    let calls = 0;

    const result = await invokeWithRetries(async () => {
      calls += 1;
      if (calls < 3) throw sdkError('ThrottlingException', 429);
      return 'ok';
    }, policy, hooks);

    expect(result).toBe('ok');
    expect(calls).toBe(3);
    expect(sleeps).toEqual([5, 10]);
  });

  it('answers 503 with Retry-After once the attempts are used up on throttling', async () => {
    const { hooks } = recorder();
    let calls = 0;

    const failure = invokeWithRetries(async () => {
      calls += 1;
      throw sdkError('ThrottlingException', 429);
    }, policy, hooks);

    await expect(failure).rejects.toMatchObject({ status: 503, code: 'endpoint_throttled', retryAfterSeconds: 1 });
    expect(calls).toBe(3);
  });

  it('retries a SageMaker 5xx and answers 503 when it persists', async () => {
    const { hooks } = recorder();

    await expect(invokeWithRetries(async () => Promise.reject(sdkError('ServiceUnavailable', 503)), policy, hooks)).rejects.toMatchObject({
      status: 503,
      code: 'endpoint_unavailable',
    });
  });

  it('does not retry a model error and answers 502 saying the input was fine', async () => {
    const { sleeps, hooks } = recorder();
    let calls = 0;

    const failure = invokeWithRetries(async () => {
      calls += 1;
      throw sdkError('ModelError', 424, { OriginalStatusCode: 400 });
    }, policy, hooks);

    await expect(failure).rejects.toMatchObject({ status: 502, code: 'endpoint_model_error', message: expect.stringMatching(/passed validation \(status 400\); this is not a problem with your input/) });
    expect(calls).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('aborts a call that outlives the budget and answers 504 without retrying', async () => {
    let calls = 0;

    const failure = invokeWithRetries(
      (signal) => {
        calls += 1;
        return new Promise((_, reject) => signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
      },
      { ...policy, timeoutMs: 20 },
    );

    await expect(failure).rejects.toMatchObject({ status: 504, code: 'endpoint_timeout' });
    expect(calls).toBe(1);
  });

  it('does not wait past the budget to retry', async () => {
    let calls = 0;

    const failure = invokeWithRetries(
      async () => {
        calls += 1;
        throw sdkError('ThrottlingException', 429);
      },
      { maxAttempts: 10, baseDelayMs: 60_000, maxDelayMs: 60_000, timeoutMs: 1000 },
      { random: () => 0.5 },
    );

    await expect(failure).rejects.toMatchObject({ status: 503, code: 'endpoint_throttled' });
    expect(calls).toBe(1);
  });

  it('rethrows an error that did not come from the call unchanged', async () => {
    const bug = new TypeError('x is undefined');

    await expect(invokeWithRetries(async () => Promise.reject(bug), policy)).rejects.toBe(bug);
  });

  it('tells onRetry about each retry', async () => {
    const events: unknown[] = [];
    let calls = 0;

    await invokeWithRetries(
      async () => {
        calls += 1;
        if (calls === 1) throw sdkError('InternalFailure', 500);
        return 'ok';
      },
      policy,
      { sleep: async () => {}, random: () => 0, onRetry: ({ attempt, failure, delayMs }) => events.push({ attempt, failure, delayMs }) },
    );

    expect(events).toEqual([{ attempt: 1, failure: 'unavailable', delayMs: 0 }]);
  });
});

describe('endpointErrorResponse', () => {
  it('answers a 503 with Retry-After and the API\'s error body', () => {
    const response = endpointErrorResponse(new EndpointError(503, 'endpoint_throttled', 'busy', 2, 'ThrottlingException: slow down'), 'req-9');

    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('2');
    expect(JSON.parse(response.body as string)).toEqual({ error: 'busy', code: 'endpoint_throttled', request_id: 'req-9' });
  });

  it('never sends what the endpoint said to the client', () => {
    const response = endpointErrorResponse(new EndpointError(502, 'endpoint_model_error', 'failed', undefined, 'ModelError: stack trace at /opt/tritonserver'));

    expect(response.body).not.toContain('tritonserver');
    expect(response.headers).not.toHaveProperty('retry-after');
  });
});

describe('captureRecordsFromSageMaker', () => {
  const request = buildTritonRequest(binary, matrix);
  const line = JSON.stringify({
    captureData: {
      endpointInput: { observedContentType: 'application/json', mode: 'INPUT', data: new TextDecoder().decode(request.body), encoding: 'JSON' },
      endpointOutput: {
        observedContentType: 'application/json',
        mode: 'OUTPUT',
        data: JSON.stringify({ outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [2, 2], data: [0.25, 0.75, 0.5, 0.5] }] }),
        encoding: 'JSON',
      },
    },
    eventMetadata: { eventId: 'e-1', inferenceId: 'req-7', inferenceTime: '2024-05-06T07:08:09Z' },
    eventVersion: '0',
  });

  it('turns one captured call into one capture record per row, as the monitor reads them', () => {
    const records = captureRecordsFromSageMaker(line, binary);

    expect(records).toHaveLength(2);
    expect(records[0]).toEqual({
      v: 1,
      requestId: 'req-7',
      row: 0,
      ts: '2024-05-06T07:08:09.000Z',
      model: 'demo',
      version: '1.2.0',
      features: { age: 41, income: 52000.5, plan: 'basic' },
      prediction: { label: 'yes', probabilities: [0.25, 0.75] },
      latencyMs: 0,
    });
    expect(records[1]).toMatchObject({ row: 1, features: { plan: 'pro' } });
  });

  it('reads base64-encoded binary captures, missing values as null', () => {
    const payload = buildTritonRequest(binary, withMissing);
    const event = JSON.parse(line);
    event.captureData.endpointInput = { observedContentType: payload.contentType, mode: 'INPUT', data: Buffer.from(payload.body).toString('base64'), encoding: 'BASE64' };

    const records = captureRecordsFromSageMaker(JSON.stringify(event), binary);

    expect(records[0]?.features).toEqual({ age: 41, income: null, plan: 'basic' });
  });
});
