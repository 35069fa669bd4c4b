import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type CfnScalableTarget, CfnScalingPolicy } from 'aws-cdk-lib/aws-applicationautoscaling';
import { Alarm, type AlarmProps, ComparisonOperator, type IAlarm, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Grant, type IGrantable, Policy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { type LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { CfnEndpoint, CfnEndpointConfig, CfnModel } from 'aws-cdk-lib/aws-sagemaker';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { keyUseVia, SAGEMAKER_CONTAINER_WILDCARD_REASON, sagemakerContainerStatements } from '../iam';
import { checkEndpointSettings, endpointLogGroup, VARIANT_NAME, variantScalableTarget } from '../sagemaker-endpoint';
import { DataPrefixes } from '../../core/layout';
import { tritonArtifactKey } from '../../core/layout';
import { acknowledgeWildcardResources } from '../nag';
import { PlatformKey } from './platform-key';
import { type EcrRepositoryRef, ecrRepositoryOf } from './triton-image';

/**
 * Key prefix of SageMaker's data capture in the data bucket, as `capture-raw/<model>/`. SageMaker
 * writes its own JSON Lines format there (request and response of each call); the drift monitor
 * reads `capture/` in the format of core/capture/capture.ts. The CaptureConverter construct
 * (./capture-converter.ts) converts each new object as it arrives.
 */
export const RAW_CAPTURE_PREFIX = DataPrefixes.captureRaw;

/**
 * SageMaker instance families with NVMe instance storage. Their volumes are encrypted by the
 * instance's hardware, and SageMaker rejects an endpoint configuration that names a KMS key for
 * them (CreateEndpointConfig, KmsKeyId).
 */
const LOCAL_STORAGE_FAMILIES = /^ml\.(c5d|m5d|r5d|c6id|m6id|r6id|g4dn|g5|g6|g6e|gr6|p3dn|p4d|p4de|p5|p5e|p5en|trn1|trn1n)\./;

/** Whether an instance type has NVMe instance storage (and so takes no volume KMS key). */
export function hasInstanceStorage(instanceType: string): boolean {
  return LOCAL_STORAGE_FAMILIES.test(instanceType);
}

/** Subnets and security groups of an endpoint in a VPC. */
export interface EndpointVpcSettings {
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

/** How a SageMaker endpoint takes a new configuration: blue/green, a canary share first, rolled back by alarms. */
export interface GuardedDeployment {
  /**
   * Share of capacity a new configuration gets first in a blue/green deployment, in percent.
   * @default 10
   */
  readonly canaryPercent?: number;
  /**
   * How long the canary takes traffic, watched by the rollback alarms, before the rest shifts.
   * @default Duration.minutes(10)
   */
  readonly canaryWait?: Duration;
  /**
   * Longest a deployment may take before it rolls back.
   * @default Duration.hours(1)
   */
  readonly maxDeploymentTime?: Duration;
  /**
   * How long the old fleet stays after the shift, for an instant rollback.
   * @default Duration.minutes(5)
   */
  readonly terminationWait?: Duration;
}

/** The endpoint's DeploymentConfig for `deployment`, rolled back when any of `alarms` fires; throws on values SageMaker refuses. */
export function guardedDeploymentConfig(deployment: GuardedDeployment, alarms: readonly IAlarm[]): CfnEndpoint.DeploymentConfigProperty {
  const canaryPercent = deployment.canaryPercent ?? 10;
  const canaryWait = deployment.canaryWait ?? Duration.minutes(10);
  const maxDeploymentTime = deployment.maxDeploymentTime ?? Duration.hours(1);
  const terminationWait = deployment.terminationWait ?? Duration.minutes(5);
  if (!Number.isInteger(canaryPercent) || canaryPercent < 1 || canaryPercent > 50) {
    throw new Error(`canaryPercent must be a whole number from 1 to 50 (received ${canaryPercent})`);
  }
  const maxSeconds = maxDeploymentTime.toSeconds();
  if (maxSeconds < 600 || maxSeconds > 14400 || maxSeconds <= canaryWait.toSeconds() + terminationWait.toSeconds()) {
    throw new Error(
      `maxDeploymentTime must be 600–14400 s and exceed canaryWait + terminationWait (received ${maxDeploymentTime.toHumanString()}, ` +
        `with ${canaryWait.toHumanString()} and ${terminationWait.toHumanString()})`,
    );
  }
  return {
    blueGreenUpdatePolicy: {
      trafficRoutingConfiguration: {
        type: 'CANARY',
        canarySize: { type: 'CAPACITY_PERCENT', value: canaryPercent },
        waitIntervalInSeconds: canaryWait.toSeconds(),
      },
      maximumExecutionTimeoutInSeconds: maxSeconds,
      terminationWaitInSeconds: terminationWait.toSeconds(),
    },
    autoRollbackConfiguration: { alarms: alarms.map((a) => ({ alarmName: a.alarmName })) },
  };
}

/** Properties of a {@link GpuEndpoint}. */
export interface GpuEndpointProps extends GuardedDeployment {
  /** The model's name: the Triton model name and part of the artifact and capture keys. */
  readonly modelName: string;
  /** The package version served; its Triton artifact must be in the model bucket before deployment. */
  readonly modelVersion: string;
  /** The SageMaker endpoint name, stable across deployments; at most 63 characters. */
  readonly endpointName: string;
  /** Bucket of the model packages and their Triton artifacts. */
  readonly modelBucket: IBucket;
  /** Bucket that receives the endpoint's data capture under `capture-raw/<model>/`. */
  readonly dataBucket: IBucket;
  /**
   * KMS key of both buckets; also encrypts the captured data.
   * @default - the buckets use S3-managed keys
   */
  readonly key?: IKey;
  /** The Triton container image, an ECR URI with a tag or digest. */
  readonly image: string;
  /**
   * Instance type of the endpoint.
   * @default 'ml.g5.xlarge'
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
   * Invocations per instance per minute that autoscaling keeps the fleet at.
   * @default 100
   */
  readonly targetInvocationsPerInstance?: number;
  /**
   * p99 model latency above which the latency alarm fires and a deployment rolls back.
   * @default Duration.millis(100)
   */
  readonly latencyThreshold?: Duration;
  /**
   * Share of requests and responses SageMaker captures, in percent.
   * @default 100
   */
  readonly captureSamplePercent?: number;
  /**
   * Key of the instance's storage volume, for instance types without NVMe instance storage.
   * @default - `key`, else a new key
   */
  readonly volumeKey?: IKey;
  /**
   * Subnets and security groups of the model containers.
   * @default - no VPC: SageMaker's network, with the container itself network-isolated
   */
  readonly vpc?: EndpointVpcSettings;
  /**
   * Where alarms are sent.
   * @default - alarms notify no one; deployments still roll back on them
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long the endpoint's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the endpoint's log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A SageMaker real-time endpoint running Triton (ONNX Runtime backend) on a GPU instance for one
 * model: the model's Triton artifact (model-pipeline/triton), a least-privilege execution role,
 * data capture of inputs and outputs, target-tracking autoscaling, alarms on 5xx errors and p99
 * model latency, and blue/green canary deployments that roll back when an alarm fires.
 */
export class GpuEndpoint extends Construct {
  /** The role SageMaker runs the model with. */
  public readonly role: Role;
  public readonly model: CfnModel;
  public readonly endpointConfig: CfnEndpointConfig;
  public readonly endpoint: CfnEndpoint;
  /** The endpoint's name. */
  public readonly endpointName: string;
  /** The endpoint's ARN. */
  public readonly endpointArn: string;
  /** `s3://…/models/<name>/<version>/triton/model.tar.gz`: where the deployment reads the model. */
  public readonly modelDataUrl: string;
  /** `s3://…/capture-raw/<name>/`: where SageMaker writes captured requests and responses. */
  public readonly captureDestination: string;
  /** The alarms whose ALARM state rolls a deployment back. */
  public readonly rollbackAlarms: IAlarm[];
  /** The autoscaling target of the variant's instance count. */
  public readonly scalableTarget: CfnScalableTarget;

  constructor(scope: Construct, id: string, props: GpuEndpointProps) {
    super(scope, id);
    const instanceType = props.instanceType ?? 'ml.g5.xlarge';
    const minInstances = props.minInstances ?? 1;
    const maxInstances = props.maxInstances ?? 2;
    const targetInvocations = props.targetInvocationsPerInstance ?? 100;
    const latencyThreshold = props.latencyThreshold ?? Duration.millis(100);
    const captureSamplePercent = props.captureSamplePercent ?? 100;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const logRemovalPolicy = props.logRemovalPolicy ?? RemovalPolicy.RETAIN;

    checkEndpointSettings(props.endpointName, minInstances, maxInstances);
    if (captureSamplePercent < 0 || captureSamplePercent > 100) throw new Error(`captureSamplePercent must be from 0 to 100 (received ${captureSamplePercent})`);
    const repository = ecrRepositoryOf(props.image);

    this.endpointName = props.endpointName;
    const artifactKey = tritonArtifactKey(props.modelName, props.modelVersion);
    this.modelDataUrl = `s3://${props.modelBucket.bucketName}/${artifactKey}`;
    const capturePrefix = `${RAW_CAPTURE_PREFIX}${props.modelName}/`;
    this.captureDestination = `s3://${props.dataBucket.bucketName}/${capturePrefix}`;

    // --- Execution role -------------------------------------------------------------------------
    const logGroup = endpointLogGroup(this, props.endpointName, logRetention, logRemovalPolicy);
    this.role = new Role(this, 'ExecutionRole', {
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com'),
      description: `SageMaker execution role of the endpoint ${props.endpointName}`,
    });
    const executionPolicy = this.grantExecution(props, { capturePrefix, repository, logGroup });

    // --- Model, configuration, endpoint -------------------------------------------------------------
    this.model = new CfnModel(this, 'Model', {
      executionRoleArn: this.role.roleArn,
      primaryContainer: {
        image: props.image,
        modelDataUrl: this.modelDataUrl,
        environment: { SAGEMAKER_TRITON_DEFAULT_MODEL_NAME: props.modelName },
      },
      // The container needs no network: SageMaker fetches the image and the model data itself.
      enableNetworkIsolation: true,
      vpcConfig: props.vpc ? { subnets: [...props.vpc.subnetIds], securityGroupIds: [...props.vpc.securityGroupIds] } : undefined,
      tags: [{ key: 'mlops:model-version', value: props.modelVersion }],
    });
    this.model.node.addDependency(executionPolicy);

    const volumeKey = hasInstanceStorage(instanceType)
      ? undefined
      : (props.volumeKey ?? props.key ?? new PlatformKey(this, 'VolumeKey', { alias: `${props.endpointName}-volume`, description: `Storage volumes of the SageMaker endpoint ${props.endpointName}` }));
    if (volumeKey) {
      // SageMaker encrypts the instance's EBS volume through a grant it creates with this role.
      executionPolicy.addStatements(
        new PolicyStatement({
          actions: ['kms:CreateGrant', 'kms:DescribeKey'],
          resources: [volumeKey.keyArn],
          conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
        }),
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
        },
      ],
      // Instance types with NVMe storage encrypt it in hardware and must not name a key.
      kmsKeyId: volumeKey?.keyArn,
      dataCaptureConfig: {
        enableCapture: true,
        initialSamplingPercentage: captureSamplePercent,
        destinationS3Uri: this.captureDestination,
        kmsKeyId: props.key?.keyArn,
        captureOptions: [{ captureMode: 'Input' }, { captureMode: 'Output' }],
        // JSON bodies are stored as JSON text, not base64, so the capture stays readable.
        captureContentTypeHeader: { jsonContentTypes: ['application/json'] },
      },
    });

    // --- Alarms ----------------------------------------------------------------------------------
    const topic = props.alarmTopic;
    const alarm = (alarmId: string, alarmProps: AlarmProps): Alarm => {
      const created = new Alarm(this, alarmId, { treatMissingData: TreatMissingData.NOT_BREACHING, ...alarmProps });
      if (topic) created.addAlarmAction(new SnsAction(topic));
      return created;
    };
    const metric = (metricName: string, statistic: string) =>
      new Metric({
        namespace: 'AWS/SageMaker',
        metricName,
        dimensionsMap: { EndpointName: props.endpointName, VariantName: VARIANT_NAME },
        period: Duration.minutes(1),
        statistic,
      });
    this.rollbackAlarms = [
      alarm('ServerErrorsAlarm', {
        alarmDescription: `The endpoint ${props.endpointName} answered with a 5xx; deployments roll back.`,
        metric: metric('Invocation5XXErrors', 'Sum'),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 1,
      }),
      alarm('LatencyAlarm', {
        alarmDescription: `p99 model latency of ${props.endpointName} stayed above ${latencyThreshold.toMilliseconds()} ms for 2 minutes; deployments roll back.`,
        // ModelLatency is reported in microseconds.
        metric: metric('ModelLatency', 'p99'),
        threshold: latencyThreshold.toMilliseconds() * 1000,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
      }),
    ];

    this.endpoint = new CfnEndpoint(this, 'Endpoint', {
      endpointName: props.endpointName,
      endpointConfigName: this.endpointConfig.attrEndpointConfigName,
      deploymentConfig: guardedDeploymentConfig(props, this.rollbackAlarms),
    });
    this.endpoint.node.addDependency(executionPolicy, logGroup);
    this.endpointArn = this.endpoint.ref;

    // --- Autoscaling -----------------------------------------------------------------------------
    this.scalableTarget = variantScalableTarget(this, this.endpoint, props.endpointName, minInstances, maxInstances);
    new CfnScalingPolicy(this, 'InvocationsScaling', {
      policyName: `${props.endpointName}-invocations-per-instance`,
      policyType: 'TargetTrackingScaling',
      scalingTargetId: this.scalableTarget.ref,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: targetInvocations,
        predefinedMetricSpecification: { predefinedMetricType: 'SageMakerVariantInvocationsPerInstance' },
        // Out fast (a GPU instance takes minutes to start), in slowly.
        scaleOutCooldown: 60,
        scaleInCooldown: 300,
      },
    });
  }

  /** Lets the grantee invoke this endpoint, and no other. */
  public grantInvoke(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: ['sagemaker:InvokeEndpoint'], resourceArns: [this.endpointArn] });
  }

  /**
   * What SageMaker does with the execution role: read the model's Triton artifacts, write data
   * capture, pull the image, write logs and instance metrics, and (in a VPC) attach network
   * interfaces. Nothing else.
   */
  private grantExecution(
    props: GpuEndpointProps,
    refs: { capturePrefix: string; repository: EcrRepositoryRef; logGroup: LogGroup },
  ): Policy {
    const stack = Stack.of(this);
    // Any version's artifact of this model: during a blue/green update the old fleet, still
    // serving, may scale out and fetch the previous version's artifact.
    const artifacts = tritonArtifactKey(props.modelName, '*');
    const captureObjects = `${refs.capturePrefix}*`;
    const statements = [
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [props.modelBucket.arnForObjects(artifacts)] }),
      new PolicyStatement({ actions: ['s3:PutObject'], resources: [props.dataBucket.arnForObjects(captureObjects)] }),
      ...sagemakerContainerStatements(refs.repository, refs.logGroup.logGroupArn),
    ];
    if (props.key) {
      statements.push(
        // Decrypt to read the artifact, GenerateDataKey to write capture; only through S3.
        keyUseVia(props.key, 's3', stack.region),
      );
    }
    if (props.vpc) {
      statements.push(
        new PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:CreateNetworkInterfacePermission',
            'ec2:DeleteNetworkInterface',
            'ec2:DeleteNetworkInterfacePermission',
            'ec2:DescribeDhcpOptions',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSecurityGroups',
            'ec2:DescribeSubnets',
            'ec2:DescribeVpcs',
          ],
          resources: ['*'],
        }),
      );
    }
    const policy = new Policy(this, 'ExecutionPolicy', { statements, roles: [this.role] });
    acknowledgeWildcardResources(
      policy,
      [`/${artifacts}`, `/${captureObjects}`],
      'Object ARNs of this one model: the Triton artifact of any of its versions (the old fleet of a ' +
        'blue/green update may still fetch the previous one) and the capture files SageMaker names ' +
        'under capture-raw/<model>/ with the date and an event id.',
    );
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: SAGEMAKER_CONTAINER_WILDCARD_REASON + (props.vpc ? ', and the EC2 network-interface actions SageMaker needs to attach the containers to the VPC.' : '.'),
    });
    return policy;
  }
}
