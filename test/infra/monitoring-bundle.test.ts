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

// The one test that bundles the monitoring stack for real: esbuild runs locally.
describe('the drift monitor asset, bundled', () => {
  let outdir: string;
  let functionDir: string;

  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'mlops-monitor-bundle-'));
    const app = testApp({ outdir, builtinCloudFormationValidation: false, context: { 'aws:cdk:bundling-stacks': ['Mlops-test-Monitoring'] } });
    const { monitoring } = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }] }));
    const [fn] = Object.values(Template.fromStack(monitoring!).findResources('AWS::Lambda::Function')) as Array<{
      Properties: { Code: { S3Key: string } };
    }>;
    functionDir = join(outdir, `asset.${fn!.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
  });

  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('puts a CommonJS bundle with its source map, and nothing else, in the function asset', () => {
    expect(readdirSync(functionDir).sort()).toEqual(['index.js', 'index.js.map']);
  });

  it('stays small: under 2 MB with its source map', () => {
    console.log(`monitor function ${(directorySize(functionDir) / MB).toFixed(2)} MB unzipped`);
    expect(directorySize(functionDir)).toBeLessThan(2 * MB);
  });

  it('takes the AWS SDK from the runtime and bundles Powertools', () => {
    const code = readFileSync(join(functionDir, 'index.js'), 'utf8');

    expect(code).toMatch(/require\("@aws-sdk\/client-s3"\)/);
    expect(code).toMatch(/require\("@aws-sdk\/client-eventbridge"\)/);
    expect(code).not.toMatch(/require\("@aws-lambda-powertools\//);
  });

  it('needs no ONNX Runtime', () => {
    expect(readFileSync(join(functionDir, 'index.js'), 'utf8')).not.toContain('onnxruntime');
  });
});
