import { CfnOutput, CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { StageBase } from 'aws-cdk-lib/aws-apigateway';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { DataPrefixes } from '../../core/layout';
import type { MonitoringConfig } from '../../core/platform-config';
import { DriftMonitoring } from '../constructs/drift-monitoring';

/** Properties of a {@link MonitoringStack}. */
export interface MonitoringStackProps extends StackProps {
  /** Deployment stage; names the dashboard. */
  readonly stage: string;
  /** Schedule, confirmation, cooldown and function settings. */
  readonly monitoring: MonitoringConfig;
  /** The models monitored. */
  readonly modelNames: readonly string[];
  /** Bucket of the model packages (the storage stack's). */
  readonly modelBucket: IBucket;
  /** Bucket of the captured traffic, the monitor's state and the reports (the storage stack's). */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * The on-call topic (the alarms stack's): the monitor's alarms and its "Drift Confirmed"
   * notifications go there. It must let CloudWatch alarms of the account publish, as an
   * `AlarmTopic` does.
   */
  readonly alarmTopic: ITopic;
  /**
   * Stage of the serverless inference API, for the dashboard.
   * @default - no API widgets
   */
  readonly inferenceApiStage?: StageBase;
  /**
   * The serverless inference function, for the dashboard.
   * @default - no inference function widgets
   */
  readonly inferenceFunction?: IFunction;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Drift monitoring of every model, with its alarms on the on-call topic, and the platform's dashboard. */
export class MonitoringStack extends Stack {
  /** The schedule, function, drift rule, alarms and dashboard. */
  public readonly monitoring: DriftMonitoring;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    // Monitoring is useless without the buckets and key: CloudFormation should refuse to remove
    // them (or their exports) while this stack uses them.
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const config = props.monitoring;

    this.monitoring = new DriftMonitoring(this, 'Monitoring', {
      modelBucket: props.modelBucket,
      dataBucket: props.dataBucket,
      key: props.key,
      modelNames: props.modelNames,
      schedule: Duration.minutes(config.scheduleMinutes),
      minRows: config.minRows,
      maxWait: Duration.hours(config.maxWaitHours),
      labelWindowDays: config.labelWindowDays,
      confirmRuns: config.confirmRuns,
      ofLastRuns: config.ofLastRuns,
      cooldown: Duration.hours(config.cooldownHours),
      memorySize: config.memoryMb,
      alarmTopic: props.alarmTopic,
      // Named, so that the topic's policy (in the alarms stack) can name the rule without
      // depending on this stack.
      driftRuleName: `mlops-${props.stage}-drift-confirmed`,
      inferenceApiStage: props.inferenceApiStage,
      inferenceFunction: props.inferenceFunction,
      dashboardName: `Mlops-${props.stage}`,
      logRemovalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    new CfnOutput(this, 'DashboardUrl', {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=Mlops-${props.stage}`,
      description: 'Drift per model, inference latency and errors, alarm states',
    });
    new CfnOutput(this, 'Reports', {
      value: `s3://${props.dataBucket.bucketName}/${DataPrefixes.reports}`,
      description: 'Drift reports, as <model>/<time>.json and .html',
    });
    new CfnOutput(this, 'DriftRuleArn', {
      value: this.monitoring.driftRule.ruleArn,
      description: '"Drift Confirmed" events of the monitor; the retraining pipeline adds its target here',
    });
  }
}
