/**
 * `oltron bench --quick` end to end: every co-simulated layer is bit-exact under both memories,
 * the DRAM-like figures and their reasons are there, and the bare array really ran beside the
 * accelerator. Timing itself is never asserted: it belongs in the benchmark's output.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runPerfBench } from "../src/bench/perf.js";
import { tmpDir } from "./helpers/cosim.js";

describe("bench --quick", () => {
  it("writes perf.json and perf.md with both memories, traffic, and the bare-array comparison", async () => {
    const out = path.join(tmpDir("bench"), "results");
    const r = await runPerfBench({ out, quick: true });
    expect(r.layers.length).toBeGreaterThan(0);
    for (const l of r.layers) {
      expect(l.bitExact && l.dram.bitExact, `${l.layer} M=${l.m}`).toBe(true);
      expect(l.wordsRead).toBeGreaterThan(0);
      expect(l.demand).toBeGreaterThan(0);
      // A layer below 95% under the DRAM-like memory always says why.
      if (l.dram.utilization < 0.95) expect(l.dramShortfall, `${l.layer} M=${l.m}`).toBeTruthy();
      else expect(l.dramShortfall).toBeUndefined();
    }
    for (const s of r.simulationSpeed) {
      expect(s.bare.cycles).toBeGreaterThan(0);
      expect(Number.isFinite(s.speedRatio) && s.speedRatio > 0).toBe(true);
      expect(Number.isFinite(s.buildRatio) && s.buildRatio > 0).toBe(true);
      expect(s.verdict.length).toBeGreaterThan(0);
    }
    // The pool section ran the same sweep with 1 and with several workers, every run complete.
    expect(r.pool!.points).toBe(3);
    expect(r.pool!.seconds.one.length).toBe(2);
    expect(r.pool!.seconds.many.length).toBe(2);
    expect(r.pool!.speedup).toBeCloseTo(r.pool!.medianOne / r.pool!.medianMany, 9);
    const md = fs.readFileSync(path.join(out, "perf.md"), "utf8");
    expect(md).toContain("Local worker pool");
    expect(md).toContain("utilization, DRAM-like");
    expect(md).toContain("speed ratio");
    expect(JSON.parse(fs.readFileSync(path.join(out, "perf.json"), "utf8")).simulationSpeed.length).toBe(r.simulationSpeed.length);
  });
});
