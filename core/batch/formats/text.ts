import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { type ByteRangePart, ByteRangePlanner } from '../plan';
import { InvalidFileError } from '../scorer';
import type { BatchFormatPlan, BatchInput } from './format';

/**
 * The bytes of a CSV or JSONL object, gunzipped when `gzip`. What cannot be such text ends the
 * read with an InvalidFileError, so that the job fails with a manifest saying why instead of
 * leaving a log line and being retried at every restart: a gzip stream that is corrupt or cut
 * short, and binary data (see {@link textBytes}). An error reading the object itself (the
 * store, the network) is passed on as it is: that one is worth a retry.
 */
export function textOf({ store, key, gzip }: BatchInput): AsyncIterable<Uint8Array> {
  return textBytes(gzip ? gunzipped(store.read(key)) : store.read(key));
}

async function* gunzipped(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const input = Readable.from(source);
  const gunzip = createGunzip();
  let sourceFailed: unknown;
  input.on('error', (error) => {
    sourceFailed = error;
    gunzip.destroy(error);
  });
  input.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Uint8Array;
  } catch (error) {
    if (sourceFailed) throw sourceFailed;
    throw new InvalidFileError(`the gzip data cannot be decompressed (${(error as Error).message}): the file is corrupt or cut short`);
  } finally {
    input.destroy();
  }
}

/**
 * Passes text bytes on, and fails at the first NUL byte: CSV and JSONL text in UTF-8 never holds
 * one, while binary files (and UTF-16 text) do at once; without this check such a file parses
 * into a header of noise or a million rejected lines. `firstByte`: where the source starts in the file, for the message.
 */
export async function* textBytes(source: AsyncIterable<Uint8Array>, firstByte = 0): AsyncGenerator<Uint8Array> {
  let offset = firstByte;
  for await (const chunk of source) {
    const nul = chunk.indexOf(0);
    if (nul >= 0) throw new InvalidFileError(`byte ${offset + nul} is a NUL byte: the file holds binary data (or UTF-16 text), not UTF-8 text`);
    offset += chunk.length;
    yield chunk;
  }
}

/** Bytes [start, end) of an object, checked as text (see {@link textBytes}). */
export function textRangeOf(input: BatchInput, start: number, end: number): AsyncIterable<Uint8Array> {
  return textBytes(rangeOf(input, start, end), start);
}

/** Bytes [start, end) of an object, unchecked. */
export async function* rangeOf({ store, key }: BatchInput, start: number, end: number, step = 8 << 20): AsyncGenerator<Uint8Array> {
  // Ranged reads of bounded size: memory stays flat however large the part.
  for (let at = start; at < end; at += step) yield await store.readRange(key, at, Math.min(end, at + step));
}

/** Cuts a CSV or JSONL object into byte ranges of about `partBytes` (see {@link ByteRangePlanner}), reading it once. */
export async function planByteRanges(format: 'csv' | 'jsonl', { store, key }: BatchInput, partBytes: number): Promise<BatchFormatPlan<ByteRangePart>> {
  const planner = new ByteRangePlanner(format, partBytes);
  for await (const piece of store.read(key)) planner.push(piece);
  return planner.finish();
}
