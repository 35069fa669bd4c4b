import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../core/platform-config';
import { resolveLlmImage } from '../../infra/constructs/llm-image';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks } from '../../infra/platform';
import type { LlmEndpointStack } from '../../infra/stacks/llm-endpoint-stack';
import { acknowledgements, list, type Statement, testApp, unacknowledgedFindings } from './support';

const HF_MODEL = { name: 'chat', modelId: 'Qwen/Qwen2.5-1.5B-Instruct' };
const BUCKET_MODEL = { name: 'local-weights', weightsPrefix: 'llm/mistral/', instanceType: 'ml.p3.2xlarge', minInstances: 2, maxInstances: 4, env: { OPTION_DTYPE: 'fp16' } };

/** The platform for `stage: test` with one tabular model and the given llm section. */
function synthApp(llm: object = { models: [HF_MODEL, BUCKET_MODEL] }, config: object = {}, cloudFormationValidation = false): { app: App; stack: LlmEndpointStack } {
  const app = testApp({ builtinCloudFormationValidation: cloudFormationValidation });
  const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], llm, ...config }));
  if (!platform.llm) throw new Error('no LLM stack');
  return { app, stack: platform.llm };
}

function propertiesOf(template: Template, type: string, logicalId: RegExp): Record<string, unknown> {
  const matches = Object.entries(template.findResources(type)).filter(([id]) => logicalId.test(id));
  expect(matches.map(([id]) => id), `${type} ${logicalId}`).toHaveLength(1);
  return (matches[0]![1] as { Properties: Record<string, unknown> }).Properties;
}

function statementsOf(template: Template, role: RegExp): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{ Properties: { Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: Statement[] } } }>;
  return policies.filter((p) => p.Properties.Roles.some((r) => role.test(r.Ref))).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

function endpointLogicalId(template: Template, prefix: string): string {
  const [id] = Object.keys(template.findResources('AWS::SageMaker::Endpoint')).filter((k) => k.startsWith(prefix));
  return id!;
}

