import { z } from 'zod';
import { type Baseline, BaselineSchema } from '../drift/baseline';
import { DRIFT_DEFAULTS, detectDrift, type DriftOptions } from '../drift/detect';
import type { QualityOptions } from '../drift/quality';
import type { DriftReport } from '../drift/report';
import { verdictOf } from '../drift/verdict';
import { DriftWindow } from '../drift/window';
import { captureKey, captureKeyTime } from '../capture/capture';
import { DataPrefixes } from '../layout';
import { BlobNotFoundError, type BlobStore } from '../model/blob-store';
import { PackageFiles } from '../model/manifest';
import { packageJson } from '../model/model-package';
import type { ModelSource } from '../model/registry';
import { type CaptureChunk, CaptureDecoder, type SkipReason } from './capture-reader';
import { labelObjects } from './ground-truth';
import { INDEX_PART_ROWS, PredictionIndexWriter } from './prediction-index';
import { joinLateLabels, type RealizedQuality } from './realized-quality';
import { renderReportHtml } from './report-html';
import { type HistoryRun, historyRun } from './report-history';

/** Days a captured prediction waits for its label: later labels are not joined, and its index entry may expire. */
export const DEFAULT_LABEL_WINDOW_DAYS = 30;

/** Hours a window under minRows waits at most before it is assessed anyway (when it reaches the drift floor). */
export const DEFAULT_MAX_WAIT_HOURS = 24;

export interface MonitorOptions {
  readonly drift?: DriftOptions;
  /** Fewest captured rows before a window is assessed; smaller windows wait for more traffic (new ground truth does not wait). @default 200 */
  readonly minRows?: number;
  /**
   * Hours a smaller window waits at most: once its oldest capture object is this old, a window of at
   * least the drift floor (DriftOptions.minSampleSize, 30) is assessed anyway, so that a model with
   * little traffic is still judged every day rather than whenever minRows accumulate. @default 24
   */
  readonly maxWaitHours?: number;
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
  /**
   * How long after its prediction a label is still joined: predictions captured longer ago are
   * not read from the prediction index (a lifecycle rule on it should expire them). @default 30
   */
  readonly labelWindowDays?: number;
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
  /** Ground-truth objects already joined, while they exist; labels are per model, so this outlives a promotion. */
  labelKeys: z.array(z.string()).default([]),
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
      /** The quality part of the alarm: the late labels' metrics where they gave a verdict, else the CBPE estimate. */
      readonly qualityAlarm: boolean;
      /** What alarmed in this run, one line each: "data drift in age", "model quality degraded (accuracy 0.710 vs 0.910)". */
      readonly alarms: readonly string[];
      /** Enough recent runs alerted to call it drift. */
      readonly confirmed: boolean;
      /** Set when this run starts retraining (confirmed drift, outside the cooldown); the id de-duplicates. */
      readonly trigger: { readonly id: string; readonly reason: string } | null;
    };

const DAY_MS = 86_400_000;

/** Whether a window under minRows has waited its longest: its oldest capture object is maxWaitHours old and it reaches the drift floor. */
function waitedLongEnough(keys: readonly string[], rows: number, now: Date, o: MonitorOptions): boolean {
  if (rows < (o.drift?.minSampleSize ?? DRIFT_DEFAULTS.minSampleSize)) return false;
  const times = keys.map(captureKeyTime).filter((t): t is Date => t !== null);
  if (times.length === 0) return false;
  const oldest = times.reduce((a, t) => Math.min(a, t.getTime()), Number.POSITIVE_INFINITY);
  return now.getTime() - oldest >= (o.maxWaitHours ?? DEFAULT_MAX_WAIT_HOURS) * 3_600_000;
}
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const stateKey = (model: string) => `${DataPrefixes.monitor}${model}/state.json`;

/**
 * One monitoring run for a model's serving version: reads the capture written since the last
 * run (a watermark plus the recently read keys, in S3, so late objects are neither lost nor
 * read twice), compares it with the package's baseline, joins the ground truth that arrived
 * since the last run with the predictions it judges (through the prediction index, whichever
 * run read them, within the label window), writes a JSON and an HTML report under
 * reports/<model>/, and decides whether drift is confirmed and retraining should start (k of
 * the last n runs, with a cooldown so one episode starts one run). Memory is bounded: capture
 * objects are read one at a time into a fixed-size window and index parts of bounded size, and
 * the join keeps only the new labels and their predictions.
 */
