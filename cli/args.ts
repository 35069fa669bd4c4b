import { basename, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { InvalidArgumentError } from 'commander';
import { type BlobStore, DirectoryStore, PrefixedStore } from '../core/model/blob-store';
import { loadPackage, type ModelPackage } from '../core/model/model-package';
import { S3BlobStore } from '../functions/shared/s3-blob-store';

/** Argument parsers and helpers shared by the commands. */

export const integer = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got "${value}"`);
  return Number(value);
};
export const decimal = (name: string) => (value: string) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${value}"`);
  return n;
};
export const list = (value: string) => value.split(',').map((v) => v.trim()).filter(Boolean);
export const collect = (value: string, previous: string[] = []) => [...previous, value];

export function nameFromPath(path: string): string {
  return basename(resolve(path)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'model';
}

export function parseRanges(terms: readonly string[]): Record<string, { min?: number; max?: number }> {
  const ranges: Record<string, { min?: number; max?: number }> = {};
  for (const term of terms) {
    const match = /^([^=]+)=(-?[\d.eE+-]*):(-?[\d.eE+-]*)$/.exec(term);
    if (!match) throw new InvalidArgumentError(`--range expects feature=min:max (either side may be empty), got "${term}"`);
    const [, name, min, max] = match as unknown as [string, string, string, string];
    ranges[name] = { ...(min ? { min: Number(min) } : {}), ...(max ? { max: Number(max) } : {}) };
  }
  return ranges;
}

/** An S3 endpoint on this machine (the embedded S3 of `npm start`, or another S3 API on loopback). */
const LOOPBACK_ENDPOINT = /^https?:\/\/(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?(\/|$)/i;

/**
 * The store behind a package location: a folder, or `s3://bucket/prefix` (credentials and
 * endpoint from the usual AWS environment; AWS_ENDPOINT_URL_S3 reaches the embedded S3).
 * A loopback endpoint with no AWS_REGION signs for us-east-1: a local S3 ignores the region,
 * and the SDK refuses to sign without one ("Region is missing").
 */
export function packageStore(location: string): BlobStore {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(location);
  if (!match) return new DirectoryStore(resolve(location));
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const localRegion = endpoint !== undefined && LOOPBACK_ENDPOINT.test(endpoint) && !process.env.AWS_REGION ? { region: 'us-east-1' } : {};
  const client = new S3Client({ forcePathStyle: Boolean(endpoint), ...localRegion });
  return new PrefixedStore(new S3BlobStore(client, match[1]!), match[2] ?? '');
}

/** Loads and verifies the package at a folder or s3:// location. */
export async function openPackage(location: string): Promise<ModelPackage> {
  return loadPackage(packageStore(location));
}
