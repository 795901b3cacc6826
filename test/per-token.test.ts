/**
 * Per-token activation scales (SPEC section 2): the scale of token row t is computed from the
 * row itself; the integers the hardware multiplies are unchanged in kind, so co-simulation
 * stays bit-exact, and only dequantization uses s_a[t].
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { decode, decodeInt4, type ElemType } from "../src/core/formats.js";
import { generateLayer } from "../src/data/synthetic.js";
import { readNpy } from "../src/data/tensorio.js";
import { runGolden } from "../src/flows/golden.js";
import { quantizeToDir } from "../src/flows/quantize.js";
import { simulateDesign } from "../src/flows/simulate.js";
import { generateRtl } from "../src/hw/generate.js";
import { loadManifest } from "../src/image/manifest.js";
import { calibrate, quantizeLayer, type LayerInput } from "../src/quant/quantizer.js";
import { design, explain, tmpDir } from "./helpers/cosim.js";

const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 32 });

function layer(type: "down" | "o_proj", plan: LayerInput["plan"], m = 48, k = 64, n = 16, seed = 5): LayerInput {
  const g = generateLayer({ type, m, k, n, seed });
  return { name: `${type}_${plan?.scaling ?? "tensor"}_${plan?.salientType}`, x: g.x, w: g.w, plan };
}

describe("per-token scales", () => {
  it("give every row its own scale, a constant clip of the row's largest normal magnitude", () => {
    const l = layer("down", { salientType: "fp8", threshold: 4, scaling: "token" });
    const q = quantizeLayer(d, l);
    expect(q.actScales).toBeDefined();
    expect(q.actScales!.length).toBe(48);
    const k = 64;
    // The scale covers the int4 channels: all but those in salient slots (promoted ones too).
    const salient = new Set(q.salientSet.filter((c) => c >= 0));
    expect(salient.size).toBeGreaterThanOrEqual(calibrate(l.x, l.plan!).salient.length);
    // The calibrated clip is recorded in the plan (the manifest alone reproduces the scales).
    expect(q.plan.clip).toBeGreaterThanOrEqual(0.5);
    const ratios: number[] = [];
    for (let t = 0; t < 48; t++) {
      let mx = 0;
      for (let c = 0; c < k; c++) if (!salient.has(c)) mx = Math.max(mx, Math.abs(l.x.data[t * k + c]));
      ratios.push((7 * q.actScales![t]) / mx);
    }
    // One clip factor per layer, in the searched range 0.5..1: the one in the plan.
    for (const r of ratios) expect(r).toBeCloseTo(q.plan.clip!, 12);
    expect(ratios[0]).toBeGreaterThanOrEqual(0.5);
    expect(ratios[0]).toBeLessThanOrEqual(1);
    // Tokens differ in scale (o_proj and down inputs vary token to token).
    expect(Math.max(...q.actScales!) / Math.min(...q.actScales!)).toBeGreaterThan(1.5);
  });

  it("dequantize row by row in the golden model, and beat one per-layer scale on token-varying data", () => {
    const dir = tmpDir("per-token");
    const layers = [layer("down", { salientType: "none", scaling: "token" }), layer("down", { salientType: "none" })];
    quantizeToDir(d, layers, dir);
    const man = loadManifest(dir);
    expect(man.layers[0].actScales).toHaveLength(48);
    expect(man.layers[1].actScales).toBeUndefined();
    const res = runGolden(dir, man);
    // Independently of the golden code: decode the activation codes in original channel
    // order, times each row's scale, times the int4 weights and their scales.
    const q = quantizeLayer(d, layers[0]);
    const deq = readNpy(path.join(dir, `${man.layers[0].name}.deq.npy`)).data;
    const { m, k, n } = q;
    let worst = 0;
    let peak = 0;
    for (let t = 0; t < m; t++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let i = 0; i < q.geometry.paddedK; i++) {
          if (q.perm[i] < 0) continue;
          const slot = i % q.geometry.tileChannels;
          const type: ElemType = slot < q.geometry.s ? (q.geometry.salientType as ElemType) : "int4";
          acc += decode(type, q.actCodes[t * q.geometry.paddedK + i]) * decodeInt4(q.wgtCodes[i * n + j]);
        }
        const want = acc * q.actScales![t] * q.weightScales[j];
        worst = Math.max(worst, Math.abs(want - deq[t * n + j]));
        peak = Math.max(peak, Math.abs(want));
      }
    }
    expect(worst).toBeLessThanOrEqual(peak * 1e-6);
    expect(k).toBe(64);
    // The down-proj input's token scales vary (log-normal sigma 0.3 plus massive tokens):
    // per-token int4 is far closer to the float product than one scale for all tokens.
    expect(res[0].error!.sqnrDb).toBeGreaterThan(res[1].error!.sqnrDb + 3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("co-simulate bit-exact on Verilator and Icarus (TOBE fp12 and int4 layers)", async () => {
    const dir = tmpDir("per-token-sim");
    quantizeToDir(d, [layer("o_proj", { salientType: "fp12", threshold: 4, scaling: "token" }), layer("down", { salientType: "none", scaling: "token" }, 40, 24, 12)], dir);
    for (const sim of ["verilator", "icarus"] as const) {
      const r = await simulateDesign(d, generateRtl(d), dir, { simulator: sim, log: () => {} });
      expect(r.pass, explain(r, sim)).toBe(true);
      expect(r.layers.every((l) => l.error !== undefined && Number.isFinite(l.error.sqnrDb))).toBe(true);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a manifest whose actScales do not list one scale per token is refused, naming the field", () => {
    const dir = tmpDir("per-token-bad");
    quantizeToDir(d, [layer("down", { salientType: "none", scaling: "token" }, 8, 16, 8)], dir);
    const file = path.join(dir, "manifest.json");
    const man = JSON.parse(fs.readFileSync(file, "utf8"));
    man.layers[0].actScales.pop();
    fs.writeFileSync(file, JSON.stringify(man));
    expect(() => loadManifest(dir)).toThrow(/actScales must list 8 per-token scales \(one per token row\), got 7/);
    man.layers[0].actScales.push(-1, 2);
    fs.writeFileSync(file, JSON.stringify(man));
    expect(() => loadManifest(dir)).toThrow(/actScales/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
