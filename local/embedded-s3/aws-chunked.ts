import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from './s3rver-internals';

/** A framing line (chunk size with its signature, a trailer) longer than this is not aws-chunked. */
const MAX_LINE_BYTES = 8 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Decodes a `content-encoding: aws-chunked` body, the framing SigV4 streaming uploads use (the SDK
 * v3 for stream bodies, with a trailing checksum; the CLI and others with chunk signatures): chunks
 * of `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`, a last chunk of size 0, then trailer lines
 * `name:value\r\n` and an empty line (some clients end the body right after the last chunk). S3
 * stores only the data; s3rver stored the framing with it. Chunk and trailer signatures are not
 * checked, as s3rver checks no request signature. A body whose data is not
 * `x-amz-decoded-content-length` bytes long fails with 400 IncompleteBody.
 */
export class AwsChunkedDecoder extends Transform {
  /** The trailers (lower-case names), complete once the decoded stream has ended. */
  readonly trailers = new Map<string, string>();
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';
  /** The start of a framing line that a later chunk of the request completes. */
  private pending: Buffer = EMPTY;
  private remaining = 0;
  private decoded = 0;

  constructor(private readonly decodedLength: number | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.decode(chunk);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      // A body may end after its last trailer line without the closing empty line.
      if (this.state === 'trailer' && this.pending.length) this.onLine(this.pending.toString('latin1'));
      else if (this.state === 'done' && this.pending.length) throw malformed('there are bytes after its trailers');
      if (this.state !== 'trailer' && this.state !== 'done') throw incomplete('The body ended inside an aws-chunked chunk');
      if (this.decodedLength !== undefined && this.decoded !== this.decodedLength) throw incomplete(`The body holds ${this.decoded} bytes, not the ${this.decodedLength} of its x-amz-decoded-content-length`);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private decode(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'data') {
        const data = chunk.subarray(at, at + this.remaining);
        at += data.length;
        this.remaining -= data.length;
        this.decoded += data.length;
        if (this.decodedLength !== undefined && this.decoded > this.decodedLength) throw incomplete(`The body holds more than the ${this.decodedLength} bytes of its x-amz-decoded-content-length`);
        this.push(data);
        if (this.remaining === 0) this.state = 'data-end';
        continue;
      }
      const lineFeed = chunk.indexOf(0x0a, at);
      const end = lineFeed === -1 ? chunk.length : lineFeed + 1;
      if (this.pending.length + end - at > MAX_LINE_BYTES) throw malformed('a framing line is too long');
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk.subarray(at, end)]) : chunk.subarray(at, end);
      at = end;
      if (lineFeed === -1) return;
      const line = this.pending;
      this.pending = EMPTY;
      if (line.length < 2 || line[line.length - 2] !== 0x0d) throw malformed('a framing line does not end with CRLF');
      this.onLine(line.subarray(0, -2).toString('latin1'));
    }
  }

  private onLine(line: string): void {
    switch (this.state) {
      case 'size': {
        const size = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line)?.[1];
        if (size === undefined) throw malformed(`"${line.slice(0, 80)}" is not a chunk size`);
        this.remaining = parseInt(size, 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
        return;
      }
      case 'data-end':
        if (line !== '') throw malformed('a chunk is longer than its size');
        this.state = 'size';
        return;
      case 'trailer': {
        if (line === '') {
          this.state = 'done';
          return;
        }
        const colon = line.indexOf(':');
        if (colon < 1) throw malformed(`"${line.slice(0, 80)}" is not a trailer`);
        this.trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
        return;
      }
      default:
        throw malformed('there are bytes after its trailers');
    }
  }
}

const incomplete = (message: string) => new S3Error('IncompleteBody', message);
const malformed = (why: string) => new S3Error('InvalidRequest', `Malformed aws-chunked body: ${why}`);
