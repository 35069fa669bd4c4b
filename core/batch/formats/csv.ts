import type { ByteRangePart } from '../plan';
import { scoreCsv } from '../score-csv';
import type { TextSink } from '../scorer';
import type { BatchFormat, BatchInput } from './format';
import { planByteRanges, rangeOf, textOf, textRangeOf } from './text';

/**
 * CSV with a header row naming the features, scored into CSV predictions with a header of their
 * own. Split into byte ranges: a part after the first is scored with the file's header prepended
 * (the plan's header range) and leaves out its predictions header, which the merged file has once.
 */
export const csv: BatchFormat<ByteRangePart> = {
  name: 'csv',
  extensions: ['csv'],
  outputExtension: 'csv',
  score: (input, scorer, sinks, options) => scoreCsv(textOf(input), scorer, sinks, options),
  plan: (input, partBytes) => planByteRanges('csv', input, partBytes),
  scorePart: async (input, scorer, sinks, options) => {
    const { part, header } = input;
    if (part.start === 0) return scoreCsv(textRangeOf(input, part.start, part.end), scorer, sinks, options);
    if (!header) throw new Error(`${input.planKey}: part ${part.index} of a CSV file needs the plan's header range`);
    return scoreCsv(withPrefix(input, header.end, part), scorer, { predictions: dropFirstCsvRecord(sinks.predictions), errors: sinks.errors }, { ...options, lineOffset: part.firstLine - 1 - header.lines });
  },
};

async function* withPrefix(input: BatchInput, prefixEnd: number, part: ByteRangePart): AsyncGenerator<Uint8Array> {
  // The header range was checked as the first part's.
  yield* rangeOf(input, 0, prefixEnd);
  yield* textRangeOf(input, part.start, part.end);
}

/**
 * A sink that drops the first CSV record written to it: the predictions header of a part after
 * the first, which the merged file has once. The header is quoted as RFC 4180 says, so its end is
 * the first line break outside quotes.
 */
function dropFirstCsvRecord(sink: TextSink): TextSink {
  let dropping = true;
  let quoted = false;
  return {
    write: async (data: string | Uint8Array) => {
      if (!dropping) return sink.write(data);
      // Text or bytes, as the scorer writes them: '"' is 34 and '\n' is 10 in both.
      const at = typeof data === 'string' ? (i: number) => data.charCodeAt(i) : (i: number) => data[i]!;
      for (let i = 0; i < data.length; i++) {
        const c = at(i);
        if (c === 34) quoted = !quoted;
        else if (c === 10 && !quoted) {
          dropping = false;
          if (i + 1 < data.length) await sink.write(data.slice(i + 1));
          return;
        }
      }
    },
  };
}
