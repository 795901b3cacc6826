/**
 * The rotation baseline (QuaRot) and the Oltron authors' published quantizer: the rotation is
 * orthogonal and exact, the rotated layer runs on an int4-only design bit-exact, and each
 * method behaves as its source describes.
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import type { Tensor } from "../src/core/tensor.js";
import { generateLayer } from "../src/data/synthetic.js";
import { runGolden } from "../src/flows/golden.js";
import { quantizeToDir } from "../src/flows/quantize.js";
import { simulateDesign } from "../src/flows/simulate.js";
import { generateRtl } from "../src/hw/generate.js";
import { loadManifest } from "../src/image/manifest.js";
import { int4PerTensor, prepareLayer } from "../src/quant/baselines.js";
import { AUTHORS_RATIO_TABLES, budgetRatio, channelRange, oltronAuthors, qtorchFloat, quarot } from "../src/quant/released.js";
import { fwht, hadamardRotation, rotateActivations, rotateLayer, rotateWeights } from "../src/quant/rotation.js";
import { design, explain, tmpDir } from "./helpers/cosim.js";

function randTensor(rows: number, cols: number, rng: Rng): Tensor {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return { shape: [rows, cols], data };
}

describe("Hadamard rotation", () => {
  it("the fast transform equals the Sylvester matrix product", () => {
    const n = 16;
    const rng = new Rng(1);
    const v = Float64Array.from({ length: n }, () => rng.normal());
    const got = Float64Array.from(v);
    fwht(got, 0, n);
    // H[i][j] = (-1)^popcount(i & j).
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += ((popcount(i & j) % 2) ? -1 : 1) * v[j];
      expect(got[i]).toBeCloseTo(s, 12);
    }
  });

  it("keeps the layer's product and every row's norm (Q is orthogonal), padding K to a power of two", () => {
    const rng = new Rng(2);
    for (const k of [32, 24]) {
      const x = randTensor(5, k, rng);
      const w = randTensor(k, 3, rng);
      const r = rotateLayer(x, w, 7);
      expect(r.paddedFrom).toBe(k === 24 ? 24 : undefined);
      const K = r.rotation.size;
      for (let t = 0; t < 5; t++) {
        let a = 0;
        let b = 0;
        for (let c = 0; c < k; c++) a += x.data[t * k + c] ** 2;
        for (let c = 0; c < K; c++) b += r.x.data[t * K + c] ** 2;
        expect(b).toBeCloseTo(a, 4);
        for (let j = 0; j < 3; j++) {
          let y = 0;
          let yr = 0;
          for (let c = 0; c < k; c++) y += x.data[t * k + c] * w.data[c * 3 + j];
          for (let c = 0; c < K; c++) yr += r.x.data[t * K + c] * r.w.data[c * 3 + j];
          expect(yr).toBeCloseTo(y, 4);
        }
      }
    }
    // Seeded: the same seed, the same signs; another seed, other signs.
    expect(hadamardRotation(64, 3).signs).toEqual(hadamardRotation(64, 3).signs);
    expect(hadamardRotation(64, 3).signs).not.toEqual(hadamardRotation(64, 4).signs);
    expect(rotateWeights(randTensor(8, 2, rng), hadamardRotation(8)).shape).toEqual([8, 2]);
  });

  it("spreads an outlier channel over every channel", () => {
    const x: Tensor = { shape: [1, 64], data: new Float32Array(64).fill(0.1) };
    x.data[5] = 100;
    const r = rotateActivations(x, hadamardRotation(64, 1));
    let mx = 0;
    for (const v of r.data) mx = Math.max(mx, Math.abs(v));
    expect(mx).toBeLessThan(100 / Math.sqrt(64) + 1);
  });
});

describe("QuaRot baseline", () => {
  it("beats per-tensor int4 by a wide margin on outlier channels, and runs bit-exact on an int4-only design", async () => {
    const g = generateLayer({ type: "down", m: 96, k: 64, n: 16, seed: 3 });
    const calib = generateLayer({ type: "down", m: 64, k: 64, n: 16, seed: 3 }).x;
    const p = prepareLayer(g.x, g.w, "down", { calib, weights: "gptq" });
    const q = quarot(p);
    expect(q.bits).toBe(4);
    expect(q.error.sqnrDb).toBeGreaterThan(int4PerTensor(p).error.sqnrDb + 5);
    // The same layer through the quantizer on an int4-only design: rotated tensors, per-token
    // scales at clip 0.9, GPTQ on the rotated calibration tokens.
    const d = design({ rows: 8, cols: 8, flexLines: 0, salientTypes: [], memWordBits: 128, bufferTokens: 32 });
    const rot = rotateLayer(g.x, g.w, 0);
    const dir = tmpDir("quarot");
    quantizeToDir(d, [{ name: "down_rot", x: rot.x, w: rot.w, calib: rotateActivations(calib, rot.rotation), plan: { salientType: "none", scaling: "token", clip: 0.9, weights: "gptq" } }], dir);
    const [gold] = runGolden(dir, loadManifest(dir));
    // Same integers and scales; only the float reference differs (rotated float32 tensors).
    expect(Math.abs(gold.error!.sqnrDb - q.error.sqnrDb)).toBeLessThan(0.01);
    const r = await simulateDesign(d, generateRtl(d), dir, { log: () => {} });
    expect(r.pass, explain(r, "quarot on int4-only")).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe("QPyTorch float_quantize, as the authors' code rounds salient values", () => {
  it("rounds to nearest with ties away from zero, has subnormals, and saturates without infinity", () => {
    // E5M2 between 2 and 4 steps by 0.5: ties go away from zero (not to even).
    expect(qtorchFloat(2.75, 5, 2)).toBe(3);
    expect(qtorchFloat(3.25, 5, 2)).toBe(3.5);
    expect(qtorchFloat(-2.75, 5, 2)).toBe(-3);
    expect(qtorchFloat(2.74, 5, 2)).toBe(2.5);
    // Subnormals: below 2^-14 the step is 2^(-14-2); half and two and a half steps round up.
    const sub = 2 ** -16;
    expect(qtorchFloat(0.5 * sub, 5, 2)).toBe(sub);
    expect(qtorchFloat(2.5 * sub, 5, 2)).toBe(3 * sub);
    expect(qtorchFloat(2 ** -14, 5, 2)).toBe(2 ** -14);
    // Saturation at (2 - 2^-m) 2^16: 114688 for E5M2, 130048 for E5M6.
    expect(qtorchFloat(1e9, 5, 2)).toBe(114688);
    expect(qtorchFloat(-1e9, 5, 6)).toBe(-130048);
    expect(qtorchFloat(114688, 5, 2)).toBe(114688);
    // E5M6 keeps 6 mantissa bits at any magnitude, also below our hardware grid's integers.
    expect(qtorchFloat(1 + 1 / 64, 5, 6)).toBe(1 + 1 / 64);
    expect(qtorchFloat(0.3, 5, 6)).toBeCloseTo(0.30078125, 12);
    expect(qtorchFloat(0, 5, 2)).toBe(0);
  });
});

describe("Oltron authors' quantizer (as released)", () => {
  it("counts salient channels as the release does (rounded up) and takes its per-layer-type tables", () => {
    const g = generateLayer({ type: "down", m: 16, k: 128, n: 8, seed: 2 });
    const p = prepareLayer(g.x, g.w, "down");
    expect(oltronAuthors(p, 0.01, "fp8").detail.salientChannels).toBe(2); // ceil(1.28)
    expect(oltronAuthors(p, 1e-6, "fp8").detail.salientChannels).toBe(1);
    expect(oltronAuthors(p, 0, "fp8").detail.salientChannels).toBe(0);
    expect(oltronAuthors(p, 1 / 16, "fp8").detail.salientChannels).toBe(8);
    expect(AUTHORS_RATIO_TABLES["llama-0.1"].ratios.down).toBe(1 / 16);
    // With no salient channel the row's own range sets the scale (0 need not be in it).
    const shifted = { ...p, x: { shape: p.x.shape, data: p.x.data.map((v) => Math.abs(v) + 100) } };
    const r = oltronAuthors(shifted as typeof p, 0, "fp8");
    const s = r.actScale as Float64Array;
    let lo = Infinity, hi = -Infinity;
    for (let c = 0; c < 128; c++) {
      lo = Math.min(lo, shifted.x.data[c]);
      hi = Math.max(hi, shifted.x.data[c]);
    }
    expect(s[0]).toBeCloseTo(Math.max(0.01, (hi - lo) / 15), 9);
  });


  it("takes the channels of largest range, asymmetric per-token int4 for the rest, and spends at most the budget", () => {
    const g = generateLayer({ type: "o_proj", m: 64, k: 128, n: 16, seed: 4 });
    const p = prepareLayer(g.x, g.w, "o_proj");
    const ratio = budgetRatio(4.25, "fp8");
    expect(ratio).toBeCloseTo(0.0625, 12);
    const r = oltronAuthors(p, ratio, "fp8");
    expect(r.detail.salientChannels).toBe(8);
    expect(r.bits).toBeLessThanOrEqual(4.25);
    const range = channelRange(p.calib);
    const top = Array.from(range.keys()).sort((a, b) => range[b] - range[a] || a - b).slice(0, 8);
    const s = r.actScale as Float64Array;
    for (let t = 0; t < 64; t++) {
      // Normal values: 16 levels per token, s_t (u - z_t) with u in 0..15.
      const lv = new Set<number>();
      for (let c = 0; c < 128; c++) if (!top.includes(c)) lv.add(r.aInt[t * 128 + c]);
      expect(Math.max(...lv) - Math.min(...lv)).toBeLessThanOrEqual(15);
      expect(s[t]).toBeGreaterThan(0);
    }
    // Salient channels hold float-coded values, far beyond the int4 range somewhere.
    let big = 0;
    for (let t = 0; t < 64; t++) for (const c of top) big = Math.max(big, Math.abs(r.aInt[t * 128 + c]));
    expect(big).toBeGreaterThan(15);
    expect(r.error.sqnrDb).toBeGreaterThan(int4PerTensor(p).error.sqnrDb);
  });
});

function popcount(v: number): number {
  let c = 0;
  while (v) {
    c += v & 1;
    v >>= 1;
  }
  return c;
}
