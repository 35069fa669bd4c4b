import cliProgress from 'cli-progress';

/** A progress bar on stderr when it is a terminal; silent otherwise, so pipes and CI logs stay clean. */
export interface Progress {
  update(value: number, total?: number): void;
  stop(): void;
}

export function progress(label: string, total: number, unit = 'rows'): Progress {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {eta_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (value, newTotal) => {
      if (newTotal !== undefined) bar.setTotal(newTotal);
      bar.update(value);
    },
    stop: () => bar.stop(),
  };
}
