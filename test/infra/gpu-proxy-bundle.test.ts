import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { directorySize } from '../../infra/constructs/onnx-runtime-layer';
import { addPlatformStacks } from '../../infra/platform';
import { testApp } from './support';

const MB = 1024 * 1024;

// The one test of the GPU stack that bundles for real: esbuild runs locally on the proxy handler.
describe('the endpoint proxy asset, bundled', () => {
  let outdir: string;
  let functionDir: string;
  let bundle: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'mlops-gpu-bundle-'));
    const app = testApp({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': ['Mlops-test-GpuEndpoint'] } });
    const { gpuEndpoints } = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo', servingMode: 'gpu' }] }));
    const [fn] = Object.values(Template.fromStack(gpuEndpoints!).findResources('AWS::Lambda::Function')) as Array<{ Properties: { Code: { S3Key: string } } }>;
    functionDir = join(outdir, `asset.${fn!.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
    bundle = readFileSync(join(functionDir, 'index.js'), 'utf8');
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('is one CommonJS file and its source map', () => {
    expect(readdirSync(functionDir).sort()).toEqual(['index.js', 'index.js.map']);
  });

  it('stays small: no model runtime, only validation and the SDK call', () => {
    console.log(`endpoint proxy ${(directorySize(functionDir) / MB).toFixed(2)} MB unzipped`);
    expect(directorySize(functionDir)).toBeLessThan(3 * MB);
  });

  it('never loads ONNX Runtime, which the proxy has no layer for', () => {
    expect(bundle).not.toMatch(/require\(["']onnxruntime-node["']\)/);
  });

  it('takes the SageMaker runtime client from the Lambda runtime instead of bundling it', () => {
    expect(bundle).toMatch(/require\(["']@aws-sdk\/client-sagemaker-runtime["']\)/);
  });
});
