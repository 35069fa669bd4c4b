import { CfnOutput, CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { PipelineConfig } from '../../core/platform-config';
import { DRIFT_EVENT, RetrainingPipeline } from '../constructs/retraining-pipeline';

/** Properties of a {@link PipelineStack}. */
export interface PipelineStackProps extends StackProps {
  /** Gate, training and approval settings. */
  readonly pipeline: PipelineConfig;
  /** The models the platform serves: their drift events start runs; the first one names the example. */
  readonly modelNames: readonly string[];
  /** Bucket of the model packages (the storage stack's). */
  readonly modelBucket: IBucket;
  /** Bucket of labels, datasets and run state (the storage stack's). */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets; also encrypts the notification topic the stack creates.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Where failures, promotions and rejections are published.
   * @default - a new topic in this stack
   */
  readonly notifyTopic?: ITopic;
  /**
   * An email address subscribed to the topic the stack creates.
   * @default - no subscription
   */
  readonly notifyEmail?: string;
  /**
   * What happens to the log groups when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The retraining pipeline: a Step Functions state machine started by confirmed drift or by hand. */
export class PipelineStack extends Stack {
  /** The state machine, its functions, topic and trigger. */
  public readonly pipeline: RetrainingPipeline;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    // Runs read and write the buckets: CloudFormation should refuse to remove them (or their
    // exports) while this stack uses them.
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const config = props.pipeline;
    const model = props.modelNames[0];
    if (model === undefined) throw new Error('PipelineStack needs at least one model name (received [])');

    this.pipeline = new RetrainingPipeline(this, 'Pipeline', {
      modelBucket: props.modelBucket,
      dataBucket: props.dataBucket,
      key: props.key,
      notifyTopic: props.notifyTopic,
      notifyEmail: props.notifyEmail,
      modelNames: props.modelNames,
      maxDropPoints: config.maxDropPoints,
      epochs: config.epochs,
      quantize: config.quantize,
      manualApproval: config.manualApproval,
      trainMemorySize: config.trainMemoryMb,
      training:
        config.training.mode === 'sagemaker'
          ? {
              image: config.training.image!,
              instanceType: config.training.instanceType,
              instanceCount: config.training.instanceCount,
              volumeSize: Size.gibibytes(config.training.volumeSizeGb),
              maxRuntime: Duration.minutes(config.training.maxRuntimeMinutes),
              hyperparameters: config.training.hyperparameters,
            }
          : undefined,
      canary: config.canary.enabled
        ? {
            weight: config.canary.weight,
            window: Duration.minutes(config.canary.windowMinutes),
            checkInterval: Duration.minutes(config.canary.checkMinutes),
            minRequests: config.canary.minRequests,
            maxErrorRateIncrease: config.canary.maxErrorRateIncrease,
            latencyFactor: config.canary.latencyFactor,
          }
        : false,
      logRemovalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    const { stateMachine, notifyTopic } = this.pipeline;
    const input = JSON.stringify({ model, runId: 'manual-1', trigger: { kind: 'manual', reason: 'retrained by hand' } });
    new CfnOutput(this, 'StateMachineArn', {
      value: stateMachine.stateMachineArn,
      description: `Retraining state machine; "${DRIFT_EVENT.detailType}" events from ${DRIFT_EVENT.source} start it`,
    });
    new CfnOutput(this, 'NotifyTopicArn', { value: notifyTopic.topicArn, description: 'Pipeline notifications: failures, promotions, rejections' });
    new CfnOutput(this, 'ManualStart', {
      value: `aws stepfunctions start-execution --state-machine-arn ${stateMachine.stateMachineArn} --input '${input}'`,
      description: 'Starts a retraining run by hand; the same runId resumes a failed run and changes nothing in a finished one',
    });
    if (config.manualApproval) {
      new CfnOutput(this, 'ManualPromotion', {
        value: `npx mlops models promote ${model} <version> --repo s3://${props.modelBucket.bucketName}`,
        description: 'manualApproval: a run leaves a candidate that passed the gate approved; this makes it serve',
      });
    }
  }
}
