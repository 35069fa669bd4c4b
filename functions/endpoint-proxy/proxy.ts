import { InvalidPackageError, type Manifest, PackageFiles, parseManifest } from '../../core/model/manifest';
import { readJson } from '../../core/protocol/body';
import type { Matrix } from '../../core/model/onnx-session';
import type { BatchScores } from '../../core/model/predictor';
import { ModelNotFoundError, type ModelRepository } from '../../core/model/registry';
import { errorResponse, ProtocolError } from '../../core/protocol/errors';
import { json, type HttpRequest, type HttpResponse } from '../../core/protocol/http';
import { decodeInstances, encodePredictions, truncate } from '../../core/protocol/instances';
import { DEFAULT_LIMITS, type ProtocolLimits } from '../../core/protocol/limits';
import { decodeInferInputs, encodeInferResponse, modelMetadata, parseInferRequest } from '../../core/protocol/oip';
import {
  buildTritonRequest,
  decodeTritonResponse,
  type EndpointAnswer,
  EndpointError,
  endpointErrorResponse,
  type EndpointFailure,
  type EndpointPayload,
  invokeWithRetries,
  type RetryHooks,
  type RetryPolicy,
} from '../../core/protocol/triton';

/** One InvokeEndpoint call; the SageMaker adapter implements it (./sagemaker.ts), tests may stub it. */
export interface EndpointInvoker {
  invoke(call: { endpoint: string; payload: EndpointPayload; inferenceId: string; signal: AbortSignal }): Promise<EndpointAnswer>;
}

/** A model as its GPU endpoint serves it. */
export interface DeployedModel {
  readonly manifest: Manifest;
  /** The SageMaker endpoint name. */
  readonly endpoint: string;
}

/**
 * The models served by GPU endpoints: each endpoint runs one fixed package version (its Triton
 * artifact), so the manifest read is that version's, from the model bucket, once per container.
 */
export class DeployedModels {
  private readonly manifests = new Map<string, Promise<Manifest>>();

  constructor(
    private readonly repository: ModelRepository,
    private readonly endpoints: Readonly<Record<string, { readonly endpoint: string; readonly version: string }>>,
  ) {}

  /** Names of the models with an endpoint. */
  names(): string[] {
    return Object.keys(this.endpoints).sort();
  }

  /** The model and its endpoint; a version other than the deployed one is not found. */
  async get(name: string, version?: string): Promise<DeployedModel> {
    const deployed = Object.hasOwn(this.endpoints, name) ? this.endpoints[name] : undefined;
    if (!deployed) throw new ModelNotFoundError(name);
    if (version !== undefined && version !== deployed.version) throw new ModelNotFoundError(name, version);
    let manifest = this.manifests.get(name);
    if (!manifest) {
      manifest = this.readManifest(name, deployed.version);
      this.manifests.set(name, manifest);
      // A failed read is not cached: the next request tries again.
      manifest.catch(() => this.manifests.delete(name));
    }
    return { manifest: await manifest, endpoint: deployed.endpoint };
  }

  /** The one version each model's endpoint serves. */
  versionOf(name: string): string | undefined {
    return Object.hasOwn(this.endpoints, name) ? this.endpoints[name]!.version : undefined;
  }

  private async readManifest(name: string, version: string): Promise<Manifest> {
    const bytes = await this.repository.packageStore(name, version).read(PackageFiles.manifest);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      throw new InvalidPackageError(PackageFiles.manifest, `not valid JSON (${(error as Error).message})`);
    }
    const manifest = parseManifest(value);
    if (manifest.name !== name || manifest.version !== version) {
      throw new InvalidPackageError(PackageFiles.manifest, `names ${manifest.name}@${manifest.version} but lies under ${name}/${version}`);
    }
    return manifest;
  }
}

/** What the proxy needs; the handler builds it from the environment (./app.ts). */
export interface ProxyDependencies {
  readonly models: DeployedModels;
  readonly invoker: EndpointInvoker;
  readonly retry: RetryPolicy & { readonly timeoutMs: number };
  readonly limits?: ProtocolLimits;
  /** Sleep and randomness of the backoff, for tests. */
  readonly retryHooks?: Pick<RetryHooks, 'sleep' | 'random'>;
  /** Told about every unexpected (500) failure. */
  readonly onError?: (error: unknown, request: HttpRequest) => void;
  /** Told about every final endpoint failure (502/503/504), with what the endpoint said. */
  readonly onEndpointError?: (error: EndpointError, request: HttpRequest) => void;
  /** Told before each retry. */
  readonly onRetry?: (event: { model: string; attempt: number; failure: EndpointFailure; delayMs: number }) => void;
  /** Told about every prediction, for metrics. */
  readonly onPrediction?: (event: { model: string; version: string; rows: number; latencyMs: number; attempts: number }) => void;
}

const NAME = '([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)';
const VERSION = '([0-9A-Za-z.+-]{1,64})';
type Handler = (request: HttpRequest, deps: ProxyDependencies, params: (string | undefined)[]) => Promise<HttpResponse>;
const ROUTES: ReadonlyArray<{ pattern: RegExp; method: string; handler: Handler }> = [
  { method: 'GET', pattern: /^\/v2\/health\/live$/, handler: async () => json(200, { live: true }) },
  { method: 'GET', pattern: /^\/v2\/health\/ready$/, handler: (_, deps) => ready(deps) },
  { method: 'GET', pattern: /^\/v2$/, handler: async () => json(200, { name: 'serverless-mlops-gpu', version: '1', extensions: ['model_repository_index'] }) },
  { method: 'GET', pattern: new RegExp(`^/v2/models/${NAME}(?:/versions/${VERSION})?$`), handler: metadata },
  { method: 'GET', pattern: new RegExp(`^/v2/models/${NAME}(?:/versions/${VERSION})?/ready$`), handler: modelReady },
  { method: 'POST', pattern: new RegExp(`^/v2/models/${NAME}(?:/versions/${VERSION})?/infer$`), handler: infer },
  { method: 'POST', pattern: new RegExp(`^/models/${NAME}(?:/versions/${VERSION})?/predict$`), handler: predict },
];

