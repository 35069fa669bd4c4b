import { Template } from 'aws-cdk-lib/assertions';
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { addPlatformStacks, type Platform } from '../../infra/platform';
import { logicalId, only, type Statement, testApp } from './support';

/** The platform for `stage: test` and one model, with `config` over it. */
function synthPlatform(config: object = {}): { platform: Platform; template: Template } {
  const app = testApp({ builtinCloudFormationValidation: false });
  const platform = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], ...config }));
  return { platform, template: Template.fromStack(platform.alarms) };
}

describe('AlarmsStack', () => {
  const { platform, template } = synthPlatform();
  const stack = platform.alarms;
  const { alarmTopic } = stack;
  const topicRef = { Ref: logicalId(alarmTopic) };
  const key = () => only(template, 'AWS::KMS::Key') as { EnableKeyRotation: boolean; KeyPolicy: { Statement: Statement[] } };
  const topicPolicy = () => (only(template, 'AWS::SNS::TopicPolicy').PolicyDocument as { Statement: Statement[] }).Statement;

  it('is named after the stage and deployed to the configured region', () => {
    expect(stack.stackName).toBe('Mlops-test-Alarms');
    expect(stack.region).toBe('us-east-1');
  });

  it('depends on no other stack, so every stack may send its alarms here', () => {
    expect(stack.dependencies).toEqual([]);
  });

  it('is part of the platform even when no model is configured, as the batch stack is', () => {
    const app = testApp({ builtinCloudFormationValidation: false });

    expect(addPlatformStacks(app, parseConfig({ stage: 'test' })).alarms.stackName).toBe('Mlops-test-Alarms');
  });

  it('holds one topic, the one every alarm notifies', () => {
    expect(stack.resolve(alarmTopic.topicArn)).toEqual(topicRef);
    template.resourceCountIs('AWS::SNS::Topic', 1);
  });

  it('is encrypted with a customer-managed key of its own that rotates yearly', () => {
    expect(only(template, 'AWS::SNS::Topic').KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [logicalId(alarmTopic.key), 'Arn'] });
    expect(key().EnableKeyRotation).toBe(true);
  });

  it('lets CloudWatch use its key, without which alarms cannot publish to an encrypted topic', () => {
    expect(key().KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
    );
  });

  it('lets EventBridge use its key, for the drift notifications', () => {
    expect(key().KeyPolicy.Statement).toContainEqual(
      expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
    );
  });

  it('denies every publish that is not sent over TLS', () => {
    expect(topicPolicy()).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Action: 'sns:Publish', Principal: '*', Resource: topicRef, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
  });

  it('lets the CloudWatch alarms of this account and region publish, and no others', () => {
    const cloudWatch = topicPolicy().filter((s) => JSON.stringify(s.Principal).includes('cloudwatch'));

    expect(cloudWatch).toHaveLength(1);
    expect(cloudWatch[0]).toMatchObject({ Effect: 'Allow', Action: 'sns:Publish', Resource: topicRef });
    expect(flattenCfnReference(cloudWatch[0]!.Condition?.ArnLike?.['aws:SourceArn'])).toBe('arn:aws:cloudwatch:us-east-1:<AWS::AccountId>:alarm:*');
    expect(cloudWatch[0]!.Condition?.StringEquals).toEqual({ 'aws:SourceAccount': { Ref: 'AWS::AccountId' } });
  });

  it("lets EventBridge publish only on behalf of the monitoring stack's drift rule, named by its ARN", () => {
    const events = topicPolicy().filter((s) => JSON.stringify(s.Principal).includes('events'));

    expect(events).toEqual([expect.objectContaining({ Effect: 'Allow', Action: 'sns:Publish', Resource: topicRef })]);
    expect(flattenCfnReference(events[0]!.Condition?.ArnEquals?.['aws:SourceArn'])).toBe('arn:aws:events:us-east-1:<AWS::AccountId>:rule/mlops-test-drift-confirmed');
  });

  it('has no subscription when no alarm email is configured', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('e-mails the topic to the configured alarm address', () => {
    const { template: withEmail } = synthPlatform({ alarmEmail: 'oncall@example.com' });

    expect(only(withEmail, 'AWS::SNS::Subscription')).toMatchObject({ Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: topicRef });
  });

  it('outputs the topic', () => {
    template.hasOutput('AlarmTopicArn', { Value: topicRef });
  });
});
