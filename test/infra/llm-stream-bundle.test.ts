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

// The one test of the LLM stack that bundles for real: esbuild runs locally on the streaming handler.
describe('the LLM streaming function asset, bundled', () => {
  let outdir: string;
  let functionDir: string;
  let bundle: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'mlops-llm-bundle-'));
    const app = testApp({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': ['Mlops-test-LlmEndpoint'] } });
    const { llm } = addPlatformStacks(app, parseConfig({ stage: 'test', llm: { models: [{ name: 'chat', modelId: 'Qwen/Qwen2.5-1.5B-Instruct' }] } }));
    const [fn] = Object.values(Template.fromStack(llm!).findResources('AWS::Lambda::Function')) as Array<{ Properties: { Code: { S3Key: string } } }>;
    functionDir = join(outdir, `asset.${fn!.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
    bundle = readFileSync(join(functionDir, 'index.js'), 'utf8');
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('is one CommonJS file and its source map', () => {
    expect(readdirSync(functionDir).sort()).toEqual(['index.js', 'index.js.map']);
  });

  it('stays small: the stream parser and the SDK call, no local stand-in', () => {
    console.log(`LLM streaming function ${(directorySize(functionDir) / MB).toFixed(2)} MB unzipped`);
    expect(directorySize(functionDir)).toBeLessThan(3 * MB);
    expect(bundle).not.toContain('invocations-response-stream$');
  });

  it("uses the runtime's awslambda global for streaming instead of a bundled stand-in", () => {
    expect(bundle).toMatch(/awslambda\.streamifyResponse/);
    expect(bundle).not.toContain('http-integration-response');
  });

  it('takes the SageMaker runtime client from the Lambda runtime instead of bundling it', () => {
    expect(bundle).toMatch(/require\(["']@aws-sdk\/client-sagemaker-runtime["']\)/);
  });
});
