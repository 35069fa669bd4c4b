import { type App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { GpuEndpoint, type GpuEndpointProps, hasInstanceStorage } from '../../infra/constructs/gpu-endpoint';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks, type Platform } from '../../infra/platform';
import type { GpuEndpointStack } from '../../infra/stacks/gpu-endpoint-stack';
import { acknowledgements, list, only, propertiesOfAll, type Statement, testApp, unacknowledgedFindings } from './support';

const IMAGE = '763104351884.dkr.ecr.us-east-1.amazonaws.com/sagemaker-tritonserver:24.09-py3';

/** The platform for `stage: test`, with `config` merged over one model served on GPU only. */
function synthPlatform(config: object = {}): { app: App; platform: Platform } {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo', servingMode: 'gpu' }], ...config }));
  return { app, platform };
}

/** The platform's GPU endpoint stack and its template. */
function synthGpu(config: object = {}): { stack: GpuEndpointStack; template: Template } {
  const stack = synthPlatform(config).platform.gpuEndpoints;
  if (!stack) throw new Error('no GPU endpoint stack');
  return { stack, template: Template.fromStack(stack) };
}

function logicalId(template: Template, type: string, pattern: RegExp): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => pattern.test(id));
  expect(ids, `${type} matching ${pattern}`).toHaveLength(1);
  return ids[0]!;
}

/** Statements of the IAM policies attached to roles whose logical id matches `role` (and whose own logical id matches `policy`). */
function statementsOf(template: Template, role: RegExp, policy = /./): Statement[] {
  const policies = Object.entries(template.findResources('AWS::IAM::Policy')) as Array<[string, { Properties: { Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: Statement[] } } }]>;
  return policies.filter(([id, p]) => policy.test(id) && p.Properties.Roles.some((r) => role.test(r.Ref))).flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

function actionsOf(statements: Statement[]): string[] {
  return [...new Set(statements.flatMap((s) => list(s.Action) as string[]))].sort();
}

function withAction(statements: Statement[], action: string): Statement[] {
  return statements.filter((s) => list(s.Action).includes(action));
}

