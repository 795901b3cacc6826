/**
 * Where a layer's cycles go (useful MACs, padding, extra tiles, stalls), and the warning when
 * one cause takes more than 10%: the parts add up to the cycles the accelerator measured, and
 * each warning names its cause and a remedy.
 */
import * as path from "node:path";
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { layerSplit, utilizationWarnings } from "../src/flows/utilization.js";
import type { SimResult } from "../src/flows/simulate.js";
import { design, tmpDir } from "./helpers/cosim.js";

const ROOT = path.resolve(__dirname, "..");

describe("utilization split", () => {
  const d = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64, loadSlots: 2 });
  const layer = (o: Partial<SimResult["layers"][number]>) => ({
    name: "L", m: 8, k: 16, n: 8, salientType: "fp8", actFormat: "tobe", salientChannels: 0, s: 0, tiles: 4, minTiles: 4, mismatches: 0,
    traffic: { descriptors: 2, activations: 10, weights: 10, written: 8, read: 22 } as never, ...o,
  }) as SimResult["layers"][number];
  const result = (layers: SimResult["layers"]) => ({ status: "done", layers, memory: { readLatency: [1, 1] } }) as unknown as SimResult;

  it("parts add up: 8 tokens x 4 tiles x 2 passes busy, by hand", () => {
    // K = 16 on 4 rows: 4 tiles, no padding; N = 8 on 4 columns: 2 passes; useful = 8*16*8/16 = 64.
    const s = layerSplit(d, layer({ cycles: { total: 80, busy: 64, stall: 16, utilization: 0.8, ideal: 64 } }))!;
    expect(s).toEqual({ useful: 64, padding: 0, extraTiles: 0, stall: 16, total: 80 });
    // K = 14 pads to 16; 6 tiles where 4 would do: 2 extra tiles x 8 tokens x 2 passes = 32.
    const t = layerSplit(d, layer({ k: 14, tiles: 6, cycles: { total: 100, busy: 96, stall: 4, utilization: 0, ideal: 0 } }))!;
    expect(t).toEqual({ useful: 56, padding: 8, extraTiles: 32, stall: 4, total: 100 });
    expect(t.useful + t.padding + t.extraTiles + t.stall).toBe(t.total);
    expect(layerSplit(d, layer({}))).toBeUndefined();
  });

  it("warns above 10% only, naming the cause and the option", () => {
    const quiet = utilizationWarnings(d, result([layer({ cycles: { total: 71, busy: 64, stall: 7, utilization: 0, ideal: 0 } })]));
    expect(quiet).toEqual([]);
    const [w] = utilizationWarnings(d, result([layer({ k: 14, tiles: 6, cycles: { total: 100, busy: 96, stall: 4, utilization: 0, ideal: 0 } })]));
    expect(w).toMatch(/^warning: layer L \(8x14x8\) spends 56\.0% of its 100 cycles on useful MACs: 32\.0% go to extra tiles \(6 tiles against 4/);
    expect(w).toMatch(/--flex-lines/);
    expect(w).not.toMatch(/padding/); // 8% is under the line
    // fp12 on 4 rows with 2 flexible lines: one fp12 channel per tile, and it takes a second
    // lane, so a tile holds 3 channels: K = 16 needs 6 tiles though 3 salient channels would fit 4.
    const d12 = design({ rows: 4, cols: 4, flexLines: 2, salientTypes: ["fp8", "fp12"], memWordBits: 64, bufferTokens: 64, loadSlots: 2 });
    const [lane] = utilizationWarnings(d12, result([layer({ salientType: "fp12", salientChannels: 3, s: 1, tiles: 6, cycles: { total: 100, busy: 96, stall: 4, utilization: 0, ideal: 0 } })]));
    expect(lane).toMatch(/6 tiles against 4 without salient channels: its 3 fp12 salient channels fit 1 per tile, but each takes a second lane, so a tile holds 3 channels instead of 4 and K = 16 needs 6\); fp8 instead of fp12/);
    expect(lane).not.toMatch(/--flex-lines/); // more lines would not help
    // 6 fp12 channels at one per tile need the 6 tiles themselves: the count is the cause.
    const [count] = utilizationWarnings(d12, result([layer({ salientType: "fp12", salientChannels: 6, s: 1, tiles: 6, cycles: { total: 100, busy: 96, stall: 4, utilization: 0, ideal: 0 } })]));
    expect(count).toMatch(/its 6 fp12 salient channels, at most 1 per tile \(2 flexible lane\(s\), 2 per channel\), need 6 tiles\); fewer salient channels .*--flex-lines/);
    const [stall] = utilizationWarnings(d, result([layer({ cycles: { total: 128, busy: 64, stall: 64, utilization: 0, ideal: 0 } })]));
    expect(stall).toMatch(/50\.0% the array waits \(memory stalls and pipeline fill: .*memory read latency 1 cycles\); wider memory words \(--mem-word-bits 128\)/);
  });

  it("a real run under a slow memory warns on stderr, and its measured cycles split exactly", async () => {
    const out = path.join(tmpDir("util"), "run");
    const r = await execa("node", [path.join(ROOT, "bin", "oltron.js"), "verify", "--preset", "tiny", "--layer", "qkv:4x16x4", "--layer", "down:64x24x6:fp12:r0.5", "--mem-latency", "40", "--out", out], { reject: false, all: true, cwd: ROOT });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toMatch(/sim: warning: layer L0_qkv \(4x16x4\) spends [\d.]+% of its \d+ cycles on useful MACs: [\d.]+% the array waits/);
    expect(r.stderr).toMatch(/sim: warning: layer L1_down .* go to extra tiles .*; and [\d.]+% multiply padding \(K = 24 fills 6 tile\(s\) of 4 rows = 24, N = 6 fills 2 pass\(es\) of 4 columns = 8\)/);
    const res = JSON.parse(fs.readFileSync(path.join(out, "images", "sim-result.json"), "utf8")) as SimResult;
    const { loadDesign } = await import("../src/flows/design.js");
    for (const l of res.layers) {
      const s = layerSplit(loadDesign(path.join(out, "design")), l)!;
      expect(s.useful + s.padding + s.extraTiles + s.stall).toBeCloseTo(l.cycles!.total, 9);
      expect(s.extraTiles + s.padding + s.useful).toBeCloseTo(l.cycles!.busy, 9);
    }
  });
});
