import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { LambdaFunctionURLEvent } from 'aws-lambda';
import type { HttpRequest } from '../../core/protocol/http';
import type { ResponseSink } from './generate';

/**
 * A {@link ResponseSink} on Lambda's response stream: status and headers go in the
 * HttpResponseStream prelude (the function URL sends them before the body), then every write
 * reaches the caller at once. Backpressure: a write waits for 'drain' when the stream asks.
 */
export function lambdaResponseSink(responseStream: Writable): ResponseSink {
  let stream: Writable | undefined;
  const opened = (): Writable => {
    if (!stream) throw new Error('the response was written before its status was set');
    return stream;
  };
  return {
    open(status, headers) {
      stream = awslambda.HttpResponseStream.from(responseStream, { statusCode: status, headers });
    },
    async write(text) {
      if (!opened().write(text)) await once(opened(), 'drain');
    },
    async end() {
      const s = opened();
      const finished = once(s, 'finish');
      s.end();
      await finished;
    },
  };
}

/** Maps a function URL event (payload 2.0) to the transport-neutral request. */
export function fromFunctionUrlEvent(event: LambdaFunctionURLEvent): HttpRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) if (value !== undefined) headers[name.toLowerCase()] = value;
  const body = event.body ?? '';
  return {
    method: event.requestContext.http.method,
    path: event.rawPath,
    headers,
    body: event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body,
    requestId: event.requestContext.requestId,
  };
}
