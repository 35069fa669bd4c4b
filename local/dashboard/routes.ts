import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchJobManifestSchema } from '../../core/batch/job-manifest';
import { boundedEcho } from '../../core/data/echo';
import { DataPrefixes } from '../../core/layout';
import type { BlobStore } from '../../core/model/blob-store';
import type { ModelRepository } from '../../core/model/registry';
import { ProtocolError } from '../../core/protocol/errors';
import { json, type HttpRequest, type HttpResponse } from '../../core/protocol/http';
import { PipelineStateSchema } from '../../model-pipeline/pipeline/state';
import type { ExtraRoutes } from '../api-server';
import type { LlmStats } from './llm-stats';
import type { RequestStats } from './request-stats';

export interface DashboardSources {
  readonly models: ModelRepository;
  readonly data: BlobStore;
  readonly stats: RequestStats;
  /** Time to first token and tokens/s of the LLM route, when it runs. */
  readonly llm?: LlmStats;
  /** Shown in the header: where the API and the embedded S3 listen. */
  readonly endpoints: Record<string, string>;
}

const page = fileURLToPath(new URL('./index.html', import.meta.url));
// Chart.js is served from node_modules: the dashboard works offline, with no CDN.
const chartJs = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The dashboard's routes beside the API: the page, its script, one JSON overview, and output downloads. */
export function dashboardRoutes(sources: DashboardSources): ExtraRoutes {
  return async (request: HttpRequest): Promise<HttpResponse | null> => {
    if (request.method !== 'GET') return null;
    if (request.path === '/' || request.path === '/dashboard') {
      return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: await readFile(page, 'utf8') };
    }
    if (request.path === '/assets/chart.js') {
      return { status: 200, headers: { 'content-type': 'text/javascript', 'cache-control': 'max-age=3600' }, body: await readFile(chartJs, 'utf8') };
    }
    if (request.path === '/api/overview') return json(200, await overview(sources));
    if (request.path.startsWith('/files/')) return download(sources.data, decodeKey(request.path.slice('/files/'.length)));
    return null;
  };
}

/** A percent-encoded key of /files/…; bad encodings (`%`, `%E0%A4%A`) are the client's mistake. */
function decodeKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new ProtocolError(400, 'invalid_request', 'the file path is not valid percent-encoded UTF-8', { field: 'path' });
  }
}

/** Everything the page shows, in one document. */
export async function overview(sources: DashboardSources) {
  const { models, data } = sources;
  const modelList = [];
  for (const name of await models.listModels()) {
    const registry = await models.registryOf(name);
    const versions = [];
    for (const version of await models.listVersions(name)) {
      const pkg = await models.load(name, version).catch(() => null);
      const entry = registry.versions.find((v) => v.version === version);
      versions.push({
        version,
        status: entry?.status ?? 'unregistered',
        note: entry?.note ?? '',
        metrics: pkg?.manifest.metrics ?? {},
        parentVersion: pkg?.manifest.parentVersion ?? null,
        createdAt: pkg?.manifest.createdAt ?? entry?.createdAt,
        int8: pkg?.manifest.quantization ? (pkg.manifest.quantization.servable ? 'serves' : 'failed its gate') : 'none',
      });
    }
    modelList.push({ name, serving: registry.serving ?? versions.at(-1)?.version ?? null, canary: registry.canary, servingMode: 'serverless (local)', versions });
  }
  const readJson = async (key: string) => JSON.parse(decode(await data.read(key))) as unknown;
  const batchJobs = [];
  for (const key of (await data.list(DataPrefixes.batchManifests)).slice(-50)) {
    const parsed = BatchJobManifestSchema.safeParse(await readJson(key).catch(() => null));
    // Manifests written before errors were bounded may quote a whole input line.
    if (parsed.success) batchJobs.push({ key, ...parsed.data, ...(parsed.data.error ? { error: boundedEcho(parsed.data.error) } : {}) });
  }
  const pipelineRuns = [];
  for (const key of (await data.list(DataPrefixes.pipeline)).filter((k) => k.endsWith('/state.json')).slice(-30)) {
    const parsed = PipelineStateSchema.safeParse(await readJson(key).catch(() => null));
    if (parsed.success) pipelineRuns.push(parsed.data);
  }
  const notifications = await Promise.all((await data.list(DataPrefixes.notifications)).slice(-30).map((key) => readJson(key).catch(() => null)));
  const reportKeys = (await data.list(DataPrefixes.reports)).filter((k) => k.endsWith('.json'));
  const reports = reportKeys.slice(-30);
  return {
    endpoints: sources.endpoints,
    models: modelList,
    traffic: sources.stats.series(),
    /** Requests, errors and latency per model version over the last hour: a canary beside the serving version. */
    versionTraffic: sources.stats.versions(),
    llm: sources.llm?.summary() ?? [],
    batchJobs: batchJobs.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt)),
    pipelineRuns: pipelineRuns.sort((a, b) => b.startedAt.localeCompare(a.startedAt)),
    notifications: notifications.filter(Boolean).reverse(),
    reports: await Promise.all(reports.reverse().map(async (key) => ({ key, report: await readJson(key).catch(() => null) }))),
    /** Every report, newest first: the table shows the last 30 in detail, the rest are links. */
    reportKeys: reportKeys.reverse(),
  };
}

/** Batch outputs, errors, manifests and reports can be downloaded; nothing else of the bucket. */
async function download(data: BlobStore, key: string): Promise<HttpResponse> {
  const allowed = [DataPrefixes.batchOutput, DataPrefixes.batchErrors, DataPrefixes.batchManifests, DataPrefixes.reports];
  if (!allowed.some((prefix) => key.startsWith(prefix)) || key.includes('..')) {
    return json(404, { error: `no downloadable file ${key}`, code: 'route_not_found' });
  }
  try {
    const body = decode(await data.read(key));
    const type = key.endsWith('.html') ? 'text/html; charset=utf-8' : key.endsWith('.csv') ? 'text/csv; charset=utf-8' : key.endsWith('.json') ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8';
    return { status: 200, headers: { 'content-type': type }, body };
  } catch {
    return json(404, { error: `no file ${key}`, code: 'route_not_found' });
  }
}
