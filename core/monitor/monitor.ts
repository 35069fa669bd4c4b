import { z } from 'zod';
import { BaselineSchema } from '../drift/baseline';
import { detectDrift, type DriftOptions } from '../drift/detect';
import type { DriftReport } from '../drift/report';
import { DriftWindow } from '../drift/window';
import { captureKey } from '../capture/capture';
import { DataPrefixes } from '../layout';
import { BlobNotFoundError, type BlobStore } from '../model/blob-store';
import { PackageFiles } from '../model/manifest';
import { packageJson } from '../model/model-package';
import type { ModelSource } from '../model/registry';
import { CaptureDecoder, type SkipReason } from './capture-reader';
import { renderReportHtml } from './report-html';

export interface MonitorOptions {
  readonly drift?: DriftOptions;
  /** Fewest captured rows before a window is assessed; smaller windows wait for more traffic. @default 200 */
  readonly minRows?: number;
  /** Drift is confirmed when at least `confirmRuns` of the last `ofLastRuns` runs alerted. @default 2 */
  readonly confirmRuns?: number;
  /** @default 3 */
  readonly ofLastRuns?: number;
  /** No second retraining trigger for the same model within this many hours. @default 24 */
  readonly cooldownHours?: number;
  /**
   * How late a capture object may arrive relative to the time in its key (writers buffer for
   * up to a few seconds, clocks differ): objects this recent are remembered by key, so a late
   * one is still read, and none is read twice. @default 600
   */
  readonly lateArrivalSeconds?: number;
}

const MonitorStateSchema = z.object({
  version: z.string(),
  /** Capture keys up to this one were read (lexicographic: keys sort by the time in them). */
  watermark: z.string(),
  /** Keys after the watermark already read (recent enough that a late writer could still add before them). */
  recent: z.array(z.string()).default([]),
  /** Alert flags of recent runs, oldest first. */
  alerts: z.array(z.boolean()).default([]),
  lastTriggerAt: z.iso.datetime().nullable().default(null),
});
type MonitorState = z.infer<typeof MonitorStateSchema>;

export type MonitorOutcome =
  | { readonly status: 'waiting'; readonly model: string; readonly version: string; readonly rows: number; readonly reason: string }
  | {
      readonly status: 'reported';
      readonly model: string;
      readonly version: string;
      readonly rows: number;
      readonly skipped: Record<SkipReason, number>;
      readonly report: DriftReport;
      readonly reportKey: string;
      readonly htmlKey: string;
      /** This run's alarm: dataset-level drift, or a model-quality drop. */
      readonly alert: boolean;
      /** The quality part of the alarm (labelled metrics or the CBPE estimate). */
      readonly qualityAlarm: boolean;
      /** Enough recent runs alerted to call it drift. */
      readonly confirmed: boolean;
      /** Set when this run starts retraining (confirmed drift, outside the cooldown); the id de-duplicates. */
      readonly trigger: { readonly id: string; readonly reason: string } | null;
    };

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const stateKey = (model: string) => `${DataPrefixes.monitor}${model}/state.json`;

/**
 * One monitoring run for a model's serving version: reads the capture written since the last
 * run (a watermark plus the recently read keys, in S3, so late objects are neither lost nor
 * read twice), compares it with the package's baseline, writes a JSON and an HTML
 * report under reports/<model>/, and decides whether drift is confirmed and retraining
 * should start (k of the last n runs, with a cooldown so one episode starts one run).
 * Memory is bounded: capture objects are read one at a time into a fixed-size window.
 */
