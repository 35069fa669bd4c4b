import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { type App, type CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it, vi } from 'vitest';
import type { MonitorOutcome } from '../../core/monitor/monitor';
import { publishMonitorMetrics } from '../../functions/monitor/app';
import { MonitorEnvSchema } from '../../functions/monitor/env';
import { metrics as sharedMetrics } from '../../functions/shared/powertools';
import { parseConfig } from '../../core/platform-config';
import { DriftMonitoring } from '../../infra/constructs/drift-monitoring';
import { applyNagChecks } from '../../infra/nag';
import { addPlatformStacks, type Platform } from '../../infra/platform';
import type { MonitoringStack } from '../../infra/stacks/monitoring-stack';
import { acknowledgements, list, logicalId, only, propertiesOfAll, resourcesAllowed, type Statement, statements, testApp, unacknowledgedFindings } from './support';

interface AlarmProperties {
  Namespace: string;
  MetricName: string;
  Dimensions: Array<{ Name: string; Value: unknown }>;
  Statistic: string;
  Period: number;
  Threshold: number;
  ComparisonOperator: string;
  EvaluationPeriods: number;
  DatapointsToAlarm?: number;
  TreatMissingData: string;
  AlarmDescription: unknown;
  AlarmActions?: unknown[];
}

const MODELS = [{ name: 'demo' }, { name: 'fraud-v2', servingMode: 'gpu' }];

/** The platform for `stage: test` with a serverless and a GPU model, and `monitoring` settings. */
function synthPlatform(monitoring: object = {}, config: object = {}): { platform: Platform; stack: MonitoringStack; template: Template } {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: MODELS, monitoring, ...config }));
  return { platform, stack: platform.monitoring!, template: Template.fromStack(platform.monitoring!) };
}

/** Every alarm of the template, with its dimensions as a plain object. */
function alarms(template: Template): Array<AlarmProperties & { dimensions: Record<string, string> }> {
  return (propertiesOfAll(template, 'AWS::CloudWatch::Alarm') as unknown as AlarmProperties[]).map((a) => ({
    ...a,
    dimensions: Object.fromEntries(a.Dimensions.map((d) => [d.Name, flattenCfnReference(d.Value)])),
  }));
}

/** The one alarm on a metric of the monitor, for a model or (without one) for the service. */
function monitorAlarm(template: Template, metricName: string, model?: string): AlarmProperties & { dimensions: Record<string, string> } {
  const found = alarms(template).filter(
    (a) => a.Namespace === 'Mlops' && a.MetricName === metricName && a.dimensions.model === model,
  );
  expect(found, `${metricName} ${model ?? ''}`).toHaveLength(1);
  return found[0]!;
}

interface DashboardWidget {
  type: string;
  properties: { title?: string; markdown?: string; metrics?: unknown[][]; alarms?: string[] };
}

/** The dashboard's widgets, with references spelled as cdk-nag spells them. */
function dashboardWidgets(template: Template): DashboardWidget[] {
  const body = only(template, 'AWS::CloudWatch::Dashboard').DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : flattenCfnReference(part))).join('');
  return (JSON.parse(text) as { widgets: DashboardWidget[] }).widgets;
}

/** The metrics of a graph widget, as `namespace/name {dimension=value,...} stat`. */
function graphMetrics(widget: DashboardWidget): string[] {
  return (widget.properties.metrics ?? []).map((row) => {
    const options = row.at(-1) as { stat?: string };
    const [namespace, name, ...dimensions] = row.slice(0, -1) as string[];
    const pairs: string[] = [];
    for (let i = 0; i < dimensions.length; i += 2) pairs.push(`${dimensions[i]}=${dimensions[i + 1]}`);
    return `${namespace}/${name} {${pairs.join(',')}} ${options.stat ?? ''}`;
  });
}

const DATA_OBJECTS = /^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+\//;
const MODEL_OBJECTS = /^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+\//;
const DATA_BUCKET_NAME = /Mlops-test-Storage:ExportsOutputRefDataBucket\w+/;
/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** An object ARN of the data bucket under `prefix`, with the wildcard after it. */
const dataObjects = (prefix: string) => expect.stringMatching(new RegExp(`${DATA_OBJECTS.source}${literal(prefix)}\\*$`));
/** The alarms stack's on-call topic, as this stack imports it. */
const topicRef = { 'Fn::ImportValue': expect.stringMatching(/^Mlops-test-Alarms:ExportsOutputRefAlarmTopic/) };

