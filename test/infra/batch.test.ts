import { type App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { BatchEnvSchema } from '../../functions/batch/env';
import { parseConfig } from '../../core/platform-config';
import { BatchScoring, LEASE_MARGIN } from '../../infra/constructs/batch-scoring';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks, type Platform } from '../../infra/platform';
import type { BatchStack } from '../../infra/stacks/batch-stack';
import { acknowledgements, list, logicalId, only, propertiesOfAll, resourcesAllowed, s3AccessOf, type Statement, statements, testApp, unacknowledgedFindings } from './support';

/** The platform for `stage: test` and one model, with `batch` settings. */
function synthPlatform(batch: object = {}, config: object = {}): { platform: Platform; stack: BatchStack; template: Template } {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], batch, ...config }));
  return { platform, stack: platform.batch, template: Template.fromStack(platform.batch) };
}

const DATA_OBJECTS = /^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+\//;
const MODEL_OBJECTS = /^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\//;
/** The alarms stack's on-call topic, as this stack imports it. */
const topicRef = { 'Fn::ImportValue': expect.stringMatching(/^Mlops-test-Alarms:ExportsOutputRefAlarmTopic/) };

/** A job's staged plan, parts and lease generations: batch/staging/jobs/<model>/<input>/<ETag>/<version>/… (core/batch/layout.ts). */
const PLANS = 'batch/staging/jobs/*/*/*/*/plan.json';
const PARTS = 'batch/staging/jobs/*/*/*/*/parts/*';
const LEASES = 'batch/staging/jobs/*/*/*/*/lease/*';

/** The platform's buckets, as s3AccessOf names them. */
const BUCKETS = { data: /^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+$/, models: /^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+$/ };

