import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

// The one test that bundles the batch stack for real: esbuild runs locally and the layer is copied from node_modules.
describe('the batch scoring assets, bundled', () => {
  let outdir: string;
  let functionDir: string;
  let fanOutDir: string;
  let layerDir: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'mlops-batch-bundle-'));
    const app = testApp({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': ['Mlops-test-Batch'] } });
    const { batch } = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }] }));
    const template = Template.fromStack(batch);
    const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, { S3Key: string }> }>;
    const assetDir = (resource: { Properties: Record<string, { S3Key: string }> } | undefined, codeProperty: string): string =>
      join(outdir, `asset.${resource!.Properties[codeProperty]!.S3Key.replace(/\.zip$/, '')}`);
    const idOf = (construct: { node: { defaultChild?: unknown } }) => batch.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;
    functionDir = assetDir(resources[idOf(batch.scoring.function)], 'Code');
    fanOutDir = assetDir(resources[idOf(batch.scoring.fanOut!.functions.get('scorePart')!)], 'Code');
    layerDir = assetDir(Object.values(resources).find((r) => r.Type === 'AWS::Lambda::LayerVersion'), 'Content');
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('puts a small CommonJS bundle with its source map in the function asset', () => {
    expect(readdirSync(functionDir).sort()).toEqual(['index.js', 'index.js.map']);
    expect(directorySize(functionDir)).toBeLessThan(10 * MB);
  });

  it('bundles the fan-out steps the same way: small, onnxruntime-node from the layer', () => {
    const code = readFileSync(join(fanOutDir, 'index.js'), 'utf8');

    expect(directorySize(fanOutDir)).toBeLessThan(10 * MB);
    expect(code).toMatch(/require\("onnxruntime-node"\)/);
    expect(code).not.toContain('onnxruntime_binding.node');
  });

  it('requires onnxruntime-node from the layer instead of bundling it', () => {
    const code = readFileSync(join(functionDir, 'index.js'), 'utf8');

    expect(code).toMatch(/require\("onnxruntime-node"\)/);
    expect(code).not.toContain('onnxruntime_binding.node');
  });

  it('carries the worker thread source inline, so the session runs on a worker without extra files', () => {
    const code = readFileSync(join(functionDir, 'index.js'), 'utf8');

    expect(code).toContain('require(workerData.ortPath)');
  });

  it("ships the Linux arm64 binding and stays under Lambda's 250 MB unzipped limit, function and layer together", () => {
    expect(existsSync(join(layerDir, 'nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node'))).toBe(true);
    expect(directorySize(functionDir) + directorySize(layerDir)).toBeLessThan(LAMBDA_UNZIPPED_LIMIT);
  });
});
