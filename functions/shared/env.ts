import { z } from 'zod';

/** A model name as the config allows it (a lowercase DNS label). */
export const ModelNameSchema = z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a model name');

/** The package version each GPU model serves, as the constructs set it from gpu.modelVersions: `{"<model>": "<version>"}`. */
export const ModelVersionsSchema = z.record(ModelNameSchema, z.string().min(1));

/** An environment variable holding JSON that must match `schema`; a variable that is not JSON says so. */
export function jsonVariable<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `not JSON (${(error as Error).message})` });
        return z.NEVER;
      }
    })
    .pipe(schema);
}
