import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { AlarmTopic } from '../constructs/alarm-topic';

/** Properties of an {@link AlarmsStack}. */
export interface AlarmsStackProps extends StackProps {
  /** Deployment stage; names the e-mails' sender. */
  readonly stage: string;
  /**
   * Where every alarm and notification is e-mailed.
   * @default - no e-mail subscription: the topic has no subscriber until one is added
   */
  readonly alarmEmail?: string;
}

/**
 * The on-call topic, in a stack of its own that every other stack may use: the alarms of every
 * stack, the monitor's "Drift Confirmed" notifications and the retraining pipeline's
 * notifications all go here. It is deployed before the others and depends on none of them, so
 * that stacks which depend on one another (the monitoring stack's dashboard shows the serverless
 * inference API) can all send their alarms to it without a cycle.
 */
export class AlarmsStack extends Stack {
  /** Where alarms go; open to the CloudWatch alarms of this account and region. */
  public readonly alarmTopic: AlarmTopic;

  constructor(scope: Construct, id: string, props: AlarmsStackProps) {
    super(scope, id, props);
    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', { email: props.alarmEmail, displayName: `MLOps ${props.stage} alarms` });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'SNS topic of every alarm, confirmed drift and pipeline notification' });
  }
}