describe('MonitoringStack', () => {
  const { platform, stack, template } = synthPlatform();
  const { monitoring } = stack;
  const functionId = logicalId(monitoring.function);
  const scheduleRuleId = logicalId(monitoring.scheduleRule);
  const driftRuleId = logicalId(monitoring.driftRule);
  const deadLetterQueueId = logicalId(monitoring.deadLetterQueue);

  it('is named after the stage and deployed to the configured region', () => {
    expect(stack.stackName).toBe('Mlops-test-Monitoring');
    expect(stack.region).toBe('us-east-1');
  });

  it('depends on the alarms, storage and serverless inference stacks, never the other way round', () => {
    expect(stack.dependencies).toEqual(expect.arrayContaining([platform.alarms, platform.storage, platform.serverlessInference]));
    expect(platform.alarms.dependencies).not.toContain(stack);
    expect(platform.storage.dependencies).not.toContain(stack);
    expect(platform.serverlessInference!.dependencies).not.toContain(stack);
  });

  describe('schedule', () => {
    const rule = () => template.toJSON().Resources[scheduleRuleId].Properties as Record<string, unknown>;

    it('runs the monitor every hour by default', () => {
      expect(rule().ScheduleExpression).toBe('rate(1 hour)');
    });

    it('targets the monitor function and nothing else', () => {
      expect(rule().Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [functionId, 'Arn'] } })]);
    });

    it('lets only the schedule rule invoke the function', () => {
      expect(propertiesOfAll(template, 'AWS::Lambda::Permission')).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
          Principal: 'events.amazonaws.com',
          SourceArn: { 'Fn::GetAtt': [scheduleRuleId, 'Arn'] },
        },
      ]);
    });

    it('starts the first run only once the function may read and write the buckets', () => {
      const resource = template.toJSON().Resources[scheduleRuleId] as { DependsOn?: string[] };

      expect(resource.DependsOn).toContain(logicalId(monitoring.node.findChild('Access')));
    });
  });

  describe('function', () => {
    const fn = () => only(template, 'AWS::Lambda::Function');
    const vars = () => (fn().Environment as { Variables: Record<string, unknown> }).Variables;

    it('runs Node.js 24 on arm64 with active X-Ray tracing', () => {
      expect(fn()).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' } });
    });

    it('has 1024 MB and a 5-minute timeout', () => {
      expect(fn()).toMatchObject({ MemorySize: 1024, Timeout: 300 });
    });

    it('loads no layer: the monitor needs no ONNX Runtime', () => {
      expect(fn()).not.toHaveProperty('Layers');
      template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
    });

    it('gets exactly the variables of its env schema, and NODE_OPTIONS', () => {
      expect(Object.keys(vars()).sort()).toEqual([...Object.keys(MonitorEnvSchema.shape), 'NODE_OPTIONS'].sort());
    });

    it('monitors every configured model, serverless or GPU, with the default thresholds', () => {
      expect(vars()).toMatchObject({
        MODEL_NAMES: 'demo,fraud-v2',
        EVENT_BUS_NAME: 'default',
        MIN_ROWS: '200',
        MAX_WAIT_HOURS: '24',
        LABEL_WINDOW_DAYS: '30',
        CONFIRM_RUNS: '2',
        OF_LAST_RUNS: '3',
        COOLDOWN_HOURS: '24',
        S3_FORCE_PATH_STYLE: 'false',
      });
    });

    it('passes an environment the function accepts', () => {
      const env = Object.fromEntries(Object.entries(vars()).map(([name, value]) => [name, flattenCfnReference(value)]));

      expect(MonitorEnvSchema.parse(env)).toMatchObject({ MODEL_NAMES: ['demo', 'fraud-v2'], MIN_ROWS: 200, COOLDOWN_HOURS: 24 });
    });

    it("names the storage stack's buckets in MODEL_BUCKET and DATA_BUCKET", () => {
      expect(flattenCfnReference(vars().MODEL_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefModelBucket/);
      expect(flattenCfnReference(vars().DATA_BUCKET)).toMatch(/^Mlops-test-Storage:ExportsOutputRefDataBucket/);
    });

    it('is not retried after a failed run, which could then overlap the next one', () => {
      expect(only(template, 'AWS::Lambda::EventInvokeConfig')).toMatchObject({
        FunctionName: { Ref: functionId },
        MaximumRetryAttempts: 0,
      });
    });
  });

  describe('failed runs', () => {
    const queue = () => template.toJSON().Resources[deadLetterQueueId].Properties as Record<string, unknown>;

    it("go to a dead-letter queue when an invocation failed for good: Lambda's on-failure destination", () => {
      expect(only(template, 'AWS::Lambda::EventInvokeConfig')).toMatchObject({
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] } } },
      });
    });

    it('go to the same queue, without a retry, when EventBridge could not invoke the function', () => {
      const [target] = (template.toJSON().Resources[scheduleRuleId].Properties as { Targets: Array<Record<string, unknown>> }).Targets;

      expect(target).toMatchObject({ DeadLetterConfig: { Arn: { 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] } }, RetryPolicy: { MaximumRetryAttempts: 0 } });
    });

    it('are kept 14 days in a queue encrypted with an SQS-managed key', () => {
      expect(queue()).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    });

    it('are sent over TLS only: the queue denies every other request', () => {
      const policy = only(template, 'AWS::SQS::QueuePolicy');

      expect(policy.Queues).toEqual([{ Ref: deadLetterQueueId }]);
      expect((policy.PolicyDocument as { Statement: Statement[] }).Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    });

    it('may be sent by EventBridge only on behalf of the schedule rule', () => {
      const allows = (only(template, 'AWS::SQS::QueuePolicy').PolicyDocument as { Statement: Statement[] }).Statement.filter((s) => s.Effect === 'Allow');

      expect(allows).toEqual([
        expect.objectContaining({ Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage', Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [scheduleRuleId, 'Arn'] } } } }),
      ]);
    });

    it('may be sent by the function to this queue and no other', () => {
      const sqs = statements(template).filter((s) => list(s.Action).some((a) => String(a).startsWith('sqs:')));

      expect(sqs.flatMap((s) => list(s.Resource))).toEqual([{ 'Fn::GetAtt': [deadLetterQueueId, 'Arn'] }]);
      expect(sqs.flatMap((s) => list(s.Action))).toContain('sqs:SendMessage');
    });

    it('alarm on-call as soon as the queue holds a message', () => {
      const [alarm, ...others] = alarms(template).filter((a) => a.Namespace === 'AWS/SQS');

      expect(others).toEqual([]);
      expect(alarm).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        dimensions: { QueueName: `<${deadLetterQueueId}.QueueName>` },
        Statistic: 'Maximum',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef],
      });
    });
  });

  describe('permissions', () => {
    const all = statements(template);
    const s3 = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('s3:')));

    it('allow exactly s3:GetObject, s3:PutObject and s3:ListBucket, and no s3 wildcard action', () => {
      const actions = new Set(s3.flatMap((s) => list(s.Action)));

      expect([...actions].sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
    });

    it('allow s3:GetObject only under models/, capture/, labels/<model>/ground-truth/ and monitor/', () => {
      const reads = resourcesAllowed(template, 's3:GetObject');

      expect(reads).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`${MODEL_OBJECTS.source}models\\/\\*$`)),
          dataObjects('capture/'),
          dataObjects('labels/*/ground-truth/'),
          dataObjects('monitor/'),
        ]),
      );
      expect(reads).toHaveLength(4);
    });

    it('allow s3:PutObject only under reports/ and monitor/', () => {
      expect(resourcesAllowed(template, 's3:PutObject')).toEqual([dataObjects('monitor/'), dataObjects('reports/')]);
    });

    it('allow s3:ListBucket only under the prefixes read, so that a missing key there answers 404', () => {
      const lists = s3.filter((s) => list(s.Action).includes('s3:ListBucket'));
      const prefixes = (bucket: RegExp) => lists.find((s) => bucket.test(flattenCfnReference(s.Resource)))?.Condition;

      expect(lists).toHaveLength(2);
      expect(prefixes(/^Mlops-test-Storage:ExportsOutputFnGetAttModelBucket\w+$/)).toEqual({ StringLike: { 's3:prefix': ['models/*'] } });
      expect(prefixes(/^Mlops-test-Storage:ExportsOutputFnGetAttDataBucket\w+$/)).toEqual({ StringLike: { 's3:prefix': ['capture/*', 'labels/*/ground-truth/*', 'monitor/*'] } });
    });

    it('give no object access to a whole bucket: every object resource ends with one of the monitor prefixes', () => {
      const objectResources = s3.flatMap((s) => list(s.Resource).map(flattenCfnReference)).filter((r) => r.includes('/'));

      for (const resource of objectResources) expect(resource).toMatch(/\/(models|capture|labels\/\*\/ground-truth|monitor|reports)\/\*$/);
      expect(objectResources).toHaveLength(6);
    });

    it('allow kms:Decrypt and kms:GenerateDataKey on the platform key, only through S3', () => {
      const kms = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('kms:')));

      expect(kms).toEqual([
        {
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: { 'Fn::ImportValue': expect.stringMatching(/^Mlops-test-Storage:ExportsOutputFnGetAttKey/) },
          Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } },
        },
      ]);
    });

    it('allow events:PutEvents on the default event bus only, and nothing else in EventBridge', () => {
      const events = all.filter((s) => list(s.Action).some((a) => String(a).startsWith('events:')));

      expect(events).toEqual([{ Effect: 'Allow', Action: 'events:PutEvents', Resource: expect.anything() }]);
      expect(flattenCfnReference(events[0]!.Resource)).toBe('arn:aws:events:us-east-1:<AWS::AccountId>:event-bus/default');
    });

    it('allow nothing on "*" but the X-Ray actions, which have no resource-level permissions', () => {
      const onAnything = all.filter((s) => list(s.Resource).includes('*'));

      expect(onAnything.flatMap((s) => list(s.Action)).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    });
  });

  describe('notifications', () => {
    it("go to the alarms stack's on-call topic, which this stack creates none of", () => {
      template.resourceCountIs('AWS::SNS::Topic', 0);
      template.resourceCountIs('AWS::SNS::TopicPolicy', 0);
    });
  });

  describe('alarms', () => {
    it('are two per model and three for the monitor, each notifying the alarm topic', () => {
      const all = alarms(template);

      expect(all).toHaveLength(2 * MODELS.length + 3);
      for (const alarm of all) expect(alarm.AlarmActions).toEqual([topicRef]);
    });

    describe.each(['demo', 'fraud-v2'])('of model %s', (model) => {
      it('fire when a run confirms drift: DriftConfirmed ≥ 1, its Maximum over the hour between runs', () => {
        expect(monitorAlarm(template, 'DriftConfirmed', model)).toMatchObject({
          dimensions: { service: 'mlops', model },
          Statistic: 'Maximum',
          Period: 3600,
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 1,
          TreatMissingData: 'notBreaching',
        });
      });

      it('name the model and where its report is in the drift alarm description', () => {
        const description = flattenCfnReference(monitorAlarm(template, 'DriftConfirmed', model).AlarmDescription);

        expect(description).toContain(`Model ${model}: drift confirmed`);
        expect(description).toMatch(new RegExp(`s3://${DATA_BUCKET_NAME.source}/reports/${model}/`));
      });

      it('fire when no run completed for the model in 2 periods: missing MonitoredRows counts as breaching', () => {
        expect(monitorAlarm(template, 'MonitoredRows', model)).toMatchObject({
          dimensions: { service: 'mlops', model },
          Statistic: 'SampleCount',
          Period: 3600,
          Threshold: 1,
          ComparisonOperator: 'LessThanThreshold',
          EvaluationPeriods: 2,
          DatapointsToAlarm: 2,
          TreatMissingData: 'breaching',
        });
      });

      it('name the model and its reports in the no-data alarm description', () => {
        const description = flattenCfnReference(monitorAlarm(template, 'MonitoredRows', model).AlarmDescription);

        expect(description).toContain(`Model ${model}: no monitoring run completed`);
        expect(description).toMatch(new RegExp(`s3://${DATA_BUCKET_NAME.source}/reports/${model}/`));
      });
    });

    it('fire when the monitor failed for any model: MonitorErrors ≥ 1, which carries no model dimension', () => {
      expect(monitorAlarm(template, 'MonitorErrors')).toMatchObject({
        dimensions: { service: 'mlops' },
        Statistic: 'Sum',
        Period: 3600,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    });

    it('fire when the function crashed or timed out', () => {
      const lambda = alarms(template).filter((a) => a.Namespace === 'AWS/Lambda');

      expect(lambda).toHaveLength(1);
      expect(lambda[0]).toMatchObject({
        MetricName: 'Errors',
        dimensions: { FunctionName: `<${functionId}>` },
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
    });
  });

  describe('drift rule', () => {
    const rule = () => template.toJSON().Resources[driftRuleId].Properties as Record<string, any>;

    it('matches the "Drift Confirmed" events of the monitor on the default bus', () => {
      expect(rule().EventBusName).toBe('default');
      expect(rule().EventPattern).toEqual({ source: ['mlops.monitor'], 'detail-type': ['Drift Confirmed'] });
    });

    it("is named after the stage, so that the alarm topic's policy can name it without depending on this stack", () => {
      expect(rule().Name).toBe('mlops-test-drift-confirmed');
    });

    it('sends them to the alarm topic, and nowhere else for now', () => {
      expect(rule().Targets).toHaveLength(1);
      expect(rule().Targets[0].Arn).toEqual(topicRef);
    });

    it('turns the event into a message naming the model, version, reason, run and report', () => {
      const { InputPathsMap, InputTemplate } = rule().Targets[0].InputTransformer;

      expect(InputPathsMap).toMatchObject({
        'detail-model': '$.detail.model',
        'detail-version': '$.detail.version',
        'detail-reason': '$.detail.reason',
        'detail-report': '$.detail.report',
        'detail-runId': '$.detail.runId',
      });
      expect(flattenCfnReference(InputTemplate)).toMatch(
        new RegExp(
          '^"Drift confirmed for model <detail-model> \\(version <detail-version>\\): <detail-reason>\\. ' +
            `Report: s3://${DATA_BUCKET_NAME.source}/<detail-report> .*Run <detail-runId> at <time>\\."$`,
        ),
      );
    });
  });

  describe('dashboard', () => {
    const widgets = dashboardWidgets(template);
    const titled = (title: string) => {
      const widget = widgets.find((w) => w.properties.title === title);
      expect(widget, title).toBeDefined();
      return widget!;
    };

    it('is named after the stage', () => {
      expect(only(template, 'AWS::CloudWatch::Dashboard').DashboardName).toBe('Mlops-test');
    });

    it.each(['demo', 'fraud-v2'])('shows dataset drift, drifted feature share and rows of model %s per run', (model) => {
      const per = `{model=${model},service=mlops} Maximum`;

      expect(graphMetrics(titled(`${model}: dataset drift (1 = drift)`))).toEqual([`Mlops/DatasetDrift ${per}`, `Mlops/DriftConfirmed ${per}`]);
      expect(graphMetrics(titled(`${model}: drifted features (%)`))).toEqual([`Mlops/DriftedFeatureShare ${per}`]);
      expect(graphMetrics(titled(`${model}: rows per run`))).toEqual([`Mlops/MonitoredRows ${per}`]);
    });

    it("shows the serverless API's latency and 5xx responses by its API name and stage", () => {
      const stage = /Mlops-test-ServerlessInference:ExportsOutputRefInferenceApiDeploymentStage\w+/.source;

      expect(graphMetrics(titled('Inference API: latency (ms)'))).toEqual([
        expect.stringMatching(new RegExp(`^AWS/ApiGateway/Latency \\{ApiName=Mlops-test-ServerlessInference-api,Stage=${stage}\\} p50$`)),
        expect.stringMatching(new RegExp(`^AWS/ApiGateway/Latency \\{ApiName=Mlops-test-ServerlessInference-api,Stage=${stage}\\} p99$`)),
      ]);
      expect(graphMetrics(titled('Inference API: 5xx responses'))).toEqual([
        expect.stringMatching(new RegExp(`^AWS/ApiGateway/5XXError \\{ApiName=Mlops-test-ServerlessInference-api,Stage=${stage}\\} Sum$`)),
      ]);
    });

    it("shows the inference function's errors and duration", () => {
      const fn = /Mlops-test-ServerlessInference:ExportsOutputRefInferenceFunction\w+/.source;

      expect(graphMetrics(titled('Inference function: errors'))).toEqual(
        expect.arrayContaining([expect.stringMatching(new RegExp(`^AWS/Lambda/Errors \\{FunctionName=${fn}\\} Sum$`))]),
      );
      expect(graphMetrics(titled('Inference function: duration (ms)'))).toEqual([
        expect.stringMatching(new RegExp(`^AWS/Lambda/Duration \\{FunctionName=${fn}\\} p50$`)),
        expect.stringMatching(new RegExp(`^AWS/Lambda/Duration \\{FunctionName=${fn}\\} p99$`)),
      ]);
    });

    it('shows the state of every alarm of the stack', () => {
      const shown = widgets.filter((w) => w.type === 'alarm').flatMap((w) => w.properties.alarms ?? []);

      expect(shown.sort()).toEqual(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).map((id) => `<${id}.Arn>`).sort());
    });
  });

  it('outputs the dashboard URL and where the reports are', () => {
    expect(template.findOutputs('DashboardUrl').DashboardUrl?.Value).toBe(
      'https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=Mlops-test',
    );
    expect(flattenCfnReference(template.findOutputs('Reports').Reports?.Value)).toMatch(new RegExp(`^s3://${DATA_BUCKET_NAME.source}/reports/$`));
  });
});

describe('MonitoringStack settings', () => {
  it('runs on the configured schedule, which is also the period of the alarms on its metrics', () => {
    const { template } = synthPlatform({ scheduleMinutes: 15 });

    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    for (const alarm of alarms(template).filter((a) => a.Namespace !== 'AWS/SQS')) expect(alarm.Period, alarm.MetricName).toBe(900);
  });

  it('looks at the dead-letter queue every 5 minutes, whatever the schedule', () => {
    const { template } = synthPlatform({ scheduleMinutes: 120 });

    expect(alarms(template).filter((a) => a.Namespace === 'AWS/SQS').map((a) => a.Period)).toEqual([300]);
  });

  it('passes the configured thresholds and cooldown to the function, and sizes it as configured', () => {
    const { template } = synthPlatform({ minRows: 500, confirmRuns: 3, ofLastRuns: 5, cooldownHours: 12, memoryMb: 2048, labelWindowDays: 90 });

    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 2048,
      Environment: { Variables: Match.objectLike({ MIN_ROWS: '500', CONFIRM_RUNS: '3', OF_LAST_RUNS: '5', COOLDOWN_HOURS: '12', LABEL_WINDOW_DAYS: '90' }) },
    });
  });

  it('grants no KMS permission to the function when the buckets use S3-managed keys', () => {
    const { template } = synthPlatform({}, { storage: { useKmsKey: false } });

    expect(statements(template).flatMap((s) => list(s.Action)).filter((a) => String(a).startsWith('kms:'))).toEqual([]);
  });

  it('leaves out the inference widgets, and the dependency, when no model is served by Lambda', () => {
    const { platform, template } = synthPlatform({}, { models: [{ name: 'fraud-v2', servingMode: 'gpu' }] });
    const titles = dashboardWidgets(template).map((w) => w.properties.title ?? '');

    expect(titles.filter((t) => t.startsWith('Inference'))).toEqual([]);
    expect(titles).toContain('fraud-v2: dataset drift (1 = drift)');
    expect(new Set(platform.monitoring!.dependencies)).toEqual(new Set([platform.alarms, platform.storage]));
  });

  it('is left out of the platform when no model is configured', () => {
    const app = testApp({ builtinCloudFormationValidation: false });

    expect(addPlatformStacks(app, parseConfig({ stage: 'test' })).monitoring).toBeUndefined();
  });
});

