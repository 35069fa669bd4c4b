import type { Readable } from 'node:stream';
import { confinedKey } from './confinement';
import { S3Error, objectController, parseXml, replaceController } from './s3rver-internals';

/** Keys one DeleteObjects request may name, on S3. */
const MAX_KEYS = 1000;

/**
 * DeleteObjects, answered by the embedded S3 itself. s3rver's parsed the keys of its XML as numbers
 * where they looked like one (`007` deleted `7`), trimmed them, and deleted key by key as it went,
 * so a request naming a key outside the bucket (`../../x`) was refused only after it had deleted
 * the others. Here every key is read as written and checked first, and the request is refused
 * whole, with nothing deleted, when one of them cannot be confined to the bucket.
 */
export function deleteObjects(): void {
  replaceController(objectController, 'deleteMultipleObjects', () => async (ctx) => {
    const request = parseXml(await text(ctx.req)) as { Delete?: { Object?: unknown; Quiet?: unknown } } | null;
    const objects = [request?.Delete?.Object ?? []].flat() as { Key?: unknown }[];
    const keys = objects.map((object) => object?.Key);
    if (!keys.length || keys.length > MAX_KEYS || !keys.every((key): key is string => typeof key === 'string' && key !== '')) {
      throw new S3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    }
    keys.forEach(confinedKey);
    const bucket = ctx.params.bucket!;
    // One at a time: s3rver's deleteObject removes folders it empties, which races with a delete beside it.
    for (const key of keys) if (await ctx.store.existsObject(bucket, key)) await ctx.store.deleteObject(bucket, key);
    ctx.body = {
      DeleteResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Deleted: request?.Delete?.Quiet === 'true' ? [] : keys.map((Key) => ({ Key })),
      },
    };
  });
}

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
