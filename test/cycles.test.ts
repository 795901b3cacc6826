/**
 * The cycle cost the adaptive planner shows users (baselines.estimateCycles) is checked
 * against co-simulated cycle counts: the estimate is a lower bound, and within a few percent
 * plus the pipeline's fill/drain when the memory port keeps up. This is a model check on
 * deterministic simulated cycles, not a timing test.
 */
import { describe, expect, it } from "vitest";
import { estimateCycles } from "../src/quant/baselines.js";
import { Rng } from "../src/core/rng.js";
import { cosim, design, randomCodeLayer } from "./helpers/cosim.js";

describe("cycle estimate vs co-simulation", () => {
  const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 });
  const cases = [
    { m: 64, k: 256, n: 32, type: "fp8" as const, salient: 16 },
    { m: 64, k: 256, n: 32, type: "fp8" as const, salient: 90 }, // beyond 2 lanes x 32 tiles: more tiles
    { m: 64, k: 256, n: 32, type: "fp12" as const, salient: 40 },
    { m: 200, k: 128, n: 16, type: "none" as const, salient: 0 }, // two token chunks
    { m: 4, k: 128, n: 16, type: "fp8" as const, salient: 8 }, // short tiles wait for preloads
  ];
  for (const [i, c] of cases.entries()) {
    it(`${JSON.stringify(c)}`, async () => {
      const layer = randomCodeLayer(d, new Rng(300 + i), { name: "L", ...c });
      const est = estimateCycles(d, layer.geometry, c.m, c.n);
      if (c.salient === 90) expect(layer.geometry.tiles).toBeGreaterThan(layer.geometry.minTiles);
      const r = await cosim(d, [layer], "verilator", "cycles");
      expect(r.pass).toBe(true);
      expect(r.cycles.total).toBeGreaterThanOrEqual(est);
      // Fill (first loads, rows + cols of wavefront) and the last write-back are not in the estimate.
      const fill = 4 * (d.rows + d.cols) + layer.m * 2 + 64;
      expect(r.cycles.total, `estimate ${est}`).toBeLessThanOrEqual(Math.ceil(est * 1.05) + fill);
    });
  }
});