describe('LlmEndpointStack', () => {
  const { stack } = synthApp();
  const template = Template.fromStack(stack);

  it('is named after the stage and exists only with an llm section', () => {
    const app = testApp({ builtinCloudFormationValidation: false });

    expect(stack.stackName).toBe('Mlops-test-LlmEndpoint');
    expect(addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }] })).llm).toBeUndefined();
  });

  describe('model', () => {
    it('runs the LMI container of the region with vLLM rolling batch and the configured settings', () => {
      const model = propertiesOf(template, 'AWS::SageMaker::Model', /^ChatLlmModel/);

      expect(model.PrimaryContainer).toMatchObject({
        Image: '763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.31.0-lmi13.0.0-cu124',
        Environment: { OPTION_ROLLING_BATCH: 'vllm', TENSOR_PARALLEL_DEGREE: 'max', OPTION_MAX_MODEL_LEN: '4096', OPTION_MAX_ROLLING_BATCH_SIZE: '32', HF_MODEL_ID: 'Qwen/Qwen2.5-1.5B-Instruct' },
      });
    });

    it('lets a container that downloads from Hugging Face reach the network', () => {
      expect(propertiesOf(template, 'AWS::SageMaker::Model', /^ChatLlmModel/).EnableNetworkIsolation).toBe(false);
    });

    it('has SageMaker copy weights from the model bucket uncompressed, and isolates that container', () => {
      const model = propertiesOf(template, 'AWS::SageMaker::Model', /^LocalWeightsLlmModel/);

      expect(model.EnableNetworkIsolation).toBe(true);
      expect(model.PrimaryContainer).toMatchObject({
        ModelDataSource: { S3DataSource: { S3DataType: 'S3Prefix', CompressionType: 'None' } },
        Environment: { OPTION_DTYPE: 'fp16' },
      });
      expect((model.PrimaryContainer as { Environment: object }).Environment).not.toHaveProperty('HF_MODEL_ID');
      expect(JSON.stringify(model.PrimaryContainer)).toContain('/llm/mistral/');
    });

    it('uses the registry account of the LMI images in each region', () => {
      expect(resolveLlmImage('{account}.dkr.ecr.{region}.{urlSuffix}/djl-inference:x', 'me-central-1')).toBe('914824155844.dkr.ecr.me-central-1.amazonaws.com/djl-inference:x');
      expect(resolveLlmImage('{account}.dkr.ecr.{region}.{urlSuffix}/djl-inference:x', 'ap-east-1')).toBe('871362719292.dkr.ecr.ap-east-1.amazonaws.com/djl-inference:x');
    });
  });

  describe('endpoint configuration', () => {
    it('puts the model on a g5 instance with time to load the weights', () => {
      const config = propertiesOf(template, 'AWS::SageMaker::EndpointConfig', /^ChatLlmConfig/);

      expect(config.ProductionVariants).toEqual([
        expect.objectContaining({ InstanceType: 'ml.g5.2xlarge', InitialInstanceCount: 1, VariantName: 'AllTraffic', ModelDataDownloadTimeoutInSeconds: 1800, ContainerStartupHealthCheckTimeoutInSeconds: 1800 }),
      ]);
    });

    it('names no volume key for an instance with NVMe storage, and the platform key for one with EBS', () => {
      expect(propertiesOf(template, 'AWS::SageMaker::EndpointConfig', /^ChatLlmConfig/).KmsKeyId).toBeUndefined();
      expect(propertiesOf(template, 'AWS::SageMaker::EndpointConfig', /^LocalWeightsLlmConfig/).KmsKeyId).toBeDefined();
    });

    it('captures no data unless configured, and captures into capture-raw/<model>/ when it is', () => {
      const captured = Template.fromStack(synthApp({ models: [HF_MODEL], captureSamplePercent: 5 }).stack);

      expect(propertiesOf(template, 'AWS::SageMaker::EndpointConfig', /^ChatLlmConfig/).DataCaptureConfig).toBeUndefined();
      expect(propertiesOf(captured, 'AWS::SageMaker::EndpointConfig', /^ChatLlmConfig/).DataCaptureConfig).toMatchObject({ EnableCapture: true, InitialSamplingPercentage: 5 });
      expect(JSON.stringify(propertiesOf(captured, 'AWS::SageMaker::EndpointConfig', /^ChatLlmConfig/).DataCaptureConfig)).toContain('/capture-raw/chat/');
    });
  });

  describe('deployments', () => {
    it('shifts a new configuration blue/green, a canary first, rolled back by any alarm but the function\'s own errors', () => {
      const endpoint = propertiesOf(template, 'AWS::SageMaker::Endpoint', /^ChatLlmEndpoint/) as { DeploymentConfig: { BlueGreenUpdatePolicy: unknown; AutoRollbackConfiguration: { Alarms: { AlarmName: { Ref: string } }[] } } };
      const alarms = Object.keys(template.findResources('AWS::CloudWatch::Alarm')).filter((id) => id.startsWith('ChatLlm') && !id.startsWith('ChatLlmFunctionErrors'));

      expect(endpoint.DeploymentConfig.BlueGreenUpdatePolicy).toEqual({
        TrafficRoutingConfiguration: { Type: 'CANARY', CanarySize: { Type: 'CAPACITY_PERCENT', Value: 10 }, WaitIntervalInSeconds: 600 },
        MaximumExecutionTimeoutInSeconds: 3600,
        TerminationWaitInSeconds: 300,
      });
      expect(alarms.length).toBeGreaterThanOrEqual(4);
      expect(endpoint.DeploymentConfig.AutoRollbackConfiguration.Alarms.map((a) => a.AlarmName.Ref).sort()).toEqual(alarms.sort());
    });

    it('takes the canary settings from the config', () => {
      const custom = Template.fromStack(synthApp({ models: [HF_MODEL], canaryPercent: 25, canaryWaitSeconds: 900 }).stack);

      expect(propertiesOf(custom, 'AWS::SageMaker::Endpoint', /^ChatLlmEndpoint/)).toMatchObject({
        DeploymentConfig: { BlueGreenUpdatePolicy: { TrafficRoutingConfiguration: { CanarySize: { Value: 25 }, WaitIntervalInSeconds: 900 } } },
      });
    });
  });

  describe('autoscaling', () => {
    it('scales each endpoint between its minimum and maximum', () => {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { ResourceId: 'endpoint/mlops-test-llm-local-weights/variant/AllTraffic', MinCapacity: 2, MaxCapacity: 4 });
    });

    it('tracks concurrent requests per model copy, which counts a stream until its last token', () => {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({ TargetValue: 4, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantConcurrentRequestsPerModelHighResolution' } }),
      });
    });
  });

  describe('streaming function and its URL', () => {
    it('is a function URL with IAM auth in response-streaming mode', () => {
      const urls = Object.values(template.findResources('AWS::Lambda::Url')).map((r) => (r as { Properties: Record<string, unknown> }).Properties);

      expect(urls).toHaveLength(2);
      for (const url of urls) expect(url).toMatchObject({ AuthType: 'AWS_IAM', InvokeMode: 'RESPONSE_STREAM' });
    });

    // InvokeEndpointWithResponseStream is authorized by the sagemaker:InvokeEndpoint action (SageMaker API reference).
    it('may invoke its own endpoint only', () => {
      const sagemaker = statementsOf(template, /^ChatLlmStreamFunctionRole/).filter((s) => list(s.Action).some((a) => String(a).startsWith('sagemaker:')));

      expect(sagemaker).toEqual([{ Effect: 'Allow', Action: 'sagemaker:InvokeEndpoint', Resource: { Ref: endpointLogicalId(template, 'ChatLlmEndpoint') } }]);
    });

    it('gets the budget of a generation, with a function timeout that leaves time to end the stream', () => {
      const fn = propertiesOf(template, 'AWS::Lambda::Function', /^ChatLlmStreamFunction[0-9A-F]{8}$/);

      expect(fn.Timeout).toBe(130);
      expect(fn.Environment).toMatchObject({ Variables: { MODEL_NAME: 'chat', ENDPOINT_NAME: 'mlops-test-llm-chat', STREAM_TIMEOUT_MS: '120000', MAX_NEW_TOKENS: '1024' } });
    });
  });

  describe('execution role', () => {
    it('reads only the weights prefix of the model bucket', () => {
      const s3 = statementsOf(template, /^LocalWeightsLlmExecutionRole/).filter((s) => list(s.Action).some((a) => String(a).startsWith('s3:')));

      expect(s3).toHaveLength(2);
      expect(JSON.stringify(s3.find((s) => s.Action === 's3:GetObject')!.Resource)).toContain('/llm/mistral/*');
      expect(s3.find((s) => s.Action === 's3:ListBucket')!.Condition).toEqual({ StringLike: { 's3:prefix': ['llm/mistral/*'] } });
    });

    it('reads nothing of S3 when the weights come from Hugging Face', () => {
      const actions = statementsOf(template, /^ChatLlmExecutionRole/).flatMap((s) => list(s.Action) as string[]);

      expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
    });
  });

  describe('alarms and dashboard', () => {
    it('alarms when p95 time to first token stays above the threshold', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Mlops',
        MetricName: 'TimeToFirstToken',
        ExtendedStatistic: 'p95',
        Dimensions: Match.arrayWith([{ Name: 'model', Value: 'chat' }, { Name: 'service', Value: 'mlops' }]),
        Threshold: 2000,
        EvaluationPeriods: 5,
      });
    });

    it("alarms on the endpoint's 5xx and model latency, and on failed generations", () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/SageMaker', MetricName: 'Invocation5XXErrors', Dimensions: Match.arrayWith([{ Name: 'EndpointName', Value: 'mlops-test-llm-chat' }]) });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/SageMaker', MetricName: 'ModelLatency', ExtendedStatistic: 'p99', Threshold: 60_000_000 });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'Mlops', MetricName: 'GenerationErrors', Statistic: 'Sum' });
    });

    it("sends its alarms to the platform's alarm topic", () => {
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((r) => (r as { Properties: { AlarmActions?: unknown[] } }).Properties);

      for (const alarm of alarms) expect(alarm.AlarmActions).toHaveLength(1);
    });

    it('shows p50, p95 and p99 of time to first token and tokens per second', () => {
      const body = JSON.stringify(propertiesOf(template, 'AWS::CloudWatch::Dashboard', /^ChatLlmDashboard/).DashboardBody);

      for (const metric of ['TimeToFirstToken', 'TokensPerSecond']) {
        for (const stat of ['p50', 'p95', 'p99']) expect(body).toMatch(new RegExp(`${metric}[^\\]]*${stat}`));
      }
    });
  });
});

