/**
 * Issue 6's quantized-path proof: the linear layers of a rewritten (reorder-free) block go
 * through the quantizer, the images, the golden model and Verilator co-simulation, bit-exact,
 * with a sane quantization error against the block's own float outputs.
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { buildBlocks, derivePermutations, foldReorders, linearOperands } from "../src/dataflow/index.js";
import { loadManifest } from "../src/manifest.js";
import { quantizeToDir, simulateDesign } from "../src/flow.js";
import { runGolden } from "../src/golden.js";
import { generateRtl } from "../src/rtl/generate.js";
import { Rng } from "../src/rng.js";
import { design, tmpDir } from "./helpers/cosim.js";

describe("rewritten block through the quantized path", () => {
  it("every linear of a reorder-free LLaMA block co-simulates bit-exact", async () => {
    const g = buildBlocks({ arch: "llama", dModel: 64, heads: 4, ffn: 96, layers: 1, seed: 11, eps: 1e-6, bias: false, name: "t" });
    const folded = foldReorders(g, derivePermutations(g, { seed: 3 }));
    expect(folded.explicitReorders).toBe(0);
    const rng = new Rng(21);
    const tokens = 8;
    const x = { shape: [tokens, 64], data: Float64Array.from({ length: tokens * 64 }, (_, i) => rng.normal() * (i % 64 === 5 ? 40 : 1)) };
    const ops = linearOperands(folded.graph, x);
    expect(ops.map((o) => o.name).sort()).toEqual(["b0.down_proj", "b0.gate_proj", "b0.k_proj", "b0.o_proj", "b0.q_proj", "b0.up_proj", "b0.v_proj"]);
    for (const o of ops) {
      // The operands are consistent: the block's own float output of the linear is x * w.
      const [m, k] = o.x.shape;
      const n = o.w.shape[1];
      let maxErr = 0, maxRef = 0;
      for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += o.x.data[r * k + i] * o.w.data[i * n + c];
        maxErr = Math.max(maxErr, Math.abs(s - o.y.data[r * n + c]));
        maxRef = Math.max(maxRef, Math.abs(s));
      }
      expect(maxErr, o.name).toBeLessThan(1e-4 * maxRef + 1e-6);
    }
    const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 });
    const dir = tmpDir("block");
    try {
      const layers = ops.map((o) => ({ name: o.name.replace(/\W/g, "_"), x: o.x, w: o.w, plan: { salientType: "fp8" as const, threshold: 4 } }));
      quantizeToDir(d, layers, dir);
      const golden = runGolden(dir, loadManifest(dir));
      for (const gr of golden) expect(gr.error!.sqnrDb, gr.name).toBeGreaterThan(8);
      const r = await simulateDesign(d, generateRtl(d), dir, { log: () => {} });
      expect(r.layers.length).toBe(7);
      expect(r.mismatches).toBe(0);
      expect(r.pass).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
