import { ProtocolError } from './errors';
import type { HttpRequest } from './http';
import { truncate } from './instances';
import type { ProtocolLimits } from './limits';

/** The request's JSON body: content type, size and syntax checked, each failure a 4xx naming the problem. */
export function readJson(request: HttpRequest, limits: ProtocolLimits): unknown {
  const header = request.headers['content-type'];
  const type = header === undefined || header === 'application/json' ? '' : header.split(';')[0]!.trim().toLowerCase();
  if (type && type !== 'application/json' && !/^application\/[\w.+-]*\+json$/.test(type)) {
    throw new ProtocolError(415, 'unsupported_media_type', `Content-Type must be application/json, got ${truncate(type)}`, { field: 'content-type' });
  }
  // A UTF-8 body has at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
  const bytes = request.body.length * 3 > limits.maxBodyBytes ? Buffer.byteLength(request.body) : 0;
  if (bytes > limits.maxBodyBytes) {
    throw new ProtocolError(413, 'payload_too_large', `the body has ${bytes} bytes; at most ${limits.maxBodyBytes} are accepted`);
  }
  if (request.body.trim() === '') throw new ProtocolError(400, 'invalid_json', 'the body is empty; send a JSON object', { field: 'body' });
  try {
    return JSON.parse(request.body);
  } catch (error) {
    throw new ProtocolError(400, 'invalid_json', `the body is not valid JSON: ${truncate((error as Error).message, 120)}`, { field: 'body' });
  }
}
