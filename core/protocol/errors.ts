import { boundedEcho } from '../data/echo';
import { json, type HttpResponse } from './http';

/** Machine-readable error codes of the API. */
export type ErrorCode =
  | 'invalid_json'
  | 'invalid_request'
  | 'invalid_feature'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'batch_too_large'
  | 'model_not_found'
  | 'route_not_found'
  | 'method_not_allowed'
  | 'not_ready'
  | 'internal_error';

/**
 * A client-visible failure: the HTTP status, a code, a message that says what was wrong,
 * and where (the field path and, for batches, the instance index).
 */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly location: { readonly field?: string; readonly instance?: number } = {},
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/**
 * The error body. `error` is a string, as the Open Inference Protocol specifies; `code`,
 * `field` and `instance` are extensions that clients can branch on.
 */
export function errorResponse(error: ProtocolError, requestId?: string): HttpResponse<string> {
  // Messages and field names may quote the request: bounded here, whatever each check quoted.
  return json(error.status, {
    error: boundedEcho(error.message),
    code: error.code,
    ...(error.location.field !== undefined ? { field: boundedEcho(error.location.field, 200) } : {}),
    ...(error.location.instance !== undefined ? { instance: error.location.instance } : {}),
    ...(requestId ? { request_id: requestId } : {}),
  });
}