export async function runMonitor(deps: { models: ModelSource; data: BlobStore; now?: () => Date; options?: MonitorOptions }, model: string): Promise<MonitorOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const o = deps.options ?? {};
  const version = await deps.models.servingVersion(model);
  const pkg = await deps.models.load(model, version);
  const baseline = BaselineSchema.parse(packageJson(pkg, PackageFiles.baseline) ?? failNoBaseline(model, version));
  const previous = await readState(deps.data, model);
  // A promotion starts a new series: the old version's watermark and verdicts do not apply.
  const state: MonitorState = previous?.version === version ? previous : { version, watermark: '', recent: [], alerts: [], lastTriggerAt: previous?.lastTriggerAt ?? null };

  const prefix = `${DataPrefixes.capture}${model}/${version}/`;
  const seen = new Set(state.recent);
  const keys = (await deps.data.list(prefix)).filter((key) => key > state.watermark && !seen.has(key));
  const decoder = new CaptureDecoder(pkg.manifest, 4096, await readGroundTruth(deps.data, model));
  const window = new DriftWindow(baseline);
  for (const key of keys) {
    for (const chunk of decoder.addText(decode(await deps.data.read(key)))) window.addRows(chunk.x, chunk.rows, { values: chunk.scores, width: chunk.width }, chunk.labels);
  }
  const last = decoder.flush();
  if (last) window.addRows(last.x, last.rows, { values: last.scores, width: last.width }, last.labels);
  const minRows = o.minRows ?? 200;
  if (window.rows < minRows) {
    return { status: 'waiting', model, version, rows: window.rows, reason: `${window.rows} captured rows since the last report; waiting for ${minRows}` };
  }

  const report = detectDrift(baseline, window, o.drift);
  // Drift in the data or predictions, or a quality drop (measured on late labels, or estimated without them).
  const qualityAlarm = Boolean(report.quality?.alarm || report.quality?.estimated?.alarm);
  const alert = report.dataset.alert || qualityAlarm;
  const alerts = [...state.alerts, alert].slice(-(o.ofLastRuns ?? 3));
  const confirmed = alerts.filter(Boolean).length >= (o.confirmRuns ?? 2);
  const cooldownMs = (o.cooldownHours ?? 24) * 3_600_000;
  const cooled = !state.lastTriggerAt || now.getTime() - Date.parse(state.lastTriggerAt) >= cooldownMs;
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const what = [...report.dataset.driftedFeatures, ...(report.dataset.predictionDrift ? ['predictions'] : []), ...(qualityAlarm ? ['model quality'] : [])].join(', ') || 'earlier runs';
  const trigger = confirmed && cooled ? { id: `drift-${model}-${stamp}`, reason: `drift confirmed in ${alerts.filter(Boolean).length} of the last ${alerts.length} runs: ${what}` } : null;

  const reportKey = `${DataPrefixes.reports}${model}/${stamp}.json`;
  const htmlKey = `${DataPrefixes.reports}${model}/${stamp}.html`;
  const window_ = `${keys.length} capture object(s) after ${state.watermark || 'the start'}`;
  const triggered = trigger ? `retraining run ${trigger.id}` : confirmed ? 'nothing: retraining was triggered less than the cooldown ago' : null;
  await deps.data.write(reportKey, JSON.stringify({ model, version, createdAt: now.toISOString(), window: window_, rows: window.rows, labelledRows: decoder.labelled, skipped: decoder.skipped, alert, confirmed, trigger, ...report }, null, 2));
  await deps.data.write(htmlKey, renderReportHtml(report, { model, version, createdAt: now.toISOString(), window: window_, triggered, skipped: decoder.skipped }));
  // Keys older than the late-arrival horizon move behind the watermark; newer ones are remembered.
  const horizon = captureKey(model, version, new Date(now.getTime() - (o.lateArrivalSeconds ?? 600) * 1000), '');
  const read = [...state.recent, ...keys];
  const behind = read.filter((key) => key <= horizon);
  const next: MonitorState = {
    version,
    watermark: behind.length ? behind.reduce((a, b) => (a > b ? a : b)) : state.watermark,
    recent: read.filter((key) => key > horizon),
    alerts: trigger ? [] : alerts,
    lastTriggerAt: trigger ? now.toISOString() : state.lastTriggerAt,
  };
  await deps.data.write(stateKey(model), JSON.stringify(next, null, 2));
  return { status: 'reported', model, version, rows: window.rows, skipped: decoder.skipped, report, reportKey, htmlKey, alert, qualityAlarm, confirmed, trigger };
}

/**
 * Late ground truth for captured predictions: JSONL files under labels/<model>/ground-truth/,
 * one `{"requestId": "…", "row": 0, "label": "yes"}` per line (row defaults to 0); joined to
 * capture by request id and row. Unreadable lines are ignored.
 */
async function readGroundTruth(data: BlobStore, model: string): Promise<Map<string, string | number>> {
  const labels = new Map<string, string | number>();
  for (const key of await data.list(`${DataPrefixes.labels}${model}/ground-truth/`)) {
    for (const line of decode(await data.read(key)).split('\n')) {
      try {
        const entry = JSON.parse(line) as { requestId?: unknown; row?: unknown; label?: unknown };
        if (typeof entry.requestId === 'string' && (typeof entry.label === 'string' || typeof entry.label === 'number')) {
          labels.set(`${entry.requestId}#${typeof entry.row === 'number' ? entry.row : 0}`, entry.label);
        }
      } catch {
        // A partial or foreign line: labels are best effort.
      }
    }
  }
  return labels;
}

async function readState(data: BlobStore, model: string): Promise<MonitorState | null> {
  try {
    return MonitorStateSchema.parse(JSON.parse(decode(await data.read(stateKey(model)))));
  } catch (error) {
    if (error instanceof BlobNotFoundError) return null;
    throw error;
  }
}

function failNoBaseline(model: string, version: string): never {
  throw new Error(`${model} ${version} has no ${PackageFiles.baseline}; drift cannot be measured without one (mlops baseline)`);
}
