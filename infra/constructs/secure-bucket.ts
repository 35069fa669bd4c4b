import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket, type LifecycleRule } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

const LAMBDA_BASIC_EXECUTION = 'service-role/AWSLambdaBasicExecutionRole';

/** Properties of a {@link SecureBucket}. */
export interface SecureBucketProps {
  /**
   * Keep every version of every object.
   * @default false
   */
  readonly versioned?: boolean;
  /**
   * Customer-managed key for SSE-KMS, with an S3 Bucket Key to keep KMS request costs flat.
   * @default - S3-managed keys (SSE-S3)
   */
  readonly encryptionKey?: IKey;
  /**
   * Bucket that receives this bucket's server access logs.
   * @default - no access logs; the caller must then acknowledge cdk-nag AwsSolutions-S1 with a reason
   */
  readonly serverAccessLogsBucket?: IBucket;
  /**
   * Key prefix of this bucket's access logs in the log bucket; ignored without `serverAccessLogsBucket`.
   * @default - the construct id followed by '/'
   */
  readonly serverAccessLogsPrefix?: string;
  /**
   * Lifecycle rules, added to the rule that aborts incomplete multipart uploads.
   * @default - none
   */
  readonly lifecycleRules?: LifecycleRule[];
  /**
   * How long an incomplete multipart upload may hold storage before it is aborted.
   * @default Duration.days(7)
   */
  readonly abortIncompleteMultipartUploadAfter?: Duration;
  /**
   * Send object events to EventBridge.
   * @default false
   */
  readonly eventBridgeEnabled?: boolean;
  /**
   * What happens to the bucket when it leaves the stack. With DESTROY its objects are deleted too,
   * so that the stack can be torn down.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * An S3 bucket that is private, TLS 1.2+ only and encrypted at rest, with its access logs and
 * lifecycle given by the caller. Its props leave out every setting that would weaken that.
 */
export class SecureBucket extends Bucket {
  constructor(scope: Construct, id: string, props: SecureBucketProps = {}) {
    const versioned = props.versioned ?? false;
    const abortAfter = props.abortIncompleteMultipartUploadAfter ?? Duration.days(7);
    const serverAccessLogsPrefix = props.serverAccessLogsBucket
      ? (props.serverAccessLogsPrefix ?? `${id}/`)
      : undefined;
    const lifecycleRules = props.lifecycleRules ?? [];
    const eventBridgeEnabled = props.eventBridgeEnabled ?? false;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    super(scope, id, {
      versioned,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      ...(props.encryptionKey
        ? { encryption: BucketEncryption.KMS, encryptionKey: props.encryptionKey, bucketKeyEnabled: true }
        : { encryption: BucketEncryption.S3_MANAGED }),
      serverAccessLogsBucket: props.serverAccessLogsBucket,
      serverAccessLogsPrefix,
      lifecycleRules: [
        { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: abortAfter },
        ...lifecycleRules,
      ],
      eventBridgeEnabled,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    });

    if (eventBridgeEnabled) {
      // CDK turns notifications on through a stack-wide custom resource whose Lambda role always
      // gets the AWS managed basic execution policy; L2 props offer no way to replace it. Should CDK
      // rename the handler, the finding comes back and synthesis fails: the safe direction.
      const stack = Stack.of(this);
      const handler = stack.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
      if (handler) {
        Validations.of(handler).acknowledge({
          id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${LAMBDA_BASIC_EXECUTION}]`,
          reason:
            'CDK-owned bucket-notifications handler: the managed policy only lets it write its own ' +
            'CloudWatch logs, and CDK attaches it unconditionally.',
        });
      }
    }
  }
}
