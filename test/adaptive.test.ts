/**
 * Adaptive per-layer quantization: budgets are met, more budget never hurts, the model-wide
 * allocation is optimal and meets the K-weighted average, salient density beyond the flexible
 * lines costs cycles, and a chosen plan goes through the quantizer, the images and the golden
 * model with exactly the error the search computed.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  allocateBudget, checkBudget, chooseLayerPlan, chooseModelPlan, formatPlanTable, layerCandidates, modelCandidates,
  pickCandidate, planForCount, planFromCandidates, type PlanCandidate,
} from "../src/quant/adaptive.js";
import { prepareLayer } from "../src/quant/baselines.js";
import { elaborate, resolveConfig } from "../src/hw/design.js";
import { UserError } from "../src/core/errors.js";
import { writeImageDir } from "../src/flows/quantize.js";
import { runGolden } from "../src/flows/golden.js";
import { loadManifest } from "../src/image/manifest.js";
import { calibrate, quantizeLayer } from "../src/quant/quantizer.js";
import { buildImageSet } from "../src/image/build.js";
import { generateLayer, type LayerType } from "../src/data/synthetic.js";

const d32 = elaborate(resolveConfig({}, "32x32")); // 32 rows, 4 flexible lines, fp8 + fp12
const d64f1 = elaborate(resolveConfig({}, "oltron64")); // 64 rows, 1 flexible line, fp8 only

const tmp: string[] = [];
afterAll(() => {
  for (const t of tmp) fs.rmSync(t, { recursive: true, force: true });
});

function layer(type: LayerType, k = 512, m = 32, n = 64, seed = 7) {
  const g = generateLayer({ type, m, k, n, seed });
  return { name: type, x: g.x, w: g.w };
}

describe("budget", () => {
  it("must be in (4, 16]", () => {
    for (const b of [4, 3.9, 16.01, NaN, Infinity, -5]) expect(() => checkBudget(b), String(b)).toThrow(/must be a number in \(4, 16\]/);
    for (const b of [4.0001, 4.05, 16]) expect(() => checkBudget(b)).not.toThrow();
    const l = layer("qkv", 128, 8, 8);
    expect(() => chooseLayerPlan(d32, l.x, l.w, 4)).toThrow(UserError);
  });
});

describe("chooseLayerPlan", () => {
  const budgets = [4.05, 4.1, 4.125, 4.2, 4.25, 4.5, 5, 6, 8, 12];
  for (const type of ["qkv", "down", "up_gate"] as const) {
    it(`${type}: every budget is met and more budget never gives a worse output`, () => {
      const l = layer(type);
      const p = prepareLayer(l.x, l.w, type);
      const cands = layerCandidates(d32, p, { maxBits: 12 });
      let prev = Infinity;
      for (const b of budgets) {
        const c = pickCandidate(cands, b);
        expect(c.bits).toBeLessThanOrEqual(b + 1e-12);
        expect(c.mse).toBeLessThanOrEqual(prev * (1 + 1e-12));
        prev = c.mse;
      }
      // chooseLayerPlan (its own candidate list, capped at the budget) agrees with the shared list.
      for (const b of [4.1, 4.5]) {
        const chosen = chooseLayerPlan(d32, l.x, l.w, b, { name: type });
        const c = pickCandidate(cands, b);
        expect(chosen.plan).toEqual(c.plan);
        expect(chosen.mse).toBe(c.mse);
        expect(chosen.bits).toBeLessThanOrEqual(b);
      }
    });
  }

  it("below the TOBE granularity only int4 fits; the salient plan is recorded as a ratio that selects exactly its channels", () => {
    const l = layer("down");
    // K=512 on 32 rows: 16 tiles, so any fp8 plan has at least 16 slots = 4.125 bits.
    const c = chooseLayerPlan(d32, l.x, l.w, 4.1);
    expect(c.plan).toEqual({ salientType: "none" });
    expect(c.bits).toBe(4);
    const c2 = chooseLayerPlan(d32, l.x, l.w, 4.25);
    expect(c2.salientType).not.toBe("none");
    expect(calibrate(l.x, c2.plan).salient.length).toBe(c2.salientChannels);
    expect(c2.salientSlots).toBe(c2.salientChannels); // candidates fill their slots
    expect(c2.sqnrDb).toBeGreaterThan(c.sqnrDb);
  });

  it("planForCount round-trips every count through the quantizer's ratio rounding", () => {
    for (const k of [1, 2, 3, 7, 100, 127, 333, 1000, 4096, 11008]) {
      const step = Math.max(1, Math.floor(k / 400));
      for (let p = 0; p <= k; p += step) expect(() => planForCount("fp8", p, k)).not.toThrow();
    }
    expect(planForCount("fp12", 0, 10)).toEqual({ salientType: "none" });
  });

  it("rejects options the design cannot do", () => {
    const l = layer("qkv", 128, 8, 8);
    expect(() => chooseLayerPlan(d64f1, l.x, l.w, 4.5, { types: ["fp12"] })).toThrow(/fp12 is not available on design/);
    expect(() => chooseLayerPlan(d32, l.x, l.w, 4.5, { maxTileOverhead: -1 })).toThrow(/maxTileOverhead/);
    expect(() => chooseLayerPlan(d32, l.x, l.w, 4.5, { ratios: [2] })).toThrow(/ratio 2/);
    expect(() => chooseLayerPlan(d32, l.x, l.w, 4.5, { counts: [1.5] })).toThrow(/salient count 1.5/);
  });
});

describe("cycles and the flexible capacity", () => {
  it("estimated cycles grow once salient density exceeds the flexible lines; maxTileOverhead bounds them", () => {
    const l = layer("o_proj", 512);
    const p = prepareLayer(l.x, l.w, "o_proj");
    const cands = layerCandidates(d64f1, p, { maxBits: 6 }).filter((c) => c.salientType === "fp8");
    const none = layerCandidates(d64f1, p, { maxBits: 4.01 })[0];
    expect(none.salientType).toBe("none");
    const minTiles = none.tiles; // 512 / 64 = 8
    expect(minTiles).toBe(8);
    // Activation rows of 4 x (64 + 1) = 260 bits are stored packed: 8 tiles x 260 / 512 channels.
    expect(none.imageBits).toBe((8 * 260) / 512);
    expect(cands.length).toBeGreaterThan(3);
    const bySlots = [...cands].sort((a, b) => a.salientSlots - b.salientSlots);
    let prev = 0;
    for (const c of bySlots) {
      // One flexible line: one fp8 channel per tile; more channels need more (smaller) tiles.
      if (c.salientSlots <= minTiles) {
        expect(c.tiles).toBe(minTiles);
        expect(c.estCycles).toBe(none.estCycles);
      } else {
        expect(c.tiles).toBe(c.salientSlots);
        expect(c.estCycles).toBeGreaterThan(none.estCycles);
        expect(c.imageBits).toBe((c.tiles * 260) / 512);
      }
      expect(c.estCycles).toBeGreaterThanOrEqual(prev);
      prev = c.estCycles;
    }
    const free = chooseLayerPlan(d64f1, l.x, l.w, 5);
    const fast = chooseLayerPlan(d64f1, l.x, l.w, 5, { maxTileOverhead: 0 });
    const half = chooseLayerPlan(d64f1, l.x, l.w, 5, { maxTileOverhead: 1 });
    expect(fast.tiles).toBe(fast.minTiles);
    expect(fast.estCycles).toBe(fast.minCycles);
    expect(half.tiles).toBeLessThanOrEqual(2 * half.minTiles);
    expect(free.mse).toBeLessThanOrEqual(half.mse);
    expect(half.mse).toBeLessThanOrEqual(fast.mse);
  });
});

describe("chooseModelPlan", () => {
  // Different K per layer, so the K-weighting matters.
  const layers = [layer("qkv", 512, 32, 48, 1), layer("down", 256, 32, 48, 2), layer("o_proj", 384, 32, 48, 3)];
  const totalK = 512 + 256 + 384;
  const budgets = [4.05, 4.1, 4.2, 4.3, 4.5, 5];
  const lc = modelCandidates(d32, layers, Math.max(...budgets));

  it("meets the K-weighted average budget and never does worse with more budget", () => {
    let prev = Infinity;
    for (const b of budgets) {
      const plan = planFromCandidates(d32, lc, b);
      const avg = plan.layers.reduce((a, l) => a + l.bits * l.k, 0) / totalK;
      expect(avg).toBeCloseTo(plan.avgBits, 12);
      expect(plan.avgBits).toBeLessThanOrEqual(b + 1e-12);
      const nsr = plan.layers.reduce((a, l) => a + l.nsr, 0);
      expect(nsr).toBeLessThanOrEqual(prev * (1 + 1e-12));
      prev = nsr;
    }
  });

  it("is the exact optimum (brute force) and at least as good as per-layer choices at the same budget", () => {
    for (const b of [4.1, 4.3]) {
      const chosen = allocateBudget(lc, b);
      const got = chosen.reduce((a, c) => a + c.nsr, 0);
      let best = Infinity;
      const [A, B, C] = lc.map((l) => l.candidates.filter((c) => !c.overflow));
      const k = lc.map((l) => l.layer.k);
      for (const a of A) for (const bb of B) for (const c of C) {
        const avg = (a.bits * k[0] + bb.bits * k[1] + c.bits * k[2]) / totalK;
        if (avg <= b + 1e-12) best = Math.min(best, a.nsr + bb.nsr + c.nsr);
      }
      expect(got).toBeCloseTo(best, 14);
      const perLayer = lc.map((l) => pickCandidate(l.candidates, b)).reduce((a, c: PlanCandidate) => a + c.nsr, 0);
      expect(got).toBeLessThanOrEqual(perLayer * (1 + 1e-12));
    }
  });

  it("gives one layer salient channels even when the budget is below a single layer's granularity", () => {
    // 0.05 x 1152 channels = 57.6 extra bits = 14 fp8 slots: enough for the 256- or 384-channel
    // layer (8 or 12 tiles, one slot each), not for the 512-channel one (16 tiles).
    const plan = planFromCandidates(d32, lc, 4.05);
    expect(plan.avgBits).toBeLessThanOrEqual(4.05);
    expect(plan.layers.some((l) => l.salientType !== "none")).toBe(true);
  });

  it("chooseModelPlan = modelCandidates + allocation; validates its input; formats a table", () => {
    const plan = chooseModelPlan(d32, layers, 4.3);
    const again = planFromCandidates(d32, modelCandidates(d32, layers, 4.3), 4.3);
    expect(plan.layers.map((l) => l.plan)).toEqual(again.layers.map((l) => l.plan));
    expect(plan.budget).toBe(4.3);
    expect(plan.design).toBe(d32.name);
    const table = formatPlanTable(plan);
    for (const l of layers) expect(table).toContain(`| ${l.name} |`);
    expect(table).toContain(plan.avgBits.toFixed(4));
    expect(() => chooseModelPlan(d32, [layers[0], layers[0]], 4.5)).toThrow(/duplicate layer name/);
    expect(() => chooseModelPlan(d32, [], 4.5)).toThrow(/no layers/);
    expect(() => chooseModelPlan(d32, layers, 3)).toThrow(/\(4, 16\]/);
  });
});

describe("a chosen plan is simulated like any other layer", () => {
  const d16 = elaborate(resolveConfig({}, "16x16"));
  const cases: { type: LayerType; budget: number; types?: ("fp8" | "fp12")[] }[] = [
    { type: "down", budget: 4.5 },
    { type: "qkv", budget: 5, types: ["fp12"] }, // fp12 on 16 rows: tiles of 15 channels, >= 18 slots
    { type: "o_proj", budget: 5 },
    { type: "up_gate", budget: 4.2 }, // below the design's granularity: int4 only
  ];
  it.each(cases)("$type at B=$budget: golden SQNR equals the search's", ({ type, budget, types }) => {
    const l = layer(type, 256, 24, 40, 11);
    const chosen = chooseLayerPlan(d16, l.x, l.w, budget, { name: type, types });
    if (types) expect(chosen.salientType).toBe(types[0]);
    const input = { name: type, x: l.x, w: l.w, plan: chosen.plan, layerType: type };
    const q = quantizeLayer(d16, input);
    expect(q.trueSalient).toBe(chosen.salientChannels);
    expect(q.geometry.tiles).toBe(chosen.tiles);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oltron-adaptive-"));
    tmp.push(dir);
    writeImageDir(dir, buildImageSet(d16, [q]), [input]);
    const man = loadManifest(dir);
    expect(man.layers[0].plan).toEqual(chosen.plan);
    const [g] = runGolden(dir, man);
    expect(g.error).toBeDefined();
    expect(g.error!.mse).toBe(chosen.mse);
    expect(g.error!.sqnrDb).toBe(chosen.sqnrDb);
  });
});

describe("budgets in cost: cycles and image bits", () => {
  const l = layer("down", 512, 32, 64, 3);
  const p = prepareLayer(l.x, l.w, "down");
  const cands = layerCandidates(d32, p, { maxBits: 8 });

  it("a tile limit keeps the plan within minTiles x (1 + x) tiles; an image-bit limit within its bits", () => {
    // One flexible line: salient channels beyond one per tile cost tiles.
    const cands = layerCandidates(d64f1, p, { maxBits: 8 });
    const free = pickCandidate(cands, 4.5);
    expect(free.tiles).toBeGreaterThan(free.minTiles); // the unconstrained best adds tiles here
    const equalTiles = pickCandidate(cands, 4.5, { maxTileOverhead: 0 });
    expect(equalTiles.tiles).toBe(equalTiles.minTiles);
    expect(equalTiles.mse).toBeGreaterThanOrEqual(free.mse);
    // Every feasible candidate is considered: none under the limits beats the pick.
    const fits = (c: PlanCandidate, img: number) => c.bits <= 4.5 + 1e-9 && c.tiles === c.minTiles && c.imageBits <= img + 1e-9 && !c.overflow;
    const img = equalTiles.imageBits;
    const capped = pickCandidate(cands, 4.5, { maxTileOverhead: 0, maxImageBits: img });
    for (const c of cands) if (fits(c, img)) expect(capped.mse).toBeLessThanOrEqual(c.mse);
    expect(capped.imageBits).toBeLessThanOrEqual(img + 1e-9);
  });

  it("an image-bit limit below what the design stores is refused with the design's minimum", () => {
    // 32 rows with 4 flexible lanes: every tile row carries (32 + 4) x 4 bits for 32 channels, 4.5 bits per activation at least.
    const least = Math.min(...cands.map((c) => c.imageBits));
    expect(least).toBeCloseTo((d32.act.strideBits * cands[0].minTiles) / 512, 9);
    expect(() => pickCandidate(cands, 4.5, { maxImageBits: 4 })).toThrow(new RegExp(`no plan stores at most 4 image bits per activation on this design: the fewest is ${least.toFixed(3)}`));
    expect(() => chooseModelPlan(d32, [l], 4.5, { maxImageBits: 4 })).toThrow(/layer down: no plan stores at most 4 image bits/);
  });
});

describe("--max-tile-overhead and --max-image-bits on the command line", () => {
  it("constrain --budget's plan, are refused without --budget, and an impossible image-bit limit names the design's minimum", async () => {
    const { execa } = await import("execa");
    const run = (...a: string[]) => execa("node", [path.resolve(__dirname, "..", "bin", "oltron.js"), ...a], { reject: false, all: true });
    const ok = await run("verify", "--preset", "tiny", "--layer", "down:16x64x4:fp12", "--budget", "4.5", "--max-tile-overhead", "0", "--json");
    expect(ok.exitCode, ok.all).toBe(0);
    for (const l of JSON.parse(ok.stdout).layers) expect(l.tiles).toBe(l.minTiles);
    const alone = await run("verify", "--preset", "tiny", "--max-tile-overhead", "0");
    expect(alone.exitCode).toBe(1);
    expect(alone.stderr).toContain("give --budget too");
    const tight = await run("verify", "--preset", "tiny", "--layer", "down:16x64x4:fp12", "--budget", "4.5", "--max-image-bits", "4");
    expect(tight.exitCode).toBe(1);
    expect(tight.stderr).toMatch(/layer L0_down: no plan stores at most 4 image bits per activation on this design: the fewest is \d\.\d{3}/);
  });
});
