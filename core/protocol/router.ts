import type { CaptureBuffer } from '../capture/capture';
import { InvalidPackageError, type Manifest } from '../model/manifest';
import type { Matrix } from '../model/onnx-session';
import type { BatchScores } from '../model/predictor';
import { ModelNotFoundError } from '../model/registry';
import { errorResponse, ProtocolError } from './errors';
import { json, type HttpRequest, type HttpResponse } from './http';
import { decodeInstances, encodePredictions, truncate } from './instances';
import { readBody, readJson } from './body';
import { DEFAULT_LIMITS, type ProtocolLimits } from './limits';
import { decodeInferInputs, encodeInferResponse, modelMetadata, parseInferRequest } from './oip';

/** A model as the API serves it: its manifest, and the scores of a matrix that passed validation against it. */
export interface ApiModel {
  readonly manifest: Manifest;
  predict(matrix: Matrix, context: { readonly requestId: string }): Promise<BatchScores>;
}

/**
 * Where the API's models come from: ONNX Runtime in this process (core/model/engine.ts), or a
 * SageMaker GPU endpoint (functions/endpoint-proxy/proxy.ts). Routes, validation and answers
 * are the same for both.
 */
export interface ModelBackend {
  /**
   * The model for a name and optional version; throws ModelNotFoundError when there is none.
   * A prediction passes its request id, by which a backend may route it (to a canary).
   */
  model(name: string, version?: string, context?: { readonly requestId: string }): Promise<ApiModel>;
  /** The versions that model metadata lists. */
  versions(name: string): Promise<string[]>;
}

/** What the API needs; the Lambda handler, the local server and the endpoint proxy build the same. */
export interface ApiDependencies {
  readonly engine: ModelBackend;
  readonly limits?: ProtocolLimits;
  readonly capture?: CaptureBuffer;
  /** Models that must load before /v2/health/ready says ready. @default [] */
  readonly requiredModels?: readonly string[];
  /** The server name GET /v2 answers. @default 'serverless-mlops' */
  readonly serverName?: string;
  /**
   * Answers the failures of a backend that the router does not know (an endpoint's 5xx, a
   * backend's own wording of a missing model); undefined leaves the error to the router.
   */
  readonly mapError?: (error: unknown, request: HttpRequest) => HttpResponse | undefined;
  /** Told about every unexpected (5xx) failure. */
  readonly onError?: (error: unknown, request: HttpRequest) => void;
  /** Told about every prediction, for metrics. */
  readonly onPrediction?: (event: { model: string; version: string; rows: number; latencyMs: number }) => void;
}

const NAME = '([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)';
const VERSION = '([0-9A-Za-z.+-]{1,64})';
const ROUTES: ReadonlyArray<{ pattern: RegExp; method: string; handler: Handler }> = [
  { method: 'GET', pattern: /^\/v2\/health\/live$/, handler: async () => json(200, { live: true }) },
  { method: 'GET', pattern: /^\/v2\/health\/ready$/, handler: (_, deps) => ready(deps) },
  { method: 'GET', pattern: /^\/v2$/, handler: async (_, deps) => json(200, { name: deps.serverName ?? 'serverless-mlops', version: '1', extensions: ['binary_tensor_data', 'model_repository_index'] }) },
  { method: 'GET', pattern: new RegExp(`^/v2/models/${NAME}(?:/versions/${VERSION})?$`), handler: metadata },
  { method: 'GET', pattern: new RegExp(`^/v2/models/${NAME}(?:/versions/${VERSION})?/ready$`), handler: modelReady },
  { method: 'POST', pattern: new RegExp(`^/v2/models/${NAME}(?:/versions/${VERSION})?/infer$`), handler: infer },
  { method: 'POST', pattern: new RegExp(`^/models/${NAME}(?:/versions/${VERSION})?/predict$`), handler: predict },
];

type Handler = (request: HttpRequest, deps: ApiDependencies, params: (string | undefined)[]) => Promise<HttpResponse>;

