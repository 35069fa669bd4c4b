import { type App, type CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { ServerlessInference } from '../../infra/constructs/serverless-inference';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks } from '../../infra/platform';
import type { ServerlessInferenceStack } from '../../infra/stacks/serverless-inference-stack';
import { acknowledgements, list, propertiesOfAll, type Statement, statements, testApp, unacknowledgedFindings } from './support';

/** The platform's serverless inference stack for `stage: test` and one serverless model, with `serverless` settings. */
function synthInference(serverless: object = {}, config: object = {}): { stack: ServerlessInferenceStack; template: Template } {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], serverless, ...config }));
  const stack = platform.serverlessInference;
  if (!stack) throw new Error('no serverless inference stack');
  return { stack, template: Template.fromStack(stack) };
}

/** The resources of a statement as cdk-nag spells them: imports by export name, `<Logical.Attr>` for GetAtt. */
function resourcesOf(statement: Statement): string[] {
  return list(statement.Resource).map(flattenCfnReference);
}

describe('ServerlessInferenceStack', () => {
  const { stack, template } = synthInference();

  describe('API', () => {
    it('is named after the stage and is a regional REST API', () => {
      expect(stack.stackName).toBe('Mlops-test-ServerlessInference');
      template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
    });

    it('passes every body to the function unmangled (binary media types */*), for binary tensors', () => {
      template.hasResourceProperties('AWS::ApiGateway::RestApi', { BinaryMediaTypes: ['*/*'] });
    });

    it('routes /v2/{proxy+} and /models/{proxy+} with ANY to the live alias through a Lambda proxy integration', () => {
      const aliasArn = stack.resolve(stack.inference.alias.functionArn);
      const methods = propertiesOfAll(template, 'AWS::ApiGateway::Method');

      expect(methods).toHaveLength(2);
      for (const method of methods) {
        expect(method).toMatchObject({ HttpMethod: 'ANY', Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' } });
        expect(JSON.stringify(method.Integration)).toContain(JSON.stringify(aliasArn));
      }
      const paths = propertiesOfAll(template, 'AWS::ApiGateway::Resource').map((r) => r.PathPart);
      expect(paths.sort()).toEqual(['models', 'v2', '{proxy+}', '{proxy+}']);
    });

    it('requires AWS_IAM authorization on every method', () => {
      template.allResourcesProperties('AWS::ApiGateway::Method', { AuthorizationType: 'AWS_IAM' });
    });

    it('validates the body and parameters of every method', () => {
      template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
        ValidateRequestBody: true,
        ValidateRequestParameters: true,
      });
      const validators = Object.keys(template.findResources('AWS::ApiGateway::RequestValidator'));
      template.allResourcesProperties('AWS::ApiGateway::Method', {
        RequestValidatorId: { Ref: validators[0] },
        RequestParameters: { 'method.request.path.proxy': true },
      });
    });

    it('throttles the whole stage at the configured rate and burst', () => {
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'test',
        MethodSettings: Match.arrayWith([
          Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 }),
        ]),
      });
    });

    it('writes JSON access logs to a log group of the stack', () => {
      const [stage] = propertiesOfAll(template, 'AWS::ApiGateway::Stage');
      const accessLogs = stack.resolve((stack.inference.node.findChild('Api').node.findChild('AccessLogs').node.defaultChild as CfnResource).logicalId);

      const setting = stage?.AccessLogSetting as { DestinationArn: unknown; Format: string };
      expect(flattenCfnReference(setting.DestinationArn)).toMatch(new RegExp(`^arn:aws:logs:us-east-1:<AWS::AccountId>:log-group:<${accessLogs}>$`));
      expect(JSON.parse(setting.Format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
    });

    it('traces requests with X-Ray and logs errors, never request bodies', () => {
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        TracingEnabled: true,
        MethodSettings: Match.arrayWith([
          Match.objectLike({ LoggingLevel: 'ERROR', DataTraceEnabled: false, MetricsEnabled: true }),
        ]),
      });
    });

    it('creates no API key or usage plan', () => {
      template.resourceCountIs('AWS::ApiGateway::ApiKey', 0);
      template.resourceCountIs('AWS::ApiGateway::UsagePlan', 0);
    });

    it('protects the stage with a regional web ACL: the AWS common rule set and a per-IP rate limit', () => {
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Scope: 'REGIONAL',
        DefaultAction: { Allow: {} },
        Rules: Match.arrayWith([
          Match.objectLike({
            Statement: {
              ManagedRuleGroupStatement: Match.objectLike({ VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' }),
            },
          }),
          Match.objectLike({
            Action: { Block: {} },
            Statement: { RateBasedStatement: { Limit: 6000, AggregateKeyType: 'IP', EvaluationWindowSec: 300 } },
          }),
        ]),
      });
    });

    it("counts instead of blocking the common rule set's 8 KB body-size rule, which batches exceed", () => {
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Rules: Match.arrayWith([
          Match.objectLike({
            Statement: {
              ManagedRuleGroupStatement: Match.objectLike({
                RuleActionOverrides: [{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }],
              }),
            },
          }),
        ]),
      });
    });

    it('associates the web ACL with the API stage', () => {
      const [association] = propertiesOfAll(template, 'AWS::WAFv2::WebACLAssociation');
      const webAcl = Object.keys(template.findResources('AWS::WAFv2::WebACL'))[0];
      const stageId = Object.keys(template.findResources('AWS::ApiGateway::Stage'))[0];

      expect(association?.WebACLArn).toEqual({ 'Fn::GetAtt': [webAcl, 'Arn'] });
      expect(JSON.stringify(association?.ResourceArn)).toContain(`{"Ref":"${stageId}"}`);
      expect(flattenCfnReference(association?.ResourceArn)).toMatch(/:apigateway:.*::\/restapis\/.+\/stages\//);
    });

    it('outputs the stage URL and a signed example curl command', () => {
      template.hasOutput('ApiUrl', { Value: stack.resolve(stack.inference.url) });
      const curl = flattenCfnReference(template.findOutputs('ExampleCurl').ExampleCurl?.Value);

      expect(curl).toMatch(/^curl --aws-sigv4 'aws:amz:us-east-1:execute-api' .*models\/demo\/predict$/);
    });
  });

  describe('function', () => {
    it('runs Node.js 24 on arm64 with active X-Ray tracing', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
      });
    });

    it('has the configured memory and a timeout within API Gateway\'s 29 s', () => {
      template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 2048, Timeout: 29 });
    });

    it("reserves 100 of the account's concurrency by default, so batch scoring cannot starve it", () => {
      const [fn] = propertiesOfAll(template, 'AWS::Lambda::Function');

      expect(fn?.ReservedConcurrentExecutions).toBe(100);
    });

    it('loads onnxruntime-node from a layer built for its runtime and architecture', () => {
      const [layerId] = Object.keys(template.findResources('AWS::Lambda::LayerVersion'));

      template.hasResourceProperties('AWS::Lambda::LayerVersion', {
        CompatibleArchitectures: ['arm64'],
        CompatibleRuntimes: ['nodejs24.x'],
      });
      template.hasResourceProperties('AWS::Lambda::Function', { Layers: [{ Ref: layerId }] });
    });

    it('gets the buckets, models and limits its env schema needs', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: {
            MODEL_BUCKET: Match.anyValue(),
            DATA_BUCKET: Match.anyValue(),
            MODEL_NAMES: 'demo',
            CAPTURE_SAMPLE_RATE: '1',
            CAPTURE_MAX_AGE_MS: '5000',
            MAX_BATCH_ROWS: '1000',
            MAX_BODY_BYTES: String(6 * 1024 * 1024),
            MICRO_BATCH_MAX_ROWS: '256',
            MICRO_BATCH_MAX_WAIT_MICROS: '0',
          },
        },
      });
    });

    it('names the storage stack\'s buckets in MODEL_BUCKET and DATA_BUCKET', () => {
      const [fn] = propertiesOfAll(template, 'AWS::Lambda::Function');
      const vars = (fn?.Environment as { Variables: Record<string, unknown> }).Variables;

      expect(flattenCfnReference(vars.MODEL_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefModelBucket/);
      expect(flattenCfnReference(vars.DATA_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefDataBucket/);
    });

    it('maps stack traces through source maps', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
      });
    });

    it('logs to its own log group kept for a month', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('FunctionLogGroup') } },
      });
      template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    });

    it('is served through a live alias on its current version', () => {
      const [versionId] = Object.keys(template.findResources('AWS::Lambda::Version'));

      template.hasResourceProperties('AWS::Lambda::Alias', {
        Name: 'live',
        FunctionVersion: { 'Fn::GetAtt': [versionId, 'Version'] },
      });
    });

    it('keeps no provisioned concurrency by default', () => {
      const [alias] = propertiesOfAll(template, 'AWS::Lambda::Alias');

      expect(alias).not.toHaveProperty('ProvisionedConcurrencyConfig');
    });
  });

  describe('permissions', () => {
    const all = statements(template);
    const s3 = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('s3:')));

    it('allow no s3 action but GetObject, ListBucket and PutObject, and no s3 wildcard action', () => {
      const actions = new Set(s3.flatMap((s) => list(s.Action)));

      expect([...actions].sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
    });

    it('allow s3:GetObject only under models/ of the model bucket', () => {
      const reads = s3.filter((s) => list(s.Action).includes('s3:GetObject'));

      expect(reads.flatMap(resourcesOf)).toEqual([expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\/models\/\*$/)]);
    });

    it('allow s3:PutObject only under capture/ of the data bucket', () => {
      const writes = s3.filter((s) => list(s.Action).includes('s3:PutObject'));

      expect(writes.flatMap(resourcesOf)).toEqual([expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+\/capture\/\*$/)]);
    });

    it('allow listing the model bucket (so a missing key is a 404, not a 403), and no other bucket', () => {
      const lists = s3.filter((s) => list(s.Action).includes('s3:ListBucket'));

      expect(lists).toHaveLength(1);
      expect(lists[0]!.Resource).toEqual(expect.objectContaining({ 'Fn::ImportValue': expect.stringMatching(/ModelBucket/) }));
    });

    it('allow listing the model bucket only under models/, the prefix the function reads', () => {
      const lists = s3.filter((s) => list(s.Action).includes('s3:ListBucket'));

      expect(lists[0]!.Condition).toEqual({ StringLike: { 's3:prefix': ['models/*'] } });
    });

    it("never name every object of a bucket, or every resource, for s3", () => {
      for (const resource of s3.flatMap(resourcesOf)) {
        expect(resource).not.toBe('*');
        if (resource.endsWith('*')) expect(resource).toMatch(/\/(models|capture)\/\*$/);
      }
    });

    it('allow kms:Decrypt and kms:GenerateDataKey on the platform key, only through S3', () => {
      const kms = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('kms:')));

      expect(kms).toHaveLength(1);
      expect(list(kms[0]?.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(resourcesOf(kms[0]!)).toEqual([expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttKey\w+Arn/)]);
      expect(kms[0]?.Condition).toEqual({ StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } });
    });

    it('allow Resource "*" only for the X-Ray actions, which have no resource-level permissions', () => {
      const starred = all.filter((s) => list(s.Resource).includes('*'));

      expect(starred.flatMap((s) => list(s.Action)).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    });

    it('let the function write logs only to its own log group', () => {
      const logs = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('logs:')));

      expect(logs.flatMap(resourcesOf)).toEqual([expect.stringMatching(/^<\w*FunctionLogGroup\w+\.Arn>$/)]);
    });

    it('give the function role no AWS managed policy', () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: Match.objectLike({
          Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
        }),
        ManagedPolicyArns: Match.absent(),
      });
    });
  });

  describe('deployments', () => {
    it('shift the live alias through CodeDeploy, 10 percent for 5 minutes first', () => {
      template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
        DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
      });
      template.hasResource('AWS::Lambda::Alias', {
        UpdatePolicy: { CodeDeployLambdaAliasUpdate: Match.objectLike({ DeploymentGroupName: Match.anyValue() }) },
      });
    });

    it('roll back when a deployment fails or an alarm fires', () => {
      template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
        AutoRollbackConfiguration: {
          Enabled: true,
          Events: Match.arrayEquals(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']),
        },
      });
    });

    it('watch the errors, 5xx and p99 duration alarms', () => {
      const [group] = propertiesOfAll(template, 'AWS::CodeDeploy::DeploymentGroup');
      const alarmIds = stack.inference.rollbackAlarms.map((a) => stack.resolve(a.alarmName));

      expect(group?.AlarmConfiguration).toMatchObject({ Enabled: true });
      expect((group?.AlarmConfiguration as { Alarms: Array<{ Name: unknown }> }).Alarms.map((a) => a.Name)).toEqual(alarmIds);
      expect(alarmIds).toHaveLength(3);
    });

    it('alarm on any function error of the live alias within a minute', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: Match.arrayWith([Match.objectLike({ Name: 'Resource' })]),
        Period: 60,
        Statistic: 'Sum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it('alarm on any 5xx answer of the API stage', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: '5XXError',
        Namespace: 'AWS/ApiGateway',
        Dimensions: Match.arrayWith([Match.objectLike({ Name: 'Stage' })]),
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it('alarm when p99 duration stays above 2000 ms', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'Duration',
        ExtendedStatistic: 'p99',
        Threshold: 2000,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
      });
    });

    it('alarm on throttled invocations, outside the rollback alarms', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Threshold: 0 });
      template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    });
  });
});

