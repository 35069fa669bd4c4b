import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { crc32 } from 'node:zlib';
import { S3Error } from './s3rver-internals';

/** A running checksum over a body, digested to the bytes S3 sends base64-encoded. */
interface Checksum {
  update(data: Buffer): void;
  digest(): Buffer;
}

/**
 * CRC32C (Castagnoli), which S3 offers beside CRC32. Node has no CRC32C: node:zlib has only CRC32
 * and node:crypto has no CRCs, and the SDK's @aws-crypto/crc32c is merely a transitive dependency of
 * the S3 client, not one this project declares. So it is the classic table-driven loop here, same
 * calling convention as zlib.crc32 (pass the previous value to continue).
 */
export function crc32c(data: Uint8Array, value = 0): number {
  let crc = ~value;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
const CRC32C_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crcChecksum(crc: (data: Uint8Array, value?: number) => number): Checksum {
  let value = 0;
  return {
    update: (data) => (value = crc(data, value)),
    digest: () => {
      const digest = Buffer.alloc(4);
      digest.writeUInt32BE(value >>> 0);
      return digest;
    },
  };
}

function hashChecksum(algorithm: string): Checksum {
  const hash = createHash(algorithm);
  return { update: (data) => hash.update(data), digest: () => hash.digest() };
}

/**
 * The checksums S3 verifies, by the header (or aws-chunked trailer) that carries the expected
 * value. x-amz-checksum-crc64nvme is not among them: it is accepted unverified.
 */
const CHECKSUMS: Record<string, () => Checksum> = {
  'x-amz-checksum-crc32': () => crcChecksum(crc32),
  'x-amz-checksum-crc32c': () => crcChecksum(crc32c),
  'x-amz-checksum-sha1': () => hashChecksum('sha1'),
  'x-amz-checksum-sha256': () => hashChecksum('sha256'),
  'content-md5': () => hashChecksum('md5'),
};

/** Which of `names` (header or trailer names) carry a checksum this module verifies. */
export const verifiableChecksums = (names: Iterable<string>) => [...new Set(names)].filter((name) => name in CHECKSUMS);

/**
 * Passes a body through and, at its end, compares each named checksum with the value
 * `expected(name)` gives then (a header, or a trailer that arrives after the body). A mismatch fails
 * the stream with S3's 400 BadDigest, so whatever stores the body throws it away.
 */
export class ChecksumVerifier extends Transform {
  private readonly running: [name: string, checksum: Checksum][];

  constructor(
    names: readonly string[],
    private readonly expected: (name: string) => string | undefined,
  ) {
    super();
    this.running = names.map((name) => [name, CHECKSUMS[name]!()]);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    for (const [, checksum] of this.running) checksum.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    for (const [name, checksum] of this.running) {
      const expected = this.expected(name);
      if (expected === undefined) return callback(new S3Error('InvalidRequest', `The ${name} trailer announced in x-amz-trailer is missing from the body`));
      const calculated = checksum.digest().toString('base64');
      if (calculated !== expected) {
        return callback(new S3Error('BadDigest', `The ${name} you specified did not match the calculated checksum.`, { Expected: expected, Calculated: calculated }));
      }
    }
    callback();
  }
}