describe('BatchStack', () => {
  const { platform, stack, template } = synthPlatform();
  const { scoring } = stack;
  const queueId = logicalId(scoring.queue);
  const deadLetterQueueId = logicalId(scoring.deadLetterQueue);
  const ruleId = logicalId(scoring.rule);
  /** The queue's scoring function (the fan-out has functions of its own). */
  const scoringFunction = () => template.toJSON().Resources[logicalId(scoring.function)].Properties as Record<string, unknown>;

  it('is named after the stage and deployed to the configured region', () => {
    expect(stack.stackName).toBe('Mlops-test-Batch');
    expect(stack.region).toBe('us-east-1');
  });

  describe('queues', () => {
    it('are a queue and its dead-letter queue', () => {
      template.resourceCountIs('AWS::SQS::Queue', 2);
    });

    it('move a message to the dead-letter queue after 3 receives', () => {
      template.hasResourceProperties('AWS::SQS::Queue', {
        RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] }, maxReceiveCount: 3 },
      });
    });

    it('are both encrypted at rest with SQS-managed keys', () => {
      template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    });

    it('both deny every request that is not sent over TLS', () => {
      const policies = propertiesOfAll(template, 'AWS::SQS::QueuePolicy');

      expect(policies.map((p) => p.Queues).sort()).toEqual([[{ Ref: deadLetterQueueId }], [{ Ref: queueId }]]);
      template.allResourcesProperties('AWS::SQS::QueuePolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    it('give the queue a visibility timeout that outlasts the function timeout plus the job lease, so a redelivery after a crash takes the lapsed lease over', () => {
      const fn = scoringFunction();
      const visibility = (template.toJSON().Resources[queueId].Properties as { VisibilityTimeout: number }).VisibilityTimeout;
      const lease = Number((fn.Environment as { Variables: Record<string, string> }).Variables.LEASE_SECONDS);

      expect(visibility).toBeGreaterThanOrEqual((fn.Timeout as number) + lease);
    });

    it('give the queue a visibility timeout of 6 times the function timeout, as AWS recommends', () => {
      const fn = scoringFunction();
      const queue = template.toJSON().Resources[queueId].Properties as { VisibilityTimeout: number };

      expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * (fn.Timeout as number));
      expect(queue.VisibilityTimeout).toBe(5400);
    });

    it('keep dead letters for 14 days, longer than the 4 days the queue keeps a message', () => {
      const resources = template.toJSON().Resources as Record<string, { Properties: { MessageRetentionPeriod: number } }>;

      expect(resources[deadLetterQueueId]?.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
      expect(resources[queueId]?.Properties.MessageRetentionPeriod).toBe(4 * 24 * 3600);
    });

    it('let EventBridge send messages only on behalf of the batch input rule', () => {
      const allows = propertiesOfAll(template, 'AWS::SQS::QueuePolicy').flatMap((p) =>
        (p.PolicyDocument as { Statement: Statement[] }).Statement.filter((s) => s.Effect === 'Allow'),
      );

      expect(allows).toHaveLength(2);
      for (const allow of allows) {
        expect(allow.Principal).toEqual({ Service: 'events.amazonaws.com' });
        expect(list(allow.Action)).toContain('sqs:SendMessage');
        expect(allow.Condition).toEqual({ ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [ruleId, 'Arn'] } } });
      }
    });
  });

  describe('trigger', () => {
    it("matches S3's Object Created events of the data bucket whose key starts with batch/input/", () => {
      const rule = only(template, 'AWS::Events::Rule');

      expect(rule.EventPattern).toEqual({
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: {
          bucket: { name: [{ 'Fn::ImportValue': expect.stringMatching(/^Mlops-test-Storage:ExportsOutputRefDataBucket/) }] },
          object: { key: [{ prefix: 'batch/input/' }] },
        },
      });
    });

    it('sends the matched events to the queue, and those it cannot deliver to the dead-letter queue', () => {
      const rule = only(template, 'AWS::Events::Rule');

      expect(rule.Targets).toEqual([
        {
          Id: expect.any(String),
          Arn: { 'Fn::GetAtt': [queueId, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] } },
        },
      ]);
    });

    it("relies on the data bucket's EventBridge notifications, and adds no S3 notification of its own", () => {
      const storage = Template.fromStack(platform.storage);

      template.resourceCountIs('Custom::S3BucketNotifications', 0);
      expect(propertiesOfAll(storage, 'Custom::S3BucketNotifications')).toEqual([
        expect.objectContaining({
          BucketName: { Ref: logicalId(platform.storage.dataBucket) },
          NotificationConfiguration: { EventBridgeConfiguration: {} },
        }),
      ]);
    });

    it('makes this stack depend on the storage stack, never the other way round', () => {
      expect(stack.dependencies).toContain(platform.storage);
      expect(platform.storage.dependencies).not.toContain(stack);
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

    it('has 3008 MB, a 15-minute timeout and the default ephemeral storage', () => {
      const fn = scoringFunction();

      expect(fn).toMatchObject({ MemorySize: 3008, Timeout: 900 });
      expect(fn).not.toHaveProperty('EphemeralStorage');
    });

    it('loads onnxruntime-node from a layer built for its runtime and architecture', () => {
      const [layerId] = Object.keys(template.findResources('AWS::Lambda::LayerVersion'));

      template.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'], CompatibleRuntimes: ['nodejs24.x'] });
      template.hasResourceProperties('AWS::Lambda::Function', { Layers: [{ Ref: layerId }] });
    });

    it('gets every variable of its env schema', () => {
      const fn = scoringFunction();
      const vars = (fn.Environment as { Variables: Record<string, unknown> }).Variables;

      expect(Object.keys(vars).sort()).toEqual(['CHUNK_ROWS', 'DATA_BUCKET', 'FAN_OUT_ABOVE_BYTES', 'LEASE_SECONDS', 'MODEL_BUCKET', 'NODE_OPTIONS', 'PART_BYTES', 'S3_FORCE_PATH_STYLE', 'STATE_MACHINE_ARN']);
      for (const name of Object.keys(vars).filter((v) => v !== 'NODE_OPTIONS')) expect(Object.keys(BatchEnvSchema.shape)).toContain(name);
      expect(vars).toMatchObject({ CHUNK_ROWS: '1024', S3_FORCE_PATH_STYLE: 'false', NODE_OPTIONS: '--enable-source-maps', LEASE_SECONDS: String(15 * 60 + 5 * 60) });
    });

    it("names the storage stack's buckets in MODEL_BUCKET and DATA_BUCKET", () => {
      const fn = scoringFunction();
      const vars = (fn.Environment as { Variables: Record<string, unknown> }).Variables;

      expect(flattenCfnReference(vars.MODEL_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefModelBucket/);
      expect(flattenCfnReference(vars.DATA_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefDataBucket/);
    });

    it('reserves no concurrency by default', () => {
      expect(scoringFunction()).not.toHaveProperty('ReservedConcurrentExecutions');
    });

    it('consumes the queue one message at a time, reporting failed messages, at most 10 at once', () => {
      const functionId = logicalId(scoring.function);

      expect(only(template, 'AWS::Lambda::EventSourceMapping')).toEqual({
        EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
        FunctionName: { Ref: functionId },
        BatchSize: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: 10 },
        Tags: expect.any(Array),
      });
    });

    it('receives its first message only once its bucket permissions exist', () => {
      const [mapping] = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')) as Array<{ DependsOn?: string[] }>;

      expect(mapping?.DependsOn).toContain(logicalId(scoring.node.findChild('BucketAccess')));
    });
  });

  describe('permissions', () => {
    const all = statements(template);
    const s3 = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('s3:')));
    const fanOut = scoring.fanOut!;
    /** The five batch functions, by the name of their step. */
    const functions = {
      Queue: scoring.function,
      Plan: fanOut.functions.get('plan')!,
      ScorePart: fanOut.functions.get('scorePart')!,
      Merge: fanOut.functions.get('merge')!,
      RecordFailure: fanOut.functions.get('fail')!,
    };
    const accessOf = (name: keyof typeof functions) => s3AccessOf(template, functions[name].role, BUCKETS);

    it('allow exactly the s3 actions a batch job uses, and no s3 wildcard action', () => {
      const actions = new Set(s3.flatMap((s) => list(s.Action)));

      expect([...actions].sort()).toEqual(['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
      for (const action of actions) expect(action).not.toMatch(/\*/);
    });

    it('give each of the five batch functions a role of its own, with a bucket policy attached to it alone', () => {
      const roles = Object.values(functions).map((fn) => logicalId(fn.role));
      const bucketPolicies = (Object.values(template.findResources('AWS::IAM::Policy')) as Array<{ Properties: { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } } }>).filter((p) =>
        p.Properties.PolicyDocument.Statement.some((st) => list(st.Action).some((a) => String(a).startsWith('s3:'))),
      );

      expect(new Set(roles).size).toBe(5);
      expect(bucketPolicies).toHaveLength(5);
      for (const policy of bucketPolicies) expect(policy.Properties.Roles).toHaveLength(1);
    });

    // What each step does in the buckets (core/batch/job.ts, core/batch/fan-out.ts), and nothing more.
    it.each([
      [
        'Queue',
        'reads models, the input and its manifest; holds the lease; streams the outputs; writes the manifest',
        {
          's3:GetObject': ['data:batch/input/*', 'data:batch/manifests/*', `data:${LEASES}`, 'models:models/*'],
          's3:ListBucket': ['data:batch/input/*', 'data:batch/manifests/*', `data:${LEASES}`, 'models:models/*'],
          's3:PutObject': ['data:batch/errors/*', 'data:batch/manifests/*', 'data:batch/output/*', `data:${LEASES}`],
          's3:AbortMultipartUpload': ['data:batch/errors/*', 'data:batch/output/*'],
        },
      ],
      [
        'Plan',
        'reads models, the input and its manifest; stages the plan, or writes a failed manifest',
        {
          's3:GetObject': ['data:batch/input/*', 'data:batch/manifests/*', 'models:models/*'],
          's3:ListBucket': ['data:batch/input/*', 'data:batch/manifests/*', 'models:models/*'],
          's3:PutObject': ['data:batch/manifests/*', `data:${PLANS}`],
        },
      ],
      [
        'ScorePart',
        'reads models, the plan, its part of the input and its own counts; stages its outputs and counts',
        {
          's3:GetObject': ['data:batch/input/*', `data:${PARTS}`, `data:${PLANS}`, 'models:models/*'],
          's3:ListBucket': ['data:batch/input/*', `data:${PARTS}`, `data:${PLANS}`, 'models:models/*'],
          's3:PutObject': [`data:${PARTS}`],
          's3:AbortMultipartUpload': [`data:${PARTS}`],
        },
      ],
      [
        'Merge',
        'reads the plan, the parts and the manifest; streams the outputs, writes the manifest, removes the plan and parts',
        {
          's3:GetObject': ['data:batch/manifests/*', `data:${PARTS}`, `data:${PLANS}`],
          's3:ListBucket': ['data:batch/manifests/*', `data:${PARTS}`, `data:${PLANS}`],
          's3:PutObject': ['data:batch/errors/*', 'data:batch/manifests/*', 'data:batch/output/*'],
          's3:AbortMultipartUpload': ['data:batch/errors/*', 'data:batch/output/*'],
          's3:DeleteObject': [`data:${PARTS}`, `data:${PLANS}`],
        },
      ],
      [
        'RecordFailure',
        "reads the input's ETag, the plan and the manifest; removes the plan and parts, then writes the failed manifest",
        {
          's3:GetObject': ['data:batch/input/*', 'data:batch/manifests/*', `data:${PLANS}`],
          's3:ListBucket': ['data:batch/input/*', 'data:batch/manifests/*', `data:${PLANS}`],
          's3:PutObject': ['data:batch/manifests/*'],
          's3:DeleteObject': [`data:${PARTS}`, `data:${PLANS}`],
        },
      ],
    ] as const)('let %s do what its step does and nothing else: it %s', (name, _does, expected) => {
      expect(accessOf(name)).toEqual(expected);
    });

    it('let only Merge and RecordFailure delete, and only the staged plans and parts they clean up', () => {
      const deleters = Object.fromEntries(
        Object.keys(functions)
          .map((name) => [name, accessOf(name as keyof typeof functions)['s3:DeleteObject'] ?? []] as const)
          .filter(([, keys]) => keys.length > 0),
      );

      expect(deleters).toEqual({ Merge: [`data:${PARTS}`, `data:${PLANS}`], RecordFailure: [`data:${PARTS}`, `data:${PLANS}`] });
    });

    it('let no batch function delete a lease, which would reopen its generation to a second claimant, or anything outside staging', () => {
      const deletable = resourcesAllowed(template, 's3:DeleteObject');

      expect(deletable.length).toBeGreaterThan(0);
      for (const resource of deletable) expect(resource).toMatch(/\/batch\/staging\/jobs\/\*\/\*\/\*\/\*\/(plan\.json|parts\/\*)$/);
    });

    it('let only the queue function, Plan and ScorePart read the model bucket', () => {
      const readers = Object.keys(functions).filter((name) => accessOf(name as keyof typeof functions)['s3:GetObject']!.some((k) => k.startsWith('models:')));

      expect(readers).toEqual(['Queue', 'Plan', 'ScorePart']);
    });

    it('give no object access to a whole bucket: every object resource ends with one of the batch or model key patterns', () => {
      const objectResources = s3.flatMap((s) => list(s.Resource).map(flattenCfnReference)).filter((r) => r.includes('/'));

      for (const resource of objectResources) {
        expect(resource).toMatch(/\/(models\/\*|batch\/(input|output|errors|manifests)\/\*|batch\/staging\/jobs\/\*\/\*\/\*\/\*\/(plan\.json|parts\/\*|lease\/\*))$/);
      }
      expect(objectResources.length).toBeGreaterThan(0);
    });

    it('allow kms:Decrypt and kms:GenerateDataKey on the platform key, only through S3, to each function', () => {
      const kms = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('kms:')));

      expect(kms).toHaveLength(5);
      for (const statement of kms) {
        expect(statement).toEqual({
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: { 'Fn::ImportValue': expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttKey/) },
          Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } },
        });
      }
    });

    it('allow consuming the queue, and nothing else in SQS', () => {
      const sqs = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('sqs:')));

      expect(sqs).toHaveLength(1);
      expect(sqs[0]?.Resource).toEqual({ 'Fn::GetAtt': [queueId, 'Arn'] });
      expect(list(sqs[0]?.Action).sort()).toEqual([
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
      ]);
    });
  });

  describe('alarms', () => {
    it('alarm as soon as the dead-letter queue holds a message', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [deadLetterQueueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    it("alarm when the queue's oldest message is older than two visibility timeouts (3 hours)", () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 3 * 3600,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it('alarm when a fan-out execution fails, times out or is aborted', () => {
      const alarm = template.toJSON().Resources[logicalId(scoring.fanOutFailedAlarm!)].Properties as { Metrics: Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Dimensions: unknown[] } } }>; Threshold: number };
      const stateMachineId = logicalId(scoring.fanOut!.stateMachine);

      expect(alarm.Threshold).toBe(0);
      expect(alarm.Metrics.find((m) => m.Expression)?.Expression).toBe('failed + timedOut + aborted');
      expect(alarm.Metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat!.Metric.MetricName).sort()).toEqual(['ExecutionsAborted', 'ExecutionsFailed', 'ExecutionsTimedOut']);
      for (const m of alarm.Metrics.filter((x) => x.MetricStat)) expect(m.MetricStat!.Metric.Dimensions).toEqual([{ Name: 'StateMachineArn', Value: { Ref: stateMachineId } }]);
    });

    it("are the only three alarms, each notifying the alarms stack's on-call topic", () => {
      template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
      for (const alarm of propertiesOfAll(template, 'AWS::CloudWatch::Alarm')) expect(alarm.AlarmActions).toEqual([topicRef]);
    });
  });

  it('outputs the queue URLs and an example upload into batch/input/', () => {
    template.hasOutput('QueueUrl', { Value: { Ref: queueId } });
    template.hasOutput('DeadLetterQueueUrl', { Value: { Ref: deadLetterQueueId } });
    expect(flattenCfnReference(template.findOutputs('ExampleUpload').ExampleUpload?.Value)).toMatch(
      /^aws s3 cp data\.csv s3:\/\/Mlops-test-Storage:ExportsOutputRefDataBucket\w+\/batch\/input\/<model>\/data\.csv$/,
    );
  });
});