describe('GpuEndpointStack', () => {
  const { stack, template } = synthGpu();
  // The endpoint's own execution policy; Batch Transform adds its staging I/O to the role separately (test/infra/batch-transform.test.ts).
  const execution = statementsOf(template, /^DemoExecutionRole/, /^DemoExecutionPolicy/);

  it('is named after the stage', () => {
    expect(stack.stackName).toBe('Mlops-test-GpuEndpoint');
  });

  describe('model', () => {
    const model = only(template, 'AWS::SageMaker::Model') as { PrimaryContainer: Record<string, unknown>; [key: string]: unknown };

    it("runs AWS's SageMaker Triton image of the stack's region", () => {
      expect(model.PrimaryContainer.Image).toBe(IMAGE);
    });

    it("reads the configured version's Triton artifact from the storage stack's model bucket", () => {
      expect(flattenCfnReference(model.PrimaryContainer.ModelDataUrl)).toMatch(
        /^s3:\/\/Mlops-test-Storage:ExportsOutputRefModelBucket\w+\/models\/demo\/1\.0\.0\/triton\/model\.tar\.gz$/,
      );
    });

    it('tells Triton which model of the repository to serve', () => {
      expect(model.PrimaryContainer.Environment).toEqual({ SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: 'demo' });
    });

    it('runs with its own execution role', () => {
      expect(model.ExecutionRoleArn).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::IAM::Role', /^DemoExecutionRole/), 'Arn'] });
    });

    it('isolates the container from the network, and is in no VPC by default', () => {
      expect(model.EnableNetworkIsolation).toBe(true);
      expect(model).not.toHaveProperty('VpcConfig');
    });

    it('is tagged with the package version it serves', () => {
      expect(model.Tags).toEqual(expect.arrayContaining([{ Key: 'mlops:model-version', Value: '1.0.0' }]));
    });
  });

  describe('endpoint configuration', () => {
    const config = only(template, 'AWS::SageMaker::EndpointConfig') as Record<string, unknown>;

    it('has one variant, AllTraffic, on one ml.g5.xlarge GPU instance', () => {
      expect(config.ProductionVariants).toEqual([
        {
          VariantName: 'AllTraffic',
          ModelName: { 'Fn::GetAtt': [logicalId(template, 'AWS::SageMaker::Model', /^DemoModel/), 'ModelName'] },
          InstanceType: 'ml.g5.xlarge',
          InitialInstanceCount: 1,
          InitialVariantWeight: 1,
        },
      ]);
    });

    it('captures every request and response, JSON bodies as JSON text', () => {
      expect(config.DataCaptureConfig).toMatchObject({
        EnableCapture: true,
        InitialSamplingPercentage: 100,
        CaptureOptions: [{ CaptureMode: 'Input' }, { CaptureMode: 'Output' }],
        CaptureContentTypeHeader: { JsonContentTypes: ['application/json'] },
      });
    });

    it("writes the capture under capture-raw/<model>/ of the storage stack's data bucket", () => {
      const capture = config.DataCaptureConfig as { DestinationS3Uri: unknown };

      expect(flattenCfnReference(capture.DestinationS3Uri)).toMatch(/^s3:\/\/Mlops-test-Storage:ExportsOutputRefDataBucket\w+\/capture-raw\/demo\/$/);
    });

    it("encrypts the capture with the platform's KMS key", () => {
      const capture = config.DataCaptureConfig as { KmsKeyId: unknown };

      expect(flattenCfnReference(capture.KmsKeyId)).toMatch(/^Mlops-test-Storage:ExportsOutputFnGetAttKey\w+Arn\w*$/);
    });

    it('names no volume key for ml.g5, whose NVMe storage is encrypted in hardware and which SageMaker refuses a KmsKeyId for', () => {
      expect(config).not.toHaveProperty('KmsKeyId');
    });
  });

  describe('endpoint', () => {
    const endpoint = only(template, 'AWS::SageMaker::Endpoint') as { DeploymentConfig: Record<string, unknown>; [key: string]: unknown };

    it('has a stable name, mlops-<stage>-<model>, and the configuration above', () => {
      expect(endpoint.EndpointName).toBe('mlops-test-demo');
      expect(endpoint.EndpointConfigName).toEqual({ 'Fn::GetAtt': [logicalId(template, 'AWS::SageMaker::EndpointConfig', /^DemoConfig/), 'EndpointConfigName'] });
    });

    it('deploys blue/green: a 10% canary of capacity, watched for 10 minutes', () => {
      expect(endpoint.DeploymentConfig.BlueGreenUpdatePolicy).toMatchObject({
        TrafficRoutingConfiguration: { Type: 'CANARY', CanarySize: { Type: 'CAPACITY_PERCENT', Value: 10 }, WaitIntervalInSeconds: 600 },
      });
    });

    it('bounds a deployment at an hour and keeps the old fleet 5 minutes after the shift', () => {
      expect(endpoint.DeploymentConfig.BlueGreenUpdatePolicy).toMatchObject({ MaximumExecutionTimeoutInSeconds: 3600, TerminationWaitInSeconds: 300 });
    });

    it('rolls a deployment back on the 5xx and p99 latency alarms', () => {
      const alarms = [logicalId(template, 'AWS::CloudWatch::Alarm', /^DemoServerErrorsAlarm/), logicalId(template, 'AWS::CloudWatch::Alarm', /^DemoLatencyAlarm/)];

      expect(endpoint.DeploymentConfig.AutoRollbackConfiguration).toEqual({ Alarms: alarms.map((id) => ({ AlarmName: { Ref: id } })) });
    });

    it('is created after the execution policy, so SageMaker can fetch the image and the artifact', () => {
      const [resource] = Object.values(template.findResources('AWS::SageMaker::Endpoint')) as Array<{ DependsOn?: string[] }>;

      expect(resource?.DependsOn).toEqual(expect.arrayContaining([logicalId(template, 'AWS::IAM::Policy', /^DemoExecutionPolicy/)]));
    });
  });

  describe('autoscaling', () => {
    it("scales the variant's instance count between the model's min and max", () => {
      const target = only(template, 'AWS::ApplicationAutoScaling::ScalableTarget');

      expect(target).toMatchObject({
        ServiceNamespace: 'sagemaker',
        ResourceId: 'endpoint/mlops-test-demo/variant/AllTraffic',
        ScalableDimension: 'sagemaker:variant:DesiredInstanceCount',
        MinCapacity: 1,
        MaxCapacity: 2,
      });
    });

    it("uses Application Auto Scaling's service-linked role, creating no role of its own", () => {
      expect(only(template, 'AWS::ApplicationAutoScaling::ScalableTarget')).not.toHaveProperty('RoleARN');
    });

    it('is registered after the endpoint exists', () => {
      const [resource] = Object.values(template.findResources('AWS::ApplicationAutoScaling::ScalableTarget')) as Array<{ DependsOn?: string[] }>;

      expect(resource?.DependsOn).toEqual(expect.arrayContaining([logicalId(template, 'AWS::SageMaker::Endpoint', /^DemoEndpoint/)]));
    });

    it('tracks 100 invocations per instance per minute', () => {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        ScalingTargetId: { Ref: logicalId(template, 'AWS::ApplicationAutoScaling::ScalableTarget', /^DemoScalableTarget/) },
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: 100,
          PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' },
        },
      });
    });
  });

  describe('alarms', () => {
    const dimensions = [
      { Name: 'EndpointName', Value: 'mlops-test-demo' },
      { Name: 'VariantName', Value: 'AllTraffic' },
    ];

    it("alarm on any Invocation5XXErrors of the endpoint's variant within a minute", () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SageMaker',
        MetricName: 'Invocation5XXErrors',
        Dimensions: dimensions,
        Statistic: 'Sum',
        Period: 60,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it('alarm when p99 ModelLatency stays above 100 ms, in the microseconds SageMaker reports', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SageMaker',
        MetricName: 'ModelLatency',
        Dimensions: dimensions,
        ExtendedStatistic: 'p99',
        Threshold: 100_000,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
      });
    });
  });

  describe('execution role', () => {
    it('is assumed by SageMaker only', () => {
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'sagemaker.amazonaws.com' } })] },
        Description: Match.stringLikeRegexp('endpoint mlops-test-demo'),
      });
    });

    it('allows s3:GetObject and s3:PutObject and no other s3 action', () => {
      expect(actionsOf(execution).filter((a) => a.startsWith('s3:'))).toEqual(['s3:GetObject', 's3:PutObject']);
    });

    it("reads only this model's Triton artifacts in the model bucket", () => {
      const reads = withAction(execution, 's3:GetObject').flatMap((s) => list(s.Resource).map(flattenCfnReference));

      expect(reads).toEqual([expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\/models\/demo\/\*\/triton\/model\.tar\.gz$/)]);
    });

    it("writes only under capture-raw/<model>/ of the data bucket", () => {
      const writes = withAction(execution, 's3:PutObject').flatMap((s) => list(s.Resource).map(flattenCfnReference));

      expect(writes).toEqual([expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+\/capture-raw\/demo\/\*$/)]);
    });

    it('pulls only from the Triton image repository', () => {
      const pulls = withAction(execution, 'ecr:BatchGetImage');

      expect(pulls).toHaveLength(1);
      expect(pulls[0]?.Resource).toBe('arn:aws:ecr:us-east-1:763104351884:repository/sagemaker-tritonserver');
      expect(actionsOf(pulls)).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
    });

    it('has ecr:GetAuthorizationToken, which takes no resource, alone in its statement', () => {
      const [login] = withAction(execution, 'ecr:GetAuthorizationToken');

      expect(login).toMatchObject({ Action: 'ecr:GetAuthorizationToken', Resource: '*' });
    });

    it("writes logs only to the endpoint's own log group, kept for a month", () => {
      const logGroup = logicalId(template, 'AWS::Logs::LogGroup', /^DemoLogs/);
      const logs = execution.filter((s) => list(s.Action).some((a) => String(a).startsWith('logs:')));

      expect(logs.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [logGroup, 'Arn'] }]);
      template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/sagemaker/Endpoints/mlops-test-demo', RetentionInDays: 30 });
    });

    it("puts metrics only in SageMaker's endpoint namespace", () => {
      const [metrics] = withAction(execution, 'cloudwatch:PutMetricData');

      expect(metrics?.Condition).toEqual({ StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/Endpoints' } });
    });

    it('uses the platform key only through S3', () => {
      const kms = execution.filter((s) => list(s.Action).some((a) => String(a).startsWith('kms:')));

      expect(kms).toHaveLength(1);
      expect(kms[0]).toMatchObject({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } } });
    });

    it('has no EC2 permissions without a VPC', () => {
      expect(actionsOf(execution).filter((a) => a.startsWith('ec2:'))).toEqual([]);
    });
  });

  describe('proxy function', () => {
    const proxy = statementsOf(template, /^ProxyFunctionRole/);

    it('may call sagemaker:InvokeEndpoint on this endpoint only', () => {
      const invoke = withAction(proxy, 'sagemaker:InvokeEndpoint');

      expect(invoke).toHaveLength(1);
      expect(invoke[0]).toMatchObject({ Action: 'sagemaker:InvokeEndpoint', Resource: { Ref: logicalId(template, 'AWS::SageMaker::Endpoint', /^DemoEndpoint/) } });
    });

    it('has no sagemaker action but InvokeEndpoint anywhere in the stack outside the Batch Transform state machine', () => {
      const all = statementsOf(template, /^(?!BatchTransformStateMachineRole)/);

      expect(actionsOf(all).filter((a) => a.startsWith('sagemaker:'))).toEqual(['sagemaker:InvokeEndpoint']);
    });

    it("reads only the served version's manifest", () => {
      const reads = withAction(proxy, 's3:GetObject').flatMap((s) => list(s.Resource).map(flattenCfnReference));

      expect(reads).toEqual([expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\/models\/demo\/1\.0\.0\/manifest\.json$/)]);
      expect(actionsOf(proxy).filter((a) => a.startsWith('s3:'))).toEqual(['s3:GetObject']);
    });

    it('is told each model\'s endpoint and version, the row limit and the time budget', () => {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            ENDPOINTS: JSON.stringify({ demo: { endpoint: 'mlops-test-demo', version: '1.0.0' } }),
            MAX_BATCH_ROWS: '1000',
            INVOKE_TIMEOUT_MS: '10000',
            MAX_ATTEMPTS: '3',
          }),
        },
      });
    });

    it('runs Node.js 24 on arm64 without the ONNX Runtime layer', () => {
      template.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs24.x', Architectures: ['arm64'], MemorySize: 512, Timeout: 29 });
      template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
    });
  });

  describe('API', () => {
    it('routes /v2/{proxy+} and /models/{proxy+}, like the serverless API, to the proxy function', () => {
      const paths = propertiesOfAll(template, 'AWS::ApiGateway::Resource').map((r) => r.PathPart);
      const fn = logicalId(template, 'AWS::Lambda::Function', /^ProxyFunction/);

      expect(paths.sort()).toEqual(['models', 'v2', '{proxy+}', '{proxy+}']);
      for (const method of propertiesOfAll(template, 'AWS::ApiGateway::Method')) {
        expect(method).toMatchObject({ HttpMethod: 'ANY', Integration: { Type: 'AWS_PROXY' } });
        expect(JSON.stringify(method.Integration)).toContain(fn);
      }
    });

    it('requires AWS_IAM authorization and validates parameters on every method', () => {
      template.allResourcesProperties('AWS::ApiGateway::Method', {
        AuthorizationType: 'AWS_IAM',
        RequestParameters: { 'method.request.path.proxy': true },
      });
    });

    it('throttles the stage like the serverless API, traces it and logs errors without bodies', () => {
      template.hasResourceProperties('AWS::ApiGateway::Stage', {
        StageName: 'test',
        TracingEnabled: true,
        MethodSettings: Match.arrayWith([
          Match.objectLike({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200, LoggingLevel: 'ERROR', DataTraceEnabled: false }),
        ]),
      });
    });

    it('sits behind a web ACL with the AWS common rule set and a per-IP rate limit', () => {
      template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
      template.hasResourceProperties('AWS::WAFv2::WebACL', {
        Rules: Match.arrayWith([
          Match.objectLike({ Statement: { ManagedRuleGroupStatement: Match.objectLike({ Name: 'AWSManagedRulesCommonRuleSet' }) } }),
          Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ Limit: 6000 }) } }),
        ]),
      });
    });

    it("creates API Gateway's account CloudWatch role when no serverless stack does", () => {
      template.resourceCountIs('AWS::ApiGateway::Account', 1);
    });

    it('outputs the API URL, the endpoint name and where the artifact must be', () => {
      template.hasOutput('ApiUrl', { Value: stack.resolve(stack.proxy.url) });
      template.hasOutput('DemoEndpointName', { Value: 'mlops-test-demo' });
      expect(flattenCfnReference(template.findOutputs('DemoModelDataUrl').DemoModelDataUrl?.Value)).toMatch(/\/models\/demo\/1\.0\.0\/triton\/model\.tar\.gz$/);
    });
  });
});

