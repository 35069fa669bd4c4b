import { App, Stack } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../core/platform-config';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks } from '../../infra/platform';
import { acknowledgements, cdkJsonContext, testApp, unacknowledgedFindings } from './support';

const repoConfig = loadConfig(new URL('../../mlops.config.json', import.meta.url).pathname);

/** The platform as `cdk synth` builds it, with some of mlops.config.json's settings overridden. */
function platformApp(overrides: object = {}): App {
  const app = testApp();
  addPlatformStacks(app, parseConfig({ ...repoConfig, ...overrides }));
  applyNagChecks(app);
  return app;
}

describe('applyNagChecks', () => {
  it('reports a bucket without access logs or TLS enforcement', () => {
    const app = testApp();
    new Bucket(new Stack(app, 'Unsafe'), 'Bucket');
    applyNagChecks(app);

    const rules = unacknowledgedFindings(app).map((f) => f.rule);

    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']));
  });

  it('makes synthesis fail on an unacknowledged error', () => {
    const app = new App({ context: cdkJsonContext() });
    new Bucket(new Stack(app, 'Unsafe'), 'Bucket');
    applyNagChecks(app);

    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });
});

// Findings cover every validation plugin: cdk-nag's AwsSolutions pack, the CloudFormation rules
// CDK runs by default, and construct annotations (warnings included).
describe('the synthesized platform', () => {
  it('has no unacknowledged finding as mlops.config.json configures it', () => {
    expect(unacknowledgedFindings(platformApp())).toEqual([]);
  });

  it('has no unacknowledged finding when buckets and key are retained', () => {
    expect(unacknowledgedFindings(platformApp({ removalPolicy: 'retain' }))).toEqual([]);
  });

  it('has no unacknowledged finding with S3-managed encryption', () => {
    expect(unacknowledgedFindings(platformApp({ storage: { useKmsKey: false } }))).toEqual([]);
  });
});

describe('every acknowledgement in the platform', () => {
  const acks = acknowledgements(platformApp());

  it('names one cdk-nag rule or one finding of a rule', () => {
    for (const ack of acks) expect(ack.id).toMatch(/^(Annotation::)?AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
  });

  it('says why in a sentence', () => {
    for (const ack of acks) expect(ack.reason.trim().split(/\s+/).length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(5);
  });
});
