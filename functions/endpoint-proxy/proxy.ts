import type { Manifest } from '../../core/model/manifest';
import type { Matrix } from '../../core/model/onnx-session';
import type { BatchScores } from '../../core/model/predictor';
import { ModelNotFoundError, type ModelRepository } from '../../core/model/registry';
import { errorResponse, ProtocolError } from '../../core/protocol/errors';
import type { HttpRequest, HttpResponse } from '../../core/protocol/http';
import type { ProtocolLimits } from '../../core/protocol/limits';
import { type ApiModel, handleApiRequest, type ModelBackend } from '../../core/protocol/router';
import { ManifestCache } from '../shared/manifests';
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
  private readonly manifests: ManifestCache;

  constructor(
    repository: ModelRepository,
    private readonly endpoints: Readonly<Record<string, { readonly endpoint: string; readonly version: string }>>,
  ) {
    this.manifests = new ManifestCache(repository);
  }

  /** Names of the models with an endpoint. */
  names(): string[] {
    return Object.keys(this.endpoints).sort();
  }

  /** The model and its endpoint; a version other than the deployed one is not found. */
  async get(name: string, version?: string): Promise<DeployedModel> {
    const deployed = Object.hasOwn(this.endpoints, name) ? this.endpoints[name] : undefined;
    if (!deployed) throw new ModelNotFoundError(name);
    if (version !== undefined && version !== deployed.version) throw new ModelNotFoundError(name, version);
    return { manifest: await this.manifests.get(name, deployed.version), endpoint: deployed.endpoint };
  }

  /** The one version each model's endpoint serves. */
  versionOf(name: string): string | undefined {
    return Object.hasOwn(this.endpoints, name) ? this.endpoints[name]!.version : undefined;
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

/**
 * The inference API of core/protocol/router.ts (same routes, validation, bodies and errors) in
 * front of SageMaker GPU endpoints: a request is validated against the model's manifest exactly
 * as on the serverless path (invalid input never reaches the endpoint), sent to Triton as OIP v2,
 * and Triton's scores are answered in the same shapes. Endpoint failures become 502/503/504.
 */
export function handleProxyRequest(request: HttpRequest, deps: ProxyDependencies): Promise<HttpResponse> {
  return handleApiRequest(request, {
    engine: new EndpointBackend(deps),
    serverName: 'serverless-mlops-gpu',
    limits: deps.limits,
    requiredModels: deps.models.names(),
    mapError: (error) => mapEndpointError(error, request, deps),
    onError: deps.onError,
  });
}

/** The proxy's own answers: a model without an endpoint, and the endpoint's failures. */
function mapEndpointError(error: unknown, request: HttpRequest, deps: ProxyDependencies): HttpResponse | undefined {
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
  return undefined;
}

/** The deployed models as the router's model backend: each scores on its endpoint. */
class EndpointBackend implements ModelBackend {
  constructor(private readonly deps: ProxyDependencies) {}

  async model(name: string, version?: string): Promise<ApiModel> {
    const model = await this.deps.models.get(name, version);
    return { manifest: model.manifest, predict: (matrix, { requestId }) => score(requestId, this.deps, model, matrix) };
  }

  async versions(name: string): Promise<string[]> {
    const version = this.deps.models.versionOf(name);
    return version === undefined ? [] : [version];
  }
}

/** Sends a validated matrix to the model's endpoint, with retries, and decodes the scores. */
async function score(requestId: string, deps: ProxyDependencies, model: DeployedModel, matrix: Matrix): Promise<BatchScores> {
  const { manifest, endpoint } = model;
  const payload = buildTritonRequest(manifest, matrix, { id: requestId });
  // SageMaker's InferenceId (≤ 64 printable characters) lands in data capture, where labels join on it.
  const inferenceId = requestId.slice(0, 64);
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
