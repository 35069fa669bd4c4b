import { ModelNameSchema } from './model/model-name';
import { DEFAULT_LABEL_WINDOW_DAYS, DEFAULT_MAX_WAIT_HOURS } from './monitor/monitor';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { RESERVED_HYPERPARAMETERS } from './training-contract';
import type { TritonServingOptions } from './triton-serving';

const ModelSchema = z
  .strictObject({
    name: ModelNameSchema,
    /** Where the model answers real-time requests: a Lambda, a SageMaker GPU endpoint, or both. */
    servingMode: z.enum(['serverless', 'gpu', 'both']).default('serverless'),
    /** Instance type of the SageMaker endpoint when servingMode is gpu or both. */
    gpuInstanceType: z
      .string()
      .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type such as ml.g5.xlarge')
      .default('ml.g5.xlarge'),
    /** Autoscaling bounds of the SageMaker endpoint. */
    minInstances: z.number().int().min(1).default(1),
    maxInstances: z.number().int().min(1).default(2),
  })
  .refine((m) => m.minInstances <= m.maxInstances, {
    message: 'must be at least minInstances',
    path: ['maxInstances'],
  });

const StorageSchema = z.strictObject({
  /** Days before batch outputs, batch errors and captured requests expire. */
  dataRetentionDays: z.number().int().min(1).default(90),
  /** Days a replaced model package version is kept before it expires. */
  noncurrentModelVersionDays: z.number().int().min(1).default(365),
  /**
   * Days SageMaker's raw data capture of the GPU endpoints (capture-raw/) is kept: it is converted
   * into capture/ as it arrives, so it is only needed to replay a failed conversion.
   */
  rawCaptureRetentionDays: z.number().int().min(1).default(7),
  /** Days S3 server access logs are kept. */
  accessLogRetentionDays: z.number().int().min(1).default(365),
  /** A customer-managed KMS key with yearly rotation, instead of S3-managed keys. */
  useKmsKey: z.boolean().default(true),
});

const ServerlessSchema = z.strictObject({
  /** Memory of the inference Lambda in MB; CPU share grows with it (1769 MB = one vCPU). */
  memoryMb: z.number().int().min(128).max(10240).default(2048),
  /** Timeout of the inference Lambda; API Gateway gives up after 29 s anyway. */
  timeoutSeconds: z.number().int().min(1).max(29).default(29),
  /** Processor architecture of the inference Lambda and its ONNX Runtime layer. */
  architecture: z.enum(['arm64', 'x86_64']).default('arm64'),
  /** Warm containers kept on the live alias; 0 for none (no standing cost). At most reservedConcurrency. */
  provisionedConcurrency: z.number().int().min(0).default(0),
  /**
   * Concurrency reserved for the inference Lambda, which is also its cap; null reserves none.
   * Reserved so that batch scoring (every file of a large drop, and the fan-out's parts), the
   * pipeline and anything else in the account cannot starve the API. The default 100 is a tenth
   * of Lambda's default regional quota of 1,000: batch and every other function share the other
   * 900, far above batch's own limits (batch.maxConcurrency, plus batch.partConcurrency per split
   * file), while 100 covers the stage's default throttle (100 requests/s) at up to one second per
   * request (concurrency = rate × duration; a warm prediction takes milliseconds). Lambda keeps at
   * least 100 of the quota unreserved, so an account whose quota is below 200 cannot reserve 100:
   * set it lower, or null.
   */
  reservedConcurrency: z.number().int().min(1).nullable().default(100),
  /** How API consumers authenticate: SigV4-signed requests (IAM) or an API key with a usage plan. */
  apiAuth: z.enum(['iam', 'apiKey']).default('iam'),
  /** Stage-wide request rate (steady, per second) and burst; also the usage plan's in apiKey mode. */
  throttle: z
    .strictObject({
      rateLimit: z.number().positive().default(100),
      burstLimit: z.number().int().min(1).default(200),
    })
    .prefault({}),
  /** Requests per day per API key (apiKey mode); no quota when absent. */
  dailyQuota: z.number().int().min(1).optional(),
  /** Share of requests whose inputs and predictions are captured to the data bucket. */
  captureSampleRate: z.number().min(0).max(1).default(1),
  /** Most rows (instances) one request may carry. */
  maxBatchRows: z.number().int().min(1).default(1000),
  /** How CodeDeploy shifts traffic to a new function version. */
  canary: z.enum(['canary10Percent5Minutes', 'linear10PercentEvery1Minute', 'allAtOnce']).default('canary10Percent5Minutes'),
})
  .refine((s) => s.dailyQuota === undefined || s.apiAuth === 'apiKey', {
    message: 'applies only when apiAuth is "apiKey"',
    path: ['dailyQuota'],
  })
  .refine((s) => s.reservedConcurrency === null || s.provisionedConcurrency <= s.reservedConcurrency, {
    message: 'must be at most reservedConcurrency, from which Lambda draws provisioned concurrency',
    path: ['provisionedConcurrency'],
  });