/**
 * The inference API as a pure function of a request: routes, validates, predicts, and maps
 * every failure to a status. A client's mistake is always a 4xx naming what is wrong; a 5xx
 * means the server failed and carries no internals.
 */
export async function handleApiRequest(request: HttpRequest, deps: ApiDependencies): Promise<HttpResponse> {
  const path = request.path.length > 1 ? request.path.replace(/\/+$/, '') : request.path;
  try {
    // Routes are few; the first one matching path and method wins, with no allocation on the hot path.
    let allowed: string[] | undefined;
    for (const route of ROUTES) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      if (route.method === request.method) return await route.handler(request, deps, match.slice(1));
      // HEAD is GET without the body (RFC 9110), which load balancers and probes use.
      if (request.method === 'HEAD' && route.method === 'GET') return { ...(await route.handler(request, deps, match.slice(1))), body: '' };
      (allowed ??= []).push(...(route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]));
    }
    if (!allowed) throw new ProtocolError(404, 'route_not_found', `no route for ${truncate(path, 200)}; see GET /v2 and the README for the API`);
    const allow = allowed.join(', ');
    return { ...errorResponse(new ProtocolError(405, 'method_not_allowed', `${request.method} is not allowed on ${truncate(path, 200)}; use ${allow}`), request.requestId), headers: { 'content-type': 'application/json', allow } };
  } catch (error) {
    if (error instanceof ProtocolError) return errorResponse(error, request.requestId);
    const mapped = deps.mapError?.(error, request);
    if (mapped) return mapped;
    if (error instanceof ModelNotFoundError) return errorResponse(new ProtocolError(404, 'model_not_found', error.message, { field: 'model' }), request.requestId);
    deps.onError?.(error, request);
    const message = error instanceof InvalidPackageError ? 'the model package failed verification; the operator has been told' : 'internal error; the operator has been told';
    return errorResponse(new ProtocolError(500, 'internal_error', message), request.requestId);
  }
}

async function ready(deps: ApiDependencies): Promise<HttpResponse> {
  const required = deps.requiredModels ?? [];
  const results = await Promise.allSettled(required.map((name) => deps.engine.model(name)));
  const failed = required.filter((_, i) => results[i]!.status === 'rejected');
  return failed.length ? json(503, { ready: false, error: `model(s) not loaded: ${failed.join(', ')}`, code: 'not_ready' }) : json(200, { ready: true });
}

async function metadata(_: HttpRequest, deps: ApiDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const model = await deps.engine.model(name!, version);
  return json(200, modelMetadata(model.manifest, await deps.engine.versions(name!)));
}

async function modelReady(_: HttpRequest, deps: ApiDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const model = await deps.engine.model(name!, version);
  return json(200, { name: model.manifest.name, version: model.manifest.version, ready: true });
}

async function infer(request: HttpRequest, deps: ApiDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const body = readBody(request, limits, { binary: true });
  const parsed = parseInferRequest(body.json);
  const model = await deps.engine.model(name!, version, { requestId: request.requestId });
  const matrix = decodeInferInputs(parsed, body.binary, model.manifest, limits);
  const scores = await score(request, deps, model, matrix);
  return encodeInferResponse(model.manifest, scores, parsed);
}

async function predict(request: HttpRequest, deps: ApiDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const body = readJson(request, limits);
  const model = await deps.engine.model(name!, version, { requestId: request.requestId });
  const matrix = decodeInstances(body, model.manifest, limits);
  return json(200, encodePredictions(model.manifest, await score(request, deps, model, matrix)));
}

async function score(request: HttpRequest, deps: ApiDependencies, model: ApiModel, matrix: Matrix) {
  const start = performance.now();
  const scores = await model.predict(matrix, { requestId: request.requestId });
  const latencyMs = performance.now() - start;
  deps.capture?.offer(model.manifest, matrix, scores, request.requestId, latencyMs);
  deps.onPrediction?.({ model: model.manifest.name, version: model.manifest.version, rows: matrix.rows, latencyMs });
  return scores;
}
