import { DEFAULT_LABEL_WINDOW_DAYS, DEFAULT_MAX_WAIT_HOURS } from '../../core/monitor/monitor';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StageBase } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  type AlarmProps,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IWidget,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { EventBus, EventField, type IEventBus, Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { keyUseVia, listUnder } from '../iam';
import { DataPrefixes, ModelLayout } from '../../core/layout';
import { acknowledgeWildcardResources } from '../nag';
import { MlopsFunction } from './mlops-function';
import { deadLetterQueue } from './dead-letter-queue';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/monitor/handler.ts', import.meta.url));

/** Namespace and service dimension of the monitor's EMF metrics (functions/shared/powertools.ts). */
const MONITOR_METRICS = { namespace: 'Mlops', service: 'mlops' } as const;

/** What the monitor function puts on the event bus when drift is confirmed (functions/monitor/app.ts). */
const DRIFT_EVENT = { source: 'mlops.monitor', detailType: 'Drift Confirmed' } as const;

/** Properties of a {@link DriftMonitoring}. */
export interface DriftMonitoringProps {
  /** Bucket of the model packages: registry, manifest and baseline read under `models/`. */
  readonly modelBucket: IBucket;
  /**
   * Bucket of the captured traffic (read under `capture/`), the monitor's state (`monitor/`) and
   * the drift reports (written under `reports/`).
   */
  readonly dataBucket: IBucket;
  /**
   * KMS key that encrypts both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /** Models monitored on every run, and watched by alarms and the dashboard. */
  readonly modelNames: readonly string[];
  /**
   * Time between monitoring runs; also the period of the alarms on the monitor's metrics (the
   * dead-letter alarm looks every 5 minutes). At least `timeout`, so that runs never overlap.
   * @default Duration.hours(1)
   */
  readonly schedule?: Duration;
  /**
   * Fewest captured rows since the last report before a window is assessed (MIN_ROWS).
   * @default 200
   */
  readonly minRows?: number;
  /**
   * Longest a window under `minRows` waits: then a window of at least 30 rows is assessed anyway (MAX_WAIT_HOURS).
   * @default Duration.hours(DEFAULT_MAX_WAIT_HOURS) (24 hours)
   */
  readonly maxWait?: Duration;
  /** Days late ground-truth labels are joined to captured predictions. @default DEFAULT_LABEL_WINDOW_DAYS (30) */
  readonly labelWindowDays?: number;
  /**
   * Runs that must flag dataset drift, out of the last `ofLastRuns`, to confirm it (CONFIRM_RUNS).
   * @default 2
   */
  readonly confirmRuns?: number;
  /**
   * The recent runs `confirmRuns` counts in (OF_LAST_RUNS).
   * @default 3
   */
  readonly ofLastRuns?: number;
  /**
   * Time after a retraining trigger in which confirmed drift triggers none again (COOLDOWN_HOURS).
   * @default Duration.hours(24)
   */
  readonly cooldown?: Duration;
  /**
   * Memory of the function in MB; the CPU share grows with it (1769 MB is one vCPU).
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Longest time one run (all models) may take.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * Processor architecture of the function.
   * @default Architecture.ARM_64
   */
  readonly architecture?: Architecture;
  /**
   * The bus that receives "Drift Confirmed" events, and on which {@link DriftMonitoring.driftRule} listens.
   * @default - the account's default event bus
   */
  readonly eventBus?: IEventBus;
  /**
   * Where alarms and confirmed drift are sent. It must let CloudWatch alarms of the account publish
   * (an `AlarmTopic` does); this construct lets the drift rule publish.
   * @default - the alarms notify no one, and the drift rule has no target yet
   */
  readonly alarmTopic?: ITopic;
  /**
   * Name of {@link DriftMonitoring.driftRule}. Required when `alarmTopic` belongs to another
   * stack: the topic's policy names the rule by its ARN, and the ARN of a rule with a generated
   * name would make the topic's stack depend on this one (a cycle, since this one publishes to it).
   * @default - a name CloudFormation generates
   */
  readonly driftRuleName?: string;
  /**
   * Stage of the inference API whose latency and 5xx responses the dashboard shows.
   * @default - no API widgets
   */
  readonly inferenceApiStage?: StageBase;
  /**
   * The inference function whose errors and duration the dashboard shows.
   * @default - no inference function widgets
   */
  readonly inferenceFunction?: IFunction;
  /**
   * Name of the dashboard.
   * @default - a name CloudFormation generates
   */
  readonly dashboardName?: string;
  /**
   * How long function logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The alarms of one monitored model. */
export interface ModelAlarms {
  /** Fires when a run confirms drift (DriftConfirmed = 1). */
  readonly driftConfirmed: Alarm;
  /** Fires when no run completed for the model in two schedule periods (no MonitoredRows data point). */
  readonly noData: Alarm;
}

/**
 * Drift monitoring of the served models: an EventBridge schedule runs the monitor function, which
 * compares the traffic captured since its last run with each model's baseline, writes a JSON and
 * an HTML report under `reports/<model>/` of the data bucket, publishes EMF metrics, and puts a
 * "Drift Confirmed" event on the bus when enough recent runs agree (outside a cooldown).
 *
 * Alarms per model (drift confirmed, no monitoring data) and for the monitor itself (a model
 * failed, the function failed, a run is in the dead-letter queue) go to the alarm topic; a rule on the bus forwards "Drift Confirmed"
 * events to the topic as a readable message, and is where the retraining pipeline adds its own
 * target. A dashboard shows drift per model next to the inference API's latency and errors.
 */
export class DriftMonitoring extends Construct {
  /** The monitor function. */
  public readonly function: MlopsFunction;
  /** The rule that runs the monitor on its schedule. */
  public readonly scheduleRule: Rule;
  /** Matches "Drift Confirmed" events of the monitor; add the retraining pipeline as a target. */
  public readonly driftRule: Rule;
  /** The bus the monitor puts "Drift Confirmed" events on. */
  public readonly eventBus: IEventBus;
  /** The alarms of each model, by model name. */
  public readonly modelAlarms: ReadonlyMap<string, ModelAlarms>;
  /** Fires when the monitor failed for some model (it logs which, as "monitoring failed"). */
  public readonly monitorErrorsAlarm: Alarm;
  /** Fires when the function crashed or timed out: no model was monitored in that run. */
  public readonly functionErrorsAlarm: Alarm;
  /**
   * Scheduled runs that failed for good: asynchronous invocations that crashed or timed out (Lambda's
   * on-failure destination) and schedule events EventBridge could not deliver (the target's dead-letter queue).
   */
  public readonly deadLetterQueue: Queue;
  /** Fires while {@link deadLetterQueue} holds a message. */
  public readonly deadLetterAlarm: Alarm;
  /** Drift per model, the inference API and function, and the state of every alarm. */
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: DriftMonitoringProps) {
    super(scope, id);
    const schedule = props.schedule ?? Duration.hours(1);
    const minRows = props.minRows ?? 200;
    const confirmRuns = props.confirmRuns ?? 2;
    const ofLastRuns = props.ofLastRuns ?? 3;
    const cooldown = props.cooldown ?? Duration.hours(24);
    const memorySize = props.memorySize ?? 1024;
    const timeout = props.timeout ?? Duration.minutes(5);
    const architecture = props.architecture ?? Architecture.ARM_64;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    this.eventBus = props.eventBus ?? EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    if (props.modelNames.length === 0) throw new Error('DriftMonitoring needs at least one model name (received [])');
    const ids = props.modelNames.map(pascalCase);
    const clash = ids.find((constructId, i) => ids.indexOf(constructId) !== i);
    if (clash) throw new Error(`Two models share the construct id ${clash}; rename one (received ${props.modelNames.join(', ')})`);
    if (timeout.toSeconds() > 15 * 60) {
      throw new Error(`timeout must be at most 15 minutes, Lambda's limit (received ${timeout.toHumanString()})`);
    }
    if (schedule.toSeconds() < timeout.toSeconds() || schedule.toSeconds() > 24 * 3600 || schedule.toSeconds() % 60 !== 0) {
      throw new Error(
        `schedule must be whole minutes from the timeout (${timeout.toHumanString()}, so that runs never overlap) to 1 day ` +
          `(received ${schedule.toHumanString()})`,
      );
    }
    if (!Number.isInteger(minRows) || minRows < 1) throw new Error(`minRows must be a whole number of at least 1 (received ${minRows})`);
    if (!Number.isInteger(confirmRuns) || !Number.isInteger(ofLastRuns) || confirmRuns < 1 || confirmRuns > ofLastRuns) {
      throw new Error(`confirmRuns must be a whole number from 1 to ofLastRuns (received ${confirmRuns} of ${ofLastRuns})`);
    }

    // --- Function -------------------------------------------------------------------------------
    this.function = new MlopsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      description: `Drift monitor: capture since the last run against each model's baseline, reports under ${DataPrefixes.reports}`,
      memorySize,
      timeout,
      architecture,
      logRetention,
      logRemovalPolicy,
      environment: {
        MODEL_BUCKET: props.modelBucket.bucketName,
        DATA_BUCKET: props.dataBucket.bucketName,
        MODEL_NAMES: props.modelNames.join(','),
        EVENT_BUS_NAME: this.eventBus.eventBusName,
        MIN_ROWS: String(minRows),
        MAX_WAIT_HOURS: String((props.maxWait ?? Duration.hours(DEFAULT_MAX_WAIT_HOURS)).toHours({ integral: false })),
        LABEL_WINDOW_DAYS: String(props.labelWindowDays ?? DEFAULT_LABEL_WINDOW_DAYS),
        CONFIRM_RUNS: String(confirmRuns),
        OF_LAST_RUNS: String(ofLastRuns),
        COOLDOWN_HOURS: String(cooldown.toHours({ integral: false })),
        S3_FORCE_PATH_STYLE: 'false',
      },
    });
    // Messages carry the schedule event (and, from Lambda, the error), never captured rows.
    this.deadLetterQueue = deadLetterQueue(this, 'the drift monitor (the schedule target and its asynchronous invocations)');
    // No retry of a failed run: a retry could overlap the next scheduled run, which reads and
    // writes the same state. The next run resumes from the watermark; the failed one lands in the
    // dead-letter queue, whose alarm (and the errors alarm) tells on-call.
    this.function.configureAsyncInvoke({ retryAttempts: 0, onFailure: new SqsDestination(this.deadLetterQueue) });
    const access = this.grantAccess(props);

    // --- Schedule -------------------------------------------------------------------------------
    this.scheduleRule = new Rule(this, 'Schedule', {
      description: `Runs the drift monitor every ${schedule.toHumanString()}`,
      schedule: Schedule.rate(schedule),
      // An event Lambda did not accept goes to the dead-letter queue at once, for the same reason.
      targets: [new LambdaFunction(this.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 0 })],
    });
    // The first run must not start before the function may read and write the buckets.
    this.scheduleRule.node.addDependency(access);

    // --- Drift events ---------------------------------------------------------------------------
    this.driftRule = new Rule(this, 'DriftConfirmed', {
      ruleName: props.driftRuleName,
      description: `"${DRIFT_EVENT.detailType}" events of the drift monitor: notify, and start retraining`,
      eventBus: this.eventBus,
      eventPattern: { source: [DRIFT_EVENT.source], detailType: [DRIFT_EVENT.detailType] },
    });
    if (props.alarmTopic) this.notifyOnDrift(props.alarmTopic, props.dataBucket, props.driftRuleName, props.eventBus !== undefined);

    // --- Alarms ---------------------------------------------------------------------------------
    const topic = props.alarmTopic;
    const alarm = (alarmScope: Construct, alarmId: string, alarmProps: AlarmProps): Alarm => {
      const created = new Alarm(alarmScope, alarmId, alarmProps);
      if (topic) created.addAlarmAction(new SnsAction(topic));
      return created;
    };
    const period = schedule;
    const every = schedule.toHumanString();
    const reports = (model: string) => `s3://${props.dataBucket.bucketName}/${DataPrefixes.reports}${model}/`;
    const modelAlarms = new Map<string, ModelAlarms>();
    for (const model of props.modelNames) {
      const modelScope = new Construct(this, pascalCase(model));
      modelAlarms.set(model, {
        driftConfirmed: alarm(modelScope, 'DriftConfirmedAlarm', {
          alarmDescription:
            `Model ${model}: drift confirmed. At least ${confirmRuns} of the last ${ofLastRuns} monitoring runs found its ` +
            `captured inputs drifted from its baseline. Report: the newest JSON and HTML under ${reports(model)} ` +
            '(the "Drift Confirmed" notification names the exact key). Retraining starts unless one started in the last ' +
            `${cooldown.toHumanString()}.`,
          metric: monitorMetric('DriftConfirmed', model, period, 'Maximum'),
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          // A run that waits for traffic, or no run, says nothing about drift.
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        // Every completed run publishes MonitoredRows for each model, with a report or waiting for
        // traffic. No data point means no run completed for the model: drift would go unnoticed.
        noData: alarm(modelScope, 'NoDataAlarm', {
          alarmDescription:
            `Model ${model}: no monitoring run completed for it in the last 2 runs (every ${every}), so drift would go ` +
            'unnoticed. The schedule did not fire, the monitor function failed (see its errors alarm), or it failed for ' +
            `this model (see the MonitorErrors alarm and the log line "monitoring failed"). Earlier reports: ${reports(model)}. ` +
            'Also fires right after the stack is first deployed, until the first scheduled run.',
          metric: monitorMetric('MonitoredRows', model, period, 'SampleCount'),
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: 2,
          datapointsToAlarm: 2,
          treatMissingData: TreatMissingData.BREACHING,
        }),
      });
    }
    this.modelAlarms = modelAlarms;
    // MonitorErrors carries only the service dimension: the handler counts failures of any model.
    this.monitorErrorsAlarm = alarm(this, 'MonitorErrorsAlarm', {
      alarmDescription:
        `The drift monitor failed for at least one model (of ${props.modelNames.join(', ')}): its registry, package, ` +
        `baseline or capture could not be read, or its report not written. The function's log line "monitoring failed" ` +
        `names the model and the error; that model gets no report under ${reports('<model>')} until it is fixed.`,
      metric: new Metric({
        namespace: MONITOR_METRICS.namespace,
        metricName: 'MonitorErrors',
        dimensionsMap: { service: MONITOR_METRICS.service },
        period,
        statistic: 'Sum',
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.functionErrorsAlarm = alarm(this, 'FunctionErrorsAlarm', {
      alarmDescription:
        `The drift monitor function crashed or timed out (after ${timeout.toHumanString()}): no model was monitored ` +
        `in that run, and it is not retried. Its logs are in ${this.function.logGroup.logGroupName}; the next run ` +
        'resumes from where the last completed one stopped.',
      metric: this.function.metricErrors({ period, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm = alarm(this, 'DeadLetterAlarm', {
      alarmDescription:
        'A scheduled run of the drift monitor failed for good and is in its dead-letter queue: the function crashed or ' +
        `timed out (the message carries the error), or EventBridge could not invoke it. No model was monitored in that run; ` +
        'the next scheduled run resumes from where the last completed one stopped. Read the message, fix the cause, then purge the queue.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    // --- Dashboard ------------------------------------------------------------------------------
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(7),
    });
    const allAlarms = [...modelAlarms.values()].flatMap((a) => [a.driftConfirmed, a.noData]);
    allAlarms.push(this.monitorErrorsAlarm, this.functionErrorsAlarm, this.deadLetterAlarm);
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: allAlarms, width: 24, height: 3 }));
    for (const model of props.modelNames) {
      this.dashboard.addWidgets(
        new TextWidget({ markdown: `### Model ${model}\nReports: \`${DataPrefixes.reports}${model}/\` in the data bucket`, width: 24, height: 2 }),
        new GraphWidget({
          title: `${model}: dataset drift (1 = drift)`,
          left: [monitorMetric('DatasetDrift', model, period, 'Maximum'), monitorMetric('DriftConfirmed', model, period, 'Maximum')],
          leftYAxis: { min: 0, max: 1 },
          width: 8,
        }),
        new GraphWidget({
          title: `${model}: drifted features (%)`,
          left: [monitorMetric('DriftedFeatureShare', model, period, 'Maximum')],
          leftYAxis: { min: 0, max: 100 },
          width: 8,
        }),
        new GraphWidget({
          title: `${model}: rows per run`,
          left: [monitorMetric('MonitoredRows', model, period, 'Maximum')],
          leftYAxis: { min: 0 },
          width: 8,
        }),
      );
    }
    const inference = this.inferenceWidgets(props);
    if (inference.length > 0) {
      this.dashboard.addWidgets(new TextWidget({ markdown: '### Inference', width: 24, height: 1 }));
      this.dashboard.addWidgets(...inference);
    }
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Drift monitor: errors',
        left: [this.function.metricErrors({ period, statistic: 'Sum' }), this.monitorErrorsAlarm.metric],
        width: 12,
      }),
      new GraphWidget({
        title: 'Drift monitor: duration',
        left: [this.function.metricDuration({ period, statistic: 'Maximum' })],
        width: 12,
      }),
    );
  }

  /**
   * Lets the function read model packages, captured traffic and late ground truth, keep its state
   * and write reports, each action under its own prefixes, and put events on the bus.
   */
  private grantAccess(props: DriftMonitoringProps): Policy {
    const models = `${ModelLayout.root}*`;
    const [capture, monitor, reports] = [DataPrefixes.capture, DataPrefixes.monitor, DataPrefixes.reports].map(
      (prefix) => `${prefix}*`,
    ) as [string, string, string];
    // Late labels of captured predictions: labels/<model>/ground-truth/*.jsonl (core/monitor/monitor.ts).
    const groundTruth = `${DataPrefixes.labels}*/ground-truth/*`;
    const data = (pattern: string): string => props.dataBucket.arnForObjects(pattern);

    const statements = [
      // Registry, manifest and baseline of each model's serving version.
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [props.modelBucket.arnForObjects(models)] }),
      // Listing under the prefixes read: the monitor lists versions, capture/<model>/<version>/ and
      // labels/<model>/ground-truth/, and S3 answers a missing key (no state yet, no registry yet)
      // with 404 instead of 403 only to a principal that may list it.
      listUnder(props.modelBucket, [models]),
      listUnder(props.dataBucket, [capture, groundTruth, monitor]),
      // Captured traffic, late ground truth, and the monitor's own state (watermark, recent verdicts, last trigger).
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [data(capture), data(groundTruth), data(monitor)] }),
      // Reports, and the state after the run.
      new PolicyStatement({ actions: ['s3:PutObject'], resources: [data(reports), data(monitor)] }),
    ];
    if (props.key) {
      statements.push(
        // Decrypt to read, GenerateDataKey to write; only through S3.
        keyUseVia(props.key, 's3', Stack.of(this).region),
      );
    }
    statements.push(new PolicyStatement({ actions: ['events:PutEvents'], resources: [this.eventBus.eventBusArn] }));
    const policy = new Policy(this, 'Access', { statements, roles: [this.function.role] });
    acknowledgeWildcardResources(
      policy,
      [models, capture, groundTruth, monitor, reports].map((pattern) => `/${pattern}`),
      'Object ARNs under one key prefix each: the monitor reads any model package under models/ (which ' +
        'versions serve changes without a deployment), the capture files under capture/ whose keys carry ' +
        'the model, version, date and a request id, and the ground-truth files under labels/<model>/ground-truth/; ' +
        'it reads and writes its state under monitor/<model>/ and writes reports under reports/<model>/ named by the time of the run.',
    );
    return policy;
  }

  /**
   * Sends "Drift Confirmed" events to the topic as a readable message. The topic policy lets only
   * this rule publish (CDK's SnsTopic target would let any rule of any account publish); a named
   * rule is named there by an ARN built from its name, so that a topic in another stack does not
   * depend on this one.
   */
  private notifyOnDrift(topic: ITopic, dataBucket: IBucket, ruleName: string | undefined, customBus: boolean): void {
    if (ruleName === undefined && Stack.of(topic) !== Stack.of(this)) {
      throw new Error(
        `driftRuleName is required when alarmTopic belongs to another stack: its policy must name the drift rule ` +
          `without depending on this stack (received the topic of ${Stack.of(topic).stackName} and no driftRuleName)`,
      );
    }
    const ruleArn =
      ruleName === undefined
        ? this.driftRule.ruleArn
        : Stack.of(this).formatArn({ service: 'events', resource: 'rule', resourceName: customBus ? `${this.eventBus.eventBusName}/${ruleName}` : ruleName });
    const detail = (field: string) => EventField.fromPath(`$.detail.${field}`);
    const message = RuleTargetInput.fromText(
      `Drift confirmed for model ${detail('model')} (version ${detail('version')}): ${detail('reason')}. ` +
        `Report: s3://${dataBucket.bucketName}/${detail('report')} (the HTML report is beside it, ending in .html). ` +
        `Run ${detail('runId')} at ${EventField.time}.`,
    );
    this.driftRule.addTarget({ bind: () => ({ arn: topic.topicArn, input: message, targetResource: topic }) });

    const events = new ServicePrincipal('events.amazonaws.com');
    topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowDriftRuleToPublish',
        principals: [events],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': ruleArn } },
      }),
    );
    // EventBridge's KMS requests carry no aws:SourceArn, so the key statement cannot name the rule;
    // the topic policy above is the gate.
    topic.masterKey?.grant(events, 'kms:Decrypt', 'kms:GenerateDataKey*');
  }

  /** The inference API's latency and 5xx, and the inference function's errors and duration. */
  private inferenceWidgets(props: DriftMonitoringProps): IWidget[] {
    const period = Duration.minutes(5);
    const widgets: IWidget[] = [];
    const stage = props.inferenceApiStage;
    if (stage) {
      widgets.push(
        new GraphWidget({
          title: 'Inference API: latency (ms)',
          left: [stage.metricLatency({ period, statistic: 'p50' }), stage.metricLatency({ period, statistic: 'p99' })],
          width: 6,
        }),
        new GraphWidget({
          title: 'Inference API: 5xx responses',
          left: [stage.metricServerError({ period, statistic: 'Sum' })],
          width: 6,
        }),
      );
    }
    const fn = props.inferenceFunction;
    if (fn) {
      widgets.push(
        new GraphWidget({
          title: 'Inference function: errors',
          left: [fn.metricErrors({ period, statistic: 'Sum' }), fn.metricThrottles({ period, statistic: 'Sum' })],
          width: 6,
        }),
        new GraphWidget({
          title: 'Inference function: duration (ms)',
          left: [fn.metricDuration({ period, statistic: 'p50' }), fn.metricDuration({ period, statistic: 'p99' })],
          width: 6,
        }),
      );
    }
    return widgets;
  }
}

/** A per-model metric of the monitor: dimensions service and model, as Powertools publishes them. */
function monitorMetric(metricName: string, model: string, period: Duration, statistic: string): Metric {
  return new Metric({
    namespace: MONITOR_METRICS.namespace,
    metricName,
    dimensionsMap: { service: MONITOR_METRICS.service, model },
    period,
    statistic,
  });
}

/** `fraud-v2` → `FraudV2`: a model name as a construct id. */
function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
