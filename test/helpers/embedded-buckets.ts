import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ModelLayout } from '../../core/layout';
import type { ModelPackage } from '../../core/model/model-package';
import type { EmbeddedS3 } from '../../local/embedded-s3';

/** Uploads a package to `models/<name>/<version>/` of a bucket of the embedded S3. */
export async function uploadPackage(s3: EmbeddedS3, bucket: string, pkg: ModelPackage): Promise<void> {
  const files: [string, Uint8Array | string][] = [...pkg.files, ['manifest.json', JSON.stringify(pkg.manifest)]];
  for (const [name, body] of files) {
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `${ModelLayout.package(pkg.manifest.name, pkg.manifest.version)}${name}`, Body: body }));
  }
}
