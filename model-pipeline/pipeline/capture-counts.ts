import { type CaptureRecord, captureHourPrefix } from '../../core/capture/capture';
import type { BlobStore } from '../../core/model/blob-store';

/**
 * Predicted classes of a model version's captured requests between two instants, counted per
 * class: the canary check compares the canary's prediction mix with the serving version's.
 * Reads at most `maxRecords` records (a sample is enough for shares, and a check must stay
 * short). Undefined for a regression model or a window without capture.
 */
export async function captureClassCounts(data: BlobStore, model: string, version: string, since: Date, until: Date, maxRecords = 20_000): Promise<Record<string, number> | undefined> {
  const counts: Record<string, number> = {};
  let seen = 0;
  const from = since.toISOString();
  const to = until.toISOString();
  // Capture objects are filed by the UTC hour of their first record: list each hour of the window.
  for (let hour = Math.floor(since.getTime() / 3_600_000) * 3_600_000; hour <= until.getTime() && seen < maxRecords; hour += 3_600_000) {
    for (const key of await data.list(captureHourPrefix(model, version, new Date(hour)))) {
      if (seen >= maxRecords) break;
      for (const line of new TextDecoder().decode(await data.read(key)).split('\n')) {
        if (!line.trim()) continue;
        const record = JSON.parse(line) as CaptureRecord;
        const label = record.prediction.label;
        if (label === undefined || record.ts < from || record.ts > to) continue;
        counts[label] = (counts[label] ?? 0) + 1;
        seen++;
      }
    }
  }
  return seen ? counts : undefined;
}
