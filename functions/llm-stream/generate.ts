import { readJson } from '../../core/protocol/body';
import { errorResponse, ProtocolError } from '../../core/protocol/errors';
import type { HttpRequest, HttpResponse } from '../../core/protocol/http';
import {
  buildLmiRequest,
  doneEventData,
  EVENT_STREAM,
  type GenerateLimits,
  type GenerationSummary,
  GenerationTimer,
  JsonLineSplitter,
  type ModelStreamEvent,
  parseGenerateRequest,
  parseStreamLine,
  sseEvent,
  StreamFormatError,
} from '../../core/protocol/llm-stream';
import {
  classifyEndpointError,
  EndpointError,
  endpointErrorFor,
  endpointErrorResponse,
  type EndpointFailure,
  invokeWithRetries,
  type RetryHooks,
  type RetryPolicy,
} from '../../core/protocol/triton';

/** One InvokeEndpointWithResponseStream call: resolves once SageMaker accepted it, then yields the PayloadPart bytes. */
export interface TokenStreamInvoker {
  invoke(call: { endpoint: string; body: Uint8Array; contentType: string; inferenceId: string; signal: AbortSignal }): Promise<AsyncIterable<Uint8Array>>;
}

/** Where the answer goes: a Lambda response stream, or a node:http response locally. */
export interface ResponseSink {
  /** Status and headers; called once, before the first write. */
  open(status: number, headers: Record<string, string>): void;
  /** Sends text now; resolves when the transport can take more. */
  write(text: string): Promise<void>;
  end(): Promise<void>;
}

/** How one generation ended, for metrics and logs. */
export interface GenerationOutcome {
  readonly model: string;
  readonly status: number;
  /** complete: the `done` event was sent; failed: an error was sent (as a status before the first token, as an event after); cancelled: the caller left. */
  readonly result: 'complete' | 'failed' | 'cancelled' | 'rejected';
  readonly code?: string;
  readonly finishReason?: string;
  readonly summary: GenerationSummary;
  /** SageMaker calls made, retries included. */
  readonly attempts: number;
}

/** What the streaming proxy needs; the handler builds it from the environment (./app.ts). */
export interface LlmStreamDependencies {
  /** The model's name in the API (and in metrics). */
  readonly model: string;
  /** The SageMaker endpoint. */
  readonly endpoint: string;
  readonly invoker: TokenStreamInvoker;
  /** Retries before the first token, and the budget of the whole generation (`timeoutMs`). */
  readonly retry: RetryPolicy & { readonly timeoutMs: number };
  readonly limits: GenerateLimits & { readonly maxBodyBytes: number };
  /** Sleep and randomness of the backoff, for tests. */
  readonly retryHooks?: Pick<RetryHooks, 'sleep' | 'random'>;
  readonly onRetry?: (event: { model: string; attempt: number; failure: EndpointFailure; delayMs: number }) => void;
  /** Told about every request when its stream ends. */
  readonly onOutcome?: (outcome: GenerationOutcome, request: HttpRequest) => void;
  /** Told about failures: unexpected ones (500) and the endpoint's, with what it said. */
  readonly onError?: (error: unknown, request: HttpRequest) => void;
}

/** The first events of an accepted stream, and the rest of it. */
interface OpenedStream {
  readonly first: ModelStreamEvent[];
  readonly rest: AsyncIterator<Uint8Array>;
  readonly lines: JsonLineSplitter;
}

/**
 * Streams one generation to the caller: validates the body (a 400 naming the field), calls
 * InvokeEndpointWithResponseStream, and forwards each token as a Server-Sent Event as soon as
 * its line is complete. Until the first token arrives nothing has been sent, so throttling and
 * SageMaker's 5xx are retried (full-jitter backoff) and any failure is an ordinary status with a
 * JSON body; after it, a failure can only end the stream with an `error` event. One budget
 * (`retry.timeoutMs`) covers the retries and the whole stream.
 */
