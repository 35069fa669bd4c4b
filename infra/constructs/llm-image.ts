import { resolveTritonImage, tritonRegistryAccount } from './triton-image';

/**
 * Registry accounts of the SageMaker LMI images (repository `djl-inference`) where they differ
 * from the Triton images' (triton-image.ts). Source: the SageMaker Python SDK's
 * image_uri_config/djl-lmi.json, versions 0.28.0–0.30.0; every other region there uses the same
 * account as Triton.
 */
const LMI_ONLY_ACCOUNTS: Readonly<Record<string, string>> = {
  'me-central-1': '914824155844',
  'us-gov-east-1': '446045086412',
  'us-gov-west-1': '442386744353',
};

/** The registry account of AWS's SageMaker LMI images in a region. */
export function lmiRegistryAccount(region: string): string {
  return LMI_ONLY_ACCOUNTS[region] ?? tritonRegistryAccount(region);
}

/** Fills in `{account}`, `{region}` and `{urlSuffix}` of an LMI image URI template for a region. */
export function resolveLlmImage(template: string, region: string): string {
  return resolveTritonImage(/^[a-z]{2}(?:-[a-z]+)+-\d+$/.test(region) ? template.replaceAll('{account}', lmiRegistryAccount(region)) : template, region);
}
