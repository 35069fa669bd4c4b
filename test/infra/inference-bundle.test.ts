import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { directorySize } from '../../infra/constructs/onnx-runtime-layer';
import { addPlatformStacks } from '../../infra/platform';
import { testApp } from './support';

const MB = 1024 * 1024;
/** Lambda's limit on a function's unzipped code plus all its layers. */
const LAMBDA_UNZIPPED_LIMIT = 250 * MB;
const BINDINGS = 'nodejs/node_modules/onnxruntime-node/bin/napi-v6';

// The one test that bundles for real: esbuild runs locally and the layer is copied from node_modules.
describe('the inference assets, bundled', () => {
  let outdir: string;
  let functionDir: string;
  let layerDir: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'mlops-bundle-'));
    const app = testApp({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': ['**'] } });
    const { serverlessInference } = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }] }));
    const template = Template.fromStack(serverlessInference!);
    const assetDir = (type: string, codeProperty: string): string => {
      const [resource] = Object.values(template.findResources(type)) as Array<{ Properties: Record<string, { S3Key: string }> }>;
      return join(outdir, `asset.${resource!.Properties[codeProperty]!.S3Key.replace(/\.zip$/, '')}`);
    };
    functionDir = assetDir('AWS::Lambda::Function', 'Code');
    layerDir = assetDir('AWS::Lambda::LayerVersion', 'Content');
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('puts a small CommonJS bundle with its source map in the function asset', () => {
    expect(readdirSync(functionDir).sort()).toEqual(['index.js', 'index.js.map']);
    expect(directorySize(functionDir)).toBeLessThan(10 * MB);
  });

  it('ships the Linux arm64 ONNX Runtime binding in the layer', () => {
    expect(existsSync(join(layerDir, BINDINGS, 'linux/arm64/onnxruntime_binding.node'))).toBe(true);
    expect(existsSync(join(layerDir, 'nodejs/node_modules/onnxruntime-common/package.json'))).toBe(true);
  });

  it('ships no binding for another platform or architecture', () => {
    expect(readdirSync(join(layerDir, BINDINGS))).toEqual(['linux']);
    expect(readdirSync(join(layerDir, BINDINGS, 'linux'))).toEqual(['arm64']);
  });

  it('stays under Lambda\'s 250 MB unzipped limit, function and layer together', () => {
    const total = directorySize(functionDir) + directorySize(layerDir);

    console.log(
      `layer ${(directorySize(layerDir) / MB).toFixed(1)} MB, function ${(directorySize(functionDir) / MB).toFixed(2)} MB unzipped`,
    );
    expect(total).toBeLessThan(LAMBDA_UNZIPPED_LIMIT);
  });
});
