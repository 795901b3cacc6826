/**
 * Issue 6's quantized-path proof: the quantizer's own TOBE permutations are folded into a
 * LLaMA block, and every linear goes through the quantizer, the images, the golden model and
 * Verilator co-simulation, bit-exact. A folded layer's images keep the order its activations
 * arrive in (monotone layout: zero padding only, no reorder at inference).
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { buildBlocks } from "../src/dataflow/index.js";
import { simulateDesign } from "../src/flows/simulate.js";
import { blockLayers } from "../src/flows/block.js";
import { quantizeToDir } from "../src/flows/quantize.js";
import { runGolden } from "../src/flows/golden.js";
import { loadManifest } from "../src/image/manifest.js";
import { generateRtl } from "../src/hw/generate.js";
import { generateActivations } from "../src/data/synthetic.js";
import { design, tmpDir } from "./helpers/cosim.js";

describe("a block with the quantizer's TOBE permutations folded in", () => {
  it("folds every permutation (head-aware for o_proj), keeps the layouts monotone, co-simulates bit-exact", async () => {
    const g = buildBlocks({ arch: "llama", dModel: 64, heads: 4, ffn: 96, layers: 1, seed: 11, eps: 1e-6, bias: false, name: "t" });
    const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 });
    const x = generateActivations("qkv", 8, 64, 21);
    // ratio 0.1: every linear gets salient channels, so every layout is a real permutation.
    const { layers, fold } = blockLayers(d, g, x, { salientType: "fp8", ratio: 0.1 });
    const byName = new Map(fold.plan.map((e) => [e.linear, e]));
    // Every permutation folds, o_proj's too: its TOBE layout is head-aware (channels stay in their head).
    for (const name of ["b0.q_proj", "b0.k_proj", "b0.v_proj", "b0.o_proj", "b0.gate_proj", "b0.up_proj", "b0.down_proj"]) {
      expect(["fused", "folded"], name).toContain(byName.get(name)!.placement);
    }
    expect(fold.explicitReorders).toBe(0);
    const oProj = layers.find((l) => l.name === "b0.o_proj")!;
    expect(oProj.plan!.groups).toBe(4);

    const dir = tmpDir("block");
    try {
      quantizeToDir(d, layers, dir);
      const man = loadManifest(dir);
      expect(man.layers.length).toBe(7);
      for (const l of man.layers) {
        const order = l.permutation.filter((c) => c >= 0);
        expect(order.every((c, i) => i === 0 || c > order[i - 1]), `${l.name} layout is monotone`).toBe(true);
        expect(l.s, l.name).toBeGreaterThan(0);
      }
      for (const gr of runGolden(dir, man)) expect(gr.error!.sqnrDb, gr.name).toBeGreaterThan(8);
      const r = await simulateDesign(d, generateRtl(d), dir, { log: () => {} });
      expect(r.mismatches).toBe(0);
      expect(r.pass).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
