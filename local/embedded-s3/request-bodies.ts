import type { IncomingHttpHeaders } from 'node:http';
import { type Readable, finished } from 'node:stream';
import { AwsChunkedDecoder } from './aws-chunked';
import { ChecksumVerifier, verifiableChecksums } from './checksums';
import { type KoaMiddleware, S3Error } from './s3rver-internals';

/**
 * Gives s3rver's controllers the request body S3 would store: aws-chunked framing removed (see
 * {@link AwsChunkedDecoder}) and checksums verified (x-amz-checksum-* and Content-MD5, from headers
 * or aws-chunked trailers; see {@link ChecksumVerifier}), by replacing `ctx.req` with the decoded
 * stream before the router runs. A body that fails either makes its stream fail, and the store
 * then keeps nothing of it. `aws-chunked` is removed from Content-Encoding, which S3 does not store.
 */
export function decodeRequestBodies(): KoaMiddleware {
  return async (ctx, next) => {
    const chunked = isAwsChunked(ctx.headers);
    if (chunked) withoutAwsChunked(ctx.headers);
    // CompleteMultipartUpload's x-amz-checksum-* headers are the whole object's, not its XML body's.
    const completion = ctx.method === 'POST' && 'uploadId' in ctx.query;
    const checksums = completion ? [] : verifiableChecksums([...Object.keys(ctx.headers), ...(chunked ? announcedTrailers(ctx.headers) : [])]);
    if (chunked || checksums.length) {
      const decoder = chunked ? new AwsChunkedDecoder(decodedContentLength(ctx.headers)) : undefined;
      const headerValue = (name: string) => [ctx.headers[name]].flat()[0];
      const verifier = checksums.length ? new ChecksumVerifier(checksums, (name) => headerValue(name) ?? decoder?.trailers.get(name)) : undefined;
      const req = ctx.req;
      ctx.req = through(req, [decoder, verifier].filter((stage) => stage !== undefined));
      // What the client still sends once its body failed, or once the answer is out (after a refusal, say), is read and dropped.
      const drain = () => {
        req.unpipe();
        req.resume();
      };
      ctx.req.once('close', drain);
      ctx.res.once('close', drain);
    }
    return next();
  };
}

/** `req` piped through `stages`; the last one, which fails when `req` or any stage fails. */
function through(req: Readable, stages: readonly (AwsChunkedDecoder | ChecksumVerifier)[]): Readable {
  let tail = req;
  for (const stage of stages) {
    // pipe(), not pipeline(): pipeline would destroy the request, and with it the socket the error answer goes out on.
    tail.pipe(stage);
    finished(tail, (error) => error && stage.destroy(error));
    tail = stage;
  }
  // A controller reports the error of a body it reads; one that is never read (a refused request) must not crash the server.
  tail.on('error', () => {});
  return tail;
}

/** SigV4 streaming bodies: announced by the encoding, or by a STREAMING-* payload hash alone (some clients send only that). */
const isAwsChunked = (headers: IncomingHttpHeaders) => encodings(headers).includes('aws-chunked') || String(headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');

const encodings = (headers: IncomingHttpHeaders) =>
  String(headers['content-encoding'] ?? '')
    .split(',')
    .map((encoding) => encoding.trim())
    .filter(Boolean);

/** Removes `aws-chunked` from Content-Encoding and keeps the encodings of the data itself (gzip, …). */
function withoutAwsChunked(headers: IncomingHttpHeaders): void {
  const kept = encodings(headers).filter((encoding) => encoding !== 'aws-chunked');
  if (kept.length) headers['content-encoding'] = kept.join(',');
  else delete headers['content-encoding'];
}

const announcedTrailers = (headers: IncomingHttpHeaders) =>
  String(headers['x-amz-trailer'] ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);

function decodedContentLength(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['x-amz-decoded-content-length'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new S3Error('InvalidArgument', 'x-amz-decoded-content-length must be a number of bytes', { ArgumentName: 'x-amz-decoded-content-length', ArgumentValue: String(value) });
  }
  return Number(value);
}
