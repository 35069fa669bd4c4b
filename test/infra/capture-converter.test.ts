import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks } from '../../infra/platform';
import { type Statement, testApp, unacknowledgedFindings } from './support';

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);

/** The GPU stack of the platform with two GPU models, `config` merged over it. */
function synthGpu(config: object = {}): Template {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(
    app,
    parseConfig({ stage: 'test', models: [{ name: 'demo', servingMode: 'gpu' }, { name: 'fraud', servingMode: 'both' }], gpu: { modelVersions: { fraud: '2.1.0' } }, ...config }),
  );
  return Template.fromStack(platform.gpuEndpoints!);
}

/** Statements of the policies attached to the converter function's role, resources flattened to strings. */
function converterStatements(template: Template): Statement[] {
  const roles = Object.keys(template.findResources('AWS::IAM::Role')).filter((id) => /^CaptureConverterFunction/.test(id));
  expect(roles).toHaveLength(1);
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{ Properties: { Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: Statement[] } } }>;
  return policies
    .filter((p) => p.Properties.Roles.some((r) => r.Ref === roles[0]))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .map((s) => ({ ...s, Resource: list(s.Resource).map((r) => flattenCfnReference(r)) }));
}

function resourcesFor(statements: Statement[], action: string): string[] {
  return statements.filter((s) => list(s.Action).includes(action)).flatMap((s) => s.Resource as string[]);
}

describe('the capture converter of the GPU stack', () => {
  const template = synthGpu();
  const statements = converterStatements(template);

  it('is started by S3 "Object Created" events under capture-raw/ of the data bucket', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [Match.anyValue()] }, object: { key: [{ prefix: 'capture-raw/' }] } },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CaptureConverterFunction'), 'Arn'] }, DeadLetterConfig: Match.objectLike({}) })],
    });
  });

  it('knows the version each GPU model serves, to read its manifest', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MODEL_VERSIONS: '{"demo":"1.0.0","fraud":"2.1.0"}' }) },
    });
  });

  it("reads only raw capture of the GPU models and the served versions' manifests", () => {
    expect(resourcesFor(statements, 's3:GetObject').sort()).toEqual([
      expect.stringMatching(/DataBucket\w+\/capture-raw\/demo\/\*$/),
      expect.stringMatching(/DataBucket\w+\/capture-raw\/fraud\/\*$/),
      expect.stringMatching(/ModelBucket\w+\/models\/demo\/1\.0\.0\/manifest\.json$/),
      expect.stringMatching(/ModelBucket\w+\/models\/fraud\/2\.1\.0\/manifest\.json$/),
    ]);
  });

  it('writes only capture/ of the GPU models', () => {
    expect(resourcesFor(statements, 's3:PutObject').sort()).toEqual([expect.stringMatching(/DataBucket\w+\/capture\/demo\/\*$/), expect.stringMatching(/DataBucket\w+\/capture\/fraud\/\*$/)]);
  });

  it('may do nothing else with S3, and uses the key only through S3', () => {
    const actions = [...new Set(statements.flatMap((s) => list(s.Action) as string[]))].filter((a) => /^(s3|kms):/.test(a));
    expect(actions.sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey', 's3:GetObject', 's3:PutObject']);
    expect(statements.find((s) => list(s.Action).includes('kms:Decrypt'))?.Condition).toEqual({ StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } });
  });

  it('sends messages to its own dead-letter queue only', () => {
    const sqs = statements.filter((s) => list(s.Action).some((a) => String(a).startsWith('sqs:')));
    expect(sqs.flatMap((s) => s.Resource as string[])).toEqual([expect.stringMatching(/^<CaptureConverterDeadLetterQueue\w+\.Arn>$/)]);
  });

  it('retries failed invocations twice, then sends them to the dead-letter queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CaptureConverterDeadLetterQueue'), 'Arn'] } } },
    });
  });

  it('alarms while the dead-letter queue holds a message', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CaptureConverterDeadLetterQueue'), 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });
});

describe('cdk-nag on the capture converter', () => {
  function nagApp(config: object): App {
    const app = testApp({ builtinCloudFormationValidation: false });
    addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo', servingMode: 'gpu' }], ...config }));
    applyNagChecks(app);
    return app;
  }

  it('reports no unacknowledged finding with the platform key', () => {
    expect(unacknowledgedFindings(nagApp({})).filter((f) => f.paths.some((p) => p.includes('CaptureConverter')))).toEqual([]);
  });

  it('reports no unacknowledged finding with S3-managed keys', () => {
    expect(unacknowledgedFindings(nagApp({ storage: { useKmsKey: false } })).filter((f) => f.paths.some((p) => p.includes('CaptureConverter')))).toEqual([]);
  });
});
