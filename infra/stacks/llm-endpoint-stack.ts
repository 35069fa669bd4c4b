import { CfnOutput, CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { type LlmConfig, llmEndpointName, type LlmModelConfig } from '../../core/platform-config';
import { LlmEndpoint } from '../constructs/llm-endpoint';
import { resolveLlmImage } from '../constructs/llm-image';

/** Properties of an {@link LlmEndpointStack}. */
export interface LlmEndpointStackProps extends StackProps {
  /** Deployment stage: part of every endpoint name. */
  readonly stage: string;
  /** The generative models and the streaming settings. */
  readonly llm: LlmConfig;
  /** Bucket of weights given as `weightsPrefix` (the storage stack's model bucket). */
  readonly modelBucket: IBucket;
  /** Bucket of the data capture (the storage stack's data bucket). */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Where alarms are sent.
   * @default - alarms notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * What happens to the log groups and created keys when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Generative models: one SageMaker endpoint (LMI container, vLLM) per model, each with a
 * streaming Lambda function URL (IAM auth) that sends tokens as they are generated.
 */
export class LlmEndpointStack extends Stack {
  /** The endpoint of each model, by model name. */
  public readonly endpoints: ReadonlyMap<string, LlmEndpoint>;

  constructor(scope: Construct, id: string, props: LlmEndpointStackProps) {
    super(scope, id, props);
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const { llm } = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (!/^[a-z]{2}(?:-[a-z]+)+-\d+$/.test(this.region)) {
      throw new Error(`LlmEndpointStack needs a concrete region to pick the LMI image's registry (received ${JSON.stringify(this.region)})`);
    }

    const endpoints = new Map<string, LlmEndpoint>();
    for (const model of llm.models) {
      const endpoint = new LlmEndpoint(this, `${pascalCase(model.name)}Llm`, {
        modelName: model.name,
        endpointName: llmEndpointName(props.stage, model.name),
        image: resolveLlmImage(model.image, this.region),
        modelId: model.modelId,
        weights: model.weightsPrefix ? { bucket: props.modelBucket, prefix: model.weightsPrefix } : undefined,
        key: props.key,
        instanceType: model.instanceType,
        minInstances: model.minInstances,
        maxInstances: model.maxInstances,
        environment: containerEnvironment(model),
        targetConcurrentRequests: llm.targetConcurrentRequests,
        streamTimeout: Duration.seconds(llm.streamTimeoutSeconds),
        maxNewTokens: model.maxNewTokens,
        ttftP95Threshold: Duration.millis(llm.ttftP95AlarmMs),
        modelLatencyP99Threshold: Duration.millis(llm.modelLatencyP99AlarmMs),
        captureSamplePercent: llm.captureSamplePercent,
        canaryPercent: llm.canaryPercent,
        canaryWait: Duration.seconds(llm.canaryWaitSeconds),
        maxDeploymentTime: Duration.seconds(llm.maxDeploymentSeconds),
        terminationWait: Duration.seconds(llm.terminationWaitSeconds),
        dataBucket: props.dataBucket,
        alarmTopic: props.alarmTopic,
        logRemovalPolicy: removalPolicy,
      });
      endpoints.set(model.name, endpoint);
      const key = pascalCase(model.name);
      new CfnOutput(this, `${key}StreamUrl`, {
        value: endpoint.functionUrl.url,
        description: `Streaming URL of ${model.name} (IAM/SigV4, service lambda): POST {"prompt": …} → text/event-stream`,
      });
      new CfnOutput(this, `${key}LlmEndpointName`, { value: endpoint.endpointName, description: `SageMaker endpoint of ${model.name}` });
    }
    this.endpoints = endpoints;
  }
}

/** LMI's settings for a model: the configured ones as OPTION_* variables, `env` over them. */
export function containerEnvironment(model: LlmModelConfig): Record<string, string> {
  return {
    OPTION_ROLLING_BATCH: 'vllm',
    TENSOR_PARALLEL_DEGREE: String(model.tensorParallelDegree),
    OPTION_MAX_MODEL_LEN: String(model.maxModelLen),
    OPTION_MAX_ROLLING_BATCH_SIZE: String(model.maxRollingBatchSize),
    ...model.env,
  };
}

/** `chat-v2` → `ChatV2`: a model name as a construct id. */
function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
