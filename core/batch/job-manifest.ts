import { z } from 'zod';

/** The record of one batch scoring run, written next to its outputs; the counts always reconcile. */
export const BatchJobManifestSchema = z
  .object({
    status: z.enum(['succeeded', 'failed']),
    input: z.object({ location: z.string(), sha256: z.string().optional(), etag: z.string().optional(), bytes: z.number().int().optional() }),
    model: z.object({ name: z.string(), version: z.string(), file: z.string() }),
    outputs: z.object({ predictions: z.string(), errors: z.string() }),
    rowsIn: z.number().int().nonnegative(),
    scored: z.number().int().nonnegative(),
    rejected: z.number().int().nonnegative(),
    /** Parts the input was scored in, when it was split (core/batch/fan-out.ts). */
    parts: z.number().int().positive().optional(),
    /** Why the whole file failed (status "failed"); no row is scored then. */
    error: z.string().optional(),
    /** Rows read before a file failed part-way (a truncated gzip, a corrupt Parquet page); none of them is in the outputs. */
    rowsBeforeError: z.number().int().positive().optional(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    durationMs: z.number().nonnegative(),
  })
  .refine((m) => m.rowsIn === m.scored + m.rejected, { message: 'rowsIn must equal scored + rejected' });

export type BatchJobManifest = z.infer<typeof BatchJobManifestSchema>;
