import { CfnOutput, CrossStackReferences, Duration, ReferenceStrength, RemovalPolicy, Size, Stack, type StackProps } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { type GpuConfig, gpuEndpointName, gpuModelVersion, type ModelConfig, type ServerlessConfig } from '../../core/platform-config';
import { BatchTransform } from '../constructs/batch-transform';
import { CaptureConverter } from '../constructs/capture-converter';
import { EndpointProxy } from '../constructs/endpoint-proxy';
import { GpuEndpoint } from '../constructs/gpu-endpoint';
import { resolveTritonImage } from '../constructs/triton-image';

/** Properties of a {@link GpuEndpointStack}. */
export interface GpuEndpointStackProps extends StackProps {
  /** Deployment stage: part of every endpoint name, and the API's stage name. */
  readonly stage: string;
  /** The models served on GPU endpoints (servingMode gpu or both). */
  readonly models: readonly ModelConfig[];
  /** Endpoint, Triton and deployment settings. */
  readonly gpu: GpuConfig;
  /** API settings shared with the serverless API: auth, throttling, quota and batch limit. */
  readonly serverless: ServerlessConfig;
  /** Bucket of the model packages and Triton artifacts (the storage stack's). */
  readonly modelBucket: IBucket;
  /** Bucket that receives data capture (the storage stack's). */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Create API Gateway's account-wide CloudWatch role; false when the serverless inference stack does.
   * @default true
   */
  readonly manageApiGatewayCloudWatchRole?: boolean;
  /**
   * Where alarms are sent.
   * @default - alarms notify no one; deployments still roll back on them
   */
  readonly alarmTopic?: ITopic;
  /**
   * What happens to the log groups and created keys when the stack is deleted.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Real-time GPU inference: one SageMaker endpoint (Triton, ONNX backend) per model, and one REST
 * API with the serverless API's routes and security in front of a proxy function that calls
 * them. Consumers use the same paths and bodies on this API's URL.
 */
export class GpuEndpointStack extends Stack {
  /** The endpoint of each model, by model name. */
  public readonly endpoints: ReadonlyMap<string, GpuEndpoint>;
  /** The API and its function. */
  public readonly proxy: EndpointProxy;
  /** Turns the endpoints' SageMaker capture (capture-raw/) into the monitor's (capture/). */
  public readonly captureConverter: CaptureConverter;
  /** Batch Transform of the files of models served on GPU only; absent when none is, or gpu.batchTransform.enabled is false. */
  public readonly batchTransform: BatchTransform | undefined;

  constructor(scope: Construct, id: string, props: GpuEndpointStackProps) {
    super(scope, id, props);
    CrossStackReferences.of(this).consume(ReferenceStrength.STRONG);
    const { gpu, serverless } = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (props.models.length === 0) throw new Error('GpuEndpointStack needs at least one model (received [])');
    const image = resolveTritonImage(gpu.tritonImage, this.region);

    const ids = props.models.map((m) => pascalCase(m.name));
    const clash = ids.find((constructId, i) => ids.indexOf(constructId) !== i);
    if (clash) throw new Error(`Two GPU models share the construct id ${clash}; rename one (received ${props.models.map((m) => m.name).join(', ')})`);

    const endpoints = new Map<string, GpuEndpoint>();
    for (const model of props.models) {
      endpoints.set(
        model.name,
        new GpuEndpoint(this, pascalCase(model.name), {
          modelName: model.name,
          modelVersion: gpuModelVersion(gpu, model.name),
          endpointName: gpuEndpointName(props.stage, model.name),
          modelBucket: props.modelBucket,
          dataBucket: props.dataBucket,
          key: props.key,
          image,
          instanceType: model.gpuInstanceType,
          minInstances: model.minInstances,
          maxInstances: model.maxInstances,
          targetInvocationsPerInstance: gpu.targetInvocationsPerInstance,
          canaryPercent: gpu.canaryPercent,
          canaryWait: Duration.seconds(gpu.canaryWaitSeconds),
          maxDeploymentTime: Duration.seconds(gpu.maxDeploymentSeconds),
          terminationWait: Duration.seconds(gpu.terminationWaitSeconds),
          latencyThreshold: Duration.millis(gpu.latencyP99Ms),
          captureSamplePercent: gpu.captureSamplePercent,
          vpc: gpu.vpc,
          alarmTopic: props.alarmTopic,
          logRemovalPolicy: removalPolicy,
        }),
      );
    }
    this.endpoints = endpoints;

    this.proxy = new EndpointProxy(this, 'Proxy', {
      models: props.models.map((m) => ({ modelName: m.name, modelVersion: gpuModelVersion(gpu, m.name), endpoint: endpoints.get(m.name)! })),
      modelBucket: props.modelBucket,
      key: props.key,
      apiAuth: serverless.apiAuth,
      throttle: serverless.throttle,
      dailyQuota: serverless.dailyQuota,
      stageName: props.stage,
      // Triton refuses a request with more rows than max_batch_size.
      maxBatchRows: Math.min(serverless.maxBatchRows, gpu.maxBatchSize),
      invokeTimeout: Duration.millis(gpu.invokeTimeoutMs),
      manageCloudWatchRole: props.manageApiGatewayCloudWatchRole,
      alarmTopic: props.alarmTopic,
      logRemovalPolicy: removalPolicy,
    });

    this.captureConverter = new CaptureConverter(this, 'CaptureConverter', {
      models: props.models.map((m) => ({ modelName: m.name, modelVersion: gpuModelVersion(gpu, m.name) })),
      modelBucket: props.modelBucket,
      dataBucket: props.dataBucket,
      key: props.key,
      alarmTopic: props.alarmTopic,
      logRemovalPolicy: removalPolicy,
    });

    // Models also served by Lambda ("both") keep the batch Lambda, which can score missing values.
    const transformed = gpu.batchTransform.enabled ? props.models.filter((m) => m.servingMode === 'gpu') : [];
    this.batchTransform =
      transformed.length === 0
        ? undefined
        : new BatchTransform(this, 'BatchTransform', {
            models: transformed.map((m) => ({ modelName: m.name, modelVersion: gpuModelVersion(gpu, m.name), endpoint: endpoints.get(m.name)! })),
            modelBucket: props.modelBucket,
            dataBucket: props.dataBucket,
            key: props.key,
            instanceType: gpu.batchTransform.instanceType,
            instanceCount: gpu.batchTransform.instanceCount,
            rowsPerRequest: gpu.batchTransform.rowsPerRequest ?? gpu.maxBatchSize,
            maxPayload: Size.mebibytes(gpu.batchTransform.maxPayloadMb),
            alarmTopic: props.alarmTopic,
            logRemovalPolicy: removalPolicy,
          });

    new CfnOutput(this, 'ApiUrl', {
      value: this.proxy.url,
      description: 'GPU inference API stage URL: the serverless API\'s paths and bodies (e.g. models/<name>/predict)',
    });
    for (const [name, endpoint] of endpoints) {
      const key = pascalCase(name);
      new CfnOutput(this, `${key}EndpointName`, { value: endpoint.endpointName, description: `SageMaker endpoint of model ${name}` });
      new CfnOutput(this, `${key}ModelDataUrl`, {
        value: endpoint.modelDataUrl,
        description: `Where the Triton artifact of ${name}@${gpuModelVersion(gpu, name)} must be before deployment (model-pipeline/triton writeTritonArtifact)`,
      });
    }
  }
}

/** `fraud-v2` → `FraudV2`: a model name as a construct id. */
function pascalCase(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
