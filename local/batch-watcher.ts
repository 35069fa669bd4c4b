import { type LocalFanOut, runBatchInput } from '../core/batch/fan-out';
import type { BatchJobDependencies, BatchJobOutcome } from '../core/batch/job';
import { DataPrefixes } from '../core/layout';
import type { BlobStore } from '../core/model/blob-store';
import type { EmbeddedS3 } from './embedded-s3';

/**
 * The local twin of S3 → SQS → batch Lambda (→ Step Functions for large files): new objects
 * under batch/input/ of the data bucket become jobs, run one at a time. A file that the queue's
 * fan-out decision splits (core/batch/fan-out-decision.ts) is planned, scored in parts (several
 * at once) and merged by the same functions the state machine's Lambdas run; any other is scored
 * in one run, as the queue's Lambda does. On start, and then on a timer, it also picks up inputs
 * that have no manifest yet: those that arrived while the platform was down, those a crash left
 * half-scored, and those skipped while another process held their lease (idempotency makes that safe).
 */
export class BatchWatcher {
  private queue: string[] = [];
  /** Keys queued or being scored, so that a rescan does not queue them twice. */
  private readonly pending = new Set<string>();
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | null = null;
  readonly outcomes: { key: string; outcome: BatchJobOutcome | { status: 'error'; reason: string } }[] = [];

  constructor(
    private readonly deps: BatchJobDependencies,
    private readonly log: (line: string) => void,
    /** Splitting of large files. @default - every file is scored in one run */
    private readonly fanOut?: LocalFanOut,
  ) {}

  /** Subscribes to the embedded S3's notifications for one bucket. */
  watch(s3: EmbeddedS3, bucket: string): void {
    s3.onEvent((record) => {
      if (record.s3.bucket.name !== bucket || !record.eventName.startsWith('ObjectCreated')) return;
      const key = decodeURIComponent(record.s3.object.key.replace(/\+/g, ' '));
      if (key.startsWith(DataPrefixes.batchInput)) this.enqueue(key);
    });
  }

  /** Queues every input that has no manifest yet and is not queued already. */
  async catchUp(data: BlobStore): Promise<void> {
    const keys = await data.list(DataPrefixes.batchInput);
    const manifests = new Set(await data.list(DataPrefixes.batchManifests));
    for (const key of keys) {
      const relative = key.slice(DataPrefixes.batchInput.length);
      if (!manifests.has(`${DataPrefixes.batchManifests}${relative}.manifest.json`) && !this.pending.has(key)) this.enqueue(key);
    }
  }

  /** Runs {@link catchUp} every `intervalMs` until {@link stop}; a failed look is logged and tried again at the next tick. */
  rescanEvery(data: BlobStore, intervalMs: number): void {
    this.timer = setInterval(() => {
      this.scanning ??= this.catchUp(data)
        .catch((error: Error) => this.log(`batch: looking for unscored inputs failed: ${error.message}`))
        .finally(() => (this.scanning = null));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the rescans and waits for the queued jobs. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.scanning;
    await this.idle();
  }

  enqueue(key: string): void {
    this.pending.add(key);
    this.queue.push(key);
    this.running ??= this.drain();
  }

  /** Resolves when every queued job has finished. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const key = this.queue.shift()!;
      try {
        const outcome = await runBatchInput(key, this.deps, this.fanOut);
        this.outcomes.push({ key, outcome });
        const m = outcome.manifest;
        this.log(outcome.status === 'skipped' ? `batch: skipped ${key}: ${outcome.reason}` : `batch: ${outcome.status} ${key}: ${m?.rowsIn} rows, ${m?.scored} scored, ${m?.rejected} rejected${m?.parts ? ` in ${m.parts} parts` : ''}${m?.error ? ` (${m.error})` : ''}`);
      } catch (error) {
        this.outcomes.push({ key, outcome: { status: 'error', reason: (error as Error).message } });
        this.log(`batch: error on ${key}: ${(error as Error).message}`);
      } finally {
        // An event for the key while it was scored queued it again: it stays pending until that run too.
        if (!this.queue.includes(key)) this.pending.delete(key);
      }
    }
    this.running = null;
  }
}
