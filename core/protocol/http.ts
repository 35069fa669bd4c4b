/** A transport-neutral HTTP exchange: API Gateway events and node:http requests both map onto it. */
export interface HttpRequest {
  readonly method: string;
  /** Path without the query string, e.g. /v2/models/demo/infer. */
  readonly path: string;
  /** Header names in lowercase. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
  /** An id for logs and capture (API Gateway's request id, or one made locally). */
  readonly requestId: string;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A JSON response. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}
