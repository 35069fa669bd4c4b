import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';

/**
 * Use of a KMS key only through one AWS service (kms:ViaService): Decrypt to read, and by
 * default GenerateDataKey to write, objects or messages that service encrypts with it.
 */
export function keyUseVia(key: IKey, service: 's3' | 'sns', region: string, actions: readonly string[] = ['kms:Decrypt', 'kms:GenerateDataKey']): PolicyStatement {
  return new PolicyStatement({
    actions: [...actions],
    resources: [key.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `${service}.${region}.amazonaws.com` } },
  });
}
