/**
 * AWS's registry account of the SageMaker Triton images (repository `sagemaker-tritonserver`)
 * in regions where it is not the Deep Learning Containers account 763104351884. Source: the
 * SageMaker Python SDK's image_uri_config/sagemaker-tritonserver.json, versions 23.12–24.09.
 */
const TRITON_REGISTRY_ACCOUNTS: Readonly<Record<string, string>> = {
  'af-south-1': '626614931356',
  'ap-east-1': '871362719292',
  'ap-northeast-3': '364406365360',
  'ap-southeast-3': '907027046896',
  'ca-west-1': '204538143572',
  'cn-north-1': '727897471807',
  'cn-northwest-1': '727897471807',
  'eu-south-1': '692866216735',
  'il-central-1': '780543022126',
  'me-south-1': '217643126080',
};
const DLC_ACCOUNT = '763104351884';

/** The registry account of AWS's SageMaker Triton images in a region. */
export function tritonRegistryAccount(region: string): string {
  return TRITON_REGISTRY_ACCOUNTS[region] ?? DLC_ACCOUNT;
}

/** Fills in `{account}`, `{region}` and `{urlSuffix}` of an image URI template for a region. */
export function resolveTritonImage(template: string, region: string): string {
  if (!/^[a-z]{2}(?:-[a-z]+)+-\d+$/.test(region)) {
    throw new Error(`The Triton image needs a concrete region such as us-east-1 (received ${JSON.stringify(region)})`);
  }
  return template
    .replaceAll('{account}', tritonRegistryAccount(region))
    .replaceAll('{region}', region)
    .replaceAll('{urlSuffix}', region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com');
}

/** The ECR repository an image URI names. */
export interface EcrRepositoryRef {
  readonly account: string;
  readonly region: string;
  readonly repository: string;
  /** aws or aws-cn. */
  readonly partition: string;
}

/** Parses `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>:<tag>`; throws on anything else. */
export function ecrRepositoryOf(imageUri: string): EcrRepositoryRef {
  const match = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?\/([a-z0-9][a-z0-9._/-]*)(?::[\w.-]+|@sha256:[0-9a-f]{64})$/.exec(imageUri);
  if (!match) throw new Error(`Expected an ECR image URI <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (received ${imageUri})`);
  const [, account, region, cn, repository] = match as unknown as [string, string, string, string | undefined, string];
  return { account, region, repository, partition: cn ? 'aws-cn' : 'aws' };
}
