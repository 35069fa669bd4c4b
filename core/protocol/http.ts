/** A transport-neutral HTTP exchange: API Gateway events and node:http requests both map onto it. */
export interface HttpRequest {
  readonly method: string;
  /** Path without the query string, e.g. /v2/models/demo/infer. */
  readonly path: string;
  /** Header names in lowercase. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The bytes as received (binary tensors need them unmangled), or text when the transport gave text. */
  readonly body: string | Uint8Array;
  /** An id for logs and capture (API Gateway's request id, or one made locally). */
  readonly requestId: string;
}

/** A response; its body is text (JSON), or bytes (a binary tensor response). */
export interface HttpResponse<Body extends string | Uint8Array = string | Uint8Array> {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Body;
}

/** A JSON response. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse<string> {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}
