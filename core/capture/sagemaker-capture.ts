import { createHash } from 'node:crypto';
import { DataPrefixes } from '../layout';
import type { Manifest } from '../model/manifest';
import { captureRecordsFromSageMaker, EndpointError } from '../protocol/triton';
import { captureKey, type CaptureRecord } from './capture';

/**
 * SageMaker's data capture of a GPU endpoint, converted to the monitor's capture format.
 *
 * SageMaker writes JSON Lines under `capture-raw/<model>/<endpoint>/<variant>/<YYYY>/<MM>/<DD>/<HH>/<name>.jsonl`
 * (the endpoint's DestinationS3Uri is `capture-raw/<model>/`), one InvokeEndpoint call a line:
 * `{"captureData": {"endpointInput": {observedContentType, mode, data, encoding}, "endpointOutput": …},
 *   "eventMetadata": {eventId, inferenceId, inferenceTime}, "eventVersion": "0"}`.
 * The drift monitor reads `capture/<model>/<version>/…` (core/capture/capture.ts), one row a line.
 */

/** Where a raw capture object came from, read from its key. */
export interface RawCaptureSource {
  readonly model: string;
  readonly endpoint: string;
  readonly variant: string;
}

/** A line that could not be converted: its 1-based number in the raw object and why. */
export interface MalformedCaptureLine {
  readonly line: number;
  readonly reason: string;
}

/** One raw capture object, converted. */
export interface ConvertedCapture {
  /** Capture records, one per scored row, in the order of the raw lines. */
  readonly records: CaptureRecord[];
  /** Lines that were not converted; the others are kept. */
  readonly malformed: MalformedCaptureLine[];
  /** Non-blank lines read. */
  readonly lines: number;
}

/** The model, endpoint and variant a raw capture key names; undefined for a key outside that layout. */
export function parseRawCaptureKey(key: string): RawCaptureSource | undefined {
  if (!key.startsWith(DataPrefixes.captureRaw) || !key.endsWith('.jsonl')) return undefined;
  const [model, endpoint, variant, ...rest] = key.slice(DataPrefixes.captureRaw.length).split('/');
  // <YYYY>/<MM>/<DD>/<HH>/<name>.jsonl follow the variant.
  if (!model || !endpoint || !variant || rest.length !== 5) return undefined;
  return { model, endpoint, variant };
}

/**
 * The key the conversion of a raw object is written to: `capture/<model>/<version>/…`, stamped
 * with the time the raw object was written (after every call it holds, so it does not land
 * behind a monitor's watermark the way the first call's time could), and named by a hash of
 * the raw key, so converting the same object again writes the same key: redelivered events
 * overwrite rather than duplicate.
 */
export function convertedCaptureKey(rawKey: string, model: string, version: string, rawWrittenAt: Date): string {
  const unique = `sm-${createHash('sha256').update(rawKey).digest('hex').slice(0, 32)}`;
  return captureKey(model, version, rawWrittenAt, unique);
}

/**
 * Converts the lines of one raw capture object. A line that is not JSON, lacks the input or
 * output, holds a request or answer the model's manifest does not fit, or has no valid time is
 * listed in `malformed` with its reason; the other lines are converted all the same.
 */
export function convertSageMakerCapture(text: string, manifest: Manifest): ConvertedCapture {
  const records: CaptureRecord[] = [];
  const malformed: MalformedCaptureLine[] = [];
  let lines = 0;
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    lines++;
    try {
      records.push(...captureRecordsFromSageMaker(line, manifest));
    } catch (error) {
      // An unusable Triton answer says why only in its detail; its message is for API clients.
      const reason = error instanceof EndpointError && error.detail ? error.detail : (error as Error).message;
      malformed.push({ line: index + 1, reason });
    }
  });
  return { records, malformed, lines };
}

/** Capture records as the JSON Lines body of a capture object. */
export function captureBody(records: readonly CaptureRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}
