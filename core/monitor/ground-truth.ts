import { DataPrefixes } from '../layout';
import type { BlobStore } from '../model/blob-store';
import type { Manifest } from '../model/manifest';
import { predictionKey } from './prediction-index';

/**
 * Late ground truth for captured predictions: JSONL objects under labels/<model>/ground-truth/,
 * one `{"requestId": "…", "row": 0, "label": "yes"}` per line (row defaults to 0), joined to the
 * prediction by request id and row. Objects are taken as immutable, like capture: each is read once.
 */

/** The label objects of a model not read before, and the record of read keys to keep once they are. */
export async function labelObjects(data: BlobStore, model: string, read: readonly string[]): Promise<{ fresh: string[]; record: string[] }> {
  const listed = await data.list(`${DataPrefixes.labels}${model}/ground-truth/`);
  const seen = new Set(read);
  // Only keys still listed are remembered: the record is no longer than the listing each run makes anyway.
  return { fresh: listed.filter((key) => !seen.has(key)), record: listed };
}

/**
 * The labels of some objects by prediction key, as the quality tests take them: a class index
 * (classification) or the true value (regression). Unreadable lines, missing labels and classes
 * the model does not know are ignored: labels are best effort.
 */
export async function readLabels(data: BlobStore, keys: readonly string[], manifest: Manifest): Promise<Map<string, number>> {
  const classes = manifest.output.classes ?? [];
  const labels = new Map<string, number>();
  for (const key of keys) {
    for (const line of new TextDecoder().decode(await data.read(key)).split('\n')) {
      let entry: { requestId?: unknown; row?: unknown; label?: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (typeof entry?.requestId !== 'string' || (typeof entry.label !== 'string' && typeof entry.label !== 'number')) continue;
      const value = classes.length ? classes.indexOf(String(entry.label)) : Number(entry.label);
      if (classes.length ? value >= 0 : Number.isFinite(value)) labels.set(predictionKey(entry.requestId, typeof entry.row === 'number' ? entry.row : 0), value);
    }
  }
  return labels;
}
