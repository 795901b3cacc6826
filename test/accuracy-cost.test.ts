/**
 * The accuracy benchmark's cost accounting (information bits, image bits, cycles for every
 * method), the equal-cycles headline, the calibration-to-evaluation gap, the simpler-plan
 * rule and the activation models side by side. Expected costs are worked out by hand from
 * the array geometry in each comment, not taken from the code under test.
 */
import { describe, expect, it } from "vitest";
import { accuracyMarkdown, runAccuracyBench, type AccuracyBenchResult } from "../src/bench/accuracy.js";
import { methodCost } from "../src/bench/accuracy-cost.js";
import { elaborate, resolveConfig } from "../src/hw/design.js";

// 16x16 with two flexible lines: an activation tile row is 16 int4 lanes + 2 flexible lanes,
// stored in 72 bits; K = 96 channels fill 6 tiles.
const d = elaborate(resolveConfig({ rows: 16, cols: 16, flexLines: 2, salientTypes: ["fp8", "fp12"] }));
const d8 = elaborate(resolveConfig({ rows: 16, cols: 16, flexLines: 1, salientTypes: ["fp8"] }));

describe("methodCost", () => {
  it("puts 4-bit methods on an int4 array of the same size, QuaRot on K padded to its Hadamard size", () => {
    expect(d.act.strideBits).toBe(72);
    for (const m of ["int4_max", "int4_mse", "int4_token", "ovp", "ovp_token", "olive"]) {
      expect(methodCost(d, 96, { method: m, detail: {} })).toMatchObject({ imageBits: 4, cycleRatio: 1 });
    }
    // 96 channels rotate as 128: 8 int4 tiles of 16 instead of 6, and 4 x 128 / 96 image bits.
    const q = methodCost(d, 96, { method: "quarot_wclip", detail: { rotationSize: 128, paddedFrom: 96 } });
    expect(q.imageBits).toBeCloseTo(16 / 3, 12);
    expect(q.cycleRatio).toBeCloseTo(8 / 6, 12);
    expect(q.hardware).toContain("K padded to 128");
    expect(methodCost(d, 96, { method: "int8", detail: {} })).toMatchObject({ imageBits: 8, cycleRatio: 1 });
  });

  it("lays the authors' salient channels out on the hybrid design: extra tiles once the flexible lanes are full", () => {
    // Two fp8 lanes per tile, 6 tiles: up to 12 salient channels at 1x and 6 x 72 / 96 = 4.5 image bits.
    expect(methodCost(d, 96, { method: "oltron_authors_fp8_b4.5", detail: { salientChannels: 12 } })).toMatchObject({ imageBits: 4.5, cycleRatio: 1 });
    const over = methodCost(d, 96, { method: "oltron_authors_fp8_b4.5", detail: { salientChannels: 24 } });
    expect(over.cycleRatio!).toBeGreaterThan(1);
    expect(over.imageBits!).toBeCloseTo((over.cycleRatio! * 6 * 72) / 96, 12);
    // fp12 needs lanes the one-line fp8 design lacks.
    expect(methodCost(d8, 96, { method: "oltron_authors_fp12_b4.5", detail: { salientChannels: 4 } })).toMatchObject({ imageBits: null, cycleRatio: null });
    expect(() => methodCost(d, 96, { method: "mystery", detail: {} })).toThrow(/no cost model/);
  });
});

