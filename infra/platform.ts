import { type App, RemovalPolicy, Tags } from 'aws-cdk-lib';
import { gpuSettings, isGpuModel, type PlatformConfig, transformModels } from '../core/platform-config';
import { AlarmsStack } from './stacks/alarms-stack';
import { BatchStack } from './stacks/batch-stack';
import { GpuEndpointStack } from './stacks/gpu-endpoint-stack';
import { LlmEndpointStack } from './stacks/llm-endpoint-stack';
import { MonitoringStack } from './stacks/monitoring-stack';
import { PipelineStack } from './stacks/pipeline-stack';
import { ServerlessInferenceStack } from './stacks/serverless-inference-stack';
import { StorageStack } from './stacks/storage-stack';

/** The stacks of one deployment stage. */
export interface Platform {
  /** The on-call topic: every stack's alarms, confirmed drift and pipeline notifications go there. */
  readonly alarms: AlarmsStack;
  readonly storage: StorageStack;
  /** Present when some model's servingMode is serverless or both. */
  readonly serverlessInference: ServerlessInferenceStack | undefined;
  /** Present when some model's servingMode is gpu or both: SageMaker endpoints and their API. */
  readonly gpuEndpoints: GpuEndpointStack | undefined;
  /** Scores files dropped under batch/input/<model>/ with any model in the model bucket. */
  readonly batch: BatchStack;
  /** Present when some model is configured: drift monitoring and the dashboard. */
  readonly monitoring: MonitoringStack | undefined;
  /** Present when some model is configured: the retraining state machine, started by confirmed drift or by hand. */
  readonly pipeline: PipelineStack | undefined;
  /** Present when the config has an llm section: LLM endpoints (LMI, vLLM) with streaming function URLs. */
  readonly llm: LlmEndpointStack | undefined;
}

/** Adds the stacks of one deployment stage, as the configuration describes it, to the app. */
export function addPlatformStacks(app: App, config: PlatformConfig): Platform {
  // No account means an environment-agnostic account: synthesis then needs no credentials.
  const env = { account: config.account, region: config.region };
  const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
  Tags.of(app).add('mlops:stage', config.stage);

  // Its own stack, depending on none: every other stack sends its alarms there, including stacks
  // that depend on one another (the monitoring stack's dashboard shows the serverless API).
  const alarms = new AlarmsStack(app, stackName(config, 'Alarms'), {
    env,
    description: `MLOps ${config.stage}: the on-call alarm topic`,
    stage: config.stage,
    alarmEmail: config.alarmEmail,
  });
  const alarmTopic = alarms.alarmTopic;

  const storage = new StorageStack(app, stackName(config, 'Storage'), {
    env,
    description: `MLOps ${config.stage}: model and data buckets`,
    stage: config.stage,
    storage: config.storage,
    labelWindowDays: config.monitoring.labelWindowDays,
    removalPolicy,
  });

  const serverlessModels = config.models.filter((m) => m.servingMode === 'serverless' || m.servingMode === 'both');
  const serverlessInference =
    serverlessModels.length === 0
      ? undefined
      : new ServerlessInferenceStack(app, stackName(config, 'ServerlessInference'), {
          env,
          description: `MLOps ${config.stage}: Lambda inference API`,
          stage: config.stage,
          serverless: config.serverless,
          modelNames: serverlessModels.map((m) => m.name),
          modelBucket: storage.modelBucket,
          dataBucket: storage.dataBucket,
          key: storage.key,
          alarmTopic,
          removalPolicy,
        });

  const batch = new BatchStack(app, stackName(config, 'Batch'), {
    env,
    description: `MLOps ${config.stage}: batch scoring of files under batch/input/`,
    batch: config.batch,
    modelBucket: storage.modelBucket,
    dataBucket: storage.dataBucket,
    key: storage.key,
    alarmTopic,
    removalPolicy,
  });

  // GPU models get SageMaker endpoints and their own API (the serverless API's paths, auth and
  // limits on another URL): a route on the serverless API would tie the two stacks' deployments
  // together through cross-stack API Gateway resources.
  const gpuModels = config.models.filter(isGpuModel);
  const gpuEndpoints =
    gpuModels.length === 0
      ? undefined
      : new GpuEndpointStack(app, stackName(config, 'GpuEndpoint'), {
          env,
          description: `MLOps ${config.stage}: SageMaker GPU endpoints (Triton) and their API`,
          stage: config.stage,
          models: gpuModels,
          gpu: gpuSettings(config),
          serverless: config.serverless,
          modelBucket: storage.modelBucket,
          dataBucket: storage.dataBucket,
          key: storage.key,
          // API Gateway's CloudWatch role is one per account and region: the serverless stack owns
          // it when there is one, and is deployed first.
          manageApiGatewayCloudWatchRole: serverlessInference === undefined,
          alarmTopic,
          removalPolicy,
        });
  // Files of gpu-only models are scored by Batch Transform in the GPU stack; the batch Lambda leaves them alone.
  if (gpuEndpoints?.batchTransform) batch.scoring.function.addEnvironment('TRANSFORM_MODELS', transformModels(config).join(','));
  if (gpuEndpoints && serverlessInference) {
    gpuEndpoints.addStackDependency(serverlessInference, 'its API relies on the API Gateway CloudWatch role the serverless stack creates');
  }

  // Every model is monitored: the monitor reads what the serving path captured under capture/<model>/.
  const monitoring =
    config.models.length === 0
      ? undefined
      : new MonitoringStack(app, stackName(config, 'Monitoring'), {
          env,
          description: `MLOps ${config.stage}: drift monitoring, alarms and dashboard`,
          stage: config.stage,
          monitoring: config.monitoring,
          modelNames: config.models.map((m) => m.name),
          modelBucket: storage.modelBucket,
          dataBucket: storage.dataBucket,
          key: storage.key,
          alarmTopic,
          inferenceApiStage: serverlessInference?.inference.api.deploymentStage,
          inferenceFunction: serverlessInference?.inference.function,
          removalPolicy,
        });

  const pipeline =
    config.models.length === 0
      ? undefined
      : new PipelineStack(app, stackName(config, 'Pipeline'), {
          env,
          description: `MLOps ${config.stage}: retraining pipeline (Step Functions), started by confirmed drift`,
          pipeline: config.pipeline,
          modelNames: config.models.map((m) => m.name),
          modelBucket: storage.modelBucket,
          dataBucket: storage.dataBucket,
          key: storage.key,
          // One topic for on-call (its email subscription included).
          notifyTopic: alarmTopic,
          removalPolicy,
        });
  const llm =
    config.llm === undefined
      ? undefined
      : new LlmEndpointStack(app, stackName(config, 'LlmEndpoint'), {
          env,
          description: `MLOps ${config.stage}: SageMaker LLM endpoints (LMI, vLLM) with token streaming through Lambda function URLs`,
          stage: config.stage,
          llm: config.llm,
          modelBucket: storage.modelBucket,
          dataBucket: storage.dataBucket,
          key: storage.key,
          alarmTopic,
          removalPolicy,
        });
  return { alarms, storage, serverlessInference, batch, gpuEndpoints, monitoring, pipeline, llm };
}

function stackName(config: PlatformConfig, part: string): string {
  return `Mlops-${config.stage}-${part}`;
}
