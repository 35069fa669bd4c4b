import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { HttpRequest, HttpResponse } from '../../core/protocol/http';

/** Maps an API Gateway (REST, proxy integration) event to the API's transport-neutral request. */
export function fromApiGatewayEvent(event: APIGatewayProxyEvent): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) headers[name.toLowerCase()] = value;
  const body = event.body ?? '';
  return {
    method: event.httpMethod,
    path: event.path,
    headers,
    // Binary tensors need their bytes: the API's binary media types (*/*) make API Gateway send every body base64-encoded.
    body: event.isBase64Encoded ? Buffer.from(body, 'base64') : body,
    requestId: event.requestContext?.requestId ?? 'unknown',
  };
}

/** Maps the API's response back to API Gateway's proxy result; bytes travel base64-encoded, as the proxy integration requires. */
export function toApiGatewayResult(response: HttpResponse): APIGatewayProxyResult {
  const { body } = response;
  if (typeof body === 'string') return { statusCode: response.status, headers: response.headers, body };
  return { statusCode: response.status, headers: response.headers, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64'), isBase64Encoded: true };
}