describe('GpuEndpointStack settings', () => {
  it('serves the version that gpu.modelVersions names', () => {
    const { template } = synthGpu({ gpu: { modelVersions: { demo: '2.1.0' } } });
    const model = only(template, 'AWS::SageMaker::Model') as { PrimaryContainer: { ModelDataUrl: unknown } };

    expect(flattenCfnReference(model.PrimaryContainer.ModelDataUrl)).toMatch(/\/models\/demo\/2\.1\.0\/triton\/model\.tar\.gz$/);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ENDPOINTS: JSON.stringify({ demo: { endpoint: 'mlops-test-demo', version: '2.1.0' } }) }) },
    });
  });

  it("uses the model's instance type and instance bounds", () => {
    const { template } = synthGpu({ models: [{ name: 'demo', servingMode: 'gpu', gpuInstanceType: 'ml.g6.2xlarge', minInstances: 2, maxInstances: 6 }] });

    template.hasResourceProperties('AWS::SageMaker::EndpointConfig', {
      ProductionVariants: [Match.objectLike({ InstanceType: 'ml.g6.2xlarge', InitialInstanceCount: 2 })],
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: 6 });
  });

  it('encrypts the volume of an instance type without NVMe storage with the platform key', () => {
    const { template } = synthGpu({ models: [{ name: 'demo', servingMode: 'gpu', gpuInstanceType: 'ml.p3.2xlarge' }] });
    const config = only(template, 'AWS::SageMaker::EndpointConfig');

    expect(flattenCfnReference(config.KmsKeyId)).toMatch(/^Mlops-test-Storage:ExportsOutputFnGetAttKey\w+Arn\w*$/);
  });

  it('lets the execution role create only AWS-resource grants on the volume key', () => {
    const { template } = synthGpu({ models: [{ name: 'demo', servingMode: 'gpu', gpuInstanceType: 'ml.p3.2xlarge' }] });
    const [grant] = withAction(statementsOf(template, /^DemoExecutionRole/), 'kms:CreateGrant');

    expect(grant).toMatchObject({ Action: ['kms:CreateGrant', 'kms:DescribeKey'], Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } });
  });

  it('creates a rotating key for the volume when the buckets have none', () => {
    const { template } = synthGpu({ storage: { useKmsKey: false }, models: [{ name: 'demo', servingMode: 'gpu', gpuInstanceType: 'ml.p3.2xlarge' }] });
    const key = logicalId(template, 'AWS::KMS::Key', /^DemoVolumeKey/);

    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    expect(only(template, 'AWS::SageMaker::EndpointConfig').KmsKeyId).toEqual({ 'Fn::GetAtt': [key, 'Arn'] });
  });

  it('captures without a KMS key and grants no KMS permission when the buckets use S3-managed keys', () => {
    const { template } = synthGpu({ storage: { useKmsKey: false } });
    const capture = only(template, 'AWS::SageMaker::EndpointConfig').DataCaptureConfig as Record<string, unknown>;

    expect(capture).not.toHaveProperty('KmsKeyId');
    expect(actionsOf(statementsOf(template, /./)).filter((a) => a.startsWith('kms:'))).toEqual([]);
  });

  it('takes the canary, waits and latency threshold from the gpu section', () => {
    const { template } = synthGpu({ gpu: { canaryPercent: 25, canaryWaitSeconds: 120, terminationWaitSeconds: 60, maxDeploymentSeconds: 1800, latencyP99Ms: 40 } });

    template.hasResourceProperties('AWS::SageMaker::Endpoint', {
      DeploymentConfig: Match.objectLike({
        BlueGreenUpdatePolicy: {
          TrafficRoutingConfiguration: { Type: 'CANARY', CanarySize: { Type: 'CAPACITY_PERCENT', Value: 25 }, WaitIntervalInSeconds: 120 },
          MaximumExecutionTimeoutInSeconds: 1800,
          TerminationWaitInSeconds: 60,
        },
      }),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ModelLatency', Threshold: 40_000 });
  });

  it('tracks the configured invocations per instance and samples capture at the configured rate', () => {
    const { template } = synthGpu({ gpu: { targetInvocationsPerInstance: 250, captureSamplePercent: 20 } });

    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', { TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 250 }) });
    template.hasResourceProperties('AWS::SageMaker::EndpointConfig', { DataCaptureConfig: Match.objectLike({ InitialSamplingPercentage: 20 }) });
  });

  it('runs the containers in the configured VPC, with the network-interface permissions that needs', () => {
    const { template } = synthGpu({ gpu: { vpc: { subnetIds: ['subnet-0a', 'subnet-0b'], securityGroupIds: ['sg-0c'] } } });

    template.hasResourceProperties('AWS::SageMaker::Model', { VpcConfig: { Subnets: ['subnet-0a', 'subnet-0b'], SecurityGroupIds: ['sg-0c'] } });
    expect(actionsOf(statementsOf(template, /^DemoExecutionRole/))).toEqual(expect.arrayContaining(['ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface']));
  });

  it('pulls a configured image from its own repository', () => {
    const image = '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/triton:25.01-py3';
    const { template } = synthGpu({ gpu: { tritonImage: image } });

    template.hasResourceProperties('AWS::SageMaker::Model', { PrimaryContainer: Match.objectLike({ Image: image }) });
    expect(withAction(statementsOf(template, /^DemoExecutionRole/), 'ecr:BatchGetImage')[0]?.Resource).toBe('arn:aws:ecr:us-east-1:123456789012:repository/team/triton');
  });

  it("uses the region's Triton registry in another region", () => {
    const { template } = synthGpu({ region: 'eu-south-1' });

    template.hasResourceProperties('AWS::SageMaker::Model', {
      PrimaryContainer: Match.objectLike({ Image: '692866216735.dkr.ecr.eu-south-1.amazonaws.com/sagemaker-tritonserver:24.09-py3' }),
    });
  });

  it('uses the API key mode and limits of the serverless section', () => {
    const { template } = synthGpu({ serverless: { apiAuth: 'apiKey', throttle: { rateLimit: 20, burstLimit: 40 }, dailyQuota: 500 } });

    template.allResourcesProperties('AWS::ApiGateway::Method', { ApiKeyRequired: true, AuthorizationType: 'NONE' });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: { RateLimit: 20, BurstLimit: 40 }, Quota: { Limit: 500, Period: 'DAY' } });
  });

  it("caps the proxy's row limit at Triton's max_batch_size", () => {
    const { template } = synthGpu({ gpu: { maxBatchSize: 256, preferredBatchSizes: [8, 16, 32] } });

    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ MAX_BATCH_ROWS: '256' }) } });
  });

  it('gives every GPU model its own endpoint behind the one proxy', () => {
    const { template } = synthGpu({ models: [{ name: 'demo', servingMode: 'gpu' }, { name: 'fraud-v2', servingMode: 'both' }] });

    template.resourceCountIs('AWS::SageMaker::Endpoint', 2);
    template.hasResourceProperties('AWS::SageMaker::Endpoint', { EndpointName: 'mlops-test-fraud-v2' });
    expect(Object.keys(template.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('ProxyFunction'))).toHaveLength(1);
    expect(withAction(statementsOf(template, /^ProxyFunctionRole/), 'sagemaker:InvokeEndpoint').flatMap((s) => list(s.Resource))).toHaveLength(2);
  });
});

