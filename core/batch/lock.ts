import { z } from 'zod';

/** What a lease needs of object storage: a write that fails when the key exists (S3's `If-None-Match: *`). */
export interface ConditionalStore {
  readText(key: string): Promise<string | null>;
  /** Writes `text` under `key` unless the key exists; true when this call created it. */
  createIfAbsent(key: string, text: string): Promise<boolean>;
}

/** The process holding a lease, where it can be told whether it still runs (a local process; not a Lambda). */
export const LeaseHolderSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string(),
  /** When the process started, as the OS tells it (Linux: /proc/<pid>/stat field 22): a pid reused by another process has another. */
  startTime: z.string().optional(),
});
export type LeaseHolder = z.infer<typeof LeaseHolderSchema>;

const LeaseSchema = z.object({ owner: z.string(), holder: LeaseHolderSchema.optional(), acquiredAt: z.iso.datetime(), expiresAt: z.iso.datetime() });

/** A held lease; release it when done, or it lapses at `expiresAt`. */
export interface JobLease {
  readonly generation: number;
  readonly expiresAt: Date;
  release(): Promise<void>;
}

/** Another holder's lease, still in force. */
export interface LeaseBusy {
  readonly busy: true;
  readonly owner: string;
  readonly expiresAt: Date;
}

export interface LeaseOptions {
  /** Who claims, for the record (a Lambda request id, a process id). */
  readonly owner: string;
  /** How long the lease lasts unless released: longer than one holder may run, so a live holder never loses it. */
  readonly leaseMs: number;
  readonly now?: () => number;
  /** This process, recorded in the lease, when others can check it is alive (see `holderIsGone`). @default - not recorded */
  readonly holder?: LeaseHolder;
  /**
   * Whether a lease's holder is certainly gone (its process ended): then its lease is taken over
   * at once instead of blocking the job until it expires. Only `true` takes over; unknown is false.
   * @default - never: a lease lapses only when it expires (Lambda holders, whose end no one sees)
   */
  readonly holderIsGone?: (holder: LeaseHolder) => boolean;
}

/**
 * A lease on one job (an input's ETag scored by one model version) over object storage with
 * conditional writes only, so it works on S3 and on the embedded S3 alike.
 *
 * S3 has no compare-and-swap of an existing object that both support, so a lease that lapsed
 * cannot be taken over in place. Leases are generations instead: `<prefix>0`, `<prefix>1`, …;
 * each generation is created once, by exactly one claimant (`If-None-Match: *`). A claimant walks
 * the generations: one that was released (`<prefix>N.released` exists), has expired, or whose
 * holder is known to be gone (a local process that crashed) is passed; the first one missing is
 * claimed; one in force means the job is busy. So two deliveries of the same event at once score
 * once, and a holder that crashed blocks retries only until its lease expires, or not at all when
 * its end can be seen. Lease objects are never deleted by the job (deleting one would reopen its generation
 * to a second claimant); they live under batch/staging/, whose lifecycle rule expires them.
 */
export async function claimLease(store: ConditionalStore, prefix: string, options: LeaseOptions): Promise<JobLease | LeaseBusy> {
  const now = options.now ?? Date.now;
  // A claim lost to a write still in flight (S3 answers 409 then) re-reads the same generation.
  for (let generation = 0, contested = 0; ; ) {
    const key = `${prefix}${generation}`;
    const existing = await store.readText(key);
    if (existing === null) {
      const acquiredAt = now();
      const expiresAt = new Date(acquiredAt + options.leaseMs);
      const lease = { owner: options.owner, holder: options.holder, acquiredAt: new Date(acquiredAt).toISOString(), expiresAt: expiresAt.toISOString() };
      if (await store.createIfAbsent(key, `${JSON.stringify(lease)}\n`)) {
        return {
          generation,
          expiresAt,
          release: async () => {
            await store.createIfAbsent(`${key}.released`, `${JSON.stringify({ owner: options.owner, releasedAt: new Date(now()).toISOString() })}\n`);
          },
        };
      }
      if (++contested > 5) throw new Error(`${key}: could not claim the lease after ${contested} contested attempts`);
      continue;
    }
    const parsed = LeaseSchema.safeParse(parseJson(existing));
    // An unreadable lease was written by no version of this code; it cannot be in force.
    const expiresAt = parsed.success ? new Date(parsed.data.expiresAt) : new Date(0);
    const holder = parsed.success ? parsed.data.holder : undefined;
    const gone = holder !== undefined && options.holderIsGone?.(holder) === true;
    if (expiresAt.getTime() > now() && !gone && (await store.readText(`${key}.released`)) === null) {
      return { busy: true, owner: parsed.success ? parsed.data.owner : 'unknown', expiresAt };
    }
    generation++;
    contested = 0;
  }
}

/** Narrows a claim's result to a held lease. */
export function isHeld(claim: JobLease | LeaseBusy): claim is JobLease {
  return !('busy' in claim);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