const semver = z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be a semantic version such as 1.0.0');

/** The default Triton image: AWS's SageMaker Triton container, its registry account looked up per region. */
export const DEFAULT_TRITON_IMAGE = '{account}.dkr.ecr.{region}.{urlSuffix}/sagemaker-tritonserver:24.09-py3';

/** How SageMaker endpoints take a new configuration: blue/green, a canary first, rolled back by alarms. */
const guardedDeploymentFields = {
  /** Share of the fleet (and so of the traffic) a new endpoint configuration gets first, in percent. */
  canaryPercent: z.number().int().min(1).max(50).default(10),
  /** How long the canary serves, watched by the rollback alarms, before all traffic shifts. */
  canaryWaitSeconds: z.number().int().min(0).max(3600).default(600),
  /** Longest a blue/green deployment may take before SageMaker rolls it back. */
  maxDeploymentSeconds: z.number().int().min(600).max(14400).default(3600),
  /** How long the old fleet stays up after the shift, for an instant rollback. */
  terminationWaitSeconds: z.number().int().min(0).max(3600).default(300),
};

function checkGuardedDeployment(d: { canaryWaitSeconds: number; terminationWaitSeconds: number; maxDeploymentSeconds: number }, ctx: z.RefinementCtx): void {
  if (d.canaryWaitSeconds + d.terminationWaitSeconds >= d.maxDeploymentSeconds) {
    ctx.addIssue({
      code: 'custom',
      message: `must exceed canaryWaitSeconds + terminationWaitSeconds (${d.canaryWaitSeconds + d.terminationWaitSeconds})`,
      path: ['maxDeploymentSeconds'],
      input: d.maxDeploymentSeconds,
    });
  }
}

