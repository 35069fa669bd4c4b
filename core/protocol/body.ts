import { INFERENCE_HEADER, splitFramedBody } from './binary-tensors';
import { ProtocolError } from './errors';
import type { HttpRequest } from './http';
import { truncate } from './instances';
import type { ProtocolLimits } from './limits';

/**
 * Content types a JSON body may come under. The reference OIP clients decide this list:
 * tritonclient.http sends no Content-Type, its asyncio client labels every body (JSON or
 * binary tensors) application/octet-stream; others send application/json or a `+json` type.
 */
const JSON_TYPES = 'application/json, application/*+json, application/octet-stream (OIP route) or none';

/** A request's body parsed: the JSON value, and the binary tensor bytes that followed it (empty without the extension). */
export interface ParsedBody {
  readonly json: unknown;
  readonly binary: Uint8Array;
}

/**
 * The request's body: content type, size and framing checked, each failure a 4xx naming the
 * problem. `binary` allows the OIP binary tensor extension (and application/octet-stream).
 */
export function readBody(request: HttpRequest, limits: ProtocolLimits, options: { binary: boolean }): ParsedBody {
  checkContentType(request, options.binary);
  const body = request.body;
  // A UTF-8 body has at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
  const bytes = typeof body !== 'string' ? body.length : body.length * 3 > limits.maxBodyBytes ? Buffer.byteLength(body) : 0;
  if (bytes > limits.maxBodyBytes) {
    throw new ProtocolError(413, 'payload_too_large', `the body has ${bytes} bytes; at most ${limits.maxBodyBytes} are accepted`);
  }
  const headerLength = options.binary ? request.headers[INFERENCE_HEADER] : undefined;
  let text: string;
  let binary: Uint8Array = new Uint8Array(0);
  if (headerLength !== undefined) {
    ({ header: text, binary } = splitFramedBody(typeof body === 'string' ? Buffer.from(body, 'utf8') : body, headerLength));
  } else {
    text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  }
  if (text.trim() === '') throw new ProtocolError(400, 'invalid_json', 'the body is empty; send a JSON object', { field: 'body' });
  try {
    return { json: JSON.parse(text), binary };
  } catch (error) {
    throw new ProtocolError(400, 'invalid_json', `the body is not valid JSON: ${truncate((error as Error).message, 120)}`, { field: 'body' });
  }
}

/** The JSON body of a route without binary tensors. */
export function readJson(request: HttpRequest, limits: ProtocolLimits): unknown {
  return readBody(request, limits, { binary: false }).json;
}

function checkContentType(request: HttpRequest, binary: boolean): void {
  const header = request.headers['content-type'];
  if (header === undefined || header === 'application/json') return;
  const type = header.split(';')[0]!.trim().toLowerCase();
  if (type === '' || type === 'application/json' || /^application\/[\w.+-]*\+json$/.test(type)) return;
  if (binary && type === 'application/octet-stream') return;
  throw new ProtocolError(415, 'unsupported_media_type', `Content-Type must be ${binary ? JSON_TYPES : 'application/json, application/*+json or none'}, got ${truncate(type)}`, { field: 'content-type' });
}
