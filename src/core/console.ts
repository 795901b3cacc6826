/**
 * What oltron says on stderr while it works: notes, details and progress (stdout carries
 * results only). --quiet keeps warnings and errors, --verbose adds details. Progress is a live
 * bar (cli-progress) on a terminal and an occasional plain line otherwise, so logs and CI
 * output stay readable.
 */
import cliProgress from "cli-progress";

export type Verbosity = "quiet" | "normal" | "verbose";
let verbosity: Verbosity = "normal";

export function setVerbosity(v: Verbosity): void {
  verbosity = v;
}

export function getVerbosity(): Verbosity {
  return verbosity;
}

/** The live bar on the terminal, if any: one at a time, and notes are printed above it. */
let liveBar: cliProgress.SingleBar | undefined;

function write(s: string): void {
  // Clearing the bar's line first: the bar redraws itself below the note.
  process.stderr.write(liveBar ? `\r\x1b[K${s}\n` : `${s}\n`);
}

/** Progress and notes, on stderr; --quiet keeps only warnings. */
export const log = (s: string): void => {
  if (verbosity === "quiet" && !/\bwarning\b/i.test(s)) return;
  write(s);
};

/** Detail shown with --verbose only (e.g. where cached builds live). */
export const detail = (s: string): void => {
  if (verbosity === "verbose") write(s);
};

export interface Progress {
  /** The work done so far, in the bar's unit; `total` may be revised (estimates). */
  update(value: number, total?: number): void;
  /** Removes the bar (the caller prints the outcome). */
  stop(): void;
}

/** Seconds between plain progress lines when stderr is not a terminal. */
export const PLAIN_INTERVAL_SECONDS = 15;

/**
 * A progress indicator for long work: `label` says what runs, `unit` what is counted. On a
 * terminal it is a bar redrawn in place; elsewhere a line every PLAIN_INTERVAL_SECONDS
 * through `sink` (the command's log), and nothing at all with --quiet.
 */
export function progress(label: string, total: number, unit: string, sink: (s: string) => void = log): Progress {
  if (verbosity === "quiet") return { update: () => {}, stop: () => {} };
  const t0 = performance.now();
  let value = 0;
  let tot = Math.max(1, total);
  if (process.stderr.isTTY && sink === log) {
    // A sweep's bar stays; the runs inside it do not draw their own.
    if (liveBar) return { update: () => {}, stop: () => {} };
    const bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      forceRedraw: true,
      etaBuffer: 20,
    }, cliProgress.Presets.shades_classic);
    liveBar = bar;
    bar.start(tot, 0);
    return {
      update(v, t) {
        if (t !== undefined && t !== tot) {
          tot = Math.max(1, t);
          bar.setTotal(tot);
        }
        bar.update(Math.min(v, tot));
      },
      stop: () => {
        bar.stop();
        if (liveBar === bar) liveBar = undefined;
      },
    };
  }
  let last = t0;
  const line = () => {
    last = performance.now();
    const pct = Math.min(100, (100 * value) / tot).toFixed(0);
    sink(`${label}: ${value}/${tot} ${unit} (${pct}%), ${((last - t0) / 1000).toFixed(0)} s`);
  };
  // The timer covers waits on a child process; updates cover synchronous work, which the
  // timer cannot interrupt.
  const timer = setInterval(line, PLAIN_INTERVAL_SECONDS * 1000);
  timer.unref();
  return {
    update(v, t) {
      value = v;
      if (t !== undefined) tot = Math.max(1, t);
      if (performance.now() - last >= PLAIN_INTERVAL_SECONDS * 1000) line();
    },
    stop: () => clearInterval(timer),
  };
}
