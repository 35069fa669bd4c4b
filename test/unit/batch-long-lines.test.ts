import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidFileError, scoreCsv } from '../../core/batch/score-csv';
import { readJsonl, scoreRecords } from '../../core/batch/score-records';
import { readCsv } from '../../core/data/csv';
import { parseManifest } from '../../core/model/manifest';
import { sha256Hex } from '../../core/model/model-package';
import { Predictor } from '../../core/model/predictor';
import { GraphBuilder } from '../../model-pipeline/onnx/graph-builder';
import { ElementType } from '../../model-pipeline/onnx/proto';

/** Long lines in batch input: parsed in time linear in their length, rejected past the limit without being kept, echoed in part. */

const MiB = 1 << 20;
const PIECE = 64 * 1024;

/** Softmax(x·W + b) over numeric features a and b: a real ONNX model. */
async function predictor(): Promise<Predictor> {
  const g = new GraphBuilder();
  const x = g.input('x', ElementType.FLOAT, ['N', 2]);
  const z = g.node('Gemm', [x, g.floats('W', [0.5, -0.5, 0.2, 1], [2, 2]), g.floats('b', [0.1, -0.1], [2])], {});
  g.node('Softmax', [z], { axis: -1 }, 'p');
  g.output('p', ElementType.FLOAT, ['N', 2]);
  const model = g.build({ graphName: 'test', producer: 'test' });
  const manifest = parseManifest({
    schemaVersion: 1,
    name: 'm',
    version: '1.0.0',
    task: 'binary',
    input: { tensor: 'x', features: [{ name: 'a', type: 'numeric' }, { name: 'b', type: 'numeric' }] },
    output: { tensor: 'p', kind: 'probabilities', classes: ['no', 'yes'] },
    createdAt: '2026-11-23T10:00:00.000Z',
    files: { 'model.onnx': { sha256: sha256Hex(model), bytes: model.byteLength } },
  });
  return Predictor.fromModel(manifest, model);
}

async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function collector() {
  const decoder = new TextDecoder();
  const parts: string[] = [];
  return { parts, sink: { write: async (text: string | Uint8Array) => void parts.push(typeof text === 'string' ? text : decoder.decode(text)) }, text: () => parts.join('') };
}

type Format = 'csv' | 'jsonl';

/** Scores `text` as a CSV or JSONL file arriving in pieces of `pieceBytes`; returns the counts and the predictions and errors files. */
async function score(scorer: Predictor, format: Format, text: string | Uint8Array, pieceBytes: number, maxLineBytes?: number) {
  const bytes = typeof text === 'string' ? new TextEncoder().encode(text) : text;
  const predictions = collector();
  const errors = collector();
  const sinks = { predictions: predictions.sink, errors: errors.sink };
  const counts =
    format === 'csv'
      ? await scoreCsv(pieces(bytes, pieceBytes), scorer, sinks, { maxLineBytes })
      : await scoreRecords(readJsonl(pieces(bytes, pieceBytes), { maxLineBytes }), scorer, sinks);
  return { counts, predictions: predictions.text(), errors: errors.text() };
}

/** The lines of a predictions or errors file. */
const linesOf = (text: string) => text.split('\n').filter((l) => l !== '');

/** The line numbers of a predictions file (CSV: the first column after the header; JSONL: the "line" field). */
function scoredLines(format: Format, predictions: string): number[] {
  const lines = linesOf(predictions);
  return format === 'csv' ? lines.slice(1).map((l) => Number(l.split(',')[0])) : lines.map((l) => (JSON.parse(l) as { line: number }).line);
}

/** A file of a header (CSV) and rows with `a`, `b` and an `id` field: one row a line. */
function file(format: Format, rows: readonly { id: string; a: number; b: number }[]): string {
  if (format === 'csv') return `id,a,b\n${rows.map((r) => `${r.id},${r.a},${r.b}\n`).join('')}`;
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/** The least time of a few runs, in ms: the least is the one the machine's other load disturbed least. */
async function leastTime(run: () => Promise<unknown>, runs = 5): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    least = Math.min(least, performance.now() - start);
  }
  return least;
}