interface StateJson {
  Type: string;
  Retry?: unknown[];
  Catch?: Array<{ ErrorEquals: string[]; Next: string }>;
  Next?: string;
  End?: boolean;
  ItemProcessor?: { ProcessorConfig: Record<string, unknown>; StartAt: string; States: Record<string, StateJson> };
  [key: string]: unknown;
}

/** The fan-out state machine's definition, with CloudFormation references replaced by placeholders. */
function fanOutDefinition(template: Template): { States: Record<string, StateJson>; StartAt: string } {
  const machine = only(template, 'AWS::StepFunctions::StateMachine');
  const join = (machine.DefinitionString as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
  return JSON.parse(join.map((part) => (typeof part === 'string' ? part : 'REF')).join(''));
}

/** Every state, the Distributed Map's item processor's included. */
function allStates(states: Record<string, StateJson>): Array<[string, StateJson]> {
  return Object.entries(states).flatMap(([name, state]) => [[name, state] as [string, StateJson], ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : [])]);
}

describe('BatchStack fan-out', () => {
  const { stack, template } = synthPlatform();
  const fanOut = stack.scoring.fanOut!;
  const definition = fanOutDefinition(template);
  const states = allStates(definition.States);
  const stateMachineId = logicalId(fanOut.stateMachine);

  it('plans, scores the parts in a Distributed Map, then merges', () => {
    expect(definition.StartAt).toBe('Plan');
    expect(definition.States.Plan?.Next).toBe('Planned');
    expect(definition.States.ScoreParts?.Next).toBe('Merge');
    expect(definition.States.ScoreParts?.ItemProcessor?.StartAt).toBe('ScorePart');
  });

  it('gives every task and the map a retry and a catch', () => {
    const tasks = states.filter(([, s]) => s.Type === 'Task' || s.Type === 'Map');

    expect(tasks.map(([name]) => name).sort()).toEqual(['Merge', 'Plan', 'RecordFailure', 'ScorePart', 'ScoreParts']);
    for (const [name, state] of tasks) {
      expect(state.Retry, name).not.toHaveLength(0);
      expect(state.Catch, name).not.toHaveLength(0);
    }
  });

  it('records a failure of plan, parts or merge in a failed manifest, then fails the execution', () => {
    for (const name of ['Plan', 'ScoreParts', 'Merge']) {
      expect(definition.States[name]?.Catch, name).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'RecordFailure' }]);
    }
    expect(definition.States.RecordFailure).toMatchObject({ Next: 'Failed', Catch: [expect.objectContaining({ Next: 'Failed' })] });
    expect(definition.States.Failed?.Type).toBe('Fail');
  });

  it('scores at most 20 parts at once, in a distributed map that tolerates no failed part', () => {
    expect(definition.States.ScoreParts).toMatchObject({
      ItemsPath: '$.plan.indexes',
      MaxConcurrency: 20,
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
    });
    // Absent, Step Functions tolerates no failed item: one failed part fails the map.
    expect(definition.States.ScoreParts).not.toHaveProperty('ToleratedFailurePercentage');
    expect(definition.States.ScoreParts).not.toHaveProperty('ToleratedFailureCount');
  });

  it('ends without scoring when the plan step found the input scored already', () => {
    expect(definition.States.Planned).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.plan.status', StringEquals: 'planned', Next: 'ScoreParts' }],
      Default: 'NothingToScore',
    });
  });

  it('logs every execution event without execution data, and traces with X-Ray', () => {
    const machine = only(template, 'AWS::StepFunctions::StateMachine');

    expect(machine).toMatchObject({
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
  });

  it("lets the queue's function start this state machine and no other, and nothing else in Step Functions", () => {
    const role = logicalId(stack.scoring.function.role);
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{ Properties: { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } } }>;
    const ofQueueFunction = policies.filter((p) => p.Properties.Roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: role }))).flatMap((p) => p.Properties.PolicyDocument.Statement);

    expect(ofQueueFunction.filter((s) => list(s.Action).some((a) => String(a).startsWith('states:')))).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: stateMachineId } },
    ]);
  });

  it("tells the queue's function the state machine, the threshold and the part size", () => {
    const vars = (template.toJSON().Resources[logicalId(stack.scoring.function)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;

    expect(vars).toMatchObject({ STATE_MACHINE_ARN: { Ref: stateMachineId }, FAN_OUT_ABOVE_BYTES: String(512 * 1024 * 1024), PART_BYTES: String(128 * 1024 * 1024) });
  });

  it("gives each step function a bucket policy of its own, attached to its role alone, and the queue function's policy to it alone", () => {
    const rolesOf = (policy: string, scope = fanOut.node) => (template.toJSON().Resources[logicalId(scope.findChild(policy))].Properties as { Roles: Array<{ Ref: string }> }).Roles;

    expect(rolesOf('BucketAccess', stack.scoring.node)).toEqual([{ Ref: logicalId(stack.scoring.function.role) }]);
    for (const [handler, policy] of [['plan', 'PlanAccess'], ['scorePart', 'ScorePartAccess'], ['merge', 'MergeAccess'], ['fail', 'RecordFailureAccess']] as const) {
      expect(rolesOf(policy), handler).toEqual([{ Ref: logicalId(fanOut.functions.get(handler)!.role) }]);
    }
  });

  it('runs each step function from the fan-out handler module, the part scorer with ONNX Runtime and the scoring memory', () => {
    for (const [handler, fn] of fanOut.functions) {
      const properties = template.toJSON().Resources[logicalId(fn)].Properties as { Handler: string; MemorySize: number; Layers: unknown[] };
      expect(properties.Handler, handler).toBe(`index.${handler}`);
      expect(properties.Layers, handler).toHaveLength(1);
      expect(properties.MemorySize, handler).toBe(handler === 'scorePart' ? 3008 : 1024);
    }
  });
});

