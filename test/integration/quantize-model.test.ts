import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { classificationReport } from '../../core/model/metrics';
import { type Matrix, OnnxSession } from '../../core/model/onnx-session';
import { writeGeneratedCsv } from '../../model-pipeline/data/generate';
import { Random } from '../../core/random';
import { readCsvTable } from '../../model-pipeline/data/table';
import { ExportedNames, exportTrainedModel } from '../../model-pipeline/onnx/export-trained';
import { GraphBuilder } from '../../model-pipeline/onnx/graph-builder';
import { decodeModel, ElementType } from '../../model-pipeline/onnx/proto';
import { agreement, maxAbsDifference } from '../../model-pipeline/quantize/compare';
import { convertToFloat16 } from '../../model-pipeline/quantize/fp16';
import { quantizeModel } from '../../model-pipeline/quantize/quantize-model';
import { inferSchema } from '../../model-pipeline/train/infer-schema';
import { trainModel } from '../../model-pipeline/train/trainer';
import { useTempDir } from '../helpers/tmp';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/external/${name}`, import.meta.url)));

/** Class probabilities of a model on some rows. */
async function probabilities(model: Uint8Array, input: string, output: string, rows: Matrix) {
  const session = await OnnxSession.create(model);
  try {
    const result = (await session.run(input, rows, [output]))[output]!;
    const values = Float32Array.from(result.data as ArrayLike<number>);
    return { values, width: values.length / rows.rows };
  } finally {
    await session.release();
  }
}

function opsOf(model: Uint8Array): string[] {
  return (decodeModel(model).graph?.node ?? []).map((n) => n.opType ?? '');
}

function randomRows(rows: number, cols: number, seed: number): Matrix {
  const random = new Random(seed);
  return { data: Float32Array.from({ length: rows * cols }, () => random.normal()), rows, cols };
}

/** x [batch, 8] → Gemm 8×16 → Relu → `middle` → Gemm 16×4 → Softmax → probabilities. */
function smallMlp(options: { w2?: (i: number, j: number) => number | undefined; deadUnit?: boolean; middle?: (g: GraphBuilder, h: string) => string; seed?: number } = {}): Uint8Array {
  const random = new Random(options.seed ?? 3);
  const g = new GraphBuilder();
  const x = g.input('x', ElementType.FLOAT, ['batch', 8]);
  const w1 = Array.from({ length: 8 * 16 }, (_, k) => (options.deadUnit && k % 16 === 0 ? 0 : random.normal() * 0.5));
  const b1 = Array.from({ length: 16 }, (_, j) => (options.deadUnit && j === 0 ? -1 : 0.1));
  let h = g.node('Relu', [g.node('Gemm', [x, g.floats('W1', w1, [8, 16]), g.floats('b1', b1, [16])])]);
  if (options.middle) h = options.middle(g, h);
  const w2 = Array.from({ length: 16 * 4 }, (_, k) => options.w2?.(Math.floor(k / 4), k % 4) ?? random.normal() * 0.5);
  const z = g.node('Gemm', [h, g.floats('W2', w2, [16, 4]), g.floats('b2', [0, 0.1, -0.1, 0], [4])]);
  g.node('Softmax', [z], { axis: -1 }, 'probabilities');
  g.output('probabilities', ElementType.FLOAT, ['batch', 4]);
  return g.build({ graphName: 'small', producer: 'test' });
}

describe('quantizeModel on a model trained by this project', () => {
  const tmp = useTempDir('mlops-quantize-');
  let fp32: Uint8Array;
  let holdout: Matrix;
  let labels: Float64Array;

  beforeAll(async () => {
    // Low label noise gives a confident model, as in production; a model whose top two classes often tie flips on any perturbation.
    await writeGeneratedCsv(tmp.file('multiclass.csv'), { rows: 4000, seed: 11, task: 'multiclass', noise: 0.4 });
    const table = await readCsvTable(tmp.file('multiclass.csv'));
    const schema = inferSchema(table, { label: 'segment' });
    const model = trainModel(table, schema.features, { label: 'segment', hidden: [64, 32], epochs: 20, seed: 2 });
    fp32 = exportTrainedModel(model, 'trained');
    holdout = { data: model.validation.x, rows: model.validation.rows, cols: model.features.length };
    labels = model.validation.y;
  });

  const input = ExportedNames.input;
  const output = ExportedNames.probabilities;

  it('dynamic mode replaces every Gemm by a DynamicQuantizeMatMul that ONNX Runtime runs', async () => {
    // Act
    const q = await quantizeModel(fp32, { mode: 'dynamic' });

    // Assess
    expect(q.layers.map((l) => l.quantized)).toEqual([true, true, true]);
    expect(opsOf(q.bytes!).filter((op) => op === 'DynamicQuantizeMatMul')).toHaveLength(3);
    expect(opsOf(q.bytes!)).not.toContain('Gemm');
    expect((await probabilities(q.bytes!, input, output, holdout)).values).toHaveLength(holdout.rows * 3);
  });

  it('dynamic mode agrees with the float model on ≥ 99.5% of held-out rows and keeps accuracy within 0.5 points', async () => {
    // Act
    const q = await quantizeModel(fp32, { mode: 'dynamic' });

    // Assess
    const [a, b] = [await probabilities(fp32, input, output, holdout), await probabilities(q.bytes!, input, output, holdout)];
    expect(agreement(a, b)).toBeGreaterThanOrEqual(0.995);
    const drop = classificationReport(a.values, 3, labels).accuracy - classificationReport(b.values, 3, labels).accuracy;
    expect(drop * 100).toBeLessThanOrEqual(0.5);
  });

  it('static mode emits QuantizeLinear + MatMulIntegerToFloat per layer and absorbs the Relus', async () => {
    // Act (minAgreement 0: every layer in int8, whatever it costs)
    const q = await quantizeModel(fp32, { mode: 'static', calibration: holdout, minAgreement: 0 });

    // Assess
    const ops = opsOf(q.bytes!);
    expect(ops.filter((op) => op === 'QuantizeLinear')).toHaveLength(3);
    expect(ops.filter((op) => op === 'MatMulIntegerToFloat')).toHaveLength(3);
    expect(ops).not.toContain('Relu');
    expect(q.floatOps.find((f) => f.op === 'Relu')?.reason).toMatch(/absorbed/);
  });

  it('static mode agrees with the float model on ≥ 99.5% of rows it was not calibrated on', async () => {
    // Prepare: calibrate on the first half, compare on the second.
    const half = Math.floor(holdout.rows / 2);
    const first = { data: holdout.data.subarray(0, half * holdout.cols), rows: half, cols: holdout.cols };
    const second = { data: holdout.data.subarray(half * holdout.cols), rows: holdout.rows - half, cols: holdout.cols };

    // Act
    const q = await quantizeModel(fp32, { mode: 'static', calibration: first, calibrationMethod: 'percentile' });

    // Assess
    expect(agreement(await probabilities(fp32, input, output, second), await probabilities(q.bytes!, input, output, second))).toBeGreaterThanOrEqual(0.995);
  });

  it('static mode refuses to run without calibration rows', async () => {
    await expect(quantizeModel(fp32, { mode: 'static' })).rejects.toThrow(/calibration rows/);
  });

  it('writes an int8 model under 0.35x the float size (int8 weights are a quarter of float32)', async () => {
    // Prepare: a 64 → 256 → 10 MLP, where the weights are nearly all of the file.
    const g = new GraphBuilder();
    const x = g.input('x', ElementType.FLOAT, ['batch', 64]);
    const z = g.node('Gemm', [g.node('Relu', [g.node('Gemm', [x, g.floats('W1', Array.from({ length: 64 * 256 }, (_, k) => Math.sin(k)), [64, 256]), g.floats('b1', new Array(256).fill(0), [256])])]), g.floats('W2', Array.from({ length: 256 * 10 }, (_, k) => Math.cos(k)), [256, 10]), g.floats('b2', new Array(10).fill(0), [10])]);
    g.node('Softmax', [z], { axis: -1 }, 'probabilities');
    g.output('probabilities', ElementType.FLOAT, ['batch', 10]);
    const model = g.build({ graphName: 'wide', producer: 'test' });

    // Act
    const q = await quantizeModel(model, { mode: 'dynamic' });

    // Assess
    expect(q.bytes!.byteLength / model.byteLength).toBeLessThan(0.35);
  });
});

describe('quantizeModel on models exported by other tools', () => {
  const holdout = readFixtureCsv('holdout.csv');
  const sample = readFixtureCsv('sample.csv');

  it('quantizes both MatMul + Add layers of the skl2onnx MLP and leaves the ai.onnx.ml Scaler in float', async () => {
    // Act
    const q = await quantizeModel(fixture('sklearn-mlp.onnx'), { mode: 'static', calibration: sample.rows, minAgreement: 0 });

    // Assess
    expect(q.layers.map((l) => [l.pattern, l.quantized])).toEqual([['MatMul+Add', true], ['MatMul+Add', true]]);
    expect(q.floatOps.find((f) => f.op === 'Scaler')).toMatchObject({ domain: 'ai.onnx.ml' });
  });

  it('static: the skl2onnx MLP calibrated on its training sample agrees on ≥ 99.5% of the holdout and keeps accuracy within 0.5 points', async () => {
    // Prepare
    const fp32 = fixture('sklearn-mlp.onnx');

    // Act
    const q = await quantizeModel(fp32, { mode: 'static', calibration: sample.rows });

    // Assess
    const [a, b] = [await probabilities(fp32, 'float_input', 'probabilities', holdout.rows), await probabilities(q.bytes!, 'float_input', 'probabilities', holdout.rows)];
    expect(agreement(a, b)).toBeGreaterThanOrEqual(0.995);
    const drop = classificationReport(a.values, 3, holdout.labels).accuracy - classificationReport(b.values, 3, holdout.labels).accuracy;
    expect(drop * 100).toBeLessThanOrEqual(0.5);
  });

  it('dynamic: the quantized skl2onnx MLP runs in ONNX Runtime and agrees on ≥ 98% of the holdout', async () => {
    // Prepare: with 4 inputs and 16 hidden units, every rounding counts; the package gate (99.5%) decides whether it serves.
    const fp32 = fixture('sklearn-mlp.onnx');

    // Act
    const q = await quantizeModel(fp32, { mode: 'dynamic' });

    // Assess
    const [a, b] = [await probabilities(fp32, 'float_input', 'probabilities', holdout.rows), await probabilities(q.bytes!, 'float_input', 'probabilities', holdout.rows)];
    expect(agreement(a, b)).toBeGreaterThanOrEqual(0.98);
  });

  it('returns no int8 model for the skl2onnx logistic regression and says LinearClassifier stays float', async () => {
    // Act
    const q = await quantizeModel(fixture('sklearn-logreg.onnx'), { mode: 'dynamic', calibration: holdout.rows });

    // Assess
    expect(q.bytes).toBeNull();
    expect(q.layers).toEqual([]);
    expect(q.floatOps.find((f) => f.op === 'LinearClassifier')?.reason).toMatch(/no int8 kernel/);
  });

  it('transposes torch-style Gemm weights (transB=1): the int8 model computes the same function', async () => {
    // Prepare: the same MLP written twice, W [in, out] and W [out, in] with transB=1.
    const random = new Random(5);
    const w = Array.from({ length: 8 * 4 }, () => random.normal());
    const build = (transposed: boolean) => {
      const g = new GraphBuilder();
      const x = g.input('x', ElementType.FLOAT, ['batch', 8]);
      const weights = transposed ? Array.from({ length: 32 }, (_, k) => w[(k % 8) * 4 + Math.floor(k / 8)]!) : w;
      const z = g.node('Gemm', [x, g.floats('W', weights, transposed ? [4, 8] : [8, 4]), g.floats('b', [0.1, 0, 0, -0.1], [4])], transposed ? { transB: 1 } : {});
      g.node('Softmax', [z], { axis: -1 }, 'probabilities');
      g.output('probabilities', ElementType.FLOAT, ['batch', 4]);
      return g.build({ graphName: 'torch', producer: 'test' });
    };
    const rows = randomRows(500, 8, 6);

    // Act
    const q = await quantizeModel(build(true), { mode: 'dynamic' });

    // Assess
    const reference = await probabilities(build(false), 'x', 'probabilities', rows);
    const quantized = await probabilities(q.bytes!, 'x', 'probabilities', rows);
    expect(maxAbsDifference(reference.values, quantized.values)).toBeLessThan(0.05);
    expect(agreement(reference, quantized)).toBeGreaterThanOrEqual(0.98);
  });
});

describe('layers that cannot be quantized or would lose accuracy', () => {
  it('keeps a layer float when quantizing it alone would break agreement, and says why', async () => {
    // Prepare: every column of W2 has one huge weight on a unit that is always 0, so its
    // per-column scale rounds all the useful weights of the column to 0.
    const model = smallMlp({ deadUnit: true, w2: (i) => (i === 0 ? 50 : undefined) });
    const rows = randomRows(1000, 8, 7);

    // Act
    const q = await quantizeModel(model, { mode: 'dynamic', calibration: rows });

    // Assess
    expect(q.layers.map((l) => l.quantized)).toEqual([true, false]);
    expect(q.layers[1]!.reason).toMatch(/agreement/);
    expect(agreement(await probabilities(model, 'x', 'probabilities', rows), await probabilities(q.bytes!, 'x', 'probabilities', rows))).toBeGreaterThanOrEqual(0.995);
  });

  it('runs a model with an operator it does not know, leaving that operator float and naming it', async () => {
    // Prepare
    const model = smallMlp({ middle: (g, h) => g.node('LpNormalization', [h], { axis: 1, p: 2 }) });
    const rows = randomRows(500, 8, 8);

    // Act
    const q = await quantizeModel(model, { mode: 'static', calibration: rows, minAgreement: 0 });

    // Assess
    expect(q.layers.map((l) => l.quantized)).toEqual([true, true]);
    expect(q.floatOps.find((f) => f.op === 'LpNormalization')?.reason).toMatch(/not supported by this quantizer/);
    expect(agreement(await probabilities(model, 'x', 'probabilities', rows), await probabilities(q.bytes!, 'x', 'probabilities', rows))).toBeGreaterThanOrEqual(0.99);
  });

  it.each(['Tanh', 'Sigmoid'])('keeps a %s between two int8 layers in float, and the model still agrees', async (activation) => {
    // Prepare
    const model = smallMlp({ middle: (g, h) => g.node(activation, [h]) });
    const rows = randomRows(500, 8, 10);

    // Act
    const q = await quantizeModel(model, { mode: 'static', calibration: rows, minAgreement: 0 });

    // Assess
    expect(q.layers.map((l) => l.quantized)).toEqual([true, true]);
    expect(opsOf(q.bytes!)).toContain(activation);
    const [a, b] = [await probabilities(model, 'x', 'probabilities', rows), await probabilities(q.bytes!, 'x', 'probabilities', rows)];
    expect(maxAbsDifference(a.values, b.values)).toBeLessThan(0.05);
  });

  it('keeps a layer named in `exclude` float', async () => {
    // Prepare
    const model = smallMlp();
    const name = decodeModel(model).graph!.node!.find((n) => n.opType === 'Gemm')!.name!;

    // Act
    const q = await quantizeModel(model, { mode: 'dynamic', exclude: [name] });

    // Assess
    expect(q.layers.map((l) => [l.quantized, l.reason])).toEqual([[false, 'excluded by option'], [true, undefined]]);
  });
});

describe('convertToFloat16', () => {
  it('runs the linear layers in float16 and keeps the model\'s float32 signature and predictions', async () => {
    // Prepare
    const model = smallMlp();
    const rows = randomRows(500, 8, 9);

    // Act
    const half = convertToFloat16(model);

    // Assess
    const weights = (decodeModel(half).graph?.initializer ?? []).filter((t) => t.name?.startsWith('fp16/'));
    expect(weights.every((t) => t.dataType === 10)).toBe(true); // FLOAT16
    const [a, b] = [await probabilities(model, 'x', 'probabilities', rows), await probabilities(half, 'x', 'probabilities', rows)];
    expect(maxAbsDifference(a.values, b.values)).toBeLessThan(0.01);
    expect(agreement(a, b)).toBeGreaterThanOrEqual(0.99);
  });

  it('converts the skl2onnx MLP, whose MatMul + Add layers it keeps as MatMul + Add', async () => {
    // Act
    const half = convertToFloat16(fixture('sklearn-mlp.onnx'));

    // Assess
    expect(opsOf(half).filter((op) => op === 'MatMul')).toHaveLength(2);
    const rows = readFixtureCsv('holdout.csv').rows;
    expect(agreement(await probabilities(fixture('sklearn-mlp.onnx'), 'float_input', 'probabilities', rows), await probabilities(half, 'float_input', 'probabilities', rows))).toBeGreaterThanOrEqual(0.995);
  });
});

/** A CSV of the skl2onnx fixtures as the models' input (f_income, f_age, f_score, f_tenure) and class indices. */
function readFixtureCsv(name: string): { rows: Matrix; labels: Float64Array } {
  const [header, ...lines] = readFileSync(new URL(`../fixtures/external/${name}`, import.meta.url), 'utf8').trim().split('\n').map((l) => l.split(','));
  const columns = ['f_income', 'f_age', 'f_score', 'f_tenure'].map((f) => header!.indexOf(f));
  const classes = ['bronze', 'silver', 'gold'];
  const data = new Float32Array(lines.length * 4);
  lines.forEach((line, r) => columns.forEach((c, f) => (data[r * 4 + f] = Number(line[c]))));
  return { rows: { data, rows: lines.length, cols: 4 }, labels: Float64Array.from(lines, (line) => classes.indexOf(line[header!.indexOf('segment')]!)) };
}
