import { readFileSync } from 'node:fs';
import { z } from 'zod';

// Model names become SageMaker endpoint names, URL path segments and S3 key segments, so they
// follow the strictest of those: a lowercase DNS label.
const dnsSlug = z
  .string()
  .regex(
    /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
    'must be a lowercase DNS-safe name (a-z, 0-9, -; at most 63 characters)',
  );

const ModelSchema = z
  .strictObject({
    name: dnsSlug,
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
  /** Warm containers kept on the live alias; 0 for none (no standing cost). */
  provisionedConcurrency: z.number().int().min(0).default(0),
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
}).refine((s) => s.dailyQuota === undefined || s.apiAuth === 'apiKey', {
  message: 'applies only when apiAuth is "apiKey"',
  path: ['dailyQuota'],
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
    /** What happens to buckets and keys when a stack is deleted. */
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  });

/** A validated platform configuration with all defaults filled in. */
export type PlatformConfig = z.output<typeof PlatformConfigSchema>;
/** A model as configured, with defaults filled in. */
export type ModelConfig = PlatformConfig['models'][number];
/** Storage settings, with defaults filled in. */
export type StorageConfig = PlatformConfig['storage'];
/** Serverless inference settings, with defaults filled in. */
export type ServerlessConfig = PlatformConfig['serverless'];

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
    default:
      return `${issue.message} (received ${show(issue.input)})`;
  }
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}
