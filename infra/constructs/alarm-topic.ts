import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';

/** Properties of an {@link AlarmTopic}. */
export interface AlarmTopicProps {
  /**
   * Address every notification is e-mailed to; it receives a confirmation message first.
   * @default - no e-mail subscription
   */
  readonly email?: string;
  /**
   * Sender name of the e-mails.
   * @default - none: e-mails come from "AWS Notifications"
   */
  readonly displayName?: string;
  /**
   * What happens to the topic's key when it leaves the stack.
   * @default RemovalPolicy.DESTROY - SNS keeps no message at rest, so nothing stays encrypted with the key once the topic is gone
   */
  readonly keyRemovalPolicy?: RemovalPolicy;
}

/**
 * The platform's alarm topic: encrypted with a customer-managed key of its own, publishing over
 * TLS only, open to the CloudWatch alarms of this account and region, and e-mailed to the on-call
 * address when there is one.
 *
 * Its own key rather than an AWS managed one, because CloudWatch cannot publish to a topic under
 * `alias/aws/sns` (that key's policy cannot be changed to let it in); and rather than the platform
 * key, whose policy would otherwise let CloudWatch and EventBridge use the key that protects every
 * model and captured request. The key is created next to the topic, as `<id>Key`.
 *
 * CloudWatch publishes through the topic policy: once a topic has a policy of its own (the TLS
 * statement), the default one that let the account's services in is gone. EventBridge rules get
 * their own statement when they target the topic (see `DriftMonitoring`).
 */
export class AlarmTopic extends Topic {
  /** The key that encrypts the topic's messages. */
  public readonly key: Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    const keyRemovalPolicy = props.keyRemovalPolicy ?? RemovalPolicy.DESTROY;

    const key = new Key(scope, `${id}Key`, {
      description: `Encrypts the messages of ${scope.node.path}/${id}`,
      enableKeyRotation: true,
      removalPolicy: keyRemovalPolicy,
      pendingWindow: Duration.days(7),
    });
    super(scope, id, { masterKey: key, enforceSSL: true, displayName: props.displayName });
    this.key = key;

    const { account, region, partition } = Stack.of(this);
    const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');
    // AWS's documented statement for CloudWatch and an encrypted topic. No condition: the key
    // serves this topic only, and the topic policy below decides who may publish.
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudWatch],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    // Alarms of this account and region only (confused-deputy prevention as CloudWatch documents it).
    this.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topicArn],
        conditions: {
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
          StringEquals: { 'aws:SourceAccount': account },
        },
      }),
    );

    if (props.email !== undefined) this.addSubscription(new EmailSubscription(props.email));
  }
}