describe('the llm section of the config', () => {
  function errorOf(llm: object): string {
    try {
      parseConfig({ stage: 'test', llm });
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error('the config was accepted');
  }

  it('fills in the defaults', () => {
    expect(parseConfig({ stage: 'test', llm: { models: [HF_MODEL] } }).llm).toMatchObject({
      streamTimeoutSeconds: 120,
      models: [{ instanceType: 'ml.g5.2xlarge', minInstances: 1, maxInstances: 2, maxNewTokens: 1024, image: expect.stringContaining('/djl-inference:') }],
    });
  });

  it('names modelId when neither it nor weightsPrefix is set', () => {
    expect(errorOf({ models: [{ name: 'chat' }] })).toContain('llm.models[0].modelId: set exactly one of modelId');
  });

  it('names an environment variable that is not an LMI setting', () => {
    expect(errorOf({ models: [{ ...HF_MODEL, env: { PATH: '/tmp' } }] })).toContain('llm.models[0].env.PATH: must be an LMI setting');
  });

  it('names maxNewTokens when it leaves no room for a prompt', () => {
    expect(errorOf({ models: [{ ...HF_MODEL, maxModelLen: 2048, maxNewTokens: 2048 }] })).toContain('llm.models[0].maxNewTokens: must be less than maxModelLen (2048)');
  });

  it('names a duplicate model', () => {
    expect(errorOf({ models: [HF_MODEL, HF_MODEL] })).toContain('llm.models[1].name: must be unique');
  });

  it('names maxDeploymentSeconds when the canary and the termination wait leave no time to deploy', () => {
    expect(errorOf({ models: [HF_MODEL], canaryWaitSeconds: 3000, terminationWaitSeconds: 600, maxDeploymentSeconds: 3600 })).toContain('llm.maxDeploymentSeconds: must exceed canaryWaitSeconds + terminationWaitSeconds (3600)');
  });

  it('names a stream timeout beyond what a streaming Lambda allows', () => {
    expect(errorOf({ models: [HF_MODEL], streamTimeoutSeconds: 900 })).toContain('llm.streamTimeoutSeconds');
  });
});

describe('cdk-nag on the LLM stack', () => {
  // CloudFormation's own rules run too: they know the SageMaker and Lambda URL properties' schemas.
  function nagApp(llm: object = { models: [HF_MODEL, BUCKET_MODEL], captureSamplePercent: 10 }, config: object = {}): App {
    const { app } = synthApp(llm, config, true);
    applyNagChecks(app);
    return app;
  }

  it('reports no unacknowledged finding', () => {
    expect(unacknowledgedFindings(nagApp())).toEqual([]);
  });

  it('reports no unacknowledged finding with S3-managed keys', () => {
    expect(unacknowledgedFindings(nagApp(undefined, { storage: { useKmsKey: false } }))).toEqual([]);
  });

  it('explains every acknowledgement of the LLM stack in a sentence', () => {
    const acks = acknowledgements(nagApp()).filter((a) => a.path.startsWith('Mlops-test-LlmEndpoint/'));

    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) expect(ack.reason.trim().split(/\s+/).length, `${ack.path} ${ack.id}`).toBeGreaterThanOrEqual(8);
  });
});

describe('LlmEndpoint.grantInvokeUrl', () => {
  it('lets a caller invoke the function through its URL with IAM auth, and only through it', () => {
    const { stack } = synthApp({ models: [HF_MODEL] });
    const caller = new Role(stack, 'Caller', { assumedBy: new AccountRootPrincipal() });

    stack.endpoints.get('chat')!.grantInvokeUrl(caller);

    const statements = statementsOf(Template.fromStack(stack), /^Caller/);
    expect(statements).toEqual([
      expect.objectContaining({ Action: 'lambda:InvokeFunctionUrl', Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } } }),
      expect.objectContaining({ Action: 'lambda:InvokeFunction', Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': true } } }),
    ]);
  });
});
