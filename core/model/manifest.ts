import { z } from 'zod';
import { ModelNameSchema } from './model-name';

/** Current manifest format; bumped only on incompatible changes. */
export const MANIFEST_SCHEMA_VERSION = 1;

/** File names inside a model package. */
export const PackageFiles = {
  manifest: 'manifest.json',
  model: 'model.onnx',
  int8Model: 'model.int8.onnx',
  baseline: 'baseline.json',
} as const;

const MiB = 1024 ** 2;

/** Largest sizes of package files, checked from stat (a folder) or Content-Length (S3) before a file is read. */
export interface PackageLimits {
  /** An ONNX model (`*.onnx`): protobuf cannot serialize a message over 2 GiB, so no single-file model is larger. @default 2 GiB */
  readonly modelBytes: number;
  /** Any other file: the manifest, baseline and reports are JSON parsed whole in memory; a wide model's baseline is a few MB. @default 64 MiB */
  readonly otherBytes: number;
}

export const DEFAULT_PACKAGE_LIMITS: PackageLimits = { modelBytes: 2048 * MiB, otherBytes: 64 * MiB };

/** The largest size a package file of this name may have. */
export function maxFileBytes(name: string, limits: PackageLimits = DEFAULT_PACKAGE_LIMITS): number {
  return name.endsWith('.onnx') ? limits.modelBytes : limits.otherBytes;
}

const semver = z
  .string()
  .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be a semantic version such as 1.0.0');

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256');

const featureName = z.string().min(1).max(128);

/** Longest package file name: NAME_MAX of common file systems. */
const MAX_FILE_NAME_LENGTH = 255;

/**
 * Why a name is not a plain file name inside a package, or null when it is one. A package is
 * one flat folder (or S3 prefix): a name with a separator, a `.`/`..` segment, a drive letter or
 * a control character would let a manifest point readers at files outside it, or break the
 * one-line errors that quote it. The manifest schema and every package reader use this check.
 */
export function fileNameProblem(name: string): string | null {
  if (name === '') return 'is empty';
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator; a package holds plain file names';
  if (name === '.' || name.includes('..')) return 'is "." or contains ".."';
  if (/^[A-Za-z]:/.test(name)) return 'is an absolute (drive) path';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character (NUL, newline, …)';
  if (name.length > MAX_FILE_NAME_LENGTH) return `is longer than ${MAX_FILE_NAME_LENGTH} characters`;
  return null;
}

/** A value quoted for an error message: JSON-escaped (NUL and newlines stay visible, the message stays one line) and truncated. */
export function quoteValue(value: string, max = 60): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

/** The issue with a package file name, quoting it, or null when it is a plain name. */
function fileNameIssue(name: string): string | null {
  const problem = fileNameProblem(name);
  return problem && `${quoteValue(name)} ${problem}`;
}

/** A file name inside the package; the issue names the bad value (see fileNameProblem). */
const packageFileName = z.string().superRefine((name, ctx) => {
  const message = fileNameIssue(name);
  if (message) ctx.addIssue({ code: 'custom', message });
});

export const NumericFeatureSchema = z
  .object({
    name: featureName,
    type: z.literal('numeric'),
    /** Smallest accepted value; requests below it are rejected. */
    min: z.number().optional(),
    /** Largest accepted value; requests above it are rejected. */
    max: z.number().optional(),
    /** Whether a missing value is accepted (the model imputes it). */
    nullable: z.boolean().default(false),
  })
  .refine((f) => f.min === undefined || f.max === undefined || f.min <= f.max, {
    message: 'min must not exceed max',
  });

export const CategoricalFeatureSchema = z.object({
  name: featureName,
  type: z.literal('categorical'),
  /** Accepted levels; a level is fed to the model as its index in this list. */
  levels: z.array(z.string()).min(1),
  nullable: z.boolean().default(false),
});

export const FeatureSchema = z.discriminatedUnion('type', [NumericFeatureSchema, CategoricalFeatureSchema]);

export const TaskSchema = z.enum(['binary', 'multiclass', 'regression']);

export const FileEntrySchema = z.object({ sha256, bytes: z.number().int().nonnegative() });

/** Summary of the package's int8 model; the full report is the file named by `report`. */
export const QuantizationSummarySchema = z.object({
  /** The int8 model file, or null when no layer could be quantized. */
  file: packageFileName.nullable(),
  mode: z.enum(['dynamic', 'static']),
  /** Whether the int8 model passed its gate; only then may it serve. */
  servable: z.boolean(),
  /** The package file holding the full quantization report. */
  report: packageFileName,
  /** Failed gate checks, one line each; empty when servable. */
  failures: z.array(z.string()).default([]),
});

