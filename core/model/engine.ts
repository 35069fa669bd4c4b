import { type Manifest, PackageFiles } from './manifest';
import type { ModelPackage } from './model-package';
import { MicroBatcher, type MicroBatchOptions } from './micro-batcher';
import type { Matrix, SessionOptions } from './onnx-session';
import { type BatchScores, Predictor } from './predictor';
import type { ModelSource } from './registry';

export interface EngineOptions extends SessionOptions {
  /** Micro-batching of concurrent requests; false turns it off. @default {} (on, defaults of MicroBatcher) */
  readonly batching?: MicroBatchOptions | false;
  /** How long the serving version of a model is trusted before the registry is read again. @default 30000 */
  readonly servingTtlMs?: number;
  /** Serve a package's int8 model when it has one that passed its quantization gate. @default true */
  readonly preferQuantized?: boolean;
  /** Run each model's session on a worker thread (batch scoring). @default false */
  readonly worker?: boolean;
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
 * promotion or rollback reaches warm containers without a redeploy.
 */
export class InferenceEngine {
  private readonly loaded = new Map<string, Promise<{ predictor: Predictor; served: ServedModel }>>();
  private readonly serving = new Map<string, { version: Promise<string>; at: number }>();

  constructor(
    readonly repository: ModelSource,
    private readonly options: EngineOptions = {},
  ) {}

  /** The served model for a name and optional version; loads it on first use. */
  async model(name: string, version?: string): Promise<ServedModel> {
    const resolved = version ?? (await this.servingVersion(name));
    const key = `${name}@${resolved}`;
    let entry = this.loaded.get(key);
    if (!entry) {
      entry = this.load(name, resolved);
      this.loaded.set(key, entry);
      // A failed load is not cached: the next request tries again.
      entry.catch(() => this.loaded.delete(key));
    }
    return (await entry).served;
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

  private servingVersion(name: string): Promise<string> {
    const ttl = this.options.servingTtlMs ?? 30_000;
    const cached = this.serving.get(name);
    if (cached && Date.now() - cached.at < ttl) return cached.version;
    const version = this.repository.servingVersion(name);
    this.serving.set(name, { version, at: Date.now() });
    version.catch(() => this.serving.delete(name));
    return version;
  }

  private async load(name: string, version: string) {
    const pkg = await this.repository.load(name, version);
    const predictor = await Predictor.create(pkg, { ...this.options, modelFile: servingModelFile(pkg, this.options.preferQuantized) });
    const batching = this.options.batching;
    const batcher = batching === false ? null : new MicroBatcher((m) => predictor.predict(m), batching ?? {});
    const served: ServedModel = {
      manifest: pkg.manifest,
      modelFile: predictor.modelFile,
      predict: batcher ? (m) => batcher.submit(m) : (m) => predictor.predict(m),
    };
    return { predictor, served };
  }
}
