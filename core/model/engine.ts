import { createHash } from 'node:crypto';
import { type Manifest, PackageFiles } from './manifest';
import type { ModelPackage } from './model-package';
import { MicroBatcher, type MicroBatchOptions } from './micro-batcher';
import type { Matrix, SessionOptions } from './onnx-session';
import { type BatchScores, Predictor } from './predictor';
import type { ModelSource, Routing } from './registry';

export interface EngineOptions extends SessionOptions {
  /** Micro-batching of concurrent requests; false turns it off. @default {} (on, defaults of MicroBatcher) */
  readonly batching?: MicroBatchOptions | false;
  /** How long the serving version of a model is trusted before the registry is read again. @default 30000 */
  readonly servingTtlMs?: number;
  /** Serve a package's int8 model when it has one that passed its quantization gate. @default true */
  readonly preferQuantized?: boolean;
  /** Run each model's session on a worker thread (batch scoring). @default false */
  readonly worker?: boolean;
  /** Uniform [0, 1) draws that route requests without a request id to a canary (seed it in tests). @default Math.random */
  readonly random?: () => number;
  /** Told when a version fails to load or to predict, so errors can be compared per version (canaries). */
  readonly onVersionError?: (event: { model: string; version: string; error: unknown }) => void;
}

/** A request id's place in [0, 1): the same id always lands in the same place, ids spread uniformly. */
export function routingPoint(requestId: string): number {
  return createHash('sha256').update(requestId).digest().readUInt32BE(0) / 2 ** 32;
}

/** The ONNX file to serve: the int8 model when present and its gate passed, else the float model. */
export function servingModelFile(pkg: ModelPackage, preferQuantized = true): string {
  const q = pkg.manifest.quantization;
  if (preferQuantized && q?.servable && q.file && pkg.files.has(q.file)) return q.file;
  return PackageFiles.model;
}

/** A model version loaded for serving. */
export interface ServedModel {
  readonly manifest: Manifest;
  readonly modelFile: string;
  predict(matrix: Matrix): Promise<BatchScores>;
}

/**
 * Loads model packages once per process and keeps them, keyed by name and version; requests
 * naming no version get the registry's serving version, re-read every servingTtlMs so a
 * promotion or rollback reaches warm containers without a redeploy. While a canary runs, a
 * share `weight` of those requests gets the canary version instead: chosen by a hash of the
 * request id when there is one (a retried request meets the same version), else at random.
 */
export class InferenceEngine {
  private readonly loaded = new Map<string, Promise<{ predictor: Predictor; served: ServedModel }>>();
  private readonly routes = new Map<string, { routing: Promise<Routing>; at: number }>();

  constructor(
    readonly repository: ModelSource,
    private readonly options: EngineOptions = {},
  ) {}

  /**
   * The served model for a name and optional version; loads it on first use. Without a version,
   * the serving version; for a prediction request (`context` given: the API passes its request
   * id), the canary for a share of them (see the class comment). Health checks, metadata and
   * batch jobs pass no context and keep to the serving version.
   */
  async model(name: string, version?: string, context?: { readonly requestId?: string }): Promise<ServedModel> {
    const resolved = version ?? (context ? await this.resolve(name, context.requestId) : (await this.routing(name)).serving);
    const key = `${name}@${resolved}`;
    let entry = this.loaded.get(key);
    if (!entry) {
      entry = this.load(name, resolved);
      this.loaded.set(key, entry);
      // A failed load is not cached: the next request tries again.
      entry.catch(() => this.loaded.delete(key));
    }
    try {
      return (await entry).served;
    } catch (error) {
      this.options.onVersionError?.({ model: name, version: resolved, error });
      throw error;
    }
  }

  /** The version a request that names none gets: the canary for a share `weight` of them, else the serving version. */
  async resolve(name: string, requestId?: string): Promise<string> {
    const { serving, canary } = await this.routing(name);
    if (!canary || canary.weight <= 0) return serving;
    const point = requestId ? routingPoint(requestId) : (this.options.random ?? Math.random)();
    return point < canary.weight ? canary.version : serving;
  }

  /** The versions of a model in the registry (model metadata lists them). */
  versions(name: string): Promise<string[]> {
    return this.repository.listVersions(name);
  }

  /** Versions loaded in this process, for health and metrics. */
  loadedVersions(): string[] {
    return [...this.loaded.keys()];
  }

  async release(): Promise<void> {
    const entries = await Promise.allSettled(this.loaded.values());
    this.loaded.clear();
    for (const entry of entries) if (entry.status === 'fulfilled') await entry.value.predictor.release();
  }

  private routing(name: string): Promise<Routing> {
    const ttl = this.options.servingTtlMs ?? 30_000;
    const cached = this.routes.get(name);
    if (cached && Date.now() - cached.at < ttl) return cached.routing;
    const repository = this.repository;
    const routing = repository.routing ? repository.routing(name) : repository.servingVersion(name).then((serving) => ({ serving, canary: null }));
    this.routes.set(name, { routing, at: Date.now() });
    routing.catch(() => this.routes.delete(name));
    return routing;
  }

  private async load(name: string, version: string) {
    const pkg = await this.repository.load(name, version);
    const predictor = await Predictor.create(pkg, { ...this.options, modelFile: servingModelFile(pkg, this.options.preferQuantized) });
    const batching = this.options.batching;
    const batcher = batching === false ? null : new MicroBatcher((m) => predictor.predict(m), batching ?? {});
    const run = batcher ? (m: Matrix) => batcher.submit(m) : (m: Matrix) => predictor.predict(m);
    const onError = this.options.onVersionError;
    const served: ServedModel = {
      manifest: pkg.manifest,
      modelFile: predictor.modelFile,
      predict: onError
        ? (m) =>
            run(m).catch((error: unknown) => {
              onError({ model: name, version, error });
              throw error;
            })
        : run,
    };
    return { predictor, served };
  }
}