describe('ServerlessInferenceStack with API keys', () => {
  const { stack, template } = synthInference({ apiAuth: 'apiKey', throttle: { rateLimit: 20, burstLimit: 40 }, dailyQuota: 5000 });

  it('requires an API key on every method instead of IAM', () => {
    template.allResourcesProperties('AWS::ApiGateway::Method', { ApiKeyRequired: true, AuthorizationType: 'NONE' });
  });

  it('limits each key with a usage plan: the configured throttle and daily quota', () => {
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      Throttle: { RateLimit: 20, BurstLimit: 40 },
      Quota: { Limit: 5000, Period: 'DAY' },
    });
  });

  it('binds the usage plan to the stage and the API key to the plan', () => {
    const [stageId] = Object.keys(template.findResources('AWS::ApiGateway::Stage'));
    const [planId] = Object.keys(template.findResources('AWS::ApiGateway::UsagePlan'));

    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', {
      ApiStages: [Match.objectLike({ Stage: { Ref: stageId } })],
    });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlanKey', {
      KeyId: stack.resolve(stack.inference.apiKey?.keyId),
      KeyType: 'API_KEY',
      UsagePlanId: { Ref: planId },
    });
  });

  it('still throttles the whole stage', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 })]),
    });
  });

  it('outputs an example curl command with the key and the key id', () => {
    const curl = flattenCfnReference(template.findOutputs('ExampleCurl').ExampleCurl?.Value);

    expect(curl).toContain('-H "x-api-key: $API_KEY"');
    template.hasOutput('ApiKeyId', { Value: stack.resolve(stack.inference.apiKey?.keyId) });
  });
});

