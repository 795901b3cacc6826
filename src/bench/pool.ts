/**
 * The local worker pool's speed-up (docs/cluster.md): the same explore sweep run with one
 * worker and with one per core, in turn, each from an empty results folder (the silicon flows
 * warmed first, so the timed runs are the point jobs), as whole `oltron explore` processes.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

const BIN = fileURLToPath(new URL("../../bin/oltron.js", import.meta.url));

export interface PoolBench {
  sweep: string;
  points: number;
  workers: number;
  /** Wall seconds of each timed run, in the order run (one worker, then `workers`, in turn). */
  seconds: { one: number[]; many: number[] };
  medianOne: number;
  medianMany: number;
  /** medianOne / medianMany. */
  speedup: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchPool(work: string, quick: boolean, log: (s: string) => void): Promise<PoolBench> {
  const workers = Math.max(2, os.cpus().length);
  const sweep = quick
    // Quick: one small design, so a test sees the section work without paying for four silicon flows.
    ? { archs: ["int4"], sizes: [4], layers: [{ type: "o_proj", k: 256, n: 64 }, { type: "down", k: 512, n: 64 }, { type: "qkv", k: 256, n: 64 }], tokens: 256, evalTokens: 64, calibTokens: 32, sampleN: 32 }
    : { archs: ["oltron", "int4", "olive", "w4a8"], sizes: [16] };
  const cfg = path.join(work, "pool-sweep.json");
  fs.writeFileSync(cfg, JSON.stringify(sweep));
  const run = async (jobs: number, tag: string) => {
    const out = path.join(work, `pool-${tag}`);
    fs.rmSync(out, { recursive: true, force: true });
    const t0 = performance.now();
    const r = await execa(process.execPath, [BIN, "--quiet", "explore", "--config", cfg, "--out", out, "--jobs", String(jobs)], { reject: false, all: true });
    if (r.exitCode !== 0) throw new Error(`bench: explore --jobs ${jobs} failed:\n${String(r.all).slice(-2000)}`);
    const points = (JSON.parse(fs.readFileSync(path.join(out, "explore.json"), "utf8")) as { points: unknown[] }).points.length;
    return { seconds: (performance.now() - t0) / 1000, points };
  };
  log("bench: worker pool: warming the sweep's silicon flows...");
  const warm = await run(workers, "warm");
  const seconds = { one: [] as number[], many: [] as number[] };
  const reps = quick ? 2 : 3;
  for (let i = 0; i < reps; i++) {
    log(`bench: worker pool: round ${i + 1}/${reps}, 1 worker then ${workers}...`);
    seconds.one.push((await run(1, "one")).seconds);
    seconds.many.push((await run(workers, "many")).seconds);
  }
  const medianOne = median(seconds.one);
  const medianMany = median(seconds.many);
  return { sweep: JSON.stringify(sweep), points: warm.points, workers, seconds, medianOne, medianMany, speedup: medianOne / medianMany };
}

export function poolMarkdown(p: PoolBench): string {
  return [
    "## Local worker pool (oltron explore --jobs)",
    "",
    `The same sweep (${p.points} points, silicon cached) from an empty results folder, 1 worker and ${p.workers} in turn; wall seconds, median of ${p.seconds.one.length}.`,
    "",
    "| workers | wall s (median) | runs |",
    "|---|---|---|",
    `| 1 | ${p.medianOne.toFixed(1)} | ${p.seconds.one.map((s) => s.toFixed(1)).join(", ")} |`,
    `| ${p.workers} | ${p.medianMany.toFixed(1)} | ${p.seconds.many.map((s) => s.toFixed(1)).join(", ")} |`,
    "",
    `Speed-up: ${p.speedup.toFixed(2)}x.`,
    "",
  ].join("\n");
}
