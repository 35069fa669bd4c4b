import { ByteRangePlanner } from '../core/batch/plan';
import { Random } from '../core/random';

/**
 * The fan-out's plan step reads the whole input once to cut it at record boundaries and number
 * lines. This measures its throughput against the floor for any such scan, counting line breaks
 * with indexOf, on the same bytes in memory (no S3), for a plain CSV and for one with a quoted
 * field in every row (those lines go through the scorer's record assembler).
 * Run: npx tsx bench/batch-plan.ts [--mb 200]
 */

const argMb = process.argv.indexOf('--mb');
const megabytes = argMb > 0 ? Number(process.argv[argMb + 1]) : 200;
const PIECE = 1 << 20;

function csv(quoted: boolean): Uint8Array {
  const random = new Random(7);
  const lines = [`id,${Array.from({ length: 64 }, (_, i) => `f${i}`).join(',')}`];
  let size = 0;
  for (let r = 0; size < megabytes * 1e6; r++) {
    let line = quoted ? `"r${r}, x"` : `r${r}`;
    for (let c = 0; c < 64; c++) line += `,${random.normal().toFixed(4)}`;
    lines.push(line);
    size += line.length + 1;
  }
  return new TextEncoder().encode(`${lines.join('\n')}\n`);
}

/** Best of three runs, in MB/s. */
function throughput(bytes: Uint8Array, run: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return bytes.length / 1e6 / best;
}

for (const quoted of [false, true]) {
  const bytes = csv(quoted);
  const newlines = throughput(bytes, () => {
    let count = 0;
    for (let at = bytes.indexOf(10); at >= 0; at = bytes.indexOf(10, at + 1)) count++;
    if (count === 0) throw new Error('no lines');
  });
  let parts = 0;
  const planner = throughput(bytes, () => {
    const plan = new ByteRangePlanner('csv', 64 * 1024 * 1024);
    for (let at = 0; at < bytes.length; at += PIECE) plan.push(bytes.subarray(at, at + PIECE));
    parts = plan.finish().parts.length;
  });
  console.log(
    `${quoted ? 'a quoted field in every row' : 'plain CSV                  '}  ${(bytes.length / 1e6).toFixed(0)} MB, ${parts} parts of 64 MiB: ` +
      `planner ${planner.toFixed(0)} MB/s, line-break count ${newlines.toFixed(0)} MB/s, ratio ${(planner / newlines).toFixed(2)}x`,
  );
}
