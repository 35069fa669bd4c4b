import { describe, expect, it } from 'vitest';
import { captureBody, convertedCaptureKey, convertSageMakerCapture, parseRawCaptureKey } from '../../core/capture/sagemaker-capture';
import { type Manifest, parseManifest } from '../../core/model/manifest';
import { CaptureDecoder } from '../../core/monitor/capture-reader';

const manifest: Manifest = parseManifest({
  schemaVersion: 1,
  name: 'churn',
  version: '1.2.0',
  task: 'binary',
  input: {
    tensor: 'features',
    features: [
      { name: 'age', type: 'numeric' },
      { name: 'income', type: 'numeric', nullable: true },
      { name: 'plan', type: 'categorical', levels: ['basic', 'pro'] },
    ],
  },
  output: { tensor: 'probabilities', kind: 'probabilities', classes: ['no', 'yes'] },
  createdAt: '2024-01-02T03:04:05.000Z',
  files: { 'model.onnx': { sha256: '0'.repeat(64), bytes: 1 } },
});

// Lines as SageMaker writes them to the capture destination (one InvokeEndpoint call a line): the
// endpoint captures application/json as text ("encoding": "JSON", the construct's
// captureContentTypeHeader) and any other content type, here Triton's binary+json, as base64.
const JSON_LINE =
  '{"captureData":{"endpointInput":{"observedContentType":"application/json","mode":"INPUT",' +
  '"data":"{\\"id\\":\\"req-7\\",\\"inputs\\":[{\\"name\\":\\"features\\",\\"shape\\":[2,3],\\"datatype\\":\\"FP32\\",\\"data\\":[41,52000.5,0,63,1200,1]}],\\"outputs\\":[{\\"name\\":\\"probabilities\\",\\"parameters\\":{\\"binary_data\\":false}}]}",' +
  '"encoding":"JSON"},"endpointOutput":{"observedContentType":"application/json","mode":"OUTPUT",' +
  '"data":"{\\"id\\":\\"req-7\\",\\"model_name\\":\\"churn\\",\\"model_version\\":\\"1\\",\\"outputs\\":[{\\"name\\":\\"probabilities\\",\\"datatype\\":\\"FP32\\",\\"shape\\":[2,2],\\"data\\":[0.25,0.75,0.875,0.125]}]}",' +
  '"encoding":"JSON"}},"eventMetadata":{"eventId":"5c3f7d1e-0b7a-4a39-9a4e-1f2d3c4b5a69","inferenceId":"req-7","inferenceTime":"2024-05-06T07:08:09Z"},"eventVersion":"0"}';

/** A binary+json request of one row whose income is missing (NaN), as the proxy sends it, base64 in the capture. */
function binaryLine(): string {
  const header = JSON.stringify({ id: 'req-8', inputs: [{ name: 'features', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } }], outputs: [{ name: 'probabilities', parameters: { binary_data: false } }] });
  const body = Buffer.concat([Buffer.from(header), Buffer.from(new Float32Array([30, Number.NaN, 1]).buffer)]);
  return JSON.stringify({
    captureData: {
      endpointInput: { observedContentType: `application/vnd.sagemaker-triton.binary+json;json-header-size=${header.length}`, mode: 'INPUT', data: body.toString('base64'), encoding: 'BASE64' },
      endpointOutput: {
        observedContentType: 'application/json',
        mode: 'OUTPUT',
        data: JSON.stringify({ id: 'req-8', outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.5, 0.5] }] }),
        encoding: 'JSON',
      },
    },
    eventMetadata: { eventId: 'a1b2', inferenceId: 'req-8', inferenceTime: '2024-05-06T07:09:00Z' },
    eventVersion: '0',
  });
}

