import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEP_NAMES } from '../../core/pipeline-steps';
import { parseConfig } from '../../core/platform-config';
import { directorySize } from '../../infra/constructs/onnx-runtime-layer';
import { addPlatformStacks } from '../../infra/platform';
import { testApp } from './support';

const MB = 1024 * 1024;
/** Lambda's limit on a function's unzipped code plus all its layers. */
const LAMBDA_UNZIPPED_LIMIT = 250 * MB;

interface CodeProperties {
  Handler: string;
  Code: { S3Key: string };
}

// The one test that bundles the pipeline stack for real: esbuild runs locally and the layer is copied from node_modules.
describe('the retraining pipeline assets, bundled', () => {
  let outdir: string;
  let functions: CodeProperties[];
  let functionDir: string;
  let layerDir: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'mlops-pipeline-bundle-'));
    const app = testApp({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': ['Mlops-test-Pipeline'] } });
    const { pipeline } = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }] }));
    const template = Template.fromStack(pipeline!);
    functions = Object.values(template.findResources('AWS::Lambda::Function')).map((r) => (r as { Properties: CodeProperties }).Properties);
    const [layer] = Object.values(template.findResources('AWS::Lambda::LayerVersion')) as Array<{ Properties: { Content: { S3Key: string } } }>;
    const assetDir = (s3Key: string) => join(outdir, `asset.${s3Key.replace(/\.zip$/, '')}`);
    functionDir = assetDir(functions[0]!.Code.S3Key);
    layerDir = assetDir(layer!.Properties.Content.S3Key);
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('gives every step function the same asset, each with its own exported handler', () => {
    expect(new Set(functions.map((fn) => fn.Code.S3Key)).size).toBe(1);
    // The default pipeline: the built-in trainer (no importArtifact function) and a canary (abortCanary).
    const handlers = ['start', ...STEP_NAMES.filter((name) => name !== 'importArtifact'), 'abortCanary'];
    expect(functions.map((fn) => fn.Handler).sort()).toEqual(handlers.map((name) => `index.${name}`).sort());
  });

  it('puts a small CommonJS bundle with its source map in the function asset', () => {
    expect(readdirSync(functionDir).sort()).toEqual(['index.js', 'index.js.map']);
    expect(directorySize(functionDir)).toBeLessThan(10 * MB);
  });

  it('exports start, every step of the runner and abortCanary from the bundle', () => {
    const code = readFileSync(join(functionDir, 'index.js'), 'utf8');

    for (const name of ['start', ...STEP_NAMES, 'abortCanary']) expect(code, name).toMatch(new RegExp(`[{,]${name}:\\(\\)=>`));
  });

  it('requires onnxruntime-node from the layer instead of bundling it, and leaves the AWS SDK to the runtime', () => {
    const code = readFileSync(join(functionDir, 'index.js'), 'utf8');

    expect(code).toMatch(/require\("onnxruntime-node"\)/);
    expect(code).not.toContain('onnxruntime_binding.node');
    expect(code).toMatch(/require\("@aws-sdk\/client-s3"\)/);
    expect(code).toMatch(/require\("@aws-sdk\/client-sns"\)/);
  });

  it("ships the Linux arm64 binding and stays under Lambda's 250 MB unzipped limit, function and layer together", () => {
    expect(existsSync(join(layerDir, 'nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node'))).toBe(true);
    expect(directorySize(functionDir) + directorySize(layerDir)).toBeLessThan(LAMBDA_UNZIPPED_LIMIT);
  });
});