export async function streamGeneration(request: HttpRequest, deps: LlmStreamDependencies, sink: ResponseSink, clientSignal?: AbortSignal): Promise<GenerationOutcome> {
  const timer = new GenerationTimer();
  let attempts = 0;
  const outcome = (result: GenerationOutcome['result'], status: number, extra: { code?: string; finishReason?: string } = {}): GenerationOutcome => {
    const done = { model: deps.model, status, result, summary: timer.summary(), attempts, ...extra };
    deps.onOutcome?.(done, request);
    return done;
  };
  const reply = async (response: HttpResponse<string>): Promise<void> => {
    sink.open(response.status, { ...response.headers, 'x-request-id': request.requestId });
    await sink.write(response.body);
    await sink.end();
  };

  let generate;
  try {
    if (request.method !== 'POST') {
      const response = errorResponse(new ProtocolError(405, 'method_not_allowed', `${request.method} is not allowed; POST a JSON body such as {"prompt": "…"}`), request.requestId);
      await reply({ ...response, headers: { ...response.headers, allow: 'POST' } });
      return outcome('rejected', 405, { code: 'method_not_allowed' });
    }
    generate = parseGenerateRequest(readJson(request, { maxBatchRows: 1, maxBodyBytes: deps.limits.maxBodyBytes }), deps.limits);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    await reply(errorResponse(error, request.requestId));
    return outcome('rejected', error.status, { code: error.code });
  }

  // The budget of the whole generation; the caller leaving ends it too.
  const stream = new AbortController();
  const deadline = setTimeout(() => stream.abort(new DOMException('the generation budget ran out', 'TimeoutError')), deps.retry.timeoutMs);
  const onClientGone = () => stream.abort(new DOMException('the caller went away', 'AbortError'));
  clientSignal?.addEventListener('abort', onClientGone, { once: true });
  const payload = buildLmiRequest(generate);
  // SageMaker's InferenceId is at most 64 printable characters.
  const inferenceId = request.requestId.slice(0, 64);

  try {
    let opened: OpenedStream;
    try {
      opened = await invokeWithRetries(
        async (attemptSignal, attempt) => {
          attempts = attempt;
          const signal = AbortSignal.any([attemptSignal, stream.signal]);
          const parts = await deps.invoker.invoke({ endpoint: deps.endpoint, body: payload.body, contentType: payload.contentType, inferenceId, signal });
          return firstEvents(parts[Symbol.asyncIterator](), signal);
        },
        deps.retry,
        { ...deps.retryHooks, onRetry: ({ attempt, failure, delayMs }) => deps.onRetry?.({ model: deps.model, attempt, failure, delayMs }) },
      );
    } catch (error) {
      if (clientSignal?.aborted) return outcome('cancelled', 499);
      const failure = asEndpointError(error, attempts, deps.retry);
      deps.onError?.(failure, request);
      await reply(endpointErrorResponse(failure, request.requestId));
      return outcome('failed', failure.status, { code: failure.code });
    }

    sink.open(200, { 'content-type': EVENT_STREAM, 'cache-control': 'no-cache', 'x-request-id': request.requestId });
    let finishReason: string | undefined;
    const forward = async (events: ModelStreamEvent[]): Promise<boolean> => {
      for (const event of events) {
        if (event.type === 'error') {
          throw new EndpointError(502, 'endpoint_model_error', 'the model server failed while generating; the text so far was sent, and the operator has been told', undefined, event.message);
        }
        if (event.type === 'end') {
          finishReason = event.finishReason;
          return true;
        }
        timer.token();
        if (!event.special && event.text) await sink.write(sseEvent('token', { text: event.text }));
      }
      return false;
    };
    try {
      let ended = await forward(opened.first);
      while (!ended) {
        const next = await nextOrAbort(opened.rest, stream.signal);
        if (next.done) {
          ended = await forward(opened.lines.end().flatMap(parseLine));
          break;
        }
        ended = await forward(opened.lines.push(next.value).flatMap(parseLine));
      }
      // Stop reading (and let the SDK close the connection) if the model said it was done early.
      void opened.rest.return?.();
      await sink.write(sseEvent('done', doneEventData(timer.summary(), finishReason)));
      await sink.end();
      return outcome('complete', 200, { finishReason });
    } catch (error) {
      void opened.rest.return?.();
      if (clientSignal?.aborted) {
        await sink.end().catch(() => undefined);
        return outcome('cancelled', 499);
      }
      const failure = midStreamError(error, stream.signal, deps.retry.timeoutMs);
      deps.onError?.(failure, request);
      try {
        await sink.write(sseEvent('error', { error: failure.message, code: failure.code, tokens: timer.tokens, request_id: request.requestId }));
        await sink.end();
      } catch {
        // The transport itself failed (the caller is gone): there is no one left to tell.
      }
      return outcome('failed', 200, { code: failure.code });
    }
  } finally {
    clearTimeout(deadline);
    clientSignal?.removeEventListener('abort', onClientGone);
  }
}

