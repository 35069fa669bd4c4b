import { type App, RemovalPolicy, Tags } from 'aws-cdk-lib';
import type { PlatformConfig } from './config';
import { StorageStack } from './stacks/storage-stack';

/** The stacks of one deployment stage. */
export interface Platform {
  readonly storage: StorageStack;
}

/** Adds the stacks of one deployment stage, as the configuration describes it, to the app. */
export function addPlatformStacks(app: App, config: PlatformConfig): Platform {
  // No account means an environment-agnostic account: synthesis then needs no credentials.
  const env = { account: config.account, region: config.region };
  const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
  Tags.of(app).add('mlops:stage', config.stage);

  const storage = new StorageStack(app, stackName(config, 'Storage'), {
    env,
    description: `MLOps ${config.stage}: model and data buckets`,
    stage: config.stage,
    storage: config.storage,
    removalPolicy,
  });
  return { storage };
}

function stackName(config: PlatformConfig, part: string): string {
  return `Mlops-${config.stage}-${part}`;
}