describe('ServerlessInferenceStack settings', () => {
  it('reserves the configured concurrency for the function', () => {
    const { template } = synthInference({ reservedConcurrency: 250 });

    expect(propertiesOfAll(template, 'AWS::Lambda::Function')[0]?.ReservedConcurrentExecutions).toBe(250);
  });

  it('reserves no concurrency when reservedConcurrency is null', () => {
    const { template } = synthInference({ reservedConcurrency: null });

    expect(propertiesOfAll(template, 'AWS::Lambda::Function')[0]).not.toHaveProperty('ReservedConcurrentExecutions');
  });

  it('keeps provisioned concurrency on the live alias when configured', () => {
    const { template } = synthInference({ provisionedConcurrency: 3 });

    template.hasResourceProperties('AWS::Lambda::Alias', {
      Name: 'live',
      ProvisionedConcurrencyConfig: { ProvisionedConcurrentExecutions: 3 },
    });
  });

  it('builds the function and its layer for x86_64 when configured', () => {
    const { template } = synthInference({ architecture: 'x86_64' });

    template.hasResourceProperties('AWS::Lambda::Function', { Architectures: ['x86_64'] });
    template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['x86_64'] });
  });

  it('shifts traffic linearly when the canary setting says so', () => {
    const { template } = synthInference({ canary: 'linear10PercentEvery1Minute' });

    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentConfigName: 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute',
    });
  });

  it('grants no KMS permission when the buckets use S3-managed keys', () => {
    const { template } = synthInference({}, { storage: { useKmsKey: false } });

    expect(statements(template).flatMap((s) => list(s.Action)).filter((a) => String(a).startsWith('kms:'))).toEqual([]);
  });

  it('is left out when no model is served by Lambda', () => {
    const app = testApp({ builtinCloudFormationValidation: false });
    const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'big', servingMode: 'gpu' }] }));

    expect(platform.serverlessInference).toBeUndefined();
  });

  it('serves the models whose servingMode is serverless or both', () => {
    const { template } = synthInference({}, {
      models: [{ name: 'a' }, { name: 'b', servingMode: 'gpu' }, { name: 'c', servingMode: 'both' }],
    });

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MODEL_NAMES: 'a,c' }) },
    });
  });
});

