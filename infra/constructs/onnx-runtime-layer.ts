import { cpSync, existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { AssetHashType, DockerImage, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';

/** Where the package keeps its prebuilt bindings, one folder per `<platform>/<arch>`. */
const BINDINGS = join('bin', 'napi-v6');
/** Bumped when the layer's layout changes, so that an unchanged package still gets a new asset. */
const LAYOUT_VERSION = '1';

/** Properties of an {@link OnnxRuntimeLayer}. */
export interface OnnxRuntimeLayerProps {
  /**
   * Architecture of the functions that use the layer; only its Linux binding is shipped.
   * @default Architecture.ARM_64
   */
  readonly architecture?: Architecture;
  /**
   * Runtimes of the functions that use the layer.
   * @default [Runtime.NODEJS_24_X]
   */
  readonly compatibleRuntimes?: Runtime[];
  /**
   * What happens to a layer version when a new one replaces it. Function versions that use a
   * deleted layer version keep working (so do CodeDeploy rollbacks to them); retained versions
   * would pile up at every onnxruntime-node upgrade.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * onnxruntime-node as a Lambda layer, at `/opt/nodejs/node_modules/onnxruntime-node`, where a
 * function's CommonJS `require` finds it. The package ships bindings for every OS and
 * architecture (~290 MB); the layer keeps the one Linux binding of its architecture (25–45 MB),
 * so that it and the function stay under Lambda's 250 MB unzipped limit. Built at synthesis from
 * the installed package by copying files: no Docker, no network.
 */
export class OnnxRuntimeLayer extends LayerVersion {
  /** The architecture whose binding the layer carries. */
  public readonly architecture: Architecture;

  constructor(scope: Construct, id: string, props: OnnxRuntimeLayerProps = {}) {
    const architecture = props.architecture ?? Architecture.ARM_64;
    const compatibleRuntimes = props.compatibleRuntimes ?? [Runtime.NODEJS_24_X];
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;

    const ortRoot = packageRoot('onnxruntime-node', import.meta.url);
    // onnxruntime-common as onnxruntime-node itself resolves it, hoisted or nested.
    const roots = [ortRoot, packageRoot('onnxruntime-common', join(ortRoot, 'package.json'))];
    const linuxArch = nodeArch(architecture);
    // A hash of what goes in (versions and architecture) instead of the default hash of the source
    // folder, which would read all ~290 MB of it at every synthesis.
    const assetHash = [...roots.map(packageId), `linux-${linuxArch}`, `layout-${LAYOUT_VERSION}`].join('|');

    super(scope, id, {
      description: `${packageId(ortRoot)} for Linux ${linuxArch}`,
      compatibleArchitectures: [architecture],
      compatibleRuntimes,
      removalPolicy,
      code: Code.fromAsset(ortRoot, {
        assetHashType: AssetHashType.CUSTOM,
        assetHash,
        bundling: {
          // Never pulled: local bundling always succeeds or throws.
          image: DockerImage.fromRegistry('none'),
          local: {
            tryBundle(outputDir: string): boolean {
              copyPackages(roots, join(outputDir, 'nodejs', 'node_modules'), linuxArch);
              return true;
            },
          },
        },
      }),
    });
    this.architecture = architecture;
  }
}

/** Total size in bytes of the regular files under `dir`: the unzipped size Lambda counts. */
export function directorySize(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += directorySize(path);
    else if (entry.isFile()) total += lstatSync(path).size;
  }
  return total;
}

/**
 * Copies onnxruntime-node and onnxruntime-common into `nodeModules`, leaving out every binding but
 * `linux/<arch>`. onnxruntime-node's other dependencies (adm-zip, global-agent) serve only its
 * install script, which downloads optional GPU binaries; its code requires nothing but
 * onnxruntime-common and its own binding.
 */
function copyPackages(roots: readonly string[], nodeModules: string, arch: string): void {
  const keep = join(BINDINGS, 'linux', arch);
  for (const root of roots) {
    const name = packageId(root).replace(/@[^@]+$/, '');
    cpSync(root, join(nodeModules, name), {
      recursive: true,
      filter: (source) => {
        const path = relative(root, source);
        if (!isWithin(path, BINDINGS)) return true;
        // Keep the folders on the way to the binding, and everything inside it.
        return isWithin(path, keep) || isWithin(keep, path);
      },
    });
  }
  const binding = join(nodeModules, 'onnxruntime-node', keep, 'onnxruntime_binding.node');
  if (!existsSync(binding)) {
    throw new Error(`onnxruntime-node has no Linux ${arch} binding: ${binding} is missing after the copy`);
  }
}

/** Whether `path` is `folder` or lies inside it (both relative). */
function isWithin(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}${sep}`);
}

/** The folder of an installed package, found as `require(name)` from `from` (a file path or URL) would find it. */
function packageRoot(name: string, from: string): string {
  // Resolve the entry point: onnxruntime-common's "exports" hide its package.json.
  let dir = dirname(createRequire(from).resolve(name));
  while (!isPackageFolder(dir, name)) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`Cannot find the folder of package "${name}"`);
    dir = parent;
  }
  return dir;
}

function isPackageFolder(dir: string, name: string): boolean {
  const manifest = join(dir, 'package.json');
  return existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name;
}

/** `name@version` of the package in `root`. */
function packageId(root: string): string {
  const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  return `${name}@${version}`;
}

/** Node.js's `process.arch` for a Lambda architecture. */
function nodeArch(architecture: Architecture): 'arm64' | 'x64' {
  if (architecture.name === Architecture.ARM_64.name) return 'arm64';
  if (architecture.name === Architecture.X86_64.name) return 'x64';
  throw new Error(`Unsupported Lambda architecture "${architecture.name}": expected arm64 or x86_64`);
}
