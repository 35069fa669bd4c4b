import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreCsv } from '../../core/batch/score-csv';
import { csvField } from '../../core/data/csv';
import { parseManifest } from '../../core/model/manifest';
import { sha256Hex } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { GraphBuilder } from '../../model-pipeline/onnx/graph-builder';
import { ElementType } from '../../model-pipeline/onnx/proto';

/** Softmax(x·W + b) over features a, b (numeric, a in [-100, 100]) and plan (categorical, as its level index): a real ONNX model. */
async function predictor(): Promise<Predictor> {
  const g = new GraphBuilder();
  const x = g.input('x', ElementType.FLOAT, ['N', 3]);
  const z = g.node('Gemm', [x, g.floats('W', [0.5, -0.5, 0.1, 0.2, 1, -1], [3, 2]), g.floats('b', [0.1, -0.1], [2])], {});
  g.node('Softmax', [z], { axis: -1 }, 'p');
  g.output('p', ElementType.FLOAT, ['N', 2]);
  const model = g.build({ graphName: 'test', producer: 'test' });
  const manifest = parseManifest({
    schemaVersion: 1,
    name: 'm',
    version: '1.0.0',
    task: 'binary',
    input: {
      tensor: 'x',
      features: [
        { name: 'a', type: 'numeric', min: -100, max: 100 },
        { name: 'b', type: 'numeric' },
        { name: 'plan', type: 'categorical', levels: ['basic', 'pro'] },
      ],
    },
    output: { tensor: 'p', kind: 'probabilities', classes: ['no', 'yes, sure'] },
    createdAt: '2026-11-23T10:00:00.000Z',
    files: { 'model.onnx': { sha256: sha256Hex(model), bytes: model.byteLength } },
  });
  return Predictor.fromModel(manifest, model);
}

/** Scores `bytes` arriving in pieces of `pieceBytes`; returns the predictions and errors files as text. */
async function score(scorer: Predictor, bytes: Uint8Array, pieceBytes: number, chunkRows = 3) {
  const decoder = new TextDecoder();
  const collected = { predictions: [] as Uint8Array[], errors: [] as Uint8Array[] };
  const sink = (list: Uint8Array[]) => ({
    async write(text: string | Uint8Array) {
      list.push(typeof text === 'string' ? new TextEncoder().encode(text) : text.slice());
    },
  });
  async function* pieces() {
    for (let i = 0; i < bytes.length; i += pieceBytes) yield bytes.slice(i, i + pieceBytes);
  }
  const counts = await scoreCsv(pieces(), scorer, { predictions: sink(collected.predictions), errors: sink(collected.errors) }, { chunkRows });
  const text = (list: Uint8Array[]) => decoder.decode(Buffer.concat(list));
  return { counts, predictions: text(collected.predictions), errors: text(collected.errors) };
}

const bytesOf = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

/** A file with every kind of row the byte-level fast path must either read exactly or hand to the general path. */
const mixed = bytesOf(
  [0xef, 0xbb, 0xbf],
  'id,a,note,b,plan\r\n',
  'r1,1.5,plain,-2,basic\r\n',
  'r2,1e1,é中,.5,pro\r\n',
  'r3,-0,"quoted, with ""quotes""",5.,basic\r\n',
  'r4,150,out of range,1,basic\r\n',
  'r5,2,missing b,,pro\r\n',
  'r6,2,unknown level,1,platinum\r\n',
  'r7,2,too,many,1,pro\r\n',
  '\r\n',
  'r8,0001.250,"spans\r\ntwo lines",12345678901234567,basic\r\n',
  'r9,+3,a\rb,1.2e-3,pro\r\n',
  ['r'.charCodeAt(0), 0x31, 0x30, 0x2c, 0x31, 0x2c, 0xff, 0xfe, 0x2c, 0x31, 0x2c],
  'basic\r\n',
  'r11, 4 ,spaces,1,pro',
);

