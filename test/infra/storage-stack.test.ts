import { CfnResource, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/platform-config';
import { DataPrefixes } from '../../core/layout';
import { addPlatformStacks } from '../../infra/platform';
import type { StorageStack } from '../../infra/stacks/storage-stack';
import { testApp } from './support';

function synthStorage(config: object = {}): { stack: StorageStack; template: Template } {
  const app = testApp({ builtinCloudFormationValidation: false });
  const { storage } = addPlatformStacks(app, parseConfig({ stage: 'test', models: [{ name: 'demo' }], ...config }));
  return { stack: storage, template: Template.fromStack(storage) };
}

/** The synthesized properties of a construct's CloudFormation resource, found without hard-coding its logical id. */
function propertiesOf(template: Template, construct: IConstruct): Record<string, unknown> {
  const resource = construct.node.defaultChild as CfnResource;
  const logicalId = Stack.of(construct).getLogicalId(resource);
  const resources = template.toJSON().Resources as Record<string, { Properties: Record<string, unknown> }>;
  const found = resources[logicalId];
  if (!found) throw new Error(`no resource ${logicalId} in the template`);
  return found.Properties;
}

describe('StorageStack', () => {
  const { stack, template } = synthStorage();

  it('is named after the stage and deployed to the configured region', () => {
    expect(stack.stackName).toBe('Mlops-test-Storage');
    expect(stack.region).toBe('us-east-1');
  });

  it('creates a model bucket, a data bucket and an access-log bucket', () => {
    template.resourceCountIs('AWS::S3::Bucket', 3);
  });

  it('blocks all public access to every bucket', () => {
    template.allResourcesProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
  });

  it('denies every request to every bucket that is not sent over TLS', () => {
    template.resourceCountIs('AWS::S3::BucketPolicy', 3);
    template.allResourcesProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('encrypts the model and data buckets with the platform KMS key and an S3 Bucket Key', () => {
    const keyArn = stack.resolve(stack.key?.keyArn);
    for (const bucket of [stack.modelBucket, stack.dataBucket]) {
      expect(propertiesOf(template, bucket)).toMatchObject({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn } },
          ],
        },
      });
    }
  });

  it('encrypts the access-log bucket with S3-managed keys, the only encryption log delivery accepts', () => {
    expect(propertiesOf(template, stack.accessLogBucket)).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
  });

  it('rotates the KMS key and gives it a stage alias', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/mlops-test' });
  });

  it('versions the model bucket', () => {
    expect(propertiesOf(template, stack.modelBucket)).toMatchObject({ VersioningConfiguration: { Status: 'Enabled' } });
  });

  it('expires replaced model versions after noncurrentModelVersionDays', () => {
    const { template } = synthStorage({ storage: { noncurrentModelVersionDays: 400 } });

    template.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 400 }, Status: 'Enabled' })]),
      },
    });
  });

  it('expires batch outputs, batch errors and captured traffic after dataRetentionDays', () => {
    const { stack, template } = synthStorage({ storage: { dataRetentionDays: 45 } });

    const rules = (propertiesOf(template, stack.dataBucket).LifecycleConfiguration as { Rules: object[] }).Rules;
    for (const prefix of [DataPrefixes.batchOutput, DataPrefixes.batchErrors, DataPrefixes.capture]) {
      expect(rules).toContainEqual(expect.objectContaining({ Prefix: prefix, ExpirationInDays: 45, Status: 'Enabled' }));
    }
  });

  it('expires SageMaker\'s raw capture of the GPU endpoints after rawCaptureRetentionDays', () => {
    const { stack, template } = synthStorage({ storage: { rawCaptureRetentionDays: 3 } });

    const rules = (propertiesOf(template, stack.dataBucket).LifecycleConfiguration as { Rules: object[] }).Rules;
    expect(rules).toContainEqual(expect.objectContaining({ Prefix: DataPrefixes.captureRaw, ExpirationInDays: 3, Status: 'Enabled' }));
  });

  it('expires staged batch outputs left by a crashed job after two days', () => {
    const rules = (propertiesOf(template, stack.dataBucket).LifecycleConfiguration as { Rules: object[] }).Rules;

    expect(rules).toContainEqual(expect.objectContaining({ Prefix: DataPrefixes.batchStaging, ExpirationInDays: 2, Status: 'Enabled' }));
  });

  it("expires the monitor's prediction index a day after the label window", () => {
    const rules = (propertiesOf(template, stack.dataBucket).LifecycleConfiguration as { Rules: object[] }).Rules;

    expect(rules).toContainEqual(expect.objectContaining({ Prefix: DataPrefixes.predictionIndex, ExpirationInDays: 31, Status: 'Enabled' }));
  });

  it('never expires batch inputs, manifests, reports or labels', () => {
    const rules = (propertiesOf(template, stack.dataBucket).LifecycleConfiguration as { Rules: Array<Record<string, unknown>> })
      .Rules;
    const expiringPrefixes = rules.filter((r) => r.ExpirationInDays !== undefined).map((r) => r.Prefix);

    expect(expiringPrefixes).not.toContain(undefined);
    for (const kept of [DataPrefixes.batchInput, DataPrefixes.batchManifests, DataPrefixes.reports, DataPrefixes.labels]) {
      expect(expiringPrefixes.some((p) => kept.startsWith(String(p)))).toBe(false);
    }
  });

  it('aborts incomplete multipart uploads after 7 days in every bucket', () => {
    template.allResourcesProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } })]),
      },
    });
  });

  it('writes model and data bucket access logs to the access-log bucket, each under its own prefix', () => {
    const logBucketRef = stack.resolve(stack.accessLogBucket.bucketName);

    expect(propertiesOf(template, stack.modelBucket)).toMatchObject({
      LoggingConfiguration: { DestinationBucketName: logBucketRef, LogFilePrefix: 'ModelBucket/' },
    });
    expect(propertiesOf(template, stack.dataBucket)).toMatchObject({
      LoggingConfiguration: { DestinationBucketName: logBucketRef, LogFilePrefix: 'DataBucket/' },
    });
  });

  it('lets S3 log delivery write to the access-log bucket through its bucket policy', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: stack.resolve(stack.accessLogBucket.bucketName),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Action: 's3:PutObject', Principal: { Service: 'logging.s3.amazonaws.com' } }),
        ]),
      },
    });
  });

  it('sends data bucket object events to EventBridge', () => {
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: stack.resolve(stack.dataBucket.bucketName),
      NotificationConfiguration: { EventBridgeConfiguration: {} },
    });
  });

  it('outputs the names of the model and data buckets', () => {
    template.hasOutput('ModelBucketName', { Value: stack.resolve(stack.modelBucket.bucketName) });
    template.hasOutput('DataBucketName', { Value: stack.resolve(stack.dataBucket.bucketName) });
  });

  it('retains buckets and the key when the stack is deleted', () => {
    template.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.allResources('AWS::KMS::Key', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });
});

