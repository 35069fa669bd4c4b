import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Match, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DataPrefixes, ModelLayout } from '../../core/layout';
import { PackageFiles } from '../../core/model/manifest';
import { keyUseVia } from '../iam';
import { acknowledgeWildcardResources } from '../nag';
import { MlopsFunction } from './mlops-function';
import { deadLetterQueue } from './dead-letter-queue';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/capture-convert/handler.ts', import.meta.url));

/** A GPU model whose SageMaker capture is converted, and the package version its endpoint serves. */
export interface ConvertedModel {
  readonly modelName: string;
  readonly modelVersion: string;
}

/** Properties of a {@link CaptureConverter}. */
export interface CaptureConverterProps {
  /** The GPU models; capture of any other model under capture-raw/ is left alone. */
  readonly models: readonly ConvertedModel[];
  /** Bucket of the model packages: the function reads the served versions' manifests. */
  readonly modelBucket: IBucket;
  /**
   * Bucket of SageMaker's capture (`capture-raw/<model>/`) and of the monitor's (`capture/<model>/`).
   * It must send its events to EventBridge (`eventBridgeEnabled`), as the storage stack's data bucket does.
   */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Where the alarm on failed conversions is sent.
   * @default - the alarm notifies no one
   */
  readonly alarmTopic?: ITopic;
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

/**
 * Converts the SageMaker data capture of GPU endpoints into the drift monitor's capture format as
 * it arrives: S3 "Object Created" events under `capture-raw/` reach a function through an
 * EventBridge rule; the function writes `capture/<model>/<version>/…` under a key derived from
 * the raw key (so a retry rewrites, never duplicates). Events the rule cannot deliver and
 * invocations that still fail after Lambda's retries land in a dead-letter queue, watched by an
 * alarm; raw objects stay in capture-raw/ until their lifecycle rule expires them, so a
 * dead-lettered event can be replayed.
 */
export class CaptureConverter extends Construct {
  public readonly function: MlopsFunction;
  /** The rule that sends raw capture objects to the function. */
  public readonly rule: Rule;
  /** Undeliverable events and failed invocations. */
  public readonly deadLetterQueue: Queue;
  /** Fires while the dead-letter queue holds a message. */
  public readonly deadLetterAlarm: Alarm;

  constructor(scope: Construct, id: string, props: CaptureConverterProps) {
    super(scope, id);
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    if (props.models.length === 0) throw new Error('CaptureConverter needs at least one model (received [])');

    // Messages carry the event (bucket and key), never captured rows.
    this.deadLetterQueue = deadLetterQueue(this, 'the capture conversion (rule target and asynchronous invocations)');

    const versions = Object.fromEntries(props.models.map((m) => [m.modelName, m.modelVersion]));
    this.function = new MlopsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      description: `Converts SageMaker data capture under ${DataPrefixes.captureRaw} into ${DataPrefixes.capture} for drift monitoring`,
      memorySize: 1024,
      timeout: Duration.minutes(2),
      architecture: Architecture.ARM_64,
      logRetention,
      logRemovalPolicy,
      environment: {
        MODEL_BUCKET: props.modelBucket.bucketName,
        DATA_BUCKET: props.dataBucket.bucketName,
        MODEL_VERSIONS: Stack.of(this).toJsonString(versions),
      },
    });
    this.function.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6), onFailure: new SqsDestination(this.deadLetterQueue) });
    this.grantAccess(props);

    this.rule = new Rule(this, 'RawCaptureCreated', {
      description: `Objects SageMaker writes under ${DataPrefixes.captureRaw} of the data bucket, for conversion into ${DataPrefixes.capture}`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [props.dataBucket.bucketName] },
          object: { key: Match.prefix(DataPrefixes.captureRaw) },
        },
      },
      targets: [new LambdaFunction(this.function, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(6) })],
    });

    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription:
        `A capture object under ${DataPrefixes.captureRaw} was not converted (the message names it): its model's manifest ` +
        'could not be read, or S3 failed. Fix the cause, then replay the message; converting again writes the same object.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) this.deadLetterAlarm.addAlarmAction(new SnsAction(props.alarmTopic));
  }

  /** Reads raw capture and writes monitor capture of these models only, and reads their served manifests. */
  private grantAccess(props: CaptureConverterProps): Policy {
    const raw = props.models.map((m) => `${DataPrefixes.captureRaw}${m.modelName}/*`);
    const converted = props.models.map((m) => `${DataPrefixes.capture}${m.modelName}/*`);
    const statements = [
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: props.models.map((m) => props.modelBucket.arnForObjects(`${ModelLayout.package(m.modelName, m.modelVersion)}${PackageFiles.manifest}`)),
      }),
      new PolicyStatement({ actions: ['s3:GetObject'], resources: raw.map((pattern) => props.dataBucket.arnForObjects(pattern)) }),
      new PolicyStatement({ actions: ['s3:PutObject'], resources: converted.map((pattern) => props.dataBucket.arnForObjects(pattern)) }),
    ];
    if (props.key) {
      // Decrypt to read, GenerateDataKey to write; only through S3.
      statements.push(keyUseVia(props.key, 's3', Stack.of(this).region));
    }
    const policy = new Policy(this, 'Access', { statements, roles: [this.function.role] });
    acknowledgeWildcardResources(
      policy,
      [...raw, ...converted].map((pattern) => `/${pattern}`),
      'Object ARNs under one model each: SageMaker names its capture files under capture-raw/<model>/ with the ' +
        'endpoint, variant, date and an event id, and the converted files under capture/<model>/ carry the version, ' +
        'hour and a hash of the raw key.',
    );
    return policy;
  }
}