describe('ServerlessInference', () => {
  function construct(extra: Partial<ConstructorParameters<typeof ServerlessInference>[2]> = {}): { stack: Stack; template: Template } {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test');
    new ServerlessInference(stack, 'Inference', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      key: Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:us-east-1:123456789012:key/abcd'),
      modelNames: ['demo'],
      ...extra,
    });
    return { stack, template: Template.fromStack(stack) };
  }

  it('sends every alarm to the alarm topic when one is given', () => {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test');
    const topic = new Topic(stack, 'Alarms');
    new ServerlessInference(stack, 'Inference', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      modelNames: ['demo'],
      alarmTopic: topic,
    });

    Template.fromStack(stack).allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [stack.resolve(topic.topicArn)] });
  });

  it('sends alarms nowhere without a topic', () => {
    const { template } = construct();

    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: Match.absent() });
  });

  it('rolls back at the p99 latency threshold it is given', () => {
    const { template } = construct({ latencyThreshold: Duration.millis(750) });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', Threshold: 750 });
  });

  it('rejects a timeout above API Gateway\'s 29 seconds, showing the value', () => {
    expect(() => construct({ timeout: Duration.seconds(60) })).toThrow(/timeout must be at most 29 seconds.*\(received 1 minute\)/);
  });

  it('reserves no concurrency unless it is given some (the construct on its own)', () => {
    const { template } = construct();

    expect(propertiesOfAll(template, 'AWS::Lambda::Function')[0]).not.toHaveProperty('ReservedConcurrentExecutions');
  });

  it('rejects a reserved concurrency below the provisioned concurrency, showing both', () => {
    expect(() => construct({ provisionedConcurrency: 5, reservedConcurrency: 2 })).toThrow(
      /reservedConcurrency must be .* at least provisionedConcurrency \(5\).*\(received 2\)/,
    );
  });

  it('rejects an empty model list', () => {
    expect(() => construct({ modelNames: [] })).toThrow(/at least one model name \(received \[\]\)/);
  });

  it('rejects a daily quota without API keys', () => {
    expect(() => construct({ dailyQuota: 100 })).toThrow(/dailyQuota applies to API keys.*\(received 'iam'\)/);
  });
});