describe('StorageStack with removalPolicy destroy', () => {
  const { template } = synthStorage({ removalPolicy: 'destroy' });

  it('deletes the buckets and empties them first', () => {
    template.allResources('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 3);
  });

  it('schedules the key for deletion after a 30-day window', () => {
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ PendingWindowInDays: 30 }) });
  });
});

describe('StorageStack without a KMS key', () => {
  const { stack, template } = synthStorage({ storage: { useKmsKey: false } });

  it('creates no KMS key', () => {
    expect(stack.key).toBeUndefined();
    template.resourceCountIs('AWS::KMS::Key', 0);
  });

  it('encrypts every bucket with S3-managed keys', () => {
    template.allResourcesProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
  });
});

describe('StorageStack grants', () => {
  function grantee(stack: Stack): Role {
    return new Role(stack, 'Grantee', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
  }

  it('grantModelRead lets the grantee read model objects and decrypt them with the key', () => {
    const app = testApp({ builtinCloudFormationValidation: false });
    const { storage } = addPlatformStacks(app, parseConfig({ stage: 'test' }));
    storage.grantModelRead(grantee(storage));

    Template.fromStack(storage).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['s3:GetObject*']), Effect: 'Allow' }),
          Match.objectLike({ Action: Match.arrayWith(['kms:Decrypt']), Resource: storage.resolve(storage.key?.keyArn) }),
        ]),
      },
    });
  });

  it('grantDataWrite lets the grantee put objects under one prefix only', () => {
    const app = testApp({ builtinCloudFormationValidation: false });
    const { storage } = addPlatformStacks(app, parseConfig({ stage: 'test' }));
    storage.grantDataWrite(grantee(storage), DataPrefixes.capture);

    Template.fromStack(storage).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['s3:PutObject']),
            Resource: { 'Fn::Join': ['', [storage.resolve(storage.dataBucket.bucketArn), `/${DataPrefixes.capture}*`]] },
          }),
        ]),
      },
    });
  });

  it('grantDataRead lets the grantee read objects under one prefix only', () => {
    const app = testApp({ builtinCloudFormationValidation: false });
    const { storage } = addPlatformStacks(app, parseConfig({ stage: 'test' }));
    storage.grantDataRead(grantee(storage), DataPrefixes.batchInput);

    Template.fromStack(storage).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['s3:GetObject*']),
            Resource: Match.arrayWith([
              { 'Fn::Join': ['', [storage.resolve(storage.dataBucket.bucketArn), `/${DataPrefixes.batchInput}*`]] },
            ]),
          }),
        ]),
      },
    });
  });
});