describe("accuracy benchmark at equal cost", () => {
  let r: AccuracyBenchResult;

  it("reports image bits and cycles for every method, and the equal-cycles headline", () => {
    r = runAccuracyBench({
      budgets: [4.1, 4.25, 4.5], m: 48, calibTokens: 32, k: 96, n: 16, seeds: [1, 2, 3], design: d, layerTypes: ["qkv", "down"], weights: ["rtn"],
      weightModels: ["gaussian"], activationModels: ["profile", "mechanistic"],
    });
    expect(r.layers.map((l) => [l.layer, l.activationModel])).toEqual([
      ["qkv", "profile"], ["down", "profile"], ["qkv, mech. X", "mechanistic"], ["down, mech. X", "mechanistic"],
    ]);
    expect(r.setup.activationModels).toEqual(["profile", "mechanistic"]);
    for (const l of r.layers) {
      for (const b of l.baselines) expect(b.cost, `${l.layer} ${b.method}`).toBeDefined();
      // K = 96 pads to 128 for QuaRot: its cost says so in every layer.
      expect(l.baselines.find((b) => b.method === "quarot_wclip")!.cost!.cycleRatio).toBeCloseTo(8 / 6, 12);
      for (const a of l.adaptive) {
        expect(a.imageBits).toBeCloseTo((a.tiles * 72) / 96, 12);
        expect(a.cycleRatio).toBeCloseTo(a.tiles / 6, 12);
      }
    }
    // The headline tallies: rows adaptive won in every seed, from the rows themselves.
    const eq = r.layers.flatMap((l) => l.adaptive.filter((a) => a.noExtraTiles));
    const ec = r.summary.equalCycles;
    expect(ec.rows).toBe(eq.length);
    expect(ec.met).toBe(eq.filter((a) => a.released.versus.every((v) => v.wins === 3)).length);
    expect(ec.failures).toHaveLength(ec.rows - ec.met);
    for (const t of ec.versus) {
      const vs = eq.map((a) => a.released.versus.find((v) => v.method.startsWith(t.family))!);
      expect(t.rows).toBe(eq.length);
      expect(t.wonEverySeed).toBe(vs.filter((v) => v.wins === 3).length);
      expect(t.lostEverySeed).toBe(vs.filter((v) => v.wins === 0).length);
      expect(t.meanDiffDb).toBeCloseTo(vs.reduce((s, v) => s + v.meanDiffDb, 0) / vs.length, 9);
    }
    expect(ec.rotatedTobe!.rows).toBe(r.layers.reduce((s, l) => s + l.rotatedTobe.length, 0));
    const md = accuracyMarkdown(r);
    expect(md).toContain("**equal image bits with the 4-bit methods is impossible here**");
    expect(md).toMatch(/### Equal cycles: held-out layer-output SQNR[\s\S]*### Equal information bits/);
    expect(md).toContain("| down, mech. X | 4.5 |");
    // Where it wins and loses: one row per (design, weights, data) group, with the tallies.
    expect(md).toMatch(/### Where adaptive TOBE wins and where it loses, at equal cycles/);
    for (const data of ["profile X, gaussian W", "mechanistic X, gaussian W"]) {
      expect(md).toMatch(new RegExp(`\\| ${d.name} \\| rtn \\| ${data} \\| [+-]\\d+\\.\\d\\d \\(\\d+ won, \\d+ lost of 6\\)`));
    }
    expect(md).toMatch(/\| QuaRot \(Hadamard[^|]*\| 4\.000 \| 5\.333 \| 1\.33x \| 16x16 array of int4 lanes, K padded to 128 \|/);
    expect(md).not.toMatch(/NaN|undefined/);
  });

  it("prefers a lower budget whose plan the row does not beat by more than the seed spread", () => {
    let marked = 0;
    for (const l of r.layers) {
      for (const rows of [l.adaptive, l.rotatedTobe]) {
        for (const a of rows) {
          const lower = rows.filter((x) => x.noExtraTiles === a.noExtraTiles && x.budget < a.budget).sort((x, y) => x.budget - y.budget);
          // Recompute the rule from the per-seed values: gain mean <= its sample standard deviation.
          const inside = lower.find((x) => {
            const dlt = a.sqnrDbSeeds!.map((v, i) => v - x.sqnrDbSeeds![i]);
            const mean = dlt.reduce((s, v) => s + v, 0) / dlt.length;
            const sd = Math.sqrt(dlt.reduce((s, v) => s + (v - mean) ** 2, 0) / (dlt.length - 1));
            return mean <= sd + 1e-9;
          });
          expect(a.preferSimpler?.budget, `${l.layer} B=${a.budget}`).toBe(inside?.budget);
          if (a.preferSimpler) marked++;
        }
      }
    }
    // The same plan chosen at two budgets gains exactly nothing: such rows are always marked.
    expect(marked).toBeGreaterThan(0);
  });
});

describe("deviations from the released baselines, measured", () => {
  it("measures the authors' fp16 arithmetic and the weight quantizer on every layer, seed and budget", async () => {
    const { generateLayer } = await import("../src/data/synthetic.js");
    const { prepareLayer } = await import("../src/quant/baselines.js");
    const { olive } = await import("../src/quant/olive.js");
    const r = runAccuracyBench({
      budgets: [4.25, 4.5], m: 40, calibTokens: 24, k: 96, n: 8, seeds: [1, 2], design: d, layerTypes: ["o_proj"], weights: ["rtn", "gptq"],
      weightModels: ["gaussian"], activationModels: ["profile"],
    });
    const fp16 = r.deviations.find((x) => x.deviation === "authors-fp16")!;
    expect(fp16.samples).toBe(2 * 2 * 2); // seeds x budgets x {fp8, fp12}, the first weight mode only
    const olives = r.deviations.find((x) => x.deviation === "weights-clip" && x.method === "olive")!;
    expect(olives.samples).toBe(2);
    expect(r.deviations.map((x) => x.method)).toEqual(expect.arrayContaining(["oltron_authors", "ovp", "int4_token"]));
    // Seed 1 and 2, independently: OliVe's activations on clip-searched weights against max/7 weights.
    const effects = [1, 2].map((seed) => {
      const g = generateLayer({ type: "o_proj", m: 64, k: 96, n: 8, seed, variation: true });
      const rows = (r0: number, r1: number) => ({ shape: [r1 - r0, 96], data: g.x.data.slice(r0 * 96, r1 * 96) });
      const prep = (wClip: boolean) => prepareLayer(rows(24, 64), g.w, "o_proj", { calib: rows(0, 24), wClip });
      return olive(prep(true)).error.sqnrDb - olive(prep(false)).error.sqnrDb;
    });
    expect(olives.meanDb).toBeCloseTo((effects[0] + effects[1]) / 2, 9);
    expect(olives.minDb).toBeCloseTo(Math.min(...effects), 9);
    const md = accuracyMarkdown(r);
    expect(md).toContain("## Deviations left, measured");
    expect(md).toContain("fp16");
  });

  it("the authors' fp16 path equals the float64 one where every value is exact in half precision", async () => {
    const { prepareLayer } = await import("../src/quant/baselines.js");
    const { oltronAuthors } = await import("../src/quant/released.js");
    // Small integers in [-7, 8]: range 15, scale exactly 1, every quotient an integer.
    const k = 32;
    const m = 16;
    const x = { shape: [m, k], data: Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 16) - 7) };
    x.data[0] = -7;
    x.data[1] = 8;
    const w = { shape: [k, 4], data: Float32Array.from({ length: k * 4 }, (_, i) => ((i % 5) - 2) / 3) };
    const p = prepareLayer(x, w, "exact");
    const a = oltronAuthors(p, 0.1, "fp8");
    const b = oltronAuthors(p, 0.1, "fp8", { fp16: true });
    expect(Array.from(b.aInt)).toEqual(Array.from(a.aInt));
    expect(b.error.sqnrDb).toBe(a.error.sqnrDb);
    expect(b.label).toContain("fp16 arithmetic");
    // Where the data is not exact in fp16, the two differ.
    const y = { shape: [m, k], data: Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 1.7) * 3.3333) };
    const q = prepareLayer(y, w, "inexact");
    expect(oltronAuthors(q, 0.1, "fp8", { fp16: true }).error.sqnrDb).not.toBe(oltronAuthors(q, 0.1, "fp8").error.sqnrDb);
  });
});
