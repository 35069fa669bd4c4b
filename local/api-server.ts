import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorResponse, ProtocolError } from '../core/protocol/errors';
import type { HttpRequest, HttpResponse } from '../core/protocol/http';
import { DEFAULT_LIMITS } from '../core/protocol/limits';
import { type ApiDependencies, handleApiRequest } from '../core/protocol/router';

/** Extra routes served beside the API (the dashboard); return null to fall through to the API. */
export type ExtraRoutes = (request: HttpRequest) => Promise<HttpResponse | null>;
/**
 * Routes that write to the response as they go instead of returning a buffered one: false to
 * pass the request on, else the promise of the answer, whose failure the server reports.
 */
export type StreamingRoutes = (req: IncomingMessage, res: ServerResponse) => false | Promise<void>;

/** How long and how many: what keeps slow or numerous clients from holding the server. */
export interface TransportLimits {
  /** Time to receive a request's headers; then Node answers 408. @default 10 s */
  readonly headersTimeoutMs: number;
  /** Time to receive a whole request, body included (a slow body); then Node answers 408. @default 30 s */
  readonly requestTimeoutMs: number;
  /** Idle time before a keep-alive connection is closed. @default 5 s */
  readonly keepAliveTimeoutMs: number;
  /** Open connections at once; those above it are closed as they arrive. @default 512 */
  readonly maxConnections: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxConnections: 512 };

export interface ApiServerOptions {
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host?: string;
  readonly extra?: ExtraRoutes;
  /** Routes that stream their answer (the LLM route): true when taken. */
  readonly streaming?: StreamingRoutes;
  /** @default DEFAULT_TRANSPORT_LIMITS */
  readonly transport?: Partial<TransportLimits>;
  /** One-line notices that are not errors (a client that went away mid-request). @default - not told */
  readonly notice?: (line: string) => void;
}

/**
 * The inference API over node:http on localhost: the same handleApiRequest the Lambda
 * handler calls, so local and deployed behaviour cannot drift apart.
 */
export async function startApiServer(deps: ApiDependencies, options: ApiServerOptions): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const maxBody = (deps.limits ?? DEFAULT_LIMITS).maxBodyBytes;
  const transport = { ...DEFAULT_TRANSPORT_LIMITS, ...options.transport };
  // Node checks both timeouts at this period; its default (30 s) would let a slow client overstay by as much.
  const connectionsCheckingInterval = Math.max(100, Math.min(1_000, transport.headersTimeoutMs / 2));
  const server = createServer({ connectionsCheckingInterval }, (req, res) => {
    // Nothing a request carries may end the process: a bad target is a 400, a throw a 500.
    const path = requestPath(req.url);
    if (path === null) {
      return reply(res, errorResponse(new ProtocolError(400, 'invalid_request', 'the request target is not a valid path', { field: 'path' })), randomUUID());
    }
    const failed = failureHandler(req, res, path, deps, options);
    try {
      const streamed = options.streaming?.(req, res);
      if (streamed) return void streamed.catch(failed);
    } catch (error) {
      return failed(error);
    }
    void serve(req, res, path, deps, maxBody, options, failed);
  });
  server.headersTimeout = transport.headersTimeoutMs;
  server.requestTimeout = transport.requestTimeoutMs;
  server.keepAliveTimeout = transport.keepAliveTimeoutMs;
  server.maxConnections = transport.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}

/**
 * What a request that failed outside the API's own errors gets: a client that went away is one
 * notice line (nobody to answer, nothing wrong with the server); anything else is reported once
 * and answered 500 with a request id, or its connection cut when the answer had begun.
 */
function failureHandler(req: IncomingMessage, res: ServerResponse, path: string, deps: ApiDependencies, options: ApiServerOptions): (error: unknown) => void {
  return (error) => {
    const requestId = randomUUID();
    if (error instanceof ClientGone || (!req.complete && req.destroyed)) {
      const how = error instanceof ClientGone ? `after ${error.received} bytes of the body` : 'before the whole request arrived';
      options.notice?.(`request ${requestId} ${req.method} ${path.slice(0, 200)}: the client went away ${how}`);
      return;
    }
    deps.onError?.(error, { method: req.method ?? '', path: req.url ?? '', headers: {}, body: '', requestId });
    if (!res.headersSent) reply(res, errorResponse(new ProtocolError(500, 'internal_error', 'internal error'), requestId), requestId);
    else res.destroy();
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, path: string, deps: ApiDependencies, maxBody: number, options: ApiServerOptions, failed: (error: unknown) => void): Promise<void> {
  const requestId = randomUUID();
  let response: HttpResponse;
  try {
    const body = await readBody(req, maxBody);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : (value ?? '');
    const request: HttpRequest = { method: req.method ?? 'GET', path, headers, body, requestId };
    response = (await options.extra?.(request)) ?? (await handleApiRequest(request, deps));
  } catch (error) {
    if (!(error instanceof ProtocolError)) return failed(error);
    response = errorResponse(error, requestId);
  }
  reply(res, response, requestId);
}

function reply(res: ServerResponse, response: HttpResponse, requestId: string): void {
  // A known length sends the answer in one write, without chunked framing.
  const length = typeof response.body === 'string' ? Buffer.byteLength(response.body) : response.body.byteLength;
  res.writeHead(response.status, { ...response.headers, 'content-length': String(length), 'x-request-id': requestId });
  res.end(response.body);
}

/** The path of a request target (origin or absolute form), or null when it is not a valid URL (`http://[/…`). */
export function requestPath(target: string | undefined): string | null {
  if (!target) return '/';
  try {
    return new URL(target, 'http://localhost').pathname;
  } catch {
    return null;
  }
}

/** The connection closed before the whole body arrived (the client aborted, or Node's request timeout closed it). */
class ClientGone extends Error {
  constructor(readonly received: number) {
    super(`the client went away after ${received} bytes`);
  }
}

/** Reads the body's bytes (binary tensors must stay unmangled), refusing (413) as soon as it exceeds the limit rather than buffering it all. */
function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxBytes) {
        refused = true;
        reject(new ProtocolError(413, 'payload_too_large', `the body exceeds ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    // An aborted body ends in 'error' (ECONNRESET "aborted") and 'close'; either settles it once.
    const gone = () => {
      if (!req.complete) reject(new ClientGone(size));
    };
    req.on('error', gone);
    req.on('close', gone);
  });
}