/** Reads the stream up to its first token (or its end): until then a failure may be retried. */
async function firstEvents(rest: AsyncIterator<Uint8Array>, signal: AbortSignal): Promise<OpenedStream> {
  const lines = new JsonLineSplitter();
  const first: ModelStreamEvent[] = [];
  for (;;) {
    const next = await nextOrAbort(rest, signal);
    const events = (next.done ? lines.end() : lines.push(next.value)).flatMap(parseLine);
    for (const event of events) {
      if (event.type === 'error') {
        // The container refused before generating anything: its error, not SageMaker's, so not retried.
        throw new EndpointError(502, 'endpoint_model_error', 'the model server failed on a request that passed validation; the operator has been told', undefined, event.message);
      }
      first.push(event);
    }
    if (first.length > 0 || next.done) return { first, rest, lines };
  }
}

function parseLine(line: string): ModelStreamEvent[] {
  try {
    return parseStreamLine(line);
  } catch (error) {
    if (error instanceof StreamFormatError) {
      throw new EndpointError(502, 'endpoint_bad_response', 'the model server streamed something other than tokens; the operator has been told', undefined, error.message);
    }
    throw error;
  }
}

/**
 * The iterator's next chunk, or a rejection as soon as the signal fires: an SDK stream whose
 * connection is silent would otherwise wait for the socket, not for our budget.
 */
function nextOrAbort<T>(iterator: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/** A failure before the first byte, as the status the caller receives. */
function asEndpointError(error: unknown, attempts: number, policy: RetryPolicy): EndpointError {
  if (error instanceof EndpointError) return error;
  const failure = classifyEndpointError(error);
  if (failure) return endpointErrorFor(failure, error, Math.max(attempts, 1), policy);
  return new EndpointError(502, 'endpoint_error', 'the streaming call failed unexpectedly; the operator has been told', undefined, String((error as Error)?.stack ?? error));
}

/** A failure after the first token, as the `error` event that ends the stream. */
function midStreamError(error: unknown, signal: AbortSignal, budgetMs: number): EndpointError {
  if (error instanceof EndpointError) return error;
  if (signal.aborted) {
    return new EndpointError(504, 'endpoint_timeout', `the generation did not finish within ${Math.round(budgetMs / 1000)} s; the text so far was sent`, undefined, String(signal.reason));
  }
  const failure = classifyEndpointError(error);
  const detail = `${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`;
  if (failure === 'model') return new EndpointError(502, 'endpoint_model_error', 'the model server failed while generating; the text so far was sent, and the operator has been told', undefined, detail);
  return new EndpointError(503, 'endpoint_unavailable', 'the stream from the GPU endpoint broke off; the text so far was sent', undefined, detail);
}