describe('the platform with GPU models', () => {
  it('adds no GPU stack when every model is served by Lambda', () => {
    expect(synthPlatform({ models: [{ name: 'demo' }] }).platform.gpuEndpoints).toBeUndefined();
  });

  it('serves a "both" model from the Lambda API and a GPU endpoint', () => {
    const { platform } = synthPlatform({ models: [{ name: 'demo', servingMode: 'both' }] });

    expect(platform.serverlessInference).toBeDefined();
    expect([...platform.gpuEndpoints!.endpoints.keys()]).toEqual(['demo']);
  });

  it('puts only the gpu and both models on GPU endpoints', () => {
    const { platform } = synthPlatform({ models: [{ name: 'a' }, { name: 'b', servingMode: 'gpu' }, { name: 'c', servingMode: 'both' }] });

    expect([...platform.gpuEndpoints!.endpoints.keys()]).toEqual(['b', 'c']);
  });

  it("leaves API Gateway's account role to the serverless stack, deployed first, when there is one", () => {
    const { platform } = synthPlatform({ models: [{ name: 'demo', servingMode: 'both' }] });

    Template.fromStack(platform.gpuEndpoints!).resourceCountIs('AWS::ApiGateway::Account', 0);
    expect(platform.gpuEndpoints!.dependencies).toContain(platform.serverlessInference);
  });
});