const GpuSchema = z
  .strictObject({
    /**
     * Container image of the SageMaker endpoints. `{region}`, `{urlSuffix}` (amazonaws.com, or
     * amazonaws.com.cn in China) and `{account}` (AWS's registry account of the SageMaker Triton
     * images in that region) are filled in; any other ECR image URI is used as given.
     */
    tritonImage: z
      .string()
      .regex(
        /^(?:\d{12}|\{account\})\.dkr\.ecr\.(?:[a-z0-9-]+|\{region\})\.(?:amazonaws\.com(?:\.cn)?|\{urlSuffix\})\/[a-z0-9][a-z0-9._/-]*:[\w.-]+$/,
        'must be an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> ({account}, {region} and {urlSuffix} are filled in)',
      )
      .default(DEFAULT_TRITON_IMAGE),
    /** The package version each model's endpoint serves (models not listed serve 1.0.0, the first version `mlops train` writes). */
    modelVersions: z.record(ModelNameSchema, semver).default({}),
    ...guardedDeploymentFields,
    /** p99 model latency above which a deployment rolls back (and the alarm fires), in milliseconds. */
    latencyP99Ms: z.number().positive().default(100),
    /** Target of the autoscaling policy: invocations per instance per minute. */
    targetInvocationsPerInstance: z.number().int().min(1).default(100),
    /** Triton's max_batch_size: most rows one batch may hold, requests combined or not. */
    maxBatchSize: z.number().int().min(1).max(65536).default(1024),
    /** Batch sizes Triton's dynamic batcher prefers to form. */
    preferredBatchSizes: z.array(z.number().int().min(1)).min(1).default([8, 16, 32]),
    /** Longest a request waits in Triton's queue for others to batch with, in microseconds. */
    maxQueueDelayMicros: z.number().int().min(0).default(500),
    /** Model instances Triton runs on each GPU. */
    instancesPerGpu: z.number().int().min(1).max(16).default(1),
    /** Run the model through ONNX Runtime's TensorRT execution provider in FP16. */
    useTensorRt: z.boolean().default(false),
    /** Share of endpoint requests and responses SageMaker captures, in percent. */
    captureSamplePercent: z.number().int().min(0).max(100).default(100),
    /** Longest the proxy waits for the endpoint, retries included, in milliseconds. */
    invokeTimeoutMs: z.number().int().min(100).max(28000).default(10000),
    /** Batch scoring of files under batch/input/<model>/ of models whose servingMode is gpu, by SageMaker Batch Transform on the endpoint's Triton model. */
    batchTransform: z
      .strictObject({
        /** false leaves gpu models' files to the batch Lambda (ONNX Runtime on CPU). */
        enabled: z.boolean().default(true),
        /** Instance type of the transform jobs. */
        instanceType: z
          .string()
          .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type such as ml.g5.xlarge')
          .default('ml.g5.xlarge'),
        /** Instances of one transform job. */
        instanceCount: z.number().int().min(1).max(100).default(1),
        /** Rows per request line; at most maxBatchSize (Triton refuses more), which it is when absent. */
        rowsPerRequest: z.number().int().min(1).optional(),
        /** Largest request line, in MB (CreateTransformJob's MaxPayloadInMB). */
        maxPayloadMb: z.number().int().min(1).max(100).default(6),
      })
      .prefault({}),
    /** Subnets and security groups of the endpoints; no VPC when absent. */
    vpc: z
      .strictObject({
        subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'must be a subnet id such as subnet-0abc')).min(1),
        securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group id such as sg-0abc')).min(1),
      })
      .optional(),
  })
  .superRefine((gpu, ctx) => {
    gpu.preferredBatchSizes.forEach((size, i) => {
      if (size > gpu.maxBatchSize) {
        ctx.addIssue({ code: 'custom', message: `must be at most maxBatchSize (${gpu.maxBatchSize})`, path: ['preferredBatchSizes', i], input: size });
      }
    });
    if (gpu.batchTransform.rowsPerRequest !== undefined && gpu.batchTransform.rowsPerRequest > gpu.maxBatchSize) {
      ctx.addIssue({
        code: 'custom',
        message: `must be at most maxBatchSize (${gpu.maxBatchSize})`,
        path: ['batchTransform', 'rowsPerRequest'],
        input: gpu.batchTransform.rowsPerRequest,
      });
    }
    checkGuardedDeployment(gpu, ctx);
  });

/**
 * The default LLM image: AWS's SageMaker Large Model Inference container (DJL Serving with vLLM),
 * its registry account looked up per region (infra/constructs/llm-image.ts). Repository and tag
 * pattern (`<djl version>-lmi<lmi version>-cu<cuda>`) as in the SageMaker Python SDK's
 * image_uri_config/djl-lmi.json, which lists up to 0.30.0-lmi12.0.0-cu124; 0.31.0-lmi13.0.0-cu124 is
 * the next release of that series. Pin a newer tag here when you deploy.
 */
export const DEFAULT_LLM_IMAGE = '{account}.dkr.ecr.{region}.{urlSuffix}/djl-inference:0.31.0-lmi13.0.0-cu124';

const ecrImage = z
  .string()
  .regex(
    /^(?:\d{12}|\{account\})\.dkr\.ecr\.(?:[a-z0-9-]+|\{region\})\.(?:amazonaws\.com(?:\.cn)?|\{urlSuffix\})\/[a-z0-9][a-z0-9._/-]*:[\w.-]+$/,
    'must be an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> ({account}, {region} and {urlSuffix} are filled in)',
  );

