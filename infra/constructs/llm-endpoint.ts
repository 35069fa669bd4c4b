import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type CfnScalableTarget, CfnScalingPolicy } from 'aws-cdk-lib/aws-applicationautoscaling';
import { Alarm, type AlarmProps, ComparisonOperator, Dashboard, GraphWidget, type IAlarm, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Grant, type IGrantable, Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, type FunctionUrl, FunctionUrlAuthType, InvokeMode } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { CfnEndpoint, CfnEndpointConfig, CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { LlmMetricNames } from '../../functions/llm-stream/metrics';
import { keyUseVia, SAGEMAKER_CONTAINER_WILDCARD_REASON, sagemakerContainerStatements } from '../iam';
import { acknowledgeWildcardResources } from '../nag';
import { checkEndpointSettings, endpointLogGroup, VARIANT_NAME, variantScalableTarget } from '../sagemaker-endpoint';
import { type GuardedDeployment, guardedDeploymentConfig, hasInstanceStorage, RAW_CAPTURE_PREFIX } from './gpu-endpoint';
import { MlopsFunction } from './mlops-function';
import { PlatformKey } from './platform-key';
import { ecrRepositoryOf } from './triton-image';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/llm-stream/handler.ts', import.meta.url));
/** Where the streaming function publishes its metrics (Powertools, functions/shared/powertools.ts). */
const FUNCTION_METRICS = { namespace: 'Mlops', service: 'mlops' } as const;

/** Weights in the model bucket, uncompressed under a key prefix. */
export interface LlmWeightsInBucket {
  readonly bucket: IBucket;
  /** Key prefix ending with `/`, e.g. `llm/qwen/`. */
  readonly prefix: string;
}

/** Properties of an {@link LlmEndpoint}. */
export interface LlmEndpointProps extends GuardedDeployment {
  /** The model's name in the API and in metrics. */
  readonly modelName: string;
  /** The SageMaker endpoint name; at most 63 characters. */
  readonly endpointName: string;
  /** The LMI container image, an ECR URI with a tag or digest. */
  readonly image: string;
  /**
   * A Hugging Face model id the container downloads at start (it then needs internet access, so
   * the container is not network-isolated). Exactly one of `modelId` and `weights`.
   * @default - the weights come from `weights`
   */
  readonly modelId?: string;
  /**
   * Weights in S3, which SageMaker copies to /opt/ml/model before the container starts: the
   * container stays network-isolated and reads them with no permission of its own.
   * @default - the container downloads `modelId`
   */
  readonly weights?: LlmWeightsInBucket;
  /**
   * KMS key of the buckets (weights and capture).
   * @default - S3-managed keys
   */
  readonly key?: IKey;
  /**
   * Instance type of the endpoint.
   * @default 'ml.g5.2xlarge'
   */
  readonly instanceType?: string;
  /**
   * Instances at creation and the autoscaling minimum.
   * @default 1
   */
  readonly minInstances?: number;
  /**
   * Autoscaling maximum.
   * @default 2
   */
  readonly maxInstances?: number;
  /**
   * Container environment: LMI's OPTION_* and related settings, over this construct's defaults
   * (OPTION_ROLLING_BATCH=vllm, TENSOR_PARALLEL_DEGREE=max, OPTION_MAX_MODEL_LEN=4096).
   * @default - the defaults only
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Concurrent requests per model copy that autoscaling keeps (ConcurrentRequestsPerModel; a
   * streamed request counts until its last token).
   * @default 4
   */
  readonly targetConcurrentRequests?: number;
  /**
   * Budget of one generation in the streaming function, retries included; the function's timeout is 10 s longer.
   * @default Duration.minutes(2)
   */
  readonly streamTimeout?: Duration;
  /**
   * Most tokens one request may ask for.
   * @default 1024
   */
  readonly maxNewTokens?: number;
  /**
   * p95 time to first token above which the TTFT alarm fires.
   * @default Duration.seconds(2)
   */
  readonly ttftP95Threshold?: Duration;
  /**
   * p99 of SageMaker's ModelLatency (a whole generation) above which the latency alarm fires.
   * @default Duration.minutes(1)
   */
  readonly modelLatencyP99Threshold?: Duration;
  /**
   * Share of requests SageMaker captures into `dataBucket` under `capture-raw/<model>/`, in percent; 0 for none.
   * @default 0
   */
  readonly captureSamplePercent?: number;
  /**
   * Bucket of the data capture; required when captureSamplePercent is above 0.
   * @default - no capture
   */
  readonly dataBucket?: IBucket;
  /**
   * Where alarms are sent.
   * @default - alarms notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long the endpoint's and the function's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log groups (and a created volume key) when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A generative model on a SageMaker real-time endpoint running the Large Model Inference
 * container (DJL Serving, vLLM rolling batch), and a Lambda function URL (IAM auth, response
 * streaming) in front of it that streams tokens to the caller as Server-Sent Events. Autoscaling
 * follows concurrent requests; alarms watch 5xx, model latency, time to first token and failed
 * generations; a CloudWatch dashboard shows p50/p95/p99 of time to first token and tokens/s.
 */
export class LlmEndpoint extends Construct {
  public readonly role: Role;
  public readonly model: CfnModel;
  public readonly endpointConfig: CfnEndpointConfig;
  public readonly endpoint: CfnEndpoint;
  public readonly endpointName: string;
  public readonly endpointArn: string;
  /** The streaming proxy. */
  public readonly function: MlopsFunction;
  /** The proxy's function URL (IAM auth, RESPONSE_STREAM). */
  public readonly functionUrl: FunctionUrl;
  public readonly scalableTarget: CfnScalableTarget;
  public readonly alarms: IAlarm[];
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: LlmEndpointProps) {
    super(scope, id);
    const instanceType = props.instanceType ?? 'ml.g5.2xlarge';
    const minInstances = props.minInstances ?? 1;
    const maxInstances = props.maxInstances ?? 2;
    const targetConcurrentRequests = props.targetConcurrentRequests ?? 4;
    const streamTimeout = props.streamTimeout ?? Duration.minutes(2);
    const maxNewTokens = props.maxNewTokens ?? 1024;
    const ttftThreshold = props.ttftP95Threshold ?? Duration.seconds(2);
    const latencyThreshold = props.modelLatencyP99Threshold ?? Duration.minutes(1);
    const captureSamplePercent = props.captureSamplePercent ?? 0;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    checkEndpointSettings(props.endpointName, minInstances, maxInstances);
    if ((props.modelId === undefined) === (props.weights === undefined)) {
      throw new Error(`LlmEndpoint needs exactly one of modelId and weights (received ${props.modelId === undefined ? 'neither' : 'both'})`);
    }
    if (props.weights && !/^[\w.\-/]+\/$/.test(props.weights.prefix)) throw new Error(`weights.prefix must be a key prefix ending with / (received ${props.weights.prefix})`);
    // Lambda stops a streaming invocation at 15 minutes; the function needs a little time after the budget to end the stream.
    if (streamTimeout.toSeconds() < 5 || streamTimeout.toSeconds() > 890) throw new Error(`streamTimeout must be 5–890 s (received ${streamTimeout.toHumanString()})`);
    if (captureSamplePercent < 0 || captureSamplePercent > 100) throw new Error(`captureSamplePercent must be from 0 to 100 (received ${captureSamplePercent})`);
    if (captureSamplePercent > 0 && !props.dataBucket) throw new Error('captureSamplePercent above 0 needs a dataBucket for the capture');
    const repository = ecrRepositoryOf(props.image);
    this.endpointName = props.endpointName;
    const capturePrefix = `${RAW_CAPTURE_PREFIX}${props.modelName}/`;

    // --- Execution role --------------------------------------------------------------------------
    const logGroup = endpointLogGroup(this, props.endpointName, logRetention, logRemovalPolicy);
    this.role = new Role(this, 'ExecutionRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: `SageMaker execution role of the LLM endpoint ${props.endpointName}`,
    });
    const statements = sagemakerContainerStatements(repository, logGroup.logGroupArn);
    const wildcards: string[] = [];
    if (props.weights) {
      const { bucket, prefix } = props.weights;
      // SageMaker lists the prefix and copies every object under it.
      statements.push(
        new PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects(`${prefix}*`)] }),
        new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } } }),
      );
      wildcards.push(`/${prefix}*`);
    }
    if (captureSamplePercent > 0) {
      statements.push(new PolicyStatement({ actions: ['s3:PutObject'], resources: [props.dataBucket!.arnForObjects(`${capturePrefix}*`)] }));
      wildcards.push(`/${capturePrefix}*`);
    }
    if (props.key && (props.weights || captureSamplePercent > 0)) statements.push(keyUseVia(props.key, 's3', Stack.of(this).region));
    const executionPolicy = new Policy(this, 'ExecutionPolicy', { statements, roles: [this.role] });
    if (wildcards.length) {
      acknowledgeWildcardResources(
        executionPolicy,
        wildcards,
        'Object ARNs of this one model: the weight files under its prefix, which SageMaker copies whatever their names, and the capture files SageMaker names with the date and an event id.',
      );
    }
    Validations.of(executionPolicy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: `${SAGEMAKER_CONTAINER_WILDCARD_REASON}.`,
    });

    // --- Model, configuration, endpoint ----------------------------------------------------------
    const environment: Record<string, string> = {
      OPTION_ROLLING_BATCH: 'vllm',
      TENSOR_PARALLEL_DEGREE: 'max',
      OPTION_MAX_MODEL_LEN: '4096',
      ...(props.modelId ? { HF_MODEL_ID: props.modelId } : {}),
      ...props.environment,
    };
    this.model = new CfnModel(this, 'Model', {
      executionRoleArn: this.role.roleArn,
      primaryContainer: {
        image: props.image,
        environment,
        modelDataSource: props.weights
          ? { s3DataSource: { s3Uri: `s3://${props.weights.bucket.bucketName}/${props.weights.prefix}`, s3DataType: 'S3Prefix', compressionType: 'None' } }
          : undefined,
      },
      // With weights in S3 the container needs no network; a Hugging Face id is downloaded by the container itself.
      enableNetworkIsolation: props.weights !== undefined,
    });
    this.model.node.addDependency(executionPolicy);

    const volumeKey = hasInstanceStorage(instanceType)
      ? undefined
      : (props.key ?? new PlatformKey(this, 'VolumeKey', { alias: `${props.endpointName}-volume`, description: `Storage volumes of the SageMaker endpoint ${props.endpointName}`, removalPolicy: logRemovalPolicy }));
    if (volumeKey) {
      executionPolicy.addStatements(
        new PolicyStatement({ actions: ['kms:CreateGrant', 'kms:DescribeKey'], resources: [volumeKey.keyArn], conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } }),
      );
    }
    this.endpointConfig = new CfnEndpointConfig(this, 'Config', {
      productionVariants: [
        {
          variantName: VARIANT_NAME,
          modelName: this.model.attrModelName,
          instanceType,
          initialInstanceCount: minInstances,
          initialVariantWeight: 1,
          // Loading billions of weights onto the GPU takes minutes: SageMaker's defaults would fail the deployment.
          modelDataDownloadTimeoutInSeconds: 1800,
          containerStartupHealthCheckTimeoutInSeconds: 1800,
        },
      ],
      kmsKeyId: volumeKey?.keyArn,
      dataCaptureConfig:
        captureSamplePercent > 0
          ? {
              enableCapture: true,
              initialSamplingPercentage: captureSamplePercent,
              destinationS3Uri: `s3://${props.dataBucket!.bucketName}/${capturePrefix}`,
              kmsKeyId: props.key?.keyArn,
              captureOptions: [{ captureMode: 'Input' }, { captureMode: 'Output' }],
              captureContentTypeHeader: { jsonContentTypes: ['application/json', 'application/jsonlines'] },
            }
          : undefined,
    });
    this.endpoint = new CfnEndpoint(this, 'Endpoint', { endpointName: props.endpointName, endpointConfigName: this.endpointConfig.attrEndpointConfigName });
    this.endpoint.node.addDependency(executionPolicy, logGroup);
    this.endpointArn = this.endpoint.ref;

    // --- Autoscaling on concurrency --------------------------------------------------------------
    this.scalableTarget = variantScalableTarget(this, this.endpoint, props.endpointName, minInstances, maxInstances);
    new CfnScalingPolicy(this, 'ConcurrencyScaling', {
      policyName: `${props.endpointName}-concurrent-requests`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: this.scalableTarget.ref,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: targetConcurrentRequests,
        // Requests per minute say little when one generation takes seconds; concurrency (every 10 s) is what fills the GPU.
        predefinedMetricSpecification: { predefinedMetricType: 'SageMakerVariantConcurrentRequestsPerModelHighResolution' },
        scaleOutCooldown: 60,
        scaleInCooldown: 600,
      },
    });

    // --- Streaming proxy behind a function URL ---------------------------------------------------
    this.function = new MlopsFunction(this, 'StreamFunction', {
      entry: HANDLER_ENTRY,
      description: `Streams tokens of ${props.modelName}: SageMaker InvokeEndpointWithResponseStream → Server-Sent Events`,
      memorySize: 512,
      timeout: streamTimeout.plus(Duration.seconds(10)),
      architecture: Architecture.ARM_64,
      logRetention,
      logRemovalPolicy,
      environment: {
        MODEL_NAME: props.modelName,
        ENDPOINT_NAME: props.endpointName,
        STREAM_TIMEOUT_MS: String(streamTimeout.toMilliseconds()),
        MAX_NEW_TOKENS: String(maxNewTokens),
        POWERTOOLS_SERVICE_NAME: FUNCTION_METRICS.service,
        POWERTOOLS_METRICS_NAMESPACE: FUNCTION_METRICS.namespace,
      },
    });
    this.grantInvoke(this.function);
    this.functionUrl = this.function.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM, invokeMode: InvokeMode.RESPONSE_STREAM });

    // --- Alarms and dashboard --------------------------------------------------------------------
    const alarm = (alarmId: string, alarmProps: AlarmProps): Alarm => {
      const created = new Alarm(this, alarmId, { treatMissingData: TreatMissingData.NOT_BREACHING, ...alarmProps });
      if (props.alarmTopic) created.addAlarmAction(new SnsAction(props.alarmTopic));
      return created;
    };
    const endpointMetric = (metricName: string, statistic: string) =>
      new Metric({ namespace: 'AWS/SageMaker', metricName, dimensionsMap: { EndpointName: props.endpointName, VariantName: VARIANT_NAME }, period: Duration.minutes(1), statistic });
    const functionMetric = (metricName: string, statistic: string, period = Duration.minutes(1)) =>
      new Metric({ namespace: FUNCTION_METRICS.namespace, metricName, dimensionsMap: { service: FUNCTION_METRICS.service, model: props.modelName }, period, statistic });
    const functionErrors = alarm('FunctionErrorsAlarm', {
      alarmDescription: `The streaming function of ${props.modelName} crashed or timed out.`,
      metric: this.function.metricErrors({ period: Duration.minutes(1), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    this.alarms = [
      alarm('ServerErrorsAlarm', {
        alarmDescription: `The LLM endpoint ${props.endpointName} answered with a 5xx.`,
        metric: endpointMetric('Invocation5XXErrors', 'Sum'),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 1,
      }),
      alarm('ModelLatencyAlarm', {
        alarmDescription: `p99 model latency (a whole generation) of ${props.endpointName} stayed above ${latencyThreshold.toHumanString()} for 5 minutes.`,
        // ModelLatency is reported in microseconds.
        metric: endpointMetric('ModelLatency', 'p99'),
        threshold: latencyThreshold.toMilliseconds() * 1000,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
      }),
      alarm('TimeToFirstTokenAlarm', {
        alarmDescription: `p95 time to first token of ${props.modelName} stayed above ${ttftThreshold.toMilliseconds()} ms for 5 minutes: requests queue (scale out) or prompts got longer.`,
        metric: functionMetric(LlmMetricNames.timeToFirstToken, 'p95'),
        threshold: ttftThreshold.toMilliseconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
      }),
      alarm('GenerationErrorsAlarm', {
        alarmDescription: `Generations of ${props.modelName} failed (endpoint errors, broken streams or timeouts) in 2 of 3 minutes.`,
        metric: functionMetric(LlmMetricNames.streamErrors, 'Sum'),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
      }),
      functionErrors,
    ];
    // Every alarm but the function's own errors (which would make the endpoint depend on the
    // function that depends on it, and which say nothing of a new model) rolls a deployment back.
    // Set here rather than at creation: the TTFT and generation alarms are defined with the function.
    this.endpoint.deploymentConfig = guardedDeploymentConfig(props, this.alarms.filter((a) => a !== functionErrors));

    const percentiles = (metricName: string) => ['p50', 'p95', 'p99'].map((p) => functionMetric(metricName, p, Duration.minutes(5)).with({ label: p }));
    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: props.endpointName,
      widgets: [
        [
          new GraphWidget({ title: 'Time to first token (ms)', left: percentiles(LlmMetricNames.timeToFirstToken), width: 12 }),
          new GraphWidget({ title: 'Tokens per second (decode)', left: percentiles(LlmMetricNames.tokensPerSecond), width: 12 }),
        ],
        [
          new GraphWidget({ title: 'Generations and failures', left: [functionMetric(LlmMetricNames.generations, 'Sum'), functionMetric(LlmMetricNames.streamErrors, 'Sum')], width: 12 }),
          new GraphWidget({ title: 'Concurrent requests per model copy', left: [endpointMetric('ConcurrentRequestsPerModel', 'Maximum')], width: 12 }),
        ],
      ],
    });
  }

  /**
   * Lets the grantee stream from this endpoint, and no other. IAM has no action of its own for
   * InvokeEndpointWithResponseStream: the SageMaker API reference says the caller needs
   * `sagemaker:InvokeEndpoint` (which also allows the non-streaming call to this one endpoint).
   */
  public grantInvoke(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['sagemaker:InvokeEndpoint'], resourceArns: [this.endpointArn] });
  }

  /** Lets the grantee call the function URL (lambda:InvokeFunctionUrl with IAM auth). */
  public grantInvokeUrl(grantee: IGrantable): Grant {
    return this.function.grantInvokeUrl(grantee);
  }
}
