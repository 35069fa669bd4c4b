import { CfnOutput, CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { LambdaDeploymentConfig, type ILambdaDeploymentConfig } from 'aws-cdk-lib/aws-codedeploy';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { ServerlessConfig } from '../../core/platform-config';
import { ServerlessInference } from '../constructs/serverless-inference';

/** Properties of a {@link ServerlessInferenceStack}. */
export interface ServerlessInferenceStackProps extends StackProps {
  /** Deployment stage; the API's stage name. */
  readonly stage: string;
  /** Function, API and deployment settings. */
  readonly serverless: ServerlessConfig;
  /** Models the function loads at cold start. */
  readonly modelNames: string[];
  /** Bucket of the model packages (the storage stack's). */
  readonly modelBucket: IBucket;
  /** Bucket that receives captured traffic (the storage stack's). */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Where alarms are sent.
   * @default - alarms notify no one; deployments still roll back on them
   */
  readonly alarmTopic?: ITopic;
  /**
   * What happens to the log groups when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

const DEPLOYMENT_CONFIGS: Record<ServerlessConfig['canary'], ILambdaDeploymentConfig> = {
  canary10Percent5Minutes: LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  linear10PercentEvery1Minute: LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
  allAtOnce: LambdaDeploymentConfig.ALL_AT_ONCE,
};

/** The Lambda inference API of the models whose servingMode is serverless or both. */
export class ServerlessInferenceStack extends Stack {
  /** The API, function, alias and guardrails. */
  public readonly inference: ServerlessInference;

  constructor(scope: Construct, id: string, props: ServerlessInferenceStackProps) {
    super(scope, id, props);
    // The API is useless without the buckets and key: CloudFormation should refuse to remove them
    // (or their exports) while this stack uses them.
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const config = props.serverless;

    this.inference = new ServerlessInference(this, 'Inference', {
      modelBucket: props.modelBucket,
      dataBucket: props.dataBucket,
      key: props.key,
      modelNames: props.modelNames,
      memorySize: config.memoryMb,
      timeout: Duration.seconds(config.timeoutSeconds),
      architecture: config.architecture === 'arm64' ? Architecture.ARM_64 : Architecture.X86_64,
      provisionedConcurrency: config.provisionedConcurrency,
      reservedConcurrency: config.reservedConcurrency ?? undefined,
      apiAuth: config.apiAuth,
      throttle: config.throttle,
      dailyQuota: config.dailyQuota,
      captureSampleRate: config.captureSampleRate,
      maxBatchRows: config.maxBatchRows,
      deploymentConfig: DEPLOYMENT_CONFIGS[config.canary],
      alarmTopic: props.alarmTopic,
      stageName: props.stage,
      logRemovalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    const { url, apiKey } = this.inference;
    const model = props.modelNames[0]!;
    const endpoint = `${url}models/${model}/predict`;
    const body = `-H 'content-type: application/json' -d '{"instances": [[0.1, 0.2, 0.3]]}'`;
    const auth =
      config.apiAuth === 'iam'
        ? `--aws-sigv4 'aws:amz:${this.region}:execute-api' --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-security-token: $AWS_SESSION_TOKEN"`
        : `-H "x-api-key: $API_KEY"`;

    new CfnOutput(this, 'ApiUrl', { value: url, description: 'Inference API stage URL' });
    new CfnOutput(this, 'ExampleCurl', {
      value: `curl ${auth} ${body} ${endpoint}`,
      description:
        config.apiAuth === 'iam'
          ? 'A prediction request signed with your AWS credentials (curl 7.75+)'
          : 'A prediction request; API_KEY is the value of the key ApiKeyId (aws apigateway get-api-key --include-value)',
    });
    if (apiKey) new CfnOutput(this, 'ApiKeyId', { value: apiKey.keyId, description: 'Id of the consumer API key' });
  }
}
