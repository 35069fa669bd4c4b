import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { Context, LambdaFunctionURLEvent, StreamifyHandler } from 'aws-lambda';

/**
 * Lambda response streaming off Lambda. The Node.js runtime gives functions a global `awslambda`
 * with `streamifyResponse` and `HttpResponseStream.from`; a function URL in RESPONSE_STREAM mode
 * then reads the stream's prelude (a JSON object with statusCode and headers, followed by 8 zero
 * bytes, under the content type application/vnd.awslambda.http-integration-response) and sends
 * the rest to the caller as it is written. This module provides the same global and plays the
 * function URL, so a streaming handler runs unchanged in tests and locally.
 */

const INTEGRATION_RESPONSE = 'application/vnd.awslambda.http-integration-response';
const DELIMITER = new Uint8Array(8);

/** The stream a streaming handler receives: a Writable with the runtime's setContentType. */
export class LambdaResponseStream extends Writable {
  contentType = 'application/octet-stream';

  constructor(private readonly sinkTo: (chunk: Buffer) => void, private readonly onFinish: () => void) {
    super();
  }

  setContentType(contentType: string): void {
    this.contentType = contentType;
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sinkTo(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.onFinish();
    callback();
  }
}

/**
 * Gives `globalThis.awslambda` the streaming members the Node.js runtime provides, unless they are
 * there (on Lambda). The object itself may exist already: @aws/lambda-invoke-store, which
 * Powertools loads, creates it empty off Lambda.
 */
export function installLambdaStreamingGlobal(): void {
  const target = globalThis as { awslambda?: Record<string, unknown> };
  target.awslambda ??= {};
  if (typeof target.awslambda.streamifyResponse === 'function') return;
  class HttpResponseStream {
    /** Writes the prelude the function URL turns into the status line and headers. */
    static from(writable: Writable, metadata: Record<string, unknown>): Writable {
      (writable as LambdaResponseStream).setContentType(INTEGRATION_RESPONSE);
      writable.write(JSON.stringify(metadata));
      writable.write(DELIMITER);
      return writable;
    }
  }
  Object.assign(target.awslambda, { HttpResponseStream, streamifyResponse: <T>(handler: T): T => handler });
}

/**
 * Runs a streaming handler for one function URL event and sends its stream to `res` as the
 * function URL does: the prelude's status and headers, then every byte as it is written.
 */
export async function invokeStreamingHandler(handler: StreamifyHandler<LambdaFunctionURLEvent, unknown>, event: LambdaFunctionURLEvent, res: ServerResponse): Promise<void> {
  let head: Buffer | undefined = Buffer.alloc(0);
  let stream: LambdaResponseStream;
  const sendHead = (status: number, headers: Record<string, string>) => {
    res.writeHead(status, headers);
    res.socket?.setNoDelay(true);
  };
  const sink = (chunk: Buffer) => {
    if (head === undefined) {
      res.write(chunk);
      return;
    }
    if (stream.contentType !== INTEGRATION_RESPONSE) {
      sendHead(200, { 'content-type': stream.contentType });
      head = undefined;
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf(Buffer.from(DELIMITER));
    if (end < 0) return;
    const prelude = JSON.parse(head.subarray(0, end).toString('utf8')) as { statusCode?: number; headers?: Record<string, string> };
    const rest = head.subarray(end + DELIMITER.length);
    head = undefined;
    sendHead(prelude.statusCode ?? 200, prelude.headers ?? {});
    if (rest.length) res.write(rest);
  };
  stream = new LambdaResponseStream(sink, () => {
    if (head !== undefined && !res.headersSent) sendHead(200, {});
    res.end();
  });
  try {
    await handler(event, stream as unknown as awslambda.HttpResponseStream, lambdaContext(event));
  } catch (error) {
    // An unhandled error on Lambda ends the stream; before the head it is a 502 from the function URL.
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Internal Server Error' }));
    else res.destroy(error as Error);
  }
}

/** A function URL (payload 2.0) event for a request, as Lambda builds it. */
export function functionUrlEvent(request: { method: string; path: string; headers: Record<string, string>; body: string; requestId: string }): LambdaFunctionURLEvent {
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString: '',
    headers: request.headers,
    body: request.body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method: request.method, path: request.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: request.headers['user-agent'] ?? '' },
      requestId: request.requestId,
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
  };
}

function lambdaContext(event: LambdaFunctionURLEvent): Context {
  const deadline = Date.now() + 900_000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'local-llm-stream',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:local-llm-stream',
    memoryLimitInMB: '512',
    awsRequestId: event.requestContext.requestId,
    logGroupName: '/aws/lambda/local-llm-stream',
    logStreamName: 'local',
    getRemainingTimeInMillis: () => deadline - Date.now(),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
