import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponse, ProtocolError } from '../core/protocol/errors';
import type { HttpRequest } from '../core/protocol/http';
import { requestPath } from './api-server';
import { type GenerationOutcome, type LlmStreamDependencies, type ResponseSink, streamGeneration } from '../functions/llm-stream/generate';

/** A {@link ResponseSink} on a node:http response: headers on open, every write flushed to the socket as it comes. */
export function nodeResponseSink(res: ServerResponse): ResponseSink {
  return {
    open(status, headers) {
      res.writeHead(status, headers);
      // Tokens are small writes: send each at once instead of waiting to fill a packet.
      res.socket?.setNoDelay(true);
    },
    async write(text) {
      if (!res.write(text)) await once(res, 'drain');
    },
    async end() {
      res.end();
    },
  };
}

/** Path of the local streaming route: POST /llm/<model>/generate. */
const ROUTE = /^\/llm\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\/generate\/?$/;

/**
 * The local LLM route, `POST /llm/<model>/generate`, served with the same streamGeneration the
 * Lambda function runs. Returns false for other paths, so the buffered API can answer them.
 */
export function llmRoute(models: ReadonlyMap<string, LlmStreamDependencies>, onOutcome?: (outcome: GenerationOutcome) => void) {
  return (req: IncomingMessage, res: ServerResponse): false | Promise<void> => {
    const path = requestPath(req.url) ?? '/';
    const match = ROUTE.exec(path);
    if (!match && !path.startsWith('/llm/')) return false;
    return serve(req, res, match ? models.get(match[1]!) : undefined, match?.[1] ?? path, onOutcome);
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, deps: LlmStreamDependencies | undefined, name: string, onOutcome?: (outcome: GenerationOutcome) => void): Promise<void> {
  const requestId = randomUUID();
  const sink = nodeResponseSink(res);
  if (!deps) {
    const known = ROUTE.test(`/llm/${name}/generate`);
    const error = known
      ? new ProtocolError(404, 'model_not_found', `no LLM named "${name}"; the local platform serves the stand-in models listed at startup`, { field: 'model' })
      : new ProtocolError(404, 'route_not_found', `no route for ${name.slice(0, 200)}; use POST /llm/<model>/generate`);
    const response = errorResponse(error, requestId);
    sink.open(response.status, { ...response.headers, 'x-request-id': requestId });
    await sink.write(response.body);
    return sink.end();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // Past the limit the rest is not kept; streamGeneration answers 413 from the size.
    if (size <= deps.limits.maxBodyBytes + 1) chunks.push(chunk as Buffer);
  }
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) headers[key] = Array.isArray(value) ? value.join(', ') : (value ?? '');
  const request: HttpRequest = { method: req.method ?? 'POST', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8'), requestId };
  // The caller hanging up (Ctrl-C on curl) stops the generation.
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  // Not `onOutcome?.(await …)`: without a listener the optional call would skip the generation itself.
  const outcome = await streamGeneration(request, deps, sink, gone.signal);
  onOutcome?.(outcome);
}