const LlmModelSchema = z
  .strictObject({
    /** The model's name: part of the endpoint name (`mlops-<stage>-llm-<name>`) and of the metrics. */
    name: ModelNameSchema,
    /** A Hugging Face model id (`org/model`) the container downloads when it starts; the container then needs internet access. */
    modelId: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'must be a Hugging Face model id such as Qwen/Qwen2.5-1.5B-Instruct').optional(),
    /** Or a key prefix in the model bucket holding the weights uncompressed (`llm/<name>/`); SageMaker copies them, the container stays network-isolated. */
    weightsPrefix: z.string().regex(/^[a-zA-Z0-9][\w.\-/]*\/$/, 'must be a key prefix ending with / such as llm/qwen/').optional(),
    /** The serving container; `{account}`, `{region}` and `{urlSuffix}` are filled in per region. */
    image: ecrImage.default(DEFAULT_LLM_IMAGE),
    instanceType: z
      .string()
      .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type such as ml.g5.2xlarge')
      .default('ml.g5.2xlarge'),
    minInstances: z.number().int().min(1).default(1),
    maxInstances: z.number().int().min(1).default(2),
    /** GPUs one model copy spans (LMI's TENSOR_PARALLEL_DEGREE); "max" uses every GPU of the instance. */
    tensorParallelDegree: z.union([z.literal('max'), z.number().int().min(1).max(8)]).default('max'),
    /** Longest sequence, prompt and generated tokens together (OPTION_MAX_MODEL_LEN). */
    maxModelLen: z.number().int().min(128).default(4096),
    /** Requests the container batches at once (OPTION_MAX_ROLLING_BATCH_SIZE). */
    maxRollingBatchSize: z.number().int().min(1).max(1024).default(32),
    /** Most tokens one request may ask for; the proxy refuses more with a 400. */
    maxNewTokens: z.number().int().min(1).default(1024),
    /** More container settings (OPTION_*, HF_*, …), e.g. OPTION_DTYPE; they override the ones above. */
    env: z.record(z.string().regex(/^(?:OPTION|HF|SERVING|TENSOR|VLLM|SM)_[A-Z0-9_]+$/, 'must be an LMI setting such as OPTION_DTYPE'), z.string()).default({}),
  })
  .superRefine((m, ctx) => {
    if ((m.modelId === undefined) === (m.weightsPrefix === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of modelId (Hugging Face) and weightsPrefix (model bucket)', path: ['modelId'], input: m.modelId });
    }
    if (m.minInstances > m.maxInstances) ctx.addIssue({ code: 'custom', message: 'must be at least minInstances', path: ['maxInstances'], input: m.maxInstances });
    if (m.maxNewTokens >= m.maxModelLen) ctx.addIssue({ code: 'custom', message: `must be less than maxModelLen (${m.maxModelLen}), which holds the prompt too`, path: ['maxNewTokens'], input: m.maxNewTokens });
  });

const LlmSchema = z.strictObject({
  /** The generative models, one SageMaker endpoint and one streaming function URL each. */
  models: z
    .array(LlmModelSchema)
    .min(1)
    .superRefine((models, ctx) => {
      const seen = new Set<string>();
      models.forEach((m, i) => {
        if (seen.has(m.name)) ctx.addIssue({ code: 'custom', message: 'must be unique', path: [i, 'name'], input: m.name });
        seen.add(m.name);
      });
    }),
  /** Budget of one generation in the streaming function: retries before the first token and the whole stream. */
  streamTimeoutSeconds: z.number().int().min(5).max(840).default(120),
  /** Autoscaling target: concurrent requests per model copy (ConcurrentRequestsPerModel, streamed requests count until their last token). */
  targetConcurrentRequests: z.number().positive().default(4),
  /** p95 time to first token above which the TTFT alarm fires, in milliseconds. */
  ttftP95AlarmMs: z.number().positive().default(2000),
  /** p99 of SageMaker's ModelLatency (a whole generation) above which the latency alarm fires, in milliseconds. */
  modelLatencyP99AlarmMs: z.number().positive().default(60000),
  /** Share of requests SageMaker captures, in percent; 0 turns data capture off. */
  captureSamplePercent: z.number().int().min(0).max(100).default(0),
  ...guardedDeploymentFields,
}).superRefine(checkGuardedDeployment);

const BatchSchema = z
  .strictObject({
    /** Memory of the batch scoring Lambda in MB; CPU share grows with it (3008 MB ≈ 1.7 vCPUs, so parsing and scoring overlap). */
    memoryMb: z.number().int().min(128).max(10240).default(3008),
    /**
     * Timeout of one scoring run, at most Lambda's 15 minutes; the queue's visibility timeout is 6
     * times this, and at least this plus the job's lease (this plus 5 minutes).
     */
    timeoutMinutes: z.number().int().min(1).max(15).default(15),
    /** Most scoring runs at once: the maximum concurrency of the queue's event source (2 to 1000). */
    maxConcurrency: z.number().int().min(2).max(1000).default(10),
    /** Concurrency reserved for the scoring function, at least maxConcurrency; none reserved when absent. */
    reservedConcurrency: z.number().int().min(1).optional(),
    /** Rows parsed and scored per chunk; larger chunks amortize per-call overhead, memory grows with them. */
    chunkRows: z.number().int().min(1).max(1_000_000).default(1024),
    /** Alarm when an input event lands in the dead-letter queue (a file failed 3 times). */
    alarmOnDlq: z.boolean().default(true),
    /**
     * Inputs above this many bytes fan out through the Step Functions state machine (plan → parts
     * in a Distributed Map → merge) instead of being scored by one function; gzip inputs never do
     * (a gzip stream cannot be split). The default fits one 15-minute run with room to spare.
     */
    fanOutAboveBytes: z.number().int().min(1024 * 1024).default(512 * 1024 * 1024),
    /** Target size of one part of a split input (Parquet: compressed row-group bytes), scored by one function run. */
    partBytes: z.number().int().min(1024 * 1024).default(128 * 1024 * 1024),
    /** Most parts of one input scored at once (the Distributed Map's MaxConcurrency). */
    partConcurrency: z.number().int().min(1).max(10_000).default(20),
  })
  .refine((b) => b.reservedConcurrency === undefined || b.reservedConcurrency >= b.maxConcurrency, {
    message: 'must be at least maxConcurrency, or Lambda throttles messages the event source has already received',
    path: ['reservedConcurrency'],
  })
  .refine((b) => b.partBytes <= b.fanOutAboveBytes, {
    message: 'must be at most fanOutAboveBytes, or a file that fans out is one part',
    path: ['partBytes'],
  });

const MonitoringSchema = z
  .strictObject({
    /**
     * Minutes between drift monitoring runs; also the period of the monitor's alarms. At least 5,
     * the monitor function's timeout, so that runs never overlap; at most a day.
     */
    scheduleMinutes: z.number().int().min(5).max(1440).default(60),
    /** Fewest captured rows since the last report before a model's window is assessed; smaller windows wait for more traffic. */
    minRows: z.number().int().min(1).default(200),
    /** Hours a window under minRows waits at most: then a window of at least 30 rows (the drift floor) is assessed anyway. */
    maxWaitHours: z.number().positive().max(24 * 30).default(DEFAULT_MAX_WAIT_HOURS),
    /** Drift is confirmed when at least confirmRuns of the last ofLastRuns runs found dataset drift. */
    confirmRuns: z.number().int().min(1).default(2),
    /** The recent runs confirmRuns counts in. */
    ofLastRuns: z.number().int().min(1).default(3),
    /** Hours after a retraining trigger in which confirmed drift of the same model triggers none again. */
    cooldownHours: z.number().min(0).default(24),
    /** Memory of the monitor Lambda in MB; CPU share grows with it (1769 MB = one vCPU). */
    memoryMb: z.number().int().min(128).max(10240).default(1024),
    /** Days a captured prediction waits for its ground-truth label; its prediction-index entry expires a day later. */
    labelWindowDays: z.number().int().min(1).max(3650).default(DEFAULT_LABEL_WINDOW_DAYS),
  })
  .refine((m) => m.confirmRuns <= m.ofLastRuns, {
    message: 'must be at most ofLastRuns',
    path: ['confirmRuns'],
  });

const PipelineSchema = z.strictObject({
  /** Largest drop of the gate's metric (accuracy or r2), in points, of a candidate against the serving version on the same holdout that still passes. */
  maxDropPoints: z.number().min(0).max(100).default(0.5),
  /** Training epochs of a candidate. */
  epochs: z.number().int().min(1).max(10000).default(40),
  /** Quantize each candidate to int8; the int8 model serves only if it passes its own gate. */
  quantize: z.boolean().default(true),
  /** Leave a candidate that passed the gate approved, for a person to promote with `mlops models promote`, instead of promoting it. */
  manualApproval: z.boolean().default(false),
  /** Memory of the train, evaluate and quantize Lambdas in MB (1769 MB = one vCPU); the other steps get 1024. */
  trainMemoryMb: z.number().int().min(128).max(10240).default(3008),
  /** A candidate first serves a share of the requests as a canary; CanaryCheck promotes it or rolls it back from per-version CloudWatch metrics. */
  canary: z
    .strictObject({
      /** false promotes a candidate that passed the gate at once. */
      enabled: z.boolean().default(true),
      /** Share of the requests that name no version sent to the canary. */
      weight: z.number().gt(0).max(1).default(0.1),
      /** Observation window; a healthy canary is promoted at its end. */
      windowMinutes: z.number().int().min(1).max(1440).default(30),
      /** Minutes between checks; a failing canary rolls back at the first check that sees it. */
      checkMinutes: z.number().int().min(1).max(60).default(5),
      /** Canary requests needed before it is judged; a window that ends with fewer rolls back. */
      minRequests: z.number().int().min(1).default(100),
      /** Largest excess of the canary's error rate over the serving version's (0.01 = one point). */
      maxErrorRateIncrease: z.number().min(0).max(1).default(0.01),
      /** Largest ratio of the canary's p99 latency to the serving version's. */
      latencyFactor: z.number().min(1).default(1.5),
    })
    .refine((c) => c.checkMinutes <= c.windowMinutes, { message: 'must be at most windowMinutes', path: ['checkMinutes'] })
    .prefault({}),
  /**
   * How a candidate is trained: the built-in TypeScript trainer in the Train Lambda, or a SageMaker
   * training job running your image under the container contract (README: "Training with your own image").
   */
  training: z
    .strictObject({
      mode: z.enum(['builtin', 'sagemaker']).default('builtin'),
      /** The training image (required with mode sagemaker); `{account}` (the deploying account), `{region}` and `{urlSuffix}` are filled in. */
      image: ecrImage.optional(),
      instanceType: z
        .string()
        .regex(/^ml\.[a-z0-9]+\.[a-z0-9]+$/, 'must be a SageMaker instance type such as ml.m5.xlarge')
        .default('ml.m5.xlarge'),
      /** Instances of the job; more than one only if the image trains distributed. */
      instanceCount: z.number().int().min(1).max(20).default(1),
      /** Size of the ML storage volume of each instance, in GB. */
      volumeSizeGb: z.number().int().min(1).max(16384).default(30),
      /** The job is stopped after this long (SageMaker's MaxRuntimeInSeconds), and the run fails. */
      maxRuntimeMinutes: z.number().int().min(1).max(40320).default(60),
      /** Passed to the image in hyperparameters.json, next to the platform's own keys. */
      hyperparameters: z
        .record(
          z.string().regex(/^[A-Za-z0-9_.-]{1,256}$/, 'must be a hyperparameter name (letters, digits, _ . -)'),
          z.string().max(2500, 'must be at most 2500 characters (SageMaker\'s limit)'),
        )
        .default({}),
    })
    .superRefine((t, ctx) => {
      if (t.mode === 'sagemaker' && t.image === undefined) {
        ctx.addIssue({ code: 'custom', message: 'is required when mode is "sagemaker": the ECR URI of your training image', path: ['image'], input: t.image });
      }
      for (const key of Object.keys(t.hyperparameters)) {
        if ((RESERVED_HYPERPARAMETERS as readonly string[]).includes(key)) {
          ctx.addIssue({ code: 'custom', message: `is set by the platform (${RESERVED_HYPERPARAMETERS.join(', ')} are reserved)`, path: ['hyperparameters', key], input: key });
        }
      }
    })
    .prefault({}),
});

/** The platform configuration: every key a platform engineer can set, with its default. */
export const PlatformConfigSchema = z
  .strictObject({
    /** Deployment stage; part of every stack name. */
    stage: z
      .string()
      .regex(/^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$/, 'must be a short lowercase name such as dev or prod (a-z, 0-9, -)'),
    /** Target account; left unresolved when absent, so synthesis needs no credentials. */
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id').optional(),
    region: z
      .string()
      .regex(/^[a-z]{2}(?:-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1')
      .default('us-east-1'),
    /** Where alarms are emailed; no email subscription when absent. */
    alarmEmail: z.email('must be an email address').optional(),
    /** The models the platform serves, scores batches with and monitors. */
    models: z
      .array(ModelSchema)
      .default([])
      .superRefine((models, ctx) => {
        const seen = new Set<string>();
        models.forEach((m, i) => {
          if (seen.has(m.name)) {
            ctx.addIssue({ code: 'custom', message: 'must be unique', path: [i, 'name'], input: m.name });
          }
          seen.add(m.name);
        });
      }),
    storage: StorageSchema.prefault({}),
    /** The Lambda inference API of models whose servingMode is serverless or both. */
    serverless: ServerlessSchema.prefault({}),
    /** Batch scoring of files dropped under batch/input/<model>/ of the data bucket. */
    batch: BatchSchema.prefault({}),
    /**
     * The SageMaker GPU endpoints of models whose servingMode is gpu or both. Optional so that a
     * configuration without GPU models stays as it was; {@link gpuSettings} fills in the defaults.
     */
    gpu: GpuSchema.optional(),
    /** Generative models on SageMaker LLM endpoints (LMI, vLLM) with token streaming through a Lambda function URL; none when absent. */
    llm: LlmSchema.optional(),
    /** Drift monitoring of every model: schedule, confirmation, cooldown and the monitor Lambda's memory. */
    monitoring: MonitoringSchema.prefault({}),
    /** The retraining pipeline (Step Functions) of the models: gate, training and approval. */
    pipeline: PipelineSchema.prefault({}),
    /** What happens to buckets and keys when a stack is deleted. */
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  })
  .superRefine((config, ctx) => {
    const gpuModels = new Set(config.models.filter(isGpuModel).map((m) => m.name));
    config.models.forEach((m, i) => {
      const name = gpuEndpointName(config.stage, m.name);
      if (gpuModels.has(m.name) && name.length > 63) {
        ctx.addIssue({
          code: 'custom',
          message: `makes the SageMaker endpoint name "${name}" ${name.length} characters long; SageMaker allows 63 (shorten the model or stage name)`,
          path: ['models', i, 'name'],
          input: m.name,
        });
      }
    });
    config.llm?.models.forEach((m, i) => {
      const name = llmEndpointName(config.stage, m.name);
      if (name.length > 63) {
        ctx.addIssue({ code: 'custom', message: `makes the SageMaker endpoint name "${name}" ${name.length} characters long; SageMaker allows 63`, path: ['llm', 'models', i, 'name'], input: m.name });
      }
    });
    for (const name of Object.keys(config.gpu?.modelVersions ?? {})) {
      if (!gpuModels.has(name)) {
        ctx.addIssue({ code: 'custom', message: 'names no model whose servingMode is gpu or both', path: ['gpu', 'modelVersions', name], input: name });
      }
    }
  });

/** A validated platform configuration with all defaults filled in. */
export type PlatformConfig = z.output<typeof PlatformConfigSchema>;
/** A model as configured, with defaults filled in. */
export type ModelConfig = PlatformConfig['models'][number];
/** Storage settings, with defaults filled in. */
export type StorageConfig = PlatformConfig['storage'];
/** Serverless inference settings, with defaults filled in. */
export type ServerlessConfig = PlatformConfig['serverless'];
/** Batch scoring settings, with defaults filled in. */
export type BatchConfig = PlatformConfig['batch'];
/** Drift monitoring settings, with defaults filled in. */
export type MonitoringConfig = PlatformConfig['monitoring'];
/** Retraining pipeline settings, with defaults filled in. */
export type PipelineConfig = PlatformConfig['pipeline'];
/** GPU endpoint settings, with defaults filled in. */
export type GpuConfig = z.output<typeof GpuSchema>;

/** The GPU endpoint settings of a configuration, with defaults filled in where the section or a key is absent. */
export function gpuSettings(config: PlatformConfig): GpuConfig {
  return config.gpu ?? GpuSchema.parse({});
}

/** Whether a model is served by a SageMaker GPU endpoint. */
export function isGpuModel(model: Pick<ModelConfig, 'servingMode'>): boolean {
  return model.servingMode === 'gpu' || model.servingMode === 'both';
}

/** The SageMaker endpoint name of a model in a stage: `mlops-<stage>-<model>`. */
export function gpuEndpointName(stage: string, model: string): string {
  return `mlops-${stage}-${model}`;
}

/** How the Triton artifacts are built for these settings (`mlops triton publish` reads them from the config file). */
export function tritonServingOptions(gpu: GpuConfig): TritonServingOptions {
  return {
    maxBatchSize: gpu.maxBatchSize,
    preferredBatchSizes: gpu.preferredBatchSizes,
    maxQueueDelayMicros: gpu.maxQueueDelayMicros,
    instanceCount: gpu.instancesPerGpu,
    useTensorRt: gpu.useTensorRt,
  };
}

/** LLM endpoint settings, with defaults filled in. */
export type LlmConfig = z.output<typeof LlmSchema>;
/** One generative model, with defaults filled in. */
export type LlmModelConfig = LlmConfig['models'][number];

/** The SageMaker endpoint name of a generative model in a stage: `mlops-<stage>-llm-<model>`. */
export function llmEndpointName(stage: string, model: string): string {
  return `mlops-${stage}-llm-${model}`;
}

/** Models whose batch files a Batch Transform job scores instead of the batch Lambda: servingMode gpu (not both), when enabled. */
export function transformModels(config: PlatformConfig): string[] {
  if (!gpuSettings(config).batchTransform.enabled) return [];
  return config.models.filter((m) => m.servingMode === 'gpu').map((m) => m.name);
}

/** The package version a model's GPU endpoint serves. */
export function gpuModelVersion(gpu: GpuConfig, model: string): string {
  return gpu.modelVersions[model] ?? '1.0.0';
}

/** Thrown when a configuration does not match the schema; the message lists every invalid field. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates a configuration object and fills in defaults; `source` names it in error messages. */
export function parseConfig(value: unknown, source = 'config'): PlatformConfig {
  const result = PlatformConfigSchema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  - ${formatPath(issue.path)}: ${describe(issue)}`);
  throw new ConfigError(`Invalid ${source}:\n${lines.join('\n')}`);
}

/** Reads and validates a JSON configuration file. */
export function loadConfig(filePath: string): PlatformConfig {
  let text: string;
  try {
    text = readFileSync(filePath, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read config ${filePath}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Invalid ${filePath}: not JSON (${(error as Error).message})`);
  }
  return parseConfig(value, filePath);
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

function describe(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown key(s) ${issue.keys.map(show).join(', ')}`;
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be of type ${issue.expected} (received ${show(issue.input)})`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(show).join(', ')} (received ${show(issue.input)})`;
    case 'invalid_key':
      // A record's key failed its own schema: say what the key must be.
      return `${issue.issues[0]?.message ?? issue.message} (received ${show(issue.input)})`;
    default:
      return `${issue.message} (received ${show(issue.input)})`;
  }
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
