import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

/** Properties of a {@link PlatformKey}. */
export interface PlatformKeyProps {
  /** Alias without the `alias/` prefix, e.g. `mlops-dev`. */
  readonly alias: string;
  /**
   * What the key protects, shown in the KMS console.
   * @default 'MLOps platform data key'
   */
  readonly description?: string;
  /**
   * What happens to the key when it leaves the stack. DESTROY schedules deletion after the
   * pending window, so data encrypted with it becomes unreadable.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Waiting period before a scheduled deletion happens, during which it can be cancelled.
   * @default Duration.days(30)
   */
  readonly pendingWindow?: Duration;
}

/** A customer-managed symmetric KMS key with yearly automatic rotation and an alias. */
export class PlatformKey extends Key {
  constructor(scope: Construct, id: string, props: PlatformKeyProps) {
    const description = props.description ?? 'MLOps platform data key';
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const pendingWindow = props.pendingWindow ?? Duration.days(30);

    super(scope, id, {
      alias: `alias/${props.alias}`,
      description,
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow,
    });
  }
}