// The alarms and the dashboard are only as good as their metric names and dimensions: these must be
// what the monitor function publishes through Powertools.
describe('the metrics the alarms watch', () => {
  const { template } = synthPlatform();

  /** Namespace, name and dimensions of every EMF metric `publishMonitorMetrics` writes for an outcome. */
  function published(outcome: MonitorOutcome): Array<{ namespace: string; name: string; dimensions: Record<string, string> }> {
    const emitted: Array<Record<string, any>> = [];
    const recorder = {
      singleMetric: () => {
        const single = sharedMetrics.singleMetric();
        vi.spyOn(single, 'publishStoredMetrics').mockImplementation(() => {
          emitted.push(single.serializeMetrics());
          single.clearMetrics();
          return single;
        });
        return single;
      },
    } as unknown as Metrics;
    publishMonitorMetrics(recorder, outcome);
    return emitted.flatMap((emf) =>
      emf._aws.CloudWatchMetrics.flatMap((d: { Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }) =>
        d.Metrics.map((m) => ({
          namespace: d.Namespace,
          name: m.Name,
          dimensions: Object.fromEntries(d.Dimensions[0]!.map((name) => [name, String(emf[name])])),
        })),
      ),
    );
  }

  const reported = {
    status: 'reported',
    model: 'demo',
    version: '1.0.0',
    rows: 500,
    skipped: { json: 0 },
    report: { dataset: { driftedShare: 0.5 }, features: [] },
    reportKey: 'reports/demo/x.json',
    htmlKey: 'reports/demo/x.html',
    alert: true,
    confirmed: true,
    trigger: null,
  } as unknown as MonitorOutcome;

  it.each(['DriftConfirmed', 'MonitoredRows'])('publishes %s of a reported run with the dimensions its alarm watches', (name) => {
    const alarm = monitorAlarm(template, name, 'demo');

    expect(published(reported)).toContainEqual({ namespace: alarm.Namespace, name, dimensions: alarm.dimensions });
  });

  it('publishes MonitoredRows while a model waits for traffic too, so the no-data alarm stays quiet', () => {
    const waiting = { status: 'waiting', model: 'demo', version: '1.0.0', rows: 3, reason: 'waiting' } as MonitorOutcome;
    const alarm = monitorAlarm(template, 'MonitoredRows', 'demo');

    expect(published(waiting)).toEqual([{ namespace: alarm.Namespace, name: 'MonitoredRows', dimensions: alarm.dimensions }]);
  });

  it('publishes every metric the dashboard graphs for a model', () => {
    const graphed = new Set(
      dashboardWidgets(template)
        .flatMap((w) => w.properties.metrics ?? [])
        .filter((row) => row[0] === 'Mlops' && row.includes('demo'))
        .map((row) => row[1]),
    );
    const names = new Set(published(reported).map((m) => m.name));

    expect([...graphed].sort()).toEqual(['DatasetDrift', 'DriftConfirmed', 'DriftedFeatureShare', 'MonitoredRows']);
    for (const name of graphed) expect(names).toContain(name);
  });

  it('publishes MonitorErrors, as the handler adds it, with the service dimension only', () => {
    const alarm = monitorAlarm(template, 'MonitorErrors');
    sharedMetrics.addMetric('MonitorErrors', MetricUnit.Count, 1);
    const emf = sharedMetrics.serializeMetrics() as unknown as Record<string, any>;
    sharedMetrics.clearMetrics();

    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe(alarm.Namespace);
    expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([Object.keys(alarm.dimensions)]);
    expect(emf.service).toBe(alarm.dimensions.service);
  });
});

