import type { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks, type Platform } from '../../infra/platform';
import { testApp, unacknowledgedFindings } from './support';

interface State {
  Type: string;
  Resource?: string;
  Parameters?: Record<string, unknown>;
  Retry?: Array<{ ErrorEquals: string[] }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string }>;
  Next?: string;
  Choices?: unknown[];
}

/** The platform with one gpu model, one served both ways and one on Lambda, `config` merged over it. */
function synthPlatform(config: object = {}): Platform {
  const app = testApp({ builtinCloudFormationValidation: false });
  return addPlatformStacks(
    app,
    parseConfig({ stage: 'test', models: [{ name: 'demo', servingMode: 'gpu' }, { name: 'fraud', servingMode: 'both' }, { name: 'churn' }], ...config }),
  );
}

/** The states of the transform state machine, tokens in its definition replaced by their flattened names. */
function statesOf(template: Template): Record<string, State> {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine')) as Array<{ Properties: { DefinitionString: unknown } }>;
  expect(machines).toHaveLength(1);
  const definition = machines[0]!.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] };
  const text = definition['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : flattenCfnReference(part))).join('');
  return (JSON.parse(text) as { States: Record<string, State> }).States;
}

describe('Batch Transform of gpu models', () => {
  const platform = synthPlatform();
  const template = Template.fromStack(platform.gpuEndpoints!);
  const states = statesOf(template);
  const transform = Object.values(states).find((s) => s.Resource?.includes('sagemaker:createTransformJob'))!;

  it('starts an execution for files under batch/input/<model>/ of gpu models only', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: [Match.anyValue()] }, object: { key: [{ prefix: 'batch/input/demo/' }] } } },
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^BatchTransformStateMachine') }, DeadLetterConfig: Match.objectLike({}) })],
    });
  });

  it('tells the batch Lambda to leave those files alone', () => {
    Template.fromStack(platform.batch).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TRANSFORM_MODELS: 'demo' }) },
    });
  });

  it('runs the transform job on the endpoint\'s Triton model and waits for it (.sync)', () => {
    expect(transform.Resource).toMatch(/:states:::sagemaker:createTransformJob\.sync$/);
    expect(String(transform.Parameters!.ModelName)).toMatch(/^<DemoModel\w+\.ModelName>$/);
  });

  it('sends one OIP v2 JSON request per line and assembles the answers by line', () => {
    expect(transform.Parameters).toMatchObject({
      BatchStrategy: 'SingleRecord',
      MaxPayloadInMB: 6,
      TransformInput: { ContentType: 'application/json', SplitType: 'Line', DataSource: { S3DataSource: { 'S3Uri.$': '$.prepared.requestsUri', S3DataType: 'S3Prefix' } } },
      TransformOutput: { 'S3OutputPath.$': '$.prepared.outputUri', Accept: 'application/json', AssembleWith: 'Line' },
      TransformResources: { InstanceCount: 1, InstanceType: 'ml.g5.xlarge' },
      'TransformJobName.$': '$.prepared.jobName',
    });
  });

  it('names no volume key for an instance type with NVMe storage, and the platform key otherwise', () => {
    expect(transform.Parameters!.TransformResources).not.toHaveProperty('VolumeKmsKeyId');
    const p3 = statesOf(Template.fromStack(synthPlatform({ gpu: { batchTransform: { instanceType: 'ml.p3.2xlarge' } } }).gpuEndpoints!));
    const other = Object.values(p3).find((s) => s.Resource?.includes('sagemaker:createTransformJob'))!;
    expect(other.Parameters!.TransformResources).toHaveProperty('VolumeKmsKeyId');
  });

  it('retries and catches every task; a caught failure records a failed manifest, then fails', () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    for (const [name, state] of tasks) expect(state.Retry?.length, name).toBeGreaterThan(0);
    for (const [name, state] of tasks.filter(([n]) => !n.startsWith('Record'))) {
      expect(state.Catch?.map((c) => c.ErrorEquals), name).toEqual([['States.ALL']]);
      expect(['RecordFailure', 'RecordPrepareFailure']).toContain(state.Catch![0]!.Next);
    }
    expect(states.RecordFailure?.Next).toBe('TransformFailed');
    expect(states.TransformFailed?.Type).toBe('Fail');
  });

  it('goes from prepare to finalize without a transform when no row is valid', () => {
    expect(JSON.stringify(states.Prepared?.Choices)).toContain('"Variable":"$.prepared.requests","NumericEquals":0,"Next":"Finalize"');
  });

  it('lets the Triton model read and write its own transform staging prefix only', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{ Properties: { PolicyName: string; Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } } }>;
    const io = policies.filter((p) => p.Properties.Roles.some((r) => /^DemoExecutionRole/.test(r.Ref)) && /TransformIo/.test(p.Properties.PolicyName));
    expect(io).toHaveLength(1);
    const objects = io[0]!.Properties.PolicyDocument.Statement.filter((s) => [s.Action].flat().includes('s3:PutObject')).flatMap((s) => [s.Resource].flat().map((r) => flattenCfnReference(r)));
    expect(objects).toEqual([expect.stringMatching(/DataBucket\w+\/batch\/staging\/transform\/demo\/\*$/)]);
  });

  it("lets the steps' function list the data bucket only under the gpu models' inputs and manifests and the staging prefix", () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{ Properties: { PolicyName: string; PolicyDocument: { Statement: Array<{ Action: string | string[]; Condition?: unknown }> } } }>;
    const step = policies.filter((p) => /^BatchTransformStepAccess/.test(p.Properties.PolicyName));
    const lists = step.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s) => [s.Action].flat().includes('s3:ListBucket'));

    expect(lists.map((s) => s.Condition)).toEqual([{ StringLike: { 's3:prefix': ['batch/input/demo/*', 'batch/manifests/demo/*', 'batch/staging/*'] } }]);
  });

  it('adds no transform when gpu.batchTransform.enabled is false, and the batch Lambda scores every model', () => {
    const off = synthPlatform({ gpu: { batchTransform: { enabled: false } } });

    expect(off.gpuEndpoints!.batchTransform).toBeUndefined();
    Template.fromStack(off.batch).hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.not(Match.objectLike({ TRANSFORM_MODELS: Match.anyValue() })) } });
  });
});

describe('cdk-nag on Batch Transform', () => {
  function nagApp(config: object): App {
    const app = testApp({ builtinCloudFormationValidation: false });
    addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo', servingMode: 'gpu' }], ...config }));
    applyNagChecks(app);
    return app;
  }

  it('reports no unacknowledged finding in the GPU and batch stacks', () => {
    expect(unacknowledgedFindings(nagApp({})).filter((f) => f.paths.some((p) => /GpuEndpoint|Batch/.test(p)))).toEqual([]);
  });

  it('reports no unacknowledged finding with S3-managed keys', () => {
    expect(unacknowledgedFindings(nagApp({ storage: { useKmsKey: false } })).filter((f) => f.paths.some((p) => /GpuEndpoint|Batch/.test(p)))).toEqual([]);
  });
});