describe('BatchStack fan-out settings', () => {
  it('passes the configured threshold, part size and part concurrency', () => {
    const { template } = synthPlatform({ fanOutAboveBytes: 2 * 1024 ** 3, partBytes: 256 * 1024 ** 2, partConcurrency: 50 });

    expect(fanOutDefinition(template).States.ScoreParts?.MaxConcurrency).toBe(50);
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ FAN_OUT_ABOVE_BYTES: String(2 * 1024 ** 3), PART_BYTES: String(256 * 1024 ** 2) }) } });
  });

  it('rejects a part size above the fan-out threshold, naming partBytes', () => {
    expect(() => parseConfig({ stage: 'test', batch: { fanOutAboveBytes: 64 * 1024 ** 2, partBytes: 128 * 1024 ** 2 } })).toThrow(/partBytes/);
  });
});

describe('BatchStack settings', () => {
  it('keeps the visibility timeout above timeout plus lease even where 6 times the timeout is not enough (a 1-minute timeout)', () => {
    const { stack, template } = synthPlatform({ timeoutMinutes: 1 });
    const fn = template.toJSON().Resources[logicalId(stack.scoring.function)].Properties as { Timeout: number; Environment: { Variables: Record<string, string> } };
    const visibility = (template.toJSON().Resources[logicalId(stack.scoring.queue)].Properties as { VisibilityTimeout: number }).VisibilityTimeout;
    const lease = Number(fn.Environment.Variables.LEASE_SECONDS);

    expect(fn.Timeout).toBe(60);
    expect(6 * fn.Timeout).toBeLessThan(fn.Timeout + lease);
    expect(visibility).toBeGreaterThanOrEqual(fn.Timeout + lease);
  });

  it('leases a job for the function timeout plus the lease margin, one constant', () => {
    const { stack, template } = synthPlatform({ timeoutMinutes: 7 });
    const fn = template.toJSON().Resources[logicalId(stack.scoring.function)].Properties as { Timeout: number; Environment: { Variables: Record<string, string> } };

    expect(LEASE_MARGIN.toMinutes()).toBe(5);
    expect(Number(fn.Environment.Variables.LEASE_SECONDS)).toBe(fn.Timeout + LEASE_MARGIN.toSeconds());
  });

  it('sizes the function as configured, with the visibility timeout following the timeout', () => {
    const { template } = synthPlatform({ memoryMb: 4096, timeoutMinutes: 5 });

    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 4096, Timeout: 300 });
    template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 1800, RedrivePolicy: Match.anyValue() });
  });

  it('caps the event source at the configured concurrency', () => {
    const { template } = synthPlatform({ maxConcurrency: 4 });

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 4 } });
  });

  it('reserves concurrency when configured', () => {
    const { template } = synthPlatform({ maxConcurrency: 10, reservedConcurrency: 12 });

    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 12 });
  });

  it('passes the configured chunk size as CHUNK_ROWS', () => {
    const { template } = synthPlatform({ chunkRows: 4096 });

    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ CHUNK_ROWS: '4096' }) } });
  });

  it('leaves out the dead-letter alarm when alarmOnDlq is false, and keeps the backlog and fan-out alarms', () => {
    const { template } = synthPlatform({ alarmOnDlq: false });

    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage' });
  });

  it('grants no KMS permission when the buckets use S3-managed keys', () => {
    const { template } = synthPlatform({}, { storage: { useKmsKey: false } });

    expect(statements(template).flatMap((s) => list(s.Action)).filter((a) => String(a).startsWith('kms:'))).toEqual([]);
  });

  it('is part of the platform even when no model is configured', () => {
    const app = testApp({ builtinCloudFormationValidation: false });

    expect(addPlatformStacks(app, parseConfig({ stage: 'test' })).batch.stackName).toBe('Mlops-test-Batch');
  });
});

