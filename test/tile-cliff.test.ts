/**
 * A layer whose salient channels cost more than 10% of its passes is reported with why and what
 * would help, instead of silently running at a fraction of the array.
 */
import { describe, expect, it } from "vitest";
import { parseLayerSpec, quantizeToDir, synthLayers, tileCliff } from "../src/flows/quantize.js";
import { design, tmpDir } from "./helpers/cosim.js";

describe("the tile cliff warning", () => {
  const d = design({ rows: 8, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 16 });

  it("names the tiles, the minimum, the cause and the remedies when salient channels cost more than 10% of the passes", () => {
    const logs: string[] = [];
    // Half of 64 channels salient in fp12: one per tile (2 flexible lanes, 2 per fp12 channel).
    quantizeToDir(d, synthLayers([parseLayerSpec("down:8x64x4:fp12:r0.5", 0)], 3), tmpDir("cliff"), { log: (s) => logs.push(s) });
    const w = logs.find((l) => /warning: layer L0_down needs/.test(l));
    expect(w, logs.join("\n")).toMatch(/needs (\d+) tiles against 8 without salient channels \(\d+\.\d% of the passes/);
    expect(w).toMatch(/a tile holds at most 1 fp12 salient channel\(s\) \(2 flexible lane\(s\), 2 per fp12 channel\), so its 32 salient channels need 32 tiles/);
    expect(w).toMatch(/--ratio or --threshold.*--budget.*fp8 instead of fp12.*--flex-lines/);
  });

  it("names the second lane of fp12 as the cause when the salient count alone would fit", () => {
    // 4 fp12 channels on 8 rows, 2 flexible lanes: one per tile fits 8 tiles, but each takes a
    // second lane, so a tile holds 7 channels and K = 64 needs 10 tiles; more lines would not help.
    const w = tileCliff(d, "x", { tiles: 10, minTiles: 8, tileChannels: 7, s: 1, salientType: "fp12", salientLanes: 2, paddedK: 70 }, 4);
    expect(w).toMatch(/needs 10 tiles against 8 .*so its 4 salient channels need 4 tiles, and each tile carries 7 of the 8 channels/);
    expect(w).toMatch(/The count alone fits: the second lane each fp12 channel takes costs the tiles\. fp8 instead of fp12, or a bit budget that weighs tiles \(--budget\), cut them/);
    expect(w).not.toMatch(/--flex-lines/);
  });

  it("stays quiet while the extra tiles are at most 10% of the passes", () => {
    const logs: string[] = [];
    quantizeToDir(d, synthLayers([parseLayerSpec("qkv:8x64x4:fp8:r0.05", 0)], 3), tmpDir("no-cliff"), { log: (s) => logs.push(s) });
    expect(logs.filter((l) => /warning/.test(l))).toEqual([]);
    // 10 of 11 passes useful (90.9%): quiet; 10 of 12 (83.3%): a warning.
    expect(tileCliff(d, "x", { tiles: 11, minTiles: 10, tileChannels: 7, s: 1, salientType: "fp8", salientLanes: 1, paddedK: 77 }, 11)).toBeUndefined();
    expect(tileCliff(d, "x", { tiles: 12, minTiles: 10, tileChannels: 7, s: 2, salientType: "fp8", salientLanes: 2, paddedK: 84 }, 20)).toMatch(/needs 12 tiles against 10 without salient channels \(83\.3% of the passes/);
  });
});