describe('GpuEndpoint', () => {
  function construct(extra: Partial<GpuEndpointProps> = {}): Template {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test', { env: { region: 'us-east-1' } });
    new GpuEndpoint(stack, 'Demo', {
      modelName: 'demo',
      modelVersion: '1.0.0',
      endpointName: 'mlops-dev-demo',
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      key: Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:us-east-1:123456789012:key/abcd'),
      image: IMAGE,
      ...extra,
    });
    return Template.fromStack(stack);
  }

  it('sends both alarms to the alarm topic when one is given', () => {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test');
    const topic = new Topic(stack, 'Alarms');
    new GpuEndpoint(stack, 'Demo', {
      modelName: 'demo',
      modelVersion: '1.0.0',
      endpointName: 'mlops-dev-demo',
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      image: IMAGE,
      alarmTopic: topic,
    });

    Template.fromStack(stack).allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [stack.resolve(topic.topicArn)] });
  });

  it('rejects an endpoint name SageMaker would refuse, showing it', () => {
    expect(() => construct({ endpointName: 'mlops_dev_demo' })).toThrow(/endpointName must be 1–63 letters.*\(received mlops_dev_demo\)/);
  });

  it('rejects a deployment timeout shorter than the canary wait and termination wait', () => {
    expect(() => construct({ canaryWait: Duration.minutes(30), terminationWait: Duration.minutes(30), maxDeploymentTime: Duration.minutes(45) })).toThrow(
      /maxDeploymentTime must be 600–14400 s and exceed canaryWait \+ terminationWait \(received 45 minutes/,
    );
  });

  it('rejects a minimum above the maximum', () => {
    expect(() => construct({ minInstances: 3, maxInstances: 2 })).toThrow(/1 <= minInstances <= maxInstances \(received 3 and 2\)/);
  });

  it('rejects an image outside ECR', () => {
    expect(() => construct({ image: 'nvcr.io/nvidia/tritonserver:24.09-py3' })).toThrow(/Expected an ECR image URI/);
  });

  it('grants sagemaker:InvokeEndpoint on its endpoint to a grantee', () => {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test');
    const endpoint = new GpuEndpoint(stack, 'Demo', {
      modelName: 'demo',
      modelVersion: '1.0.0',
      endpointName: 'mlops-dev-demo',
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      image: IMAGE,
    });

    const grant = endpoint.grantInvoke(endpoint.role);

    expect(grant.success).toBe(true);
    expect(stack.resolve(endpoint.endpointArn)).toEqual({ Ref: stack.getLogicalId(endpoint.endpoint) });
  });
});