describe('convertSageMakerCapture', () => {
  it('turns a JSON-encoded captured call into one record per row, with the request id and time of the call', () => {
    const { records, malformed, lines } = convertSageMakerCapture(`${JSON_LINE}\n`, manifest);

    expect({ lines, malformed }).toEqual({ lines: 1, malformed: [] });
    expect(records).toEqual([
      expect.objectContaining({ requestId: 'req-7', row: 0, ts: '2024-05-06T07:08:09.000Z', model: 'churn', version: '1.2.0', features: { age: 41, income: 52000.5, plan: 'basic' }, prediction: { label: 'yes', probabilities: [0.25, 0.75] } }),
      expect.objectContaining({ requestId: 'req-7', row: 1, features: { age: 63, income: 1200, plan: 'pro' }, prediction: { label: 'no', probabilities: [0.875, 0.125] } }),
    ]);
  });

  it('reads a base64-encoded binary+json call, a missing value as null', () => {
    const { records } = convertSageMakerCapture(binaryLine(), manifest);

    expect(records).toEqual([expect.objectContaining({ requestId: 'req-8', features: { age: 30, income: null, plan: 'pro' } })]);
  });

  it('keeps the good lines of an object with malformed ones, naming each bad line and why', () => {
    const truncated = JSON_LINE.slice(0, 120);
    const noOutput = JSON.stringify({ ...JSON.parse(JSON_LINE), captureData: { endpointInput: JSON.parse(JSON_LINE).captureData.endpointInput } });
    const tritonError = JSON_LINE.replace(/"data":"\{\\"id\\":\\"req-7\\",\\"model_name[^]*?"encoding":"JSON"\}\}/, '"data":"{\\"error\\":\\"failed to infer\\"}","encoding":"JSON"}}');
    const noTime = JSON_LINE.replace('"inferenceTime":"2024-05-06T07:08:09Z"', '"inferenceTime":"yesterday"');
    const text = [JSON_LINE, truncated, '', noOutput, binaryLine(), tritonError, noTime].join('\n');

    const { records, malformed, lines } = convertSageMakerCapture(text, manifest);

    expect(lines).toBe(6);
    expect(records.map((r) => r.requestId)).toEqual(['req-7', 'req-7', 'req-8']);
    expect(malformed.map((m) => m.line)).toEqual([2, 4, 6, 7]);
    expect(malformed[0]!.reason).toMatch(/JSON/);
    expect(malformed[1]!.reason).toMatch(/no endpointInput or endpointOutput/);
    expect(malformed[2]!.reason).toMatch(/no "outputs" array/);
    expect(malformed[3]!.reason).toMatch(/inferenceTime/);
  });

  it('refuses a captured request whose width does not fit the manifest', () => {
    const wrongWidth = JSON_LINE.replace('\\"shape\\":[2,3]', '\\"shape\\":[3,2]');

    const { records, malformed } = convertSageMakerCapture(wrongWidth, manifest);

    expect(records).toEqual([]);
    expect(malformed).toEqual([{ line: 1, reason: expect.stringMatching(/the model takes \[N, 3\]/) }]);
  });

  it('writes records the drift monitor decodes without skipping any', () => {
    const { records } = convertSageMakerCapture([JSON_LINE, binaryLine()].join('\n'), manifest);
    const decoder = new CaptureDecoder(manifest);

    decoder.addText(captureBody(records));
    const chunk = decoder.flush();

    expect(chunk?.rows).toBe(3);
    expect(Object.values(decoder.skipped).every((n) => n === 0)).toBe(true);
  });
});

describe('parseRawCaptureKey', () => {
  it('reads model, endpoint and variant from the key SageMaker writes', () => {
    expect(parseRawCaptureKey('capture-raw/churn/mlops-prod-churn/AllTraffic/2024/05/06/07/08-09-123-5c3f7d1e.jsonl')).toEqual({ model: 'churn', endpoint: 'mlops-prod-churn', variant: 'AllTraffic' });
  });

  it('names nothing for a key outside that layout', () => {
    expect(parseRawCaptureKey('capture-raw/churn/notes.txt')).toBeUndefined();
    expect(parseRawCaptureKey('capture/churn/1.2.0/2024/05/06/07/x.jsonl')).toBeUndefined();
    expect(parseRawCaptureKey('capture-raw/churn/mlops-prod-churn/AllTraffic/x.jsonl')).toBeUndefined();
  });
});

describe('convertedCaptureKey', () => {
  const raw = 'capture-raw/churn/mlops-prod-churn/AllTraffic/2024/05/06/07/08-09-123-5c3f7d1e.jsonl';
  const at = new Date('2024-05-06T07:12:30Z');

  it('is the same for the same raw object, so a redelivered event rewrites one object', () => {
    expect(convertedCaptureKey(raw, 'churn', '1.2.0', at)).toBe(convertedCaptureKey(raw, 'churn', '1.2.0', at));
  });

  it('differs between raw objects', () => {
    expect(convertedCaptureKey(raw, 'churn', '1.2.0', at)).not.toBe(convertedCaptureKey(raw.replace('5c3f', '6d4a'), 'churn', '1.2.0', at));
  });

  it('lies under the model version and the hour the raw object was written, where the monitor lists', () => {
    expect(convertedCaptureKey(raw, 'churn', '1.2.0', at)).toMatch(/^capture\/churn\/1\.2\.0\/2024\/05\/06\/07\/20240506T071230Z-sm-[0-9a-f]{32}\.jsonl$/);
  });
});
