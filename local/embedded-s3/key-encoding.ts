import { S3Error, objectController, replaceController } from './s3rver-internals';

/**
 * Decodes one path part the way s3rver's router (@koa/router) decodes its parameters: once, and a
 * part that is not valid percent-encoding (a raw `%`) is taken as it is.
 */
export function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** The bucket and key a path-style request addresses, decoded as s3rver's router decodes them. */
export function addressOf(path: string): { bucket: string; key: string } {
  const [bucket = '', ...key] = path.slice(1).split('/');
  return { bucket: decodePathPart(bucket), key: decodePathPart(key.join('/')) };
}

/**
 * A key as S3 writes it in event notifications: form-encoded, so a space is `+` and a `+` is
 * `%2B`; `/` is kept. Consumers decode it with `decodeURIComponent(key.replace(/\+/g, ' '))`
 * (Python: `unquote_plus`), as they must for real S3.
 */
export function eventKey(key: string): string {
  return key
    .split('/')
    .map((part) => encodeURIComponent(part).replace(/%20/g, '+'))
    .join('/');
}

/**
 * A key (or prefix, delimiter, marker) as S3 writes it in a listing asked for with
 * `encoding-type=url`: percent-encoded UTF-8, a space as `%20`, `/` kept. (The AWS CLI asks for it
 * and decodes with `unquote_plus`, which reads `%20` and `+` alike.)
 */
export function listingKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/**
 * S3 reads `x-amz-copy-source` as a URL-encoded `bucket/key` (the SDKs ask callers to encode it),
 * optionally followed by `?versionId=`. s3rver decodes it with decodeURI, which leaves `%2B`, `%2F`,
 * `%3F`, `%23`, … encoded, so a source key holding `+` was not found. The header is rewritten here
 * into the form s3rver's decodeURI turns back into the real key (encodeURI and decodeURI are
 * inverses).
 */
export function decodeCopySources(): void {
  replaceController(objectController, 'putObjectCopy', (putObjectCopy) => (ctx) => {
    const [source = ''] = ctx.get('x-amz-copy-source').split('?');
    let decoded: string;
    try {
      decoded = decodeURIComponent(source);
    } catch {
      throw new S3Error('InvalidArgument', 'Invalid copy source encoding', { ArgumentName: 'x-amz-copy-source', ArgumentValue: source });
    }
    ctx.headers['x-amz-copy-source'] = encodeURI(decoded);
    return putObjectCopy(ctx);
  });
}