describe('BatchScoring', () => {
  function construct(extra: Partial<ConstructorParameters<typeof BatchScoring>[2]> = {}): { stack: Stack; template: Template } {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test');
    new BatchScoring(stack, 'Scoring', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      key: Key.fromKeyArn(stack, 'Key', 'arn:aws:kms:us-east-1:123456789012:key/abcd'),
      ...extra,
    });
    return { stack, template: Template.fromStack(stack) };
  }

  it('sends every alarm to the alarm topic when one is given', () => {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test');
    const topic = new Topic(stack, 'Alarms');
    new BatchScoring(stack, 'Scoring', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      alarmTopic: topic,
    });

    Template.fromStack(stack).allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [stack.resolve(topic.topicArn)] });
  });

  it('moves messages to the dead-letter queue after the receive count it is given', () => {
    const { template } = construct({ maxReceiveCount: 5 });

    template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 5 }) });
  });

  it('alarms on the backlog at the message age it is given', () => {
    const { template } = construct({ maxMessageAge: Duration.minutes(30) });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ApproximateAgeOfOldestMessage', Threshold: 1800 });
  });

  it("rejects a timeout above Lambda's 15 minutes, showing the value", () => {
    expect(() => construct({ timeout: Duration.minutes(20) })).toThrow(/timeout must be at most 15 minutes.*\(received 20 minutes\)/);
  });

  it('rejects a maximum concurrency outside 2 to 1000, showing the value', () => {
    expect(() => construct({ maxConcurrency: 1 })).toThrow(/maxConcurrency must be a whole number from 2 to 1000.*\(received 1\)/);
  });

  it('rejects a reserved concurrency below the maximum concurrency, showing the value', () => {
    expect(() => construct({ maxConcurrency: 10, reservedConcurrency: 5 })).toThrow(/reservedConcurrency must be .* at least maxConcurrency \(10\).*\(received 5\)/);
  });

  it('rejects a chunk size below 1, showing the value', () => {
    expect(() => construct({ chunkRows: 0 })).toThrow(/chunkRows must be a whole number of at least 1 \(received 0\)/);
  });
});

