import { describe, expect, it } from 'vitest';
import { ByteRangePlanner, planRowGroups } from '../../core/batch/plan';

const encode = (text: string) => new TextEncoder().encode(text);

/** Plans `text` fed in pieces of `piece` bytes. */
function plan(format: 'csv' | 'jsonl', text: string, partBytes: number, piece = 7) {
  const planner = new ByteRangePlanner(format, partBytes);
  const bytes = encode(text);
  for (let at = 0; at < bytes.length; at += piece) planner.push(bytes.subarray(at, at + piece));
  return { ...planner.finish(), bytes };
}

describe('ByteRangePlanner on a line past the line limit', () => {
  const long = 'x'.repeat((1 << 20) + 10);

  it('cuts after it, counting it as one line, with its bytes never kept whole', () => {
    const { parts } = plan('csv', `id,age\n${long}\nc,2\nd,3\n`, 100, 64 * 1024);

    expect(parts.map((p) => p.kind === 'bytes' && p.firstLine)).toEqual([1, 3]);
  });

  it('plans it in time linear in its length', () => {
    const time = (mb: number) => {
      const started = performance.now();
      plan('jsonl', `${'y'.repeat(mb << 20)}\n{}\n`, 1 << 30, 64 * 1024);
      return performance.now() - started;
    };
    time(1);
    // Best of three against noise; linear is about 4, the old quadratic carry about 16.
    const ratio = Math.min(...[0, 1, 2].map(() => time(16))) / Math.min(...[0, 1, 2].map(() => time(4)));
    expect(ratio).toBeLessThan(8);
  });

  it('fails the header for a CSV whose first line is past the limit: one part, which the scorer fails', () => {
    const { parts, header } = plan('csv', `${long}\n1\n2\n`, 1, 64 * 1024);

    expect(parts).toHaveLength(1);
    expect(header).toBeUndefined();
  });
});

describe('ByteRangePlanner on CSV', () => {
  const csv = 'id,age\r\n"a\nb",1\r\nc,2\r\n"d\n\ne",3\r\nf,4\r\n';

  it('cuts only at line breaks that end a record, never inside a quoted field', () => {
    const { parts, bytes } = plan('csv', csv, 1);
    const text = new TextDecoder().decode(bytes);

    expect(parts.map((p) => text.slice(p.start, p.end))).toEqual(['id,age\r\n', '"a\nb",1\r\n', 'c,2\r\n', '"d\n\ne",3\r\n', 'f,4\r\n']);
  });

  it("numbers each part's first line as the file does, and records the header's range", () => {
    const { parts, header } = plan('csv', csv, 1);

    expect(parts.map((p) => p.kind === 'bytes' && p.firstLine)).toEqual([1, 2, 4, 5, 8]);
    expect(header).toEqual({ end: 8, lines: 1 });
  });

  it('covers the file with contiguous parts, a last line without a line break included', () => {
    const { parts, bytes } = plan('csv', 'id\n1\n2\n3', 2, 3);

    expect(parts[0]).toMatchObject({ start: 0 });
    for (let i = 1; i < parts.length; i++) expect(parts[i]).toMatchObject({ start: (parts[i - 1] as { end: number }).end });
    expect(parts.at(-1)).toMatchObject({ end: bytes.length });
  });

  it('follows the scorer rather than quote parity where quoting is malformed', () => {
    // Line 2 is rejected for a quote inside an unquoted field and opens nothing; line 3 opens a
    // quoted field that line 4 closes. Quote parity would cut inside that field, after line 3.
    const { parts } = plan('csv', 'id,x\na"b,1\n"c,2\nd",3\n', 1);

    expect(parts.map((p) => p.kind === 'bytes' && p.firstLine)).toEqual([1, 2, 3]);
  });

  it('leaves a file whose header cannot be read in one part', () => {
    expect(plan('csv', '"id\nx,y\n1,2\n', 1).parts).toHaveLength(1);
  });
});

describe('ByteRangePlanner on JSONL', () => {
  it('cuts at any line break once a part is full', () => {
    const { parts } = plan('jsonl', '{"a":1}\n{"a":2}\n\n{"a":3}\n', 9);

    expect(parts.map((p) => p.kind === 'bytes' && [p.start, p.end, p.firstLine])).toEqual([
      [0, 16, 1],
      [16, 25, 3],
    ]);
  });
});

describe('planRowGroups', () => {
  it('groups whole row groups into parts of about partBytes', () => {
    expect(planRowGroups([{ rows: 10, bytes: 60 }, { rows: 10, bytes: 60 }, { rows: 5, bytes: 10 }], 100)).toEqual([
      { index: 0, kind: 'rows', rowStart: 0, rowEnd: 20 },
      { index: 1, kind: 'rows', rowStart: 20, rowEnd: 25 },
    ]);
  });
});
