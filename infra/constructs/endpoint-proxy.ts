import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { keyUseVia } from '../iam';
import { ModelLayout } from '../../core/layout';
import { PackageFiles } from '../../core/model/manifest';
import type { GpuEndpoint } from './gpu-endpoint';
import { InferenceRestApi } from './inference-rest-api';
import { MlopsFunction } from './mlops-function';
import type { ThrottleSettings } from './inference-rest-api';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/endpoint-proxy/handler.ts', import.meta.url));

/** A model the proxy forwards to its GPU endpoint. */
export interface ProxiedModel {
  readonly modelName: string;
  /** The package version the endpoint serves; the proxy validates requests with its manifest. */
  readonly modelVersion: string;
  readonly endpoint: GpuEndpoint;
}

/** Properties of an {@link EndpointProxy}. */
export interface EndpointProxyProps {
  /** The models and their endpoints. */
  readonly models: readonly ProxiedModel[];
  /** Bucket of the model packages; the function reads the served versions' manifests. */
  readonly modelBucket: IBucket;
  /**
   * KMS key of the model bucket.
   * @default - S3-managed keys
   */
  readonly key?: IKey;
  /**
   * How API consumers authenticate.
   * @default 'iam'
   */
  readonly apiAuth?: 'iam' | 'apiKey';
  /**
   * Stage-wide request limits (and per key in apiKey mode).
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly throttle?: ThrottleSettings;
  /**
   * Requests per day per API key (apiKey mode only).
   * @default - no quota
   */
  readonly dailyQuota?: number;
  /**
   * Name of the API stage.
   * @default 'api'
   */
  readonly stageName?: string;
  /**
   * Most rows (instances) one request may carry; at most the endpoints' Triton max_batch_size.
   * @default 1000
   */
  readonly maxBatchRows?: number;
  /**
   * Budget of one request to an endpoint, retries and backoff included.
   * @default Duration.seconds(10)
   */
  readonly invokeTimeout?: Duration;
  /**
   * Calls to the endpoint per request, the first included, on throttling and 5xx.
   * @default 3
   */
  readonly maxAttempts?: number;
  /**
   * Create API Gateway's account-wide CloudWatch role; false when another stack does.
   * @default true
   */
  readonly manageCloudWatchRole?: boolean;
  /**
   * Where alarms are sent.
   * @default - alarms notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long function and access logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log groups when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The inference API for models on GPU endpoints: its own REST API with the serverless API's
 * routes and security settings, in front of a small Lambda (no ONNX Runtime) that validates
 * requests against the model's manifest and calls the endpoint with the SageMaker runtime SDK.
 */
export class EndpointProxy extends Construct {
  public readonly function: MlopsFunction;
  public readonly restApi: InferenceRestApi;
  /** URL of the API stage, ending with `/`. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: EndpointProxyProps) {
    super(scope, id);
    const maxBatchRows = props.maxBatchRows ?? 1000;
    const invokeTimeout = props.invokeTimeout ?? Duration.seconds(10);
    const maxAttempts = props.maxAttempts ?? 3;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;
    if (props.models.length === 0) throw new Error('EndpointProxy needs at least one model (received [])');
    if (invokeTimeout.toMilliseconds() > 28_000) {
      throw new Error(`invokeTimeout must leave the function time to answer within API Gateway's 29 s: at most 28 s (received ${invokeTimeout.toHumanString()})`);
    }

    const endpoints = Object.fromEntries(props.models.map((m) => [m.modelName, { endpoint: m.endpoint.endpointName, version: m.modelVersion }]));
    this.function = new MlopsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      description: 'Inference API for GPU endpoints: validates, then calls SageMaker InvokeEndpoint (Triton, OIP v2)',
      memorySize: 512,
      timeout: Duration.seconds(29),
      architecture: Architecture.ARM_64,
      logRetention,
      logRemovalPolicy,
      environment: {
        MODEL_BUCKET: props.modelBucket.bucketName,
        ENDPOINTS: Stack.of(this).toJsonString(endpoints),
        MAX_BATCH_ROWS: String(maxBatchRows),
        INVOKE_TIMEOUT_MS: String(invokeTimeout.toMilliseconds()),
        MAX_ATTEMPTS: String(maxAttempts),
      },
    });

    // The served versions' manifests, by exact key, and the endpoints, by ARN: nothing else.
    const statements = [
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: props.models.map((m) => props.modelBucket.arnForObjects(`${ModelLayout.package(m.modelName, m.modelVersion)}${PackageFiles.manifest}`)),
      }),
    ];
    if (props.key) {
      statements.push(
        keyUseVia(props.key, 's3', Stack.of(this).region, ['kms:Decrypt']),
      );
    }
    new Policy(this, 'ManifestRead', { statements, roles: [this.function.role] });
    for (const model of props.models) model.endpoint.grantInvoke(this.function);

    this.restApi = new InferenceRestApi(this, 'Api', {
      handler: this.function,
      description: 'Inference API on SageMaker GPU endpoints: POST /v2/models/{name}/infer, POST /models/{name}/predict',
      apiAuth: props.apiAuth,
      throttle: props.throttle,
      dailyQuota: props.dailyQuota,
      stageName: props.stageName,
      logRetention,
      logRemovalPolicy,
      manageCloudWatchRole: props.manageCloudWatchRole,
    });
    this.url = this.restApi.url;

    const errors = new Alarm(this, 'ErrorsAlarm', {
      alarmDescription: 'The GPU endpoint proxy function failed (crashes or timeouts).',
      metric: this.function.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) errors.addAlarmAction(new SnsAction(props.alarmTopic));
  }
}
