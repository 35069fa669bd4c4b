import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { ApiKey, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Alarm, type AlarmProps, ComparisonOperator, type IAlarm, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type ILambdaDeploymentConfig, LambdaDeploymentConfig, LambdaDeploymentGroup } from 'aws-cdk-lib/aws-codedeploy';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Alias, Architecture, type CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { keyUseVia, listUnder } from '../iam';
import { DataPrefixes, ModelLayout } from '../../core/layout';
import { acknowledgeWildcardResources } from '../nag';
import { MlopsFunction } from './mlops-function';
import { InferenceRestApi, type ThrottleSettings } from './inference-rest-api';
import { OnnxRuntimeLayer } from './onnx-runtime-layer';

export type { ThrottleSettings } from './inference-rest-api';

const HANDLER_ENTRY = fileURLToPath(new URL('../../functions/inference/handler.ts', import.meta.url));

/** Properties of a {@link ServerlessInference}. */
export interface ServerlessInferenceProps {
  /** Bucket of the model packages, read under `models/`. */
  readonly modelBucket: IBucket;
  /** Bucket the captured requests and predictions are written to, under `capture/`. */
  readonly dataBucket: IBucket;
  /**
   * KMS key that encrypts both buckets.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /** Models loaded at cold start; requests may still name any model in the bucket. */
  readonly modelNames: string[];
  /**
   * Memory of the function in MB; the CPU share grows with it (1769 MB is one vCPU).
   * @default 2048
   */
  readonly memorySize?: number;
  /**
   * Longest time one invocation may run.
   * @default Duration.seconds(29) - API Gateway's own integration timeout
   */
  readonly timeout?: Duration;
  /**
   * Processor architecture of the function and its ONNX Runtime layer.
   * @default Architecture.ARM_64
   */
  readonly architecture?: Architecture;
  /**
   * Execution environments kept initialized (models loaded) on the live alias.
   * @default 0 - none
   */
  readonly provisionedConcurrency?: number;
  /**
   * Concurrency reserved for the function, which is also its cap: batch scoring, the pipeline and
   * other functions of the account cannot take it, and the function takes no more. At least
   * `provisionedConcurrency`.
   * @default - none reserved: the function draws on the account's unreserved pool
   */
  readonly reservedConcurrency?: number;
  /**
   * How API consumers authenticate: SigV4-signed requests checked by IAM, or an API key with a usage plan.
   * @default 'iam'
   */
  readonly apiAuth?: 'iam' | 'apiKey';
  /**
   * Stage-wide request limits; in apiKey mode also the usage plan's limits per key.
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly throttle?: ThrottleSettings;
  /**
   * Requests per day per API key (apiKey mode only).
   * @default - no quota
   */
  readonly dailyQuota?: number;
  /**
   * Requests per client IP per 5 minutes above which the web ACL blocks the IP.
   * @default - a fifth of the stage's rate over 5 minutes (rateLimit × 60), so that no one client takes more
   */
  readonly ipRateLimit?: number;
  /**
   * Share of requests whose inputs and predictions are captured, from 0 to 1.
   * @default 1
   */
  readonly captureSampleRate?: number;
  /**
   * Longest time a captured record waits in the function before it is written.
   * @default Duration.seconds(5)
   */
  readonly captureMaxAge?: Duration;
  /**
   * Most rows (instances) one request may carry.
   * @default 1000
   */
  readonly maxBatchRows?: number;
  /**
   * Largest request body in bytes.
   * @default 6291456 - Lambda's 6 MB synchronous payload limit
   */
  readonly maxBodyBytes?: number;
  /**
   * Most rows the engine runs through ONNX Runtime at once.
   * @default 256
   */
  readonly microBatchMaxRows?: number;
  /**
   * Where alarms are sent.
   * @default - the alarms notify no one; CodeDeploy still rolls back on them
   */
  readonly alarmTopic?: ITopic;
  /**
   * How CodeDeploy shifts the live alias to a new version.
   * @default LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES
   */
  readonly deploymentConfig?: ILambdaDeploymentConfig;
  /**
   * p99 function duration above which a deployment rolls back.
   * @default Duration.millis(2000)
   */
  readonly latencyThreshold?: Duration;
  /**
   * Name of the API stage, the first segment of every URL path.
   * @default 'api'
   */
  readonly stageName?: string;
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
 * The serverless inference API: API Gateway (REST, regional, WAF, IAM or API-key auth, throttling,
 * request validation, JSON access logs, X-Ray) in front of the `live` alias of a Lambda running
 * ONNX Runtime from a layer. New versions reach the alias through a CodeDeploy canary that rolls
 * back on errors, 5xx responses or slow p99.
 */
export class ServerlessInference extends Construct {
  /** The REST API; routes `/v2/{proxy+}` and `/models/{proxy+}`. */
  public readonly api: RestApi;
  /** The inference function. */
  public readonly function: MlopsFunction;
  /** The `live` alias the API invokes and CodeDeploy shifts. */
  public readonly alias: Alias;
  /** URL of the API stage, ending with `/`. */
  public readonly url: string;
  /** The API key consumers send as `x-api-key`, in apiKey mode. */
  public readonly apiKey: ApiKey | undefined;
  /** The alarms whose ALARM state rolls a deployment back. */
  public readonly rollbackAlarms: IAlarm[];
  /** The CodeDeploy deployment group of the alias. */
  public readonly deploymentGroup: LambdaDeploymentGroup;

