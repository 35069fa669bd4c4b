import { gzipSync } from 'node:zlib';
import { TRITON_ARTIFACT, tritonArtifactKey } from '../../core/layout';
import { InvalidPackageError, PackageFiles } from '../../core/model/manifest';
import type { ModelPackage } from '../../core/model/model-package';
import type { ModelRepository } from '../../core/model/registry';
import type { TritonServingOptions } from '../../core/triton-serving';
import { renderModelConfig, type TritonModelConfig, tritonModelConfig } from './model-config';
import { tarArchive } from './tar';

/** A model version packaged as a Triton model repository for SageMaker. */
export interface TritonArtifact {
  /** model.tar.gz: `<model>/config.pbtxt` and `<model>/1/model.onnx`. */
  readonly bytes: Uint8Array;
  readonly config: TritonModelConfig;
  /** The config.pbtxt text. */
  readonly configText: string;
}

/**
 * Packages a model version as a one-model Triton repository, the layout SageMaker's Triton
 * container loads from /opt/ml/model. The float model is served: the int8 model's dynamic
 * quantization (MatMulInteger) has no CUDA kernels in ONNX Runtime and would fall back to the
 * CPU; on a GPU, TensorRT FP16 (`useTensorRt`) is the faster reduced precision.
 *
 * The archive is reproducible: entries in a fixed order, the package's creation time as every
 * entry's mtime, no owner names, and a gzip header without a timestamp.
 */
export function buildTritonArtifact(pkg: ModelPackage, options: TritonServingOptions = {}): TritonArtifact {
  const model = pkg.files.get(PackageFiles.model);
  if (!model) throw new InvalidPackageError(PackageFiles.model, `not in the package at ${pkg.location}`);
  const config = tritonModelConfig(pkg.manifest, model, options);
  const configText = renderModelConfig(config);
  const name = pkg.manifest.name;
  const mtime = Math.floor(Date.parse(pkg.manifest.createdAt) / 1000);
  const tar = tarArchive([
    { name: `${name}/`, mtime },
    { name: `${name}/config.pbtxt`, body: new TextEncoder().encode(configText), mtime },
    { name: `${name}/1/`, mtime },
    { name: `${name}/1/model.onnx`, body: model, mtime },
  ]);
  return { bytes: new Uint8Array(gzipSync(tar, { level: 9 })), config, configText };
}

/** Builds a version's Triton artifact and writes it next to its package, at {@link tritonArtifactKey}. */
export async function writeTritonArtifact(
  repository: ModelRepository,
  pkg: ModelPackage,
  options: TritonServingOptions = {},
): Promise<{ key: string; artifact: TritonArtifact }> {
  const artifact = buildTritonArtifact(pkg, options);
  const { name, version } = pkg.manifest;
  await repository.packageStore(name, version).write(TRITON_ARTIFACT, artifact.bytes);
  return { key: tritonArtifactKey(name, version), artifact };
}