describe('DriftMonitoring', () => {
  function construct(
    extra: (stack: Stack) => Partial<ConstructorParameters<typeof DriftMonitoring>[2]> = () => ({}),
  ): { stack: Stack; monitoring: DriftMonitoring } {
    const stack = new Stack(testApp({ builtinCloudFormationValidation: false }), 'Test');
    const monitoring = new DriftMonitoring(stack, 'Monitoring', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      modelNames: ['demo'],
      ...extra(stack),
    });
    return { stack, monitoring };
  }
  const ruleOf = (stack: Stack, rule: IConstruct) => Template.fromStack(stack).toJSON().Resources[logicalId(rule)].Properties as Record<string, any>;

  it('sends confirmed drift to the topic it is given, and lets the retraining pipeline add a second target', () => {
    let topic: Topic | undefined;
    const { stack, monitoring } = construct((s) => ({ alarmTopic: (topic = new Topic(s, 'Alarms')) }));
    const queue = new Queue(stack, 'Retraining');
    monitoring.driftRule.addTarget(new SqsQueue(queue));

    expect(ruleOf(stack, monitoring.driftRule).Targets.map((t: { Arn: unknown }) => t.Arn)).toEqual([
      stack.resolve(topic!.topicArn),
      stack.resolve(queue.queueArn),
    ]);
  });

  it('refuses a topic of another stack without a drift rule name, which would make that stack depend on this one', () => {
    const app = testApp({ builtinCloudFormationValidation: false });
    const topic = new Topic(new Stack(app, 'Alarms'), 'Topic');
    const stack = new Stack(app, 'Monitor');

    expect(
      () =>
        new DriftMonitoring(stack, 'Monitoring', {
          modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
          dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
          modelNames: ['demo'],
          alarmTopic: topic,
        }),
    ).toThrow(/driftRuleName is required when alarmTopic belongs to another stack.*\(received the topic of Alarms and no driftRuleName\)/);
  });

  it('names a named drift rule in the policy of a topic of another stack by its ARN, so that stack depends on nothing', () => {
    const app = testApp({ builtinCloudFormationValidation: false });
    const alarms = new Stack(app, 'Alarms');
    const topic = new Topic(alarms, 'Topic');
    const stack = new Stack(app, 'Monitor');
    new DriftMonitoring(stack, 'Monitoring', {
      modelBucket: Bucket.fromBucketName(stack, 'Models', 'models-bucket'),
      dataBucket: Bucket.fromBucketName(stack, 'Data', 'data-bucket'),
      modelNames: ['demo'],
      alarmTopic: topic,
      driftRuleName: 'mlops-x-drift-confirmed',
    });
    const topicPolicy = (only(Template.fromStack(alarms), 'AWS::SNS::TopicPolicy').PolicyDocument as { Statement: Statement[] }).Statement;

    expect(alarms.dependencies).toEqual([]);
    expect(flattenCfnReference(topicPolicy.find((st) => st.Sid === 'AllowDriftRuleToPublish')?.Condition?.ArnEquals?.['aws:SourceArn'])).toBe(
      'arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:rule/mlops-x-drift-confirmed',
    );
  });

  it('notifies no one without an alarm topic: no alarm action, no drift rule target', () => {
    const { stack, monitoring } = construct();

    Template.fromStack(stack).allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: Match.absent() });
    expect(ruleOf(stack, monitoring.driftRule)).not.toHaveProperty('Targets');
  });

  it('puts its events on the bus it is given, may put them there only, and listens there', () => {
    let bus: EventBus | undefined;
    const { stack, monitoring } = construct((s) => ({ eventBus: (bus = new EventBus(s, 'Bus')) }));
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EVENT_BUS_NAME: stack.resolve(bus!.eventBusName) }) },
    });
    expect(ruleOf(stack, monitoring.driftRule).EventBusName).toEqual(stack.resolve(bus!.eventBusName));
    expect(resourcesAllowed(template, 'events:PutEvents')).toEqual([flattenCfnReference(stack.resolve(bus!.eventBusArn))]);
  });

  it('rejects a schedule shorter than the timeout, showing the value', () => {
    expect(() => construct(() => ({ schedule: Duration.minutes(2) }))).toThrow(
      /schedule must be whole minutes from the timeout \(5 minutes.*\(received 2 minutes\)/,
    );
  });

  it('rejects more confirming runs than the runs they are counted in, showing the values', () => {
    expect(() => construct(() => ({ confirmRuns: 4, ofLastRuns: 3 }))).toThrow(
      /confirmRuns must be a whole number from 1 to ofLastRuns \(received 4 of 3\)/,
    );
  });

  it('rejects no model', () => {
    expect(() => construct(() => ({ modelNames: [] }))).toThrow(/at least one model name \(received \[\]\)/);
  });

  it('rejects two models whose construct ids would clash, naming them', () => {
    expect(() => construct(() => ({ modelNames: ['x-1', 'x1'] }))).toThrow(/share the construct id X1; rename one \(received x-1, x1\)/);
  });
});