export const ManifestSchema = z
  .object({
    schemaVersion: z.literal(MANIFEST_SCHEMA_VERSION),
    name: ModelNameSchema,
    version: semver,
    task: TaskSchema,
    description: z.string().optional(),
    input: z.object({
      /** Name of the model's single 2-D float input tensor [batch, features]. */
      tensor: z.string().min(1),
      /** Features in the column order of the input tensor. */
      features: z.array(FeatureSchema).min(1),
    }),
    output: z.object({
      /** Output tensor holding class scores [batch, classes] (or [batch, 1] / [batch] for regression and sigmoid). */
      tensor: z.string().min(1),
      /** What the scores are: probabilities, logits (softmax is applied), or a regression value. */
      kind: z.enum(['probabilities', 'logits', 'value']),
      /** Class labels in score-column order (classification only). */
      classes: z.array(z.string().min(1)).optional(),
    }),
    /** Column holding the ground truth in training and evaluation data. */
    labelColumn: z.string().optional(),
    metrics: z.record(z.string(), z.number()).default({}),
    trainingData: z
      .object({ fingerprint: sha256, rows: z.number().int().nonnegative(), source: z.string().optional() })
      .optional(),
    parentVersion: semver.nullable().default(null),
    createdAt: z.iso.datetime(),
    /** How the model was made: trainer settings, or the tool that exported an imported model. */
    provenance: z.record(z.string(), z.unknown()).default({}),
    /** Every file of the package but the manifest, by plain file name (no folders, see fileNameProblem). */
    files: z.record(z.string(), FileEntrySchema).superRefine((files, ctx) => {
      // Checked here rather than as the record's key schema: zod would put the raw key in the
      // issue path, unquoted and untruncated; this way the path is `files` and the value is quoted.
      for (const message of Object.keys(files).map(fileNameIssue)) if (message) ctx.addIssue({ code: 'custom', message });
    }),
    quantization: QuantizationSummarySchema.optional(),
  })
  .superRefine((m, ctx) => {
    const names = new Set<string>();
    m.input.features.forEach((f, i) => {
      if (names.has(f.name)) {
        ctx.addIssue({ code: 'custom', path: ['input', 'features', i, 'name'], message: `duplicate feature "${f.name}"` });
      }
      names.add(f.name);
    });
    if (!(PackageFiles.model in m.files)) {
      ctx.addIssue({ code: 'custom', path: ['files'], message: `must list ${PackageFiles.model}` });
    }
    const q = m.quantization;
    for (const file of q ? [q.file, q.report] : []) {
      if (file !== null && !(file in m.files)) ctx.addIssue({ code: 'custom', path: ['quantization'], message: `names ${file}, which is not in files` });
    }
    if (q?.servable && q.file === null) ctx.addIssue({ code: 'custom', path: ['quantization', 'servable'], message: 'cannot be true without an int8 file' });
    const classes = m.output.classes ?? [];
    if (m.task === 'regression') {
      if (m.output.kind !== 'value') {
        ctx.addIssue({ code: 'custom', path: ['output', 'kind'], message: 'a regression model outputs "value"' });
      }
    } else {
      if (m.output.kind === 'value') {
        ctx.addIssue({ code: 'custom', path: ['output', 'kind'], message: 'a classifier outputs "probabilities" or "logits"' });
      }
      const expected = m.task === 'binary' ? 'exactly 2' : 'at least 3';
      if (m.task === 'binary' ? classes.length !== 2 : classes.length < 3) {
        ctx.addIssue({ code: 'custom', path: ['output', 'classes'], message: `a ${m.task} model needs ${expected} classes` });
      }
      if (new Set(classes).size !== classes.length) {
        ctx.addIssue({ code: 'custom', path: ['output', 'classes'], message: 'class labels must be unique' });
      }
    }
  });

export type Manifest = z.infer<typeof ManifestSchema>;
export type ManifestInput = z.input<typeof ManifestSchema>;
export type Feature = z.infer<typeof FeatureSchema>;
export type Task = z.infer<typeof TaskSchema>;
export type QuantizationSummary = z.infer<typeof QuantizationSummarySchema>;

/** Raised when a package is unreadable, corrupt or inconsistent; the message names the file. */
export class InvalidPackageError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'InvalidPackageError';
  }
}

/** Renders zod issues as `path: message` pairs, one per issue, for error messages. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

/** Validates a parsed manifest.json, throwing an InvalidPackageError that lists every problem. */
export function parseManifest(value: unknown): Manifest {
  const result = ManifestSchema.safeParse(value);
  if (!result.success) throw new InvalidPackageError(PackageFiles.manifest, formatIssues(result.error));
  return result.data;
}

/** Class labels of a classifier manifest (empty for regression). */
export function classesOf(manifest: Manifest): readonly string[] {
  return manifest.output.classes ?? [];
}

/** Increments the minor version: 1.4.2 → 1.5.0. */
export function nextMinorVersion(version: string): string {
  const [major, minor] = version.split(/[.-]/).map(Number);
  return `${major}.${(minor ?? 0) + 1}.0`;
}
