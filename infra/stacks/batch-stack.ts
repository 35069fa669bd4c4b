import { CfnOutput, CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { DataPrefixes } from '../../core/layout';
import type { BatchConfig } from '../../core/platform-config';
import { BatchScoring } from '../constructs/batch-scoring';

/** Properties of a {@link BatchStack}. */
export interface BatchStackProps extends StackProps {
  /** Function, concurrency and alarm settings. */
  readonly batch: BatchConfig;
  /** Bucket of the model packages (the storage stack's). */
  readonly modelBucket: IBucket;
  /** Bucket of the batch inputs and outputs (the storage stack's), with EventBridge notifications on. */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Where alarms are sent.
   * @default - alarms notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * What happens to the log group when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Batch scoring of the files dropped under `batch/input/<model>/` of the data bucket. */
export class BatchStack extends Stack {
  /** The rule, queues, function and alarms. */
  public readonly scoring: BatchScoring;

  constructor(scope: Construct, id: string, props: BatchStackProps) {
    super(scope, id, props);
    // Scoring is useless without the buckets and key: CloudFormation should refuse to remove them
    // (or their exports) while this stack uses them.
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const config = props.batch;

    this.scoring = new BatchScoring(this, 'Scoring', {
      modelBucket: props.modelBucket,
      dataBucket: props.dataBucket,
      key: props.key,
      memorySize: config.memoryMb,
      timeout: Duration.minutes(config.timeoutMinutes),
      maxConcurrency: config.maxConcurrency,
      reservedConcurrency: config.reservedConcurrency,
      chunkRows: config.chunkRows,
      alarmOnDlq: config.alarmOnDlq,
      fanOutAboveBytes: config.fanOutAboveBytes,
      partBytes: config.partBytes,
      partConcurrency: config.partConcurrency,
      alarmTopic: props.alarmTopic,
      logRemovalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    const { queue, deadLetterQueue } = this.scoring;
    new CfnOutput(this, 'QueueUrl', { value: queue.queueUrl, description: 'Queue of batch input events' });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      value: deadLetterQueue.queueUrl,
      description: 'Batch input events that failed; redrive them with aws sqs start-message-move-task',
    });
    if (this.scoring.fanOut) {
      new CfnOutput(this, 'FanOutStateMachineArn', {
        value: this.scoring.fanOut.stateMachine.stateMachineArn,
        description: `Scores inputs above ${config.fanOutAboveBytes} bytes in parts; one execution per input, ETag and model version`,
      });
    }
    new CfnOutput(this, 'ExampleUpload', {
      value: `aws s3 cp data.csv s3://${props.dataBucket.bucketName}/${DataPrefixes.batchInput}<model>/data.csv`,
      description: `Scores data.csv with <model>; results appear under ${DataPrefixes.batchOutput}, ${DataPrefixes.batchErrors} and ${DataPrefixes.batchManifests}`,
    });
  }
}