describe('cdk-nag', () => {
  function nagApp(config: object = {}): App {
    const app = testApp({ builtinCloudFormationValidation: false });
    addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], ...config }));
    applyNagChecks(app);
    return app;
  }

  it('reports no unacknowledged finding with the platform key', () => {
    expect(unacknowledgedFindings(nagApp())).toEqual([]);
  });

  it('reports no unacknowledged finding with S3-managed encryption and every optional setting', () => {
    expect(unacknowledgedFindings(nagApp({ storage: { useKmsKey: false }, batch: { reservedConcurrency: 10, alarmOnDlq: false } }))).toEqual([]);
  });

  /** The bucket policies of the five batch functions, by construct path. */
  const BUCKET_POLICIES = [
    'Mlops-test-Batch/Scoring/BucketAccess',
    ...['Plan', 'ScorePart', 'Merge', 'RecordFailure'].map((step) => `Mlops-test-Batch/Scoring/FanOut/${step}Access`),
  ];

  it('acknowledges in each bucket policy the wildcards of its own key patterns, by their exact resources, and no other', () => {
    const app = nagApp();
    unacknowledgedFindings(app);
    const batch = app.node.findChild('Mlops-test-Batch') as Stack;
    const template = Template.fromStack(batch);

    for (const path of BUCKET_POLICIES) {
      const policy = path.split('/').slice(1).reduce<IConstruct>((parent, id) => parent.node.findChild(id), batch);
      const wildcards = (template.toJSON().Resources[logicalId(policy)].Properties.PolicyDocument.Statement as Statement[])
        .flatMap((st) => list(st.Resource).map(flattenCfnReference))
        .filter((r) => r.includes('*'))
        .map((r) => `AwsSolutions-IAM5[Resource::${r}]`);
      const ids = acknowledgements(app)
        .filter((a) => a.path === path)
        .map((a) => a.id.replace(/^Annotation::/, ''));

      expect(ids.sort(), path).toEqual([...new Set(wildcards)].sort());
      expect(ids.length, path).toBeGreaterThan(0);
    }
  });

  it('acknowledges nothing else in the batch stack but X-Ray\'s "*" resource', () => {
    const app = nagApp();
    unacknowledgedFindings(app);

    const stateMachinePolicies = ['Mlops-test-Batch/Scoring/FanOut/StateMachine/Role/DefaultPolicy', 'Mlops-test-Batch/Scoring/FanOut/StateMachine/DistributedMapPolicy'];
    const others = acknowledgements(app)
      .filter((a) => a.path.startsWith('Mlops-test-Batch/') && !BUCKET_POLICIES.includes(a.path) && !stateMachinePolicies.includes(a.path))
      .map((a) => a.id.replace(/^Annotation::/, ''));
    expect([...new Set(others)]).toEqual(['AwsSolutions-IAM5[Resource::*]']);
  });

  it("acknowledges in the fan-out state machine's policies only the qualified ARNs of its own functions and its own child executions", () => {
    const app = nagApp();
    unacknowledgedFindings(app);

    const ids = acknowledgements(app)
      .filter((a) => a.path.startsWith('Mlops-test-Batch/Scoring/FanOut/StateMachine/') && !a.path.endsWith('/Role'))
      .map((a) => a.id.replace(/^Annotation::/, ''));
    const functionArns = ['Merge', 'Plan', 'RecordFailure', 'ScorePart'].map((name) => expect.stringMatching(new RegExp(`^AwsSolutions-IAM5\\[Resource::<ScoringFanOut${name}Function\\w+\\.Arn>:\\*\\]$`)));
    const childExecutions = expect.stringMatching(/^AwsSolutions-IAM5\[Resource::arn:aws:states:us-east-1:<AWS::AccountId>:execution:.*ScoringFanOutStateMachine\w+.*:\*\]$/);

    expect(ids.sort()).toEqual(expect.arrayContaining(functionArns));
    expect(ids).toHaveLength(6);
    expect(ids.filter((id) => id.includes(':execution:'))).toEqual([childExecutions, childExecutions]);
  });
});
