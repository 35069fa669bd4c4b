import { z } from 'zod';

/** File name of the quantization report inside a model package. */
export const QUANTIZATION_REPORT_FILE = 'quantization.json';

const QualitySchema = z.object({
  /** Accuracy for classifiers, R² for regression. */
  accuracy: z.number(),
  /** Macro-F1 (classifiers only). */
  macroF1: z.number().optional(),
});

const CheckSchema = z.object({
  name: z.enum(['quantized', 'agreement', 'accuracy', 'speedup']),
  passed: z.boolean(),
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  detail: z.string(),
});

/** The report `mlops quantize` stores in a package as quantization.json. */
export const QuantizationReportSchema = z.object({
  schemaVersion: z.literal(1),
  createdAt: z.iso.datetime(),
  mode: z.enum(['dynamic', 'static']),
  /** The int8 model's file in the package; null when no layer could be quantized. */
  file: z.string().nullable(),
  calibration: z
    .object({ source: z.string(), rows: z.number().int(), method: z.enum(['minmax', 'percentile']), percentile: z.number().optional() })
    .nullable(),
  layers: z.array(
    z.object({
      name: z.string(),
      pattern: z.string(),
      shape: z.tuple([z.number().int(), z.number().int()]),
      quantized: z.boolean(),
      reason: z.string().optional(),
      weightError: z.number(),
    }),
  ),
  /** Other nodes that stay float, by operator and reason. */
  floatOps: z.array(z.object({ op: z.string(), domain: z.string(), count: z.number().int(), reason: z.string() })),
  size: z.object({ fp32Bytes: z.number().int(), int8Bytes: z.number().int().nullable(), ratio: z.number().nullable() }),
  /** Median latency per batch size, both models measured side by side in one run. */
  latency: z.array(z.object({ batch: z.number().int(), fp32Ms: z.number(), int8Ms: z.number(), speedup: z.number() })),
  evaluation: z
    .object({
      source: z.string(),
      rows: z.number().int(),
      labelled: z.boolean(),
      agreement: z.number(),
      maxAbsProbabilityDiff: z.number(),
      fp32: QualitySchema.nullable(),
      int8: QualitySchema.nullable(),
      accuracyDropPoints: z.number().nullable(),
      macroF1DropPoints: z.number().nullable(),
    })
    .nullable(),
  fp16: z.object({ file: z.string(), bytes: z.number().int(), agreement: z.number(), maxAbsProbabilityDiff: z.number() }).nullable(),
  gate: z.object({
    passed: z.boolean(),
    thresholds: z.object({ minAgreement: z.number(), maxAccuracyDropPoints: z.number(), minSpeedupAt32: z.number() }),
    checks: z.array(CheckSchema),
  }),
});

export type QuantizationReport = z.infer<typeof QuantizationReportSchema>;