describe('scoreCsv', () => {
  let scorer: Predictor;
  beforeAll(async () => {
    scorer = await predictor();
  });
  afterAll(async () => {
    await scorer.release();
  });

  it('gives the same predictions and errors whatever pieces the file arrives in', async () => {
    const whole = await score(scorer, mixed, mixed.length);
    for (const pieceBytes of [1, 2, 7, 64]) {
      expect(await score(scorer, mixed, pieceBytes), `pieces of ${pieceBytes} bytes`).toEqual(whole);
    }
  });

  it('scores every row or rejects it with its line, and the counts reconcile', async () => {
    const { counts, predictions, errors } = await score(scorer, mixed, 7);
    const scoredLines = (parse(predictions, { columns: true }) as { line: string }[]).map((row) => Number(row.line));
    const rejected = errors.trim().split('\n').map((line) => JSON.parse(line) as { line: number; field?: string });
    // Line 9 is blank; r8 spans lines 10 and 11.
    expect(scoredLines).toEqual([2, 3, 4, 10, 12, 13, 14]);
    expect(rejected.map((r) => [r.line, r.field])).toEqual([
      [5, 'a'],
      [6, 'b'],
      [7, 'plan'],
      [8, undefined],
    ]);
    expect(counts).toEqual({ rowsIn: 11, scored: 7, rejected: 4 });
  });

  it('writes pass-through fields as the text decoder reads them, quoted when they need it', async () => {
    const { predictions } = await score(scorer, mixed, mixed.length);
    const notes = new Map(predictions.split('\n').map((line) => [line.split(',')[1], line]));
    expect(notes.get('r2')).toContain(',r2,é中,');
    expect(notes.get('r3')).toContain(`,r3,${csvField('quoted, with "quotes"')},`);
    expect(notes.get('r9')).toContain(`,r9,${csvField('a\rb')},`);
    expect(notes.get('r10')).toContain(`,r10,${new TextDecoder().decode(new Uint8Array([0xff, 0xfe]))},`);
  });

  it('reads numbers as Number() does and writes each probability with 6 decimals', async () => {
    const { predictions } = await score(scorer, bytesOf('id,a,b,plan\n', 'x,0001.250,-7.25e-3,pro\n'), 64);
    const [, row] = predictions.trim().split('\n');
    const scores = await scorer.predict({ data: Float32Array.from([1.25, -0.00725, 1]), rows: 1, cols: 3 });
    const [no, yes] = [scores.values[0]!, scores.values[1]!];
    expect(row).toBe(`2,x,${yes > no ? '"yes, sure"' : 'no'},${no.toFixed(6)},${yes.toFixed(6)}`);
  });

  it('rejects a number beyond float32 (which the model would read as Infinity) with its line, instead of scoring NaN', async () => {
    const { counts, errors } = await score(scorer, bytesOf('id,a,b,plan\n', 'x,1,3.5e38,pro\n', 'y,1,-1e39,pro\n', 'z,1,3.4e38,pro\n'), 64);
    const rejected = errors.trim().split('\n').map((line) => JSON.parse(line) as { line: number; field: string; reason: string });
    expect(rejected.map((r) => [r.line, r.field])).toEqual([
      [2, 'b'],
      [3, 'b'],
    ]);
    expect(rejected[0]!.reason).toMatch(/32-bit float/);
    expect(counts).toEqual({ rowsIn: 3, scored: 1, rejected: 2 });
  });

  it('cuts an echoed value to 200 characters in the reason of an error row', async () => {
    const huge = 'x'.repeat(1_000_000);
    const { errors } = await score(scorer, bytesOf('id,a,b,plan\n', `x,1,2,${huge}\n`), 1 << 20);
    const [row] = errors.trim().split('\n').map((line) => JSON.parse(line) as { reason: string });
    expect(row!.reason.length).toBeLessThan(400);
    expect(row!.reason).toMatch(/1000000 characters/);
  });
});