describe('cdk-nag', () => {
  function nagApp(config: object = {}): App {
    const app = testApp({ builtinCloudFormationValidation: false });
    addPlatformStacks(app, parseConfig({ stage: 'test', models: MODELS, ...config }));
    applyNagChecks(app);
    return app;
  }

  it('reports no unacknowledged finding with the platform key', () => {
    expect(unacknowledgedFindings(nagApp()).filter((f) => f.paths.some((p) => p.startsWith('Mlops-test-Monitoring/')))).toEqual([]);
  });

  it('reports no unacknowledged finding with S3-managed encryption and an alarm email', () => {
    const findings = unacknowledgedFindings(nagApp({ storage: { useKmsKey: false }, alarmEmail: 'oncall@example.com' }));

    expect(findings.filter((f) => f.paths.some((p) => p.startsWith('Mlops-test-Monitoring/')))).toEqual([]);
  });

  it('acknowledges the prefix wildcards of the function policy by their exact resources, and no other', () => {
    const app = nagApp();
    unacknowledgedFindings(app);

    const ids = acknowledgements(app)
      .filter((a) => a.path === 'Mlops-test-Monitoring/Monitoring/Access')
      .map((a) => a.id.replace(/^Annotation::/, ''));
    const resource = (bucket: string, prefix: string) =>
      expect.stringMatching(new RegExp(`^AwsSolutions-IAM5\\[Resource::Mlops-test-Storage:ExportsOutputFnGetAtt${bucket}\\w+\\/${literal(prefix)}\\*\\]$`));

    expect(ids.sort()).toEqual([
      resource('DataBucket', 'capture/'),
      resource('DataBucket', 'labels/*/ground-truth/'),
      resource('DataBucket', 'monitor/'),
      resource('DataBucket', 'reports/'),
      resource('ModelBucket', 'models/'),
    ]);
  });

  it('acknowledges nothing else in the monitoring stack but X-Ray\'s "*" resource and a dead-letter queue without one of its own', () => {
    const app = nagApp();
    unacknowledgedFindings(app);

    const others = acknowledgements(app)
      .filter((a) => a.path.startsWith('Mlops-test-Monitoring/') && a.path !== 'Mlops-test-Monitoring/Monitoring/Access')
      .map((a) => a.id.replace(/^Annotation::/, ''));
    expect([...new Set(others)].sort()).toEqual(['AwsSolutions-IAM5[Resource::*]', 'AwsSolutions-SQS3']);
  });
});