/**
 * The inference API (same routes, bodies and errors as core/protocol/router.ts) in front of
 * SageMaker GPU endpoints: a request is validated against the model's manifest exactly as on
 * the serverless path (invalid input never reaches the endpoint), sent to Triton as OIP v2,
 * and Triton's scores are answered in the same shapes. Endpoint failures become 502/503/504.
 */
export async function handleProxyRequest(request: HttpRequest, deps: ProxyDependencies): Promise<HttpResponse> {
  const path = request.path.length > 1 ? request.path.replace(/\/+$/, '') : request.path;
  try {
    let allowed: string[] | undefined;
    for (const route of ROUTES) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      if (route.method === request.method) return await route.handler(request, deps, match.slice(1));
      (allowed ??= []).push(route.method);
    }
    if (!allowed) throw new ProtocolError(404, 'route_not_found', `no route for ${truncate(path, 200)}; see GET /v2 and the README for the API`);
    const allow = allowed.join(', ');
    const response = errorResponse(new ProtocolError(405, 'method_not_allowed', `${request.method} is not allowed on ${truncate(path, 200)}; use ${allow}`), request.requestId);
    return { ...response, headers: { ...response.headers, allow } };
  } catch (error) {
    if (error instanceof ProtocolError) return errorResponse(error, request.requestId);
    if (error instanceof ModelNotFoundError) {
      const message = error.version
        ? `model "${error.model}" has no version "${error.version}" on its GPU endpoint; it serves ${deps.models.versionOf(error.model)}`
        : `model "${error.model}" is not served by a GPU endpoint`;
      return errorResponse(new ProtocolError(404, 'model_not_found', message, { field: 'model' }), request.requestId);
    }
    if (error instanceof EndpointError) {
      deps.onEndpointError?.(error, request);
      return endpointErrorResponse(error, request.requestId);
    }
    deps.onError?.(error, request);
    const message = error instanceof InvalidPackageError ? 'the model package failed verification; the operator has been told' : 'internal error; the operator has been told';
    return errorResponse(new ProtocolError(500, 'internal_error', message), request.requestId);
  }
}

async function ready(deps: ProxyDependencies): Promise<HttpResponse> {
  const names = deps.models.names();
  const results = await Promise.allSettled(names.map((name) => deps.models.get(name)));
  const failed = names.filter((_, i) => results[i]!.status === 'rejected');
  return failed.length ? json(503, { ready: false, error: `model(s) not loaded: ${failed.join(', ')}`, code: 'not_ready' }) : json(200, { ready: true });
}

async function metadata(_: HttpRequest, deps: ProxyDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const { manifest } = await deps.models.get(name!, version);
  return json(200, modelMetadata(manifest, [manifest.version]));
}

async function modelReady(_: HttpRequest, deps: ProxyDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const { manifest } = await deps.models.get(name!, version);
  return json(200, { name: manifest.name, version: manifest.version, ready: true });
}

async function infer(request: HttpRequest, deps: ProxyDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const body = readJson(request, limits);
  const parsed = parseInferRequest(body);
  const model = await deps.models.get(name!, version);
  const matrix = decodeInferInputs(parsed, model.manifest, limits);
  const scores = await score(request, deps, model, matrix);
  return json(200, encodeInferResponse(model.manifest, scores, parsed));
}

async function predict(request: HttpRequest, deps: ProxyDependencies, [name, version]: (string | undefined)[]): Promise<HttpResponse> {
  const limits = deps.limits ?? DEFAULT_LIMITS;
  const body = readJson(request, limits);
  const model = await deps.models.get(name!, version);
  const matrix = decodeInstances(body, model.manifest, limits);
  return json(200, encodePredictions(model.manifest, await score(request, deps, model, matrix)));
}

/** Sends a validated matrix to the model's endpoint, with retries, and decodes the scores. */
async function score(request: HttpRequest, deps: ProxyDependencies, model: DeployedModel, matrix: Matrix): Promise<BatchScores> {
  const { manifest, endpoint } = model;
  const payload = buildTritonRequest(manifest, matrix, { id: request.requestId });
  // SageMaker's InferenceId (≤ 64 printable characters) lands in data capture, where labels join on it.
  const inferenceId = request.requestId.slice(0, 64);
  const start = performance.now();
  let attempts = 0;
  const answer = await invokeWithRetries(
    (signal, attempt) => {
      attempts = attempt;
      return deps.invoker.invoke({ endpoint, payload, inferenceId, signal });
    },
    deps.retry,
    { ...deps.retryHooks, onRetry: ({ attempt, failure, delayMs }) => deps.onRetry?.({ model: manifest.name, attempt, failure, delayMs }) },
  );
  const scores = decodeTritonResponse(manifest, matrix.rows, answer);
  deps.onPrediction?.({ model: manifest.name, version: manifest.version, rows: matrix.rows, latencyMs: performance.now() - start, attempts });
  return scores;
}