export async function runMonitor(deps: { models: ModelSource; data: BlobStore; now?: () => Date; options?: MonitorOptions }, model: string): Promise<MonitorOutcome> {
  const now = (deps.now ?? (() => new Date()))();
  const o = deps.options ?? {};
  const version = await deps.models.servingVersion(model);
  const pkg = await deps.models.load(model, version);
  const baseline = BaselineSchema.parse(packageJson(pkg, PackageFiles.baseline) ?? failNoBaseline(model, version));
  const previous = await readState(deps.data, model);
  // A promotion starts a new series: the old version's watermark and verdicts do not apply.
  const state: MonitorState = previous?.version === version ? previous : { version, watermark: '', recent: [], alerts: [], lastTriggerAt: previous?.lastTriggerAt ?? null, labelKeys: previous?.labelKeys ?? [] };
  const labels = await labelObjects(deps.data, model, state.labelKeys);

  const prefix = `${DataPrefixes.capture}${model}/${version}/`;
  const seen = new Set(state.recent);
  const keys = (await deps.data.list(prefix)).filter((key) => key > state.watermark && !seen.has(key));
  const minRows = o.minRows ?? 200;
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const decoder = new CaptureDecoder(pkg.manifest, 4096);
  const window = new DriftWindow(baseline);
  // A part holds at least minRows rows, so a run that waits (and reads the same capture again next time) has written none.
  const index = new PredictionIndexWriter(deps.data, model, version, stamp, pkg.manifest.task === 'regression' ? 'regression' : 'classification', now.getTime(), Math.max(INDEX_PART_ROWS, minRows));
  const add = async (chunk: CaptureChunk) => {
    window.addRows(chunk.x, chunk.rows, { values: chunk.scores, width: chunk.width });
    await index.add(chunk);
  };
  for (const key of keys) {
    for (const chunk of decoder.addText(decode(await deps.data.read(key)))) await add(chunk);
  }
  const last = decoder.flush();
  if (last) await add(last);
  if (window.rows < minRows && labels.fresh.length === 0 && !waitedLongEnough(keys, window.rows, now, o)) {
    const floor = o.drift?.minSampleSize ?? DRIFT_DEFAULTS.minSampleSize;
    const reason = `${window.rows} captured rows since the last report; waiting for ${minRows}, or for ${o.maxWaitHours ?? DEFAULT_MAX_WAIT_HOURS} h after the oldest with at least ${floor}`;
    return { status: 'waiting', model, version, rows: window.rows, reason };
  }
  // This run's rows are indexed before the join, so new labels find them as well as earlier runs' rows.
  await index.flush();
  const realized = await joinLateLabels(deps.data, pkg.manifest, labels.fresh, now.getTime() - (o.labelWindowDays ?? DEFAULT_LABEL_WINDOW_DAYS) * DAY_MS);

  const report = withRealizedQuality(detectDrift(baseline, window, o.drift), baseline, realized);
  // The report's one verdict: measured quality decides where the late labels gave a verdict, the estimate (CBPE) otherwise.
  const verdict = verdictOf(report);
  const qualityAlarm = verdict.reasons.some((r) => r.kind === 'quality');
  const alert = report.dataset.alert || qualityAlarm;
  const alerts = [...state.alerts, alert].slice(-(o.ofLastRuns ?? 3));
  const confirmed = alerts.filter(Boolean).length >= (o.confirmRuns ?? 2);
  const cooldownMs = (o.cooldownHours ?? 24) * 3_600_000;
  const cooled = !state.lastTriggerAt || now.getTime() - Date.parse(state.lastTriggerAt) >= cooldownMs;
  const alarms = verdict.reasons.map((r) => r.text);
  const trigger = confirmed && cooled ? { id: `drift-${model}-${stamp}`, reason: `drift confirmed in ${alerts.filter(Boolean).length} of the last ${alerts.length} runs: ${alarms.join('; ') || 'earlier runs'}` } : null;

  const reportKey = `${DataPrefixes.reports}${model}/${stamp}.json`;
  const htmlKey = `${DataPrefixes.reports}${model}/${stamp}.html`;
  const window_ = `${keys.length} capture object(s) after ${state.watermark || 'the start'}, ${labels.fresh.length} new ground-truth object(s)`;
  const triggered = trigger ? `retraining run ${trigger.id}` : confirmed ? 'nothing: retraining was triggered less than the cooldown ago' : null;
  await deps.data.write(reportKey, JSON.stringify({ model, version, createdAt: now.toISOString(), window: window_, rows: window.rows, labelledRows: realized.rows, skipped: decoder.skipped, alert, confirmed, trigger, ...report }, null, 2));
  const history = await recentRuns(deps.data, model, reportKey);
  await deps.data.write(htmlKey, renderReportHtml(report, { model, version, createdAt: now.toISOString(), window: window_, triggered, skipped: decoder.skipped, history }));
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
    labelKeys: labels.record,
  };
  await deps.data.write(stateKey(model), JSON.stringify(next, null, 2));
  return { status: 'reported', model, version, rows: window.rows, skipped: decoder.skipped, report, reportKey, htmlKey, alert, qualityAlarm, alarms, confirmed, trigger };
}

/**
 * The report with the quality of this run's late labels in place of the window's (which holds
 * none: labels arrive after their capture was read), tested under the quality settings
 * detectDrift resolved for the report.
 */
function withRealizedQuality(report: DriftReport, baseline: Baseline, realized: RealizedQuality): DriftReport {
  if (!report.quality) return report;
  return {
    ...report,
    sampleSizes: { ...report.sampleSizes, labeledRows: realized.rows },
    quality: { ...report.quality, ...realized.assess(baseline, report.settings.quality as QualityOptions) },
  };
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

/** Runs shown in a report's drift-over-time charts: enough to see a trend, few enough to read quickly. */
const HISTORY_RUNS = 20;

/** The model's last reports before `current`, oldest first, as the report's history (a report that does not parse is left out). */
async function recentRuns(data: BlobStore, model: string, current: string): Promise<HistoryRun[]> {
  const keys = (await data.list(`${DataPrefixes.reports}${model}/`)).filter((key) => key.endsWith('.json') && key !== current).slice(-HISTORY_RUNS);
  const runs: HistoryRun[] = [];
  for (const key of keys) {
    try {
      const json = JSON.parse(decode(await data.read(key))) as Pick<DriftReport, 'features' | 'dataset'> & { createdAt: string };
      runs.push(historyRun(json, json.createdAt));
    } catch {
      // A report another version wrote, or one cut short: the chart does without it.
    }
  }
  return runs;
}