describe('cdk-nag', () => {
  /** Ids of the rules acknowledged in the app (at paths ending with `pathSuffix`), without CDK's `Annotation::` namespace. */
  function ruleIds(app: App, pathSuffix = ''): string[] {
    return acknowledgements(app)
      .filter((a) => a.path.endsWith(pathSuffix))
      .map((a) => a.id.replace(/^Annotation::/, ''));
  }

  function nagApp(serverless: object): App {
    const app = testApp({ builtinCloudFormationValidation: false });
    addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], serverless }));
    applyNagChecks(app);
    return app;
  }

  it('reports no unacknowledged finding with IAM auth', () => {
    expect(unacknowledgedFindings(nagApp({}))).toEqual([]);
  });

  it('reports no unacknowledged finding with API keys', () => {
    expect(unacknowledgedFindings(nagApp({ apiAuth: 'apiKey', dailyQuota: 1000 }))).toEqual([]);
  });

  it('acknowledges APIG4 (no authorization) only in apiKey mode', () => {
    const iam = nagApp({});
    const apiKey = nagApp({ apiAuth: 'apiKey' });

    expect(ruleIds(iam)).not.toContain('AwsSolutions-APIG4');
    expect(ruleIds(apiKey)).toContain('AwsSolutions-APIG4');
  });

  it('acknowledges the prefix wildcards of the bucket policy by their exact resources, and no other', () => {
    const app = nagApp({});
    unacknowledgedFindings(app);

    const bucketAccess = ruleIds(app, '/Inference/BucketAccess');
    expect(bucketAccess.sort()).toEqual([
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+\/capture\/\*\]$/),
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\/models\/\*\]$/),
    ]);
  });
});
