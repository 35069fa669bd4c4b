import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ModelLayout } from '../../core/layout';
import type { ModelPackage } from '../../core/model/model-package';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3 } from '../../local/embedded-s3';

/** Uploads a package to `models/<name>/<version>/` of a bucket of the embedded S3. */
export async function uploadPackage(s3: EmbeddedS3, bucket: string, pkg: ModelPackage): Promise<void> {
  const files: [string, Uint8Array | string][] = [...pkg.files, ['manifest.json', JSON.stringify(pkg.manifest)]];
  for (const [name, body] of files) {
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `${ModelLayout.package(pkg.manifest.name, pkg.manifest.version)}${name}`, Body: body }));
  }
}

/** Environment variables that point the AWS SDK (of the CLI, or of a handler) at the embedded S3. */
export function sdkEnvironmentFor(s3: EmbeddedS3): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
  };
}

/** What a Lambda handler under test needs besides its own variables: the embedded S3, path-style, and no X-Ray or metrics output. */
export function handlerEnvironmentFor(s3: EmbeddedS3): Record<string, string> {
  return { ...sdkEnvironmentFor(s3), S3_FORCE_PATH_STYLE: 'true', POWERTOOLS_TRACE_ENABLED: 'false', POWERTOOLS_METRICS_DISABLED: 'true' };
}
