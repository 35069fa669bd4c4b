import { DEFAULT_LABEL_WINDOW_DAYS } from '../../core/monitor/monitor';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { StorageConfig } from '../../core/platform-config';
import { PlatformKey } from '../constructs/platform-key';
import { SecureBucket } from '../constructs/secure-bucket';
import { type DataPrefix, DataPrefixes } from '../../core/layout';

/** Properties of a {@link StorageStack}. */
export interface StorageStackProps extends StackProps {
  /** Deployment stage; names the KMS key alias. */
  readonly stage: string;
  /** Retention and encryption settings. */
  readonly storage: StorageConfig;
  /** Days the monitor joins late labels to captured predictions; the prediction index expires a day after. @default DEFAULT_LABEL_WINDOW_DAYS (30) */
  readonly labelWindowDays?: number;
  /**
   * What happens to buckets and the key when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** Where models and data live: a versioned model bucket, a data bucket and their access logs. */
export class StorageStack extends Stack {
  /** Customer-managed key of both buckets, when the configuration asks for one. */
  public readonly key: IKey | undefined;
  /** Model packages (ONNX fp32 + int8, manifest, baseline), every version kept. */
  public readonly modelBucket: IBucket;
  /** Batch input and output, captured requests, drift reports and labels; see {@link DataPrefixes}. */
  public readonly dataBucket: IBucket;
  /** Destination of the server access logs of every bucket of the platform. */
  public readonly accessLogBucket: IBucket;

  constructor(scope: Construct, id: string, props: StorageStackProps) {
    super(scope, id, props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const { dataRetentionDays, noncurrentModelVersionDays, accessLogRetentionDays, rawCaptureRetentionDays, useKmsKey } = props.storage;

    this.key = useKmsKey ? new PlatformKey(this, 'Key', { alias: `mlops-${props.stage}`, removalPolicy }) : undefined;

    // S3 delivers server access logs only to buckets encrypted with S3-managed keys. The bucket
    // logs nothing itself (that would log its own log deliveries); cdk-nag's S1 rule accepts a
    // bucket that is the access-log destination of another bucket in the same stack.
    this.accessLogBucket = new SecureBucket(this, 'AccessLogBucket', {
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(accessLogRetentionDays) }],
      removalPolicy,
    });

    this.modelBucket = new SecureBucket(this, 'ModelBucket', {
      versioned: true,
      encryptionKey: this.key,
      serverAccessLogsBucket: this.accessLogBucket,
      lifecycleRules: [
        { id: 'ExpireNoncurrentModelVersions', noncurrentVersionExpiration: Duration.days(noncurrentModelVersionDays) },
      ],
      removalPolicy,
    });

    // Outputs and captured traffic can be regenerated or are only useful while recent; inputs,
    // manifests, reports and labels are records and stay.
    const expiring: Array<[string, DataPrefix]> = [
      ['ExpireBatchOutput', DataPrefixes.batchOutput],
      ['ExpireBatchErrors', DataPrefixes.batchErrors],
      ['ExpireCapture', DataPrefixes.capture],
    ];
    this.dataBucket = new SecureBucket(this, 'DataBucket', {
      encryptionKey: this.key,
      serverAccessLogsBucket: this.accessLogBucket,
      lifecycleRules: [
        ...expiring.map(([ruleId, prefix]) => ({ id: ruleId, prefix, expiration: Duration.days(dataRetentionDays) })),
        // SageMaker's own capture of the GPU endpoints, converted into capture/ as it arrives.
        { id: 'ExpireRawCapture', prefix: DataPrefixes.captureRaw, expiration: Duration.days(rawCaptureRetentionDays) },
        // Staged outputs of a batch job that crashed; a finished job moves its outputs away at once.
        { id: 'ExpireBatchStaging', prefix: DataPrefixes.batchStaging, expiration: Duration.days(2) },
        // The monitor's index of captured predictions, read only to join labels within the window.
        { id: 'ExpirePredictionIndex', prefix: DataPrefixes.predictionIndex, expiration: Duration.days((props.labelWindowDays ?? DEFAULT_LABEL_WINDOW_DAYS) + 1) },
      ],
      // Batch scoring starts from ObjectCreated events routed by EventBridge rules.
      eventBridgeEnabled: true,
      removalPolicy,
    });

    new CfnOutput(this, 'ModelBucketName', { value: this.modelBucket.bucketName, description: 'Model packages' });
    new CfnOutput(this, 'DataBucketName', {
      value: this.dataBucket.bucketName,
      description: 'Batch, capture and reports',
    });
  }

  /** Lets the grantee read every model package (and decrypt it). */
  public grantModelRead(grantee: IGrantable): Grant {
    return this.modelBucket.grantRead(grantee);
  }

  /** Lets the grantee read objects under one data prefix (and decrypt them). */
  public grantDataRead(grantee: IGrantable, prefix: DataPrefix): Grant {
    return this.dataBucket.grantRead(grantee, `${prefix}*`);
  }

  /** Lets the grantee write objects under one data prefix (and encrypt them). */
  public grantDataWrite(grantee: IGrantable, prefix: DataPrefix): Grant {
    return this.dataBucket.grantPut(grantee, `${prefix}*`);
  }
}