describe('long lines in batch input', () => {
  let scorer: Predictor;
  beforeAll(async () => {
    scorer = await predictor();
  });
  afterAll(async () => {
    await scorer.release();
  });

  describe('take time linear in their length, fed in 64 KB pieces (a 4x longer line takes under 8x the time; 16x was the old cost)', () => {
    const discard = { write: async () => {} };
    const sinks = { predictions: discard, errors: discard };
    const limit = { maxLineBytes: 64 * MiB };
    const cases: [string, Format, (bytes: Uint8Array) => Promise<unknown>][] = [
      ['scoreCsv', 'csv', (bytes) => scoreCsv(pieces(bytes, PIECE), scorer, sinks, limit)],
      ['readJsonl and scoreRecords', 'jsonl', (bytes) => scoreRecords(readJsonl(pieces(bytes, PIECE), limit), scorer, sinks)],
      [
        'readCsv',
        'csv',
        async (bytes) => {
          for await (const records of readCsv(pieces(bytes, PIECE), limit)) void records;
        },
      ],
    ];
    for (const [name, format, run] of cases) {
      it(name, async () => {
        // One row whose id is the long line; the file is made before the clock starts.
        const [short, long] = [4 * MiB, 16 * MiB].map((n) => new TextEncoder().encode(file(format, [{ id: 'x'.repeat(n), a: 1, b: 2 }])));
        await run(short!);
        const ratio = (await leastTime(() => run(long!))) / (await leastTime(() => run(short!)));
        expect(ratio).toBeLessThan(8);
      });
    }
  });

  for (const format of ['csv', 'jsonl'] as const) {
    describe(`past the limit (${format})`, () => {
      const long = { id: 'y'.repeat(2 * MiB), a: 3, b: 4 };
      const text = file(format, [{ id: 'r1', a: 1, b: 2 }, long, { id: 'r3', a: 5, b: 6 }]);
      const first = format === 'csv' ? 2 : 1;

      for (const pieceBytes of [PIECE, text.length]) {
        it(`rejects a line longer than 1 MiB as one row and scores the lines around it (${pieceBytes === PIECE ? '64 KB pieces' : 'one piece'})`, async () => {
          const { counts, predictions, errors } = await score(scorer, format, text, pieceBytes);
          expect(scoredLines(format, predictions)).toEqual([first, first + 2]);
          const [error, ...more] = linesOf(errors);
          expect(more).toEqual([]);
          expect(error!.length).toBeLessThan(2_000);
          const rejected = JSON.parse(error!) as { line: number; reason: string; raw: string };
          expect(rejected.line).toBe(first + 1);
          expect(rejected.reason).toMatch(/^the line is longer than 1048576 bytes \(the limit\): it has \d+/);
          expect(rejected.raw).toMatch(format === 'csv' ? /^y{1000}$/ : /^\{"id":"y+$/);
          expect(counts).toEqual({ rowsIn: 3, scored: 2, rejected: 1 });
        });
      }

      it('rejects an overlong last line without a newline', async () => {
        const { counts, errors } = await score(scorer, format, `${text}${'z'.repeat(2 * MiB)}`, PIECE);
        expect(linesOf(errors).map((e) => (JSON.parse(e) as { line: number }).line)).toEqual([first + 1, first + 3]);
        expect(counts).toEqual({ rowsIn: 4, scored: 2, rejected: 2 });
      });

      it('honours a lower limit set in the options', async () => {
        const { counts, errors } = await score(scorer, format, file(format, [{ id: 'r1', a: 1, b: 2 }, { id: 'x'.repeat(200), a: 3, b: 4 }]), 7, 100);
        expect((JSON.parse(linesOf(errors)[0]!) as { reason: string }).reason).toMatch(/^the line is longer than 100 bytes/);
        expect(counts).toEqual({ rowsIn: 2, scored: 1, rejected: 1 });
      });

      it("does not keep an overlong line's bytes: 128 MB of one line, from one reused 64 KB buffer, adds little memory", async () => {
        const buffer = new Uint8Array(PIECE).fill(0x78);
        const head = new TextEncoder().encode(format === 'csv' ? 'id,a,b\nr1,1,2\n' : '{"a":1,"b":2}\n');
        let peak = 0;
        async function* source() {
          yield head;
          const base = process.memoryUsage().arrayBuffers;
          for (let i = 0; i < 2048; i++) {
            peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
            yield buffer;
          }
        }
        const errors = collector();
        const sinks = { predictions: collector().sink, errors: errors.sink };
        const counts = format === 'csv' ? await scoreCsv(source(), scorer, sinks) : await scoreRecords(readJsonl(source()), scorer, sinks);
        expect(counts).toEqual({ rowsIn: 2, scored: 1, rejected: 1 });
        expect((JSON.parse(errors.text()) as { reason: string }).reason).toMatch(/it has 134217728,/);
        expect(peak).toBeLessThan(32 * MiB);
      });
    });
  }

  describe('a header past the limit', () => {
    for (const [name, text] of [
      ['a 3 MB file without a newline', 'h'.repeat(3 * MiB)],
      ['a 2 MB header and rows', `id,a,b${',x'.repeat(MiB)}\nr1,1,2\n`],
    ] as const) {
      for (const pieceBytes of [PIECE, text.length]) {
        it(`makes the file invalid with a short message: ${name}, ${pieceBytes === PIECE ? '64 KB pieces' : 'one piece'}`, async () => {
          const error = await score(scorer, 'csv', text, pieceBytes).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(InvalidFileError);
          expect((error as Error).message).toBe('line 1: the header row is longer than 1048576 bytes (the limit)');
        });
      }
    }
  });

  describe('echoes client text in part only', () => {
    it("cuts a rejected CSV row's raw text: a 50,000-character malformed row makes an errors line under 2 KB", async () => {
      const { counts, errors } = await score(scorer, 'csv', `id,a,b\nr1,${'x,'.repeat(25_000)}\nr2,1,2\n`, PIECE);
      const [error] = linesOf(errors);
      expect(error!.length).toBeLessThan(2_000);
      const rejected = JSON.parse(error!) as { line: number; reason: string; raw: string };
      expect(rejected).toMatchObject({ line: 2, reason: 'row has 25002 fields; the header has 3' });
      expect(rejected.raw).toMatch(/^r1,x,x,.*… \(49003 more characters\)$/);
      expect(counts).toEqual({ rowsIn: 2, scored: 1, rejected: 1 });
    });

    it("cuts a rejected JSONL line's raw text the same way", async () => {
      const { errors } = await score(scorer, 'jsonl', `{"a":1,"b":2,"note":"${'x'.repeat(50_000)}\n`, PIECE);
      const [error] = linesOf(errors);
      expect(error!.length).toBeLessThan(2_000);
      expect(JSON.parse(error!)).toMatchObject({ line: 1, reason: expect.stringMatching(/^not valid JSON/), raw: expect.stringMatching(/… \(49021 more characters\)$/) });
    });

    it('cuts the header named in the error of a header lacking features, 100,000 characters wide', async () => {
      const header = Array.from({ length: 12_500 }, (_, i) => `col${i}`).join(',');
      expect(header.length).toBeGreaterThan(100_000);
      const error = await score(scorer, 'csv', `${header}\n1,2\n`, PIECE).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidFileError);
      const message = (error as Error).message;
      expect(message).toMatch(/^the header lacks feature column\(s\) a, b required by m 1\.0\.0; it has col0, col1, .*… \(\d+ more characters\)$/);
      expect(message.length).toBeLessThan(2_000);
    });

    it('cuts a column name the header has twice', async () => {
      const name = 'n'.repeat(100_000);
      const error = await score(scorer, 'csv', `a,b,${name},${name}\n1,2,3,4\n`, PIECE).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidFileError);
      expect((error as Error).message.length).toBeLessThan(2_000);
      expect((error as Error).message).toMatch(/^the header names column "n+… \(99000 more characters\)" twice$/);
    });
  });
});