describe('hasInstanceStorage', () => {
  it('knows the GPU families with NVMe instance storage', () => {
    expect(['ml.g4dn.xlarge', 'ml.g5.xlarge', 'ml.g6.2xlarge', 'ml.p4d.24xlarge'].map(hasInstanceStorage)).toEqual([true, true, true, true]);
  });

  it('knows families whose storage is EBS', () => {
    expect(['ml.p3.2xlarge', 'ml.m5.xlarge', 'ml.c5.large', 'ml.inf2.xlarge'].map(hasInstanceStorage)).toEqual([false, false, false, false]);
  });
});

describe('cdk-nag on the GPU stack', () => {
  function nagApp(config: object): App {
    const app = testApp({ builtinCloudFormationValidation: false });
    addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo', servingMode: 'both' }], ...config }));
    applyNagChecks(app);
    return app;
  }

  /** Ids of the rules acknowledged at paths ending with `pathSuffix`, without CDK's `Annotation::` namespace. */
  function ruleIds(app: App, pathSuffix: string): string[] {
    return acknowledgements(app)
      .filter((a) => a.path.endsWith(pathSuffix))
      .map((a) => a.id.replace(/^Annotation::/, ''));
  }

  it('reports no unacknowledged finding with a "both" model', () => {
    expect(unacknowledgedFindings(nagApp({}))).toEqual([]);
  });

  it('reports no unacknowledged finding with a VPC and API keys', () => {
    const app = nagApp({ gpu: { vpc: { subnetIds: ['subnet-0a'], securityGroupIds: ['sg-0b'] } }, serverless: { apiAuth: 'apiKey' } });

    expect(unacknowledgedFindings(app)).toEqual([]);
  });

  it('reports no unacknowledged finding with S3-managed keys and a volume key of its own', () => {
    const app = nagApp({ storage: { useKmsKey: false }, models: [{ name: 'demo', servingMode: 'gpu', gpuInstanceType: 'ml.p3.2xlarge' }] });

    expect(unacknowledgedFindings(app)).toEqual([]);
  });

  it("acknowledges the execution policy's wildcards by their exact resources, and the resource-less actions", () => {
    const app = nagApp({});
    unacknowledgedFindings(app);

    expect(ruleIds(app, '/Demo/ExecutionPolicy').sort()).toEqual([
      'AwsSolutions-IAM5[Resource::*]',
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+\/capture-raw\/demo\/\*\]$/),
      expect.stringMatching(/^AwsSolutions-IAM5\[Resource::Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\/models\/demo\/\*\/triton\/model\.tar\.gz\]$/),
    ]);
  });

  it('acknowledges nothing on the SageMaker resources themselves', () => {
    const app = nagApp({});

    expect(ruleIds(app, '/Demo/Endpoint')).toEqual([]);
    expect(ruleIds(app, '/Demo/Config')).toEqual([]);
    expect(ruleIds(app, '/Demo/Model')).toEqual([]);
  });

  it('explains every acknowledgement of the GPU stack in a sentence', () => {
    const acks = acknowledgements(nagApp({})).filter((a) => a.path.startsWith('Mlops-test-GpuEndpoint/'));

    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) expect(ack.reason.trim().split(/\s+/).length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(8);
  });
});
