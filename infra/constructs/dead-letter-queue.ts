import { Duration, Validations } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * The dead-letter queue of a rule target or of a function's asynchronous invocations, as
 * `scope`'s `DeadLetterQueue`: SQS-managed encryption (EventBridge and Lambda send to it without a
 * key policy; messages carry events, never data rows), TLS only, kept 14 days. `of` names what
 * fails into it, for the cdk-nag acknowledgement that a dead-letter queue needs none of its own.
 */
export function deadLetterQueue(scope: Construct, of: string): Queue {
  const queue = new Queue(scope, 'DeadLetterQueue', { encryption: QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
  Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: `This queue is the dead-letter queue of ${of}; it needs none of its own.` });
  return queue;
}
