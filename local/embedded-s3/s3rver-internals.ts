import { createRequire } from 'node:module';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { S3EventRecord } from '../embedded-s3';

// s3rver 3.7.1 ships no type declarations; the few members the embedded S3 uses are typed here.
const require = createRequire(import.meta.url);

/** The members of an s3rver server (a Koa application) that the embedded S3 uses. */
export interface S3rverServer {
  readonly store: S3rverStore;
  /** Koa's middleware list: composed when the server starts, s3rver's router last. */
  readonly middleware: KoaMiddleware[];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: { Records: S3EventRecord[] }) => void): void;
}
export const S3rver = require('s3rver') as new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  allowMismatchedSignatures: boolean;
  configureBuckets: { name: string }[];
}) => S3rverServer;

/** s3rver's error: its error handler answers one of these as S3's XML error with the code's status. */
export interface S3Error extends Error {
  readonly code: string;
  readonly status: number;
}
export const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string, detail?: Record<string, unknown>) => S3Error;

/** s3rver's object model, which its GET controller reads. */
export const S3Object = require('s3rver/lib/models/object') as new (bucket: string, key: string, content: Readable | null, metadata: Record<string, unknown>) => { range?: unknown };

/** The owner s3rver puts in listings. */
export const DUMMY_ACCOUNT = (require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { id: number; displayName: string } }).DUMMY_ACCOUNT;

/** How s3rver's store turns a relative file path back into a key (it escapes characters Windows forbids in file names). */
export const decodeKeyPath = (require('s3rver/lib/stores/filesystem') as { decodeKeyPath(path: string): string }).decodeKeyPath;

// s3rver's own XML parser and entity decoder, resolved from s3rver's folder so they are the versions it parses with.
const s3rverRequire = createRequire(require.resolve('s3rver'));
const xmlParser = s3rverRequire('fast-xml-parser') as { validate(xml: string): true | object; parse(xml: string, options: object): unknown };
const he = s3rverRequire('he') as { decode(text: string): string };

/**
 * Parses a request's XML as s3rver does, except that every value stays the string it is: s3rver
 * lets its parser turn `<Key>007</Key>` into the number 7 and trim `<Key> a </Key>`, which are
 * other keys. `null` when the XML is not well-formed.
 */
export function parseXml(xml: string): unknown {
  if (xmlParser.validate(xml) !== true) return null;
  return xmlParser.parse(xml, { parseNodeValue: false, trimValues: false, tagValueProcessor: (value: string) => he.decode(value) });
}

/** The part of a Koa context the embedded S3's additions read and answer through. */
export interface KoaContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string | string[] | undefined>;
  readonly headers: IncomingHttpHeaders;
  readonly params: Record<string, string>;
  /** The request body stream; the controllers read it from here, so it can be replaced by a decoded one. */
  req: Readable;
  readonly res: ServerResponse;
  /** s3rver's store, which it puts on every context. */
  readonly store: S3rverStore;
  get(header: string): string;
  /** A plain object is answered as XML by s3rver's middleware (`@` holds the attributes). */
  body: unknown;
}
export type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;
export type Controller = (ctx: KoaContext) => Promise<void>;

/**
 * Adds middleware that runs after s3rver's own (logging, XML answers, virtual-host buckets, which
 * rewrites `ctx.path`) and before its router, in the order given.
 */
export function addBeforeRouter(server: S3rverServer, ...middleware: KoaMiddleware[]): void {
  server.middleware.splice(server.middleware.length - 1, 0, ...middleware);
}

/** s3rver's controllers; its router looks them up on these objects at each request, so they can be wrapped. */
export const bucketController = require('s3rver/lib/controllers/bucket') as { getBucket: Controller };
export const objectController = require('s3rver/lib/controllers/object') as { putObjectCopy: Controller; deleteMultipleObjects: Controller };

const ORIGINAL = Symbol.for('mlops.embedded-s3.original-controller');

/**
 * Replaces one of s3rver's controllers by `replacement(original)`. s3rver's modules are loaded once
 * per process while this module may be evaluated again (test runners reset their module registry),
 * so a second call replaces the first replacement instead of wrapping it.
 */
export function replaceController<T extends object>(controllers: T, name: keyof T & string, replacement: (original: Controller) => Controller): void {
  const current = (controllers as Record<string, Controller & { [ORIGINAL]?: Controller }>)[name]!;
  const original = current[ORIGINAL] ?? current;
  (controllers as Record<string, Controller>)[name] = Object.assign(replacement(original), { [ORIGINAL]: original });
}

/** The members of s3rver's filesystem store (lib/stores/filesystem.js) that the embedded S3 uses or replaces. */
export interface S3rverStore {
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getBucket(bucket: string): Promise<object | null>;
  existsObject(bucket: string, key: string): Promise<boolean>;
  deleteObject(bucket: string, key: string): Promise<void>;
  getMetadata(bucket: string, key: string): Promise<Record<string, unknown> & { etag: string; 'last-modified': string; 'content-length': number }>;
  putMetadata(bucket: string, key: string, metadata: unknown, md5?: string): Promise<void>;
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<unknown>;
  putObject(object: { bucket: string; key: string; metadata: unknown; content: Buffer | Readable }): Promise<{ size: number; md5: string }>;
  putPart(bucket: string, uploadId: string, partNumber: string | number, content: Readable): Promise<{ size: number; md5: string }>;
}

/** What s3rver appends to a key's last segment to name the object's file; its metadata files share the stem. */
export const OBJECT_FILE_SUFFIX = '._S3rver_object';

/** The folder (relative to a bucket) where s3rver keeps multipart uploads in progress, one folder per upload id. */
export const uploadsPath = (store: S3rverStore, bucket: string) => store.getResourcePath(bucket, undefined, 'uploads');