  constructor(scope: Construct, id: string, props: ServerlessInferenceProps) {
    super(scope, id);
    const memorySize = props.memorySize ?? 2048;
    const timeout = props.timeout ?? Duration.seconds(29);
    const architecture = props.architecture ?? Architecture.ARM_64;
    const provisionedConcurrency = props.provisionedConcurrency ?? 0;
    const apiAuth = props.apiAuth ?? 'iam';
    const rateLimit = props.throttle?.rateLimit ?? 100;
    const burstLimit = props.throttle?.burstLimit ?? 200;
    const ipRateLimit = props.ipRateLimit ?? Math.max(10, Math.ceil(rateLimit * 60));
    const captureSampleRate = props.captureSampleRate ?? 1;
    const captureMaxAge = props.captureMaxAge ?? Duration.seconds(5);
    const maxBatchRows = props.maxBatchRows ?? 1000;
    const maxBodyBytes = props.maxBodyBytes ?? 6 * 1024 * 1024;
    const microBatchMaxRows = props.microBatchMaxRows ?? 256;
    const deploymentConfig = props.deploymentConfig ?? LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES;
    const latencyThreshold = props.latencyThreshold ?? Duration.millis(2000);
    const stageName = props.stageName ?? 'api';
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    if (props.modelNames.length === 0) throw new Error('ServerlessInference needs at least one model name (received [])');
    if (!Number.isInteger(provisionedConcurrency) || provisionedConcurrency < 0) {
      throw new Error(`provisionedConcurrency must be a whole number of at least 0 (received ${provisionedConcurrency})`);
    }
    const reserved = props.reservedConcurrency;
    if (reserved !== undefined && !(Number.isInteger(reserved) && reserved >= Math.max(1, provisionedConcurrency))) {
      throw new Error(
        `reservedConcurrency must be a whole number of at least 1 and at least provisionedConcurrency (${provisionedConcurrency}), ` +
          `which Lambda draws from it (received ${reserved})`,
      );
    }
    if (captureSampleRate < 0 || captureSampleRate > 1) {
      throw new Error(`captureSampleRate must be between 0 and 1 (received ${captureSampleRate})`);
    }
    if (timeout.toMilliseconds() > 29_000) {
      throw new Error(`timeout must be at most 29 seconds, API Gateway's integration timeout (received ${timeout.toHumanString()})`);
    }
    if (props.dailyQuota !== undefined && apiAuth !== 'apiKey') {
      throw new Error(`dailyQuota applies to API keys; set apiAuth to 'apiKey' (received '${apiAuth}')`);
    }

    // --- Function -------------------------------------------------------------------------------
    const layer = new OnnxRuntimeLayer(this, 'OnnxRuntime', { architecture });
    this.function = new MlopsFunction(this, 'Function', {
      entry: HANDLER_ENTRY,
      description: 'Inference API: OIP v2 and instances protocols on ONNX Runtime',
      memorySize,
      timeout,
      architecture,
      onnxRuntime: layer,
      logRetention,
      logRemovalPolicy,
      environment: {
        MODEL_BUCKET: props.modelBucket.bucketName,
        DATA_BUCKET: props.dataBucket.bucketName,
        MODEL_NAMES: props.modelNames.join(','),
        CAPTURE_SAMPLE_RATE: String(captureSampleRate),
        CAPTURE_MAX_AGE_MS: String(captureMaxAge.toMilliseconds()),
        MAX_BATCH_ROWS: String(maxBatchRows),
        MAX_BODY_BYTES: String(maxBodyBytes),
        MICRO_BATCH_MAX_ROWS: String(microBatchMaxRows),
        // A container serves one request at a time, so waiting for more rows would only add latency.
        MICRO_BATCH_MAX_WAIT_MICROS: '0',
      },
    });
    if (reserved !== undefined) {
      // MlopsFunction's props leave reserved concurrency out; the L1 property is the same setting.
      (this.function.node.defaultChild as CfnFunction).reservedConcurrentExecutions = reserved;
    }
    const bucketAccess = this.grantBucketAccess(props);

    this.alias = new Alias(this, 'LiveAlias', {
      aliasName: 'live',
      version: this.function.currentVersion,
      provisionedConcurrentExecutions: provisionedConcurrency > 0 ? provisionedConcurrency : undefined,
    });
    // Provisioned environments load their models as soon as the alias exists.
    this.alias.node.addDependency(bucketAccess);

    // --- API ------------------------------------------------------------------------------------
    const front = new InferenceRestApi(this, 'Api', {
      handler: this.alias,
      description: 'Inference API: POST /v2/models/{name}/infer, POST /models/{name}/predict',
      apiAuth,
      throttle: { rateLimit, burstLimit },
      dailyQuota: props.dailyQuota,
      ipRateLimit,
      stageName,
      logRetention,
      logRemovalPolicy,
      // This stack owns API Gateway's account-wide CloudWatch role for execution logs.
      manageCloudWatchRole: true,
    });
    this.api = front.api;
    this.url = front.url;
    this.apiKey = front.apiKey;

    // --- Deployment guardrails ------------------------------------------------------------------
    const topic = props.alarmTopic;
    const alarm = (alarmId: string, alarmProps: AlarmProps): Alarm => {
      const created = new Alarm(this, alarmId, { treatMissingData: TreatMissingData.NOT_BREACHING, ...alarmProps });
      if (topic) created.addAlarmAction(new SnsAction(topic));
      return created;
    };
    const minute = Duration.minutes(1);
    this.rollbackAlarms = [
      alarm('ErrorsAlarm', {
        alarmDescription: 'The live alias reported function errors (crashes or timeouts); deployments roll back.',
        metric: this.alias.metricErrors({ period: minute, statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 1,
      }),
      alarm('ServerErrorsAlarm', {
        alarmDescription: 'The API answered with a 5xx; the API promises 4xx for bad input, so this is a fault. Deployments roll back.',
        metric: this.api.deploymentStage.metricServerError({ period: minute, statistic: 'Sum' }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 1,
      }),
      alarm('LatencyAlarm', {
        alarmDescription: `p99 duration of the live alias stayed above ${latencyThreshold.toMilliseconds()} ms for 2 minutes; deployments roll back.`,
        metric: this.alias.metricDuration({ period: minute, statistic: 'p99' }),
        threshold: latencyThreshold.toMilliseconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        // Two minutes in a row: one cold start in a quiet minute should not roll a deployment back.
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
      }),
    ];
    alarm('ThrottlesAlarm', {
      alarmDescription: 'Lambda throttled invocations of the inference function: raise its concurrency or lower the API limits.',
      metric: this.function.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });

    this.deploymentGroup = new LambdaDeploymentGroup(this, 'Deployment', {
      alias: this.alias,
      deploymentConfig,
      alarms: this.rollbackAlarms,
      autoRollback: { failedDeployment: true, deploymentInAlarm: true },
    });
    Validations.of(this.deploymentGroup).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
      reason:
        'CodeDeploy service role: the AWS managed "Limited" policy lets CodeDeploy read alarms and ' +
        'shift Lambda aliases, the narrowest policy AWS provides for Lambda deployments.',
    });
  }

  /** Lets the function read model packages and write captured traffic, and nothing else in the buckets. */
  private grantBucketAccess(props: ServerlessInferenceProps): Policy {
    const models = `${ModelLayout.root}*`;
    const capture = `${DataPrefixes.capture}*`;
    const statements = [
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [props.modelBucket.arnForObjects(models)] }),
      // The function lists a model's versions, and S3 answers a missing key (a model with no
      // registry yet) with 404 instead of 403 only to a principal that may list it.
      listUnder(props.modelBucket, [models]),
      new PolicyStatement({ actions: ['s3:PutObject'], resources: [props.dataBucket.arnForObjects(capture)] }),
    ];
    if (props.key) {
      statements.push(
        // Decrypt to read model packages, GenerateDataKey to write captured traffic; only through S3.
        keyUseVia(props.key, 's3', Stack.of(this).region),
      );
    }
    const policy = new Policy(this, 'BucketAccess', { statements, roles: [this.function.role] });
    acknowledgeWildcardResources(
      policy,
      [`/${models}`, `/${capture}`],
      'Object ARNs under one key prefix: the function reads any model package under models/ (which ' +
        'models and versions it serves changes without a deployment) and writes capture files under ' +
        'capture/ whose keys carry the date and a request id.',
    );
    return policy;
  }
}
