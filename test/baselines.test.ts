/**
 * Baselines and the shared evaluation framework: the OVP encoder against values worked out by
 * hand from the E2M1 definition, the uniform quantizers, the bit and cycle accounting, and the
 * fast TOBE path against the quantizer + golden model's exact path.
 */
import { describe, expect, it } from "vitest";
import {
  abfloatMagnitude, activationOnlyError, dequantizedOutput, estimateCycles, fakeQuantActivations, int4PerTensor,
  int8PerTensor, outputError, ovp, ovpActivations, ovpEncodeRows, ovpRound, OVP_OUTLIER_MAGNITUDES, prepareLayer,
  quantizeWeightsInt4, tobeBits, tobeFixed, tobeQuantize,
} from "../src/quant/baselines.js";
import { elaborate, resolveConfig } from "../src/hw/design.js";
import { UserError } from "../src/core/errors.js";
import { matmulMod32, quantError } from "../src/golden.js";
import { actValue, quantizeLayer, type LayerPlan } from "../src/quant/quantizer.js";
import { generateLayer } from "../src/data/synthetic.js";
import type { Tensor } from "../src/core/tensor.js";
import { tileGeometry } from "../src/quant/tobe.js";

const t2 = (rows: number, cols: number, v: number[]): Tensor => ({ shape: [rows, cols], data: Float32Array.from(v) });

describe("OVP abfloat grid (E2M1, bias 3, in int4 steps)", () => {
  it("matches (1 + m/2) * 2^(e+3) worked out by hand", () => {
    // e=0: 8, 12; e=1: 16, 24; e=2: 32, 48; e=3: 64, 96
    expect(abfloatMagnitude(0, 0)).toBe(8);
    expect(abfloatMagnitude(0, 1)).toBe(12);
    expect(abfloatMagnitude(1, 0)).toBe(16);
    expect(abfloatMagnitude(1, 1)).toBe(24);
    expect(abfloatMagnitude(2, 0)).toBe(32);
    expect(abfloatMagnitude(2, 1)).toBe(48);
    expect(abfloatMagnitude(3, 0)).toBe(64);
    expect(abfloatMagnitude(3, 1)).toBe(96);
    // 8 is left out (as in the authors' code): outliers start strictly beyond the normal range.
    expect([...OVP_OUTLIER_MAGNITUDES]).toEqual([12, 16, 24, 32, 48, 64, 96]);
    expect(() => abfloatMagnitude(4, 0)).toThrow(UserError);
  });

  it("rounds to the joint grid, ties to the smaller magnitude, saturating at 96", () => {
    const cases: [number, number][] = [
      [0.4, 0], [0.5, 0], [0.6, 1], [2.5, 2], [6.6, 7], [7.5, 7], [9.4, 7], [9.5, 7], [9.6, 12],
      [13.9, 12], [14, 12], [14.1, 16], [20, 16], [20.1, 24], [28, 24], [29, 32], [40, 32], [41, 48],
      [56, 48], [57, 64], [80, 64], [81, 96], [100, 96], [1e6, 96],
    ];
    for (const [v, q] of cases) {
      expect(ovpRound(v), `round(${v})`).toBe(q);
      expect(ovpRound(-v), `round(${-v})`).toBe(q === 0 ? 0 : -q);
    }
    expect(Object.is(ovpRound(-0.3), 0)).toBe(true); // never -0
  });
});

describe("OVP pair encoding", () => {
  const enc = (v: number[], rowLength = v.length) => {
    const out = new Float64Array(v.length);
    const stats = ovpEncodeRows(v, rowLength, out);
    return { q: [...out], stats };
  };

  it("no outlier: both values are plain int4 in -7..7", () => {
    expect(enc([1.2, -3.6]).q).toEqual([1, -4]);
    expect(enc([7.4, -7.2]).q).toEqual([7, -7]);
    expect(enc([1.2, -3.6]).stats).toEqual({ outliers: 0, victims: 0, doubleOutlierPairs: 0, saturated: 0 });
  });

  it("one outlier: it keeps its abfloat value, its partner (the victim) becomes 0", () => {
    expect(enc([13, 2.2]).q).toEqual([12, 0]);
    expect(enc([0.7, -30]).q).toEqual([0, -32]);
    expect(enc([-5, 22]).q).toEqual([0, 24]);
    expect(enc([13, 2.2]).stats).toMatchObject({ outliers: 1, victims: 1, doubleOutlierPairs: 0 });
  });

  it("two outliers: the larger magnitude is kept, the other is the victim; a tie keeps the first", () => {
    expect(enc([20.5, -50]).q).toEqual([0, -48]);
    expect(enc([41, 30]).q).toEqual([48, 0]);
    expect(enc([50, 50]).q).toEqual([48, 0]);
    expect(enc([-200, 60]).q).toEqual([-96, 0]);
    expect(enc([-200, 60]).stats).toEqual({ outliers: 1, victims: 1, doubleOutlierPairs: 1, saturated: 1 });
  });

  it("a value between 7.5 and 9.5 stays normal (7) and victimizes nothing", () => {
    expect(enc([8.9, 3]).q).toEqual([7, 3]);
  });

  it("pairs never cross rows; an odd row's last value is clamped to the normal range", () => {
    expect(enc([1, 50, 2, 3], 2).q).toEqual([0, 48, 2, 3]);
    expect(enc([1, 50, 5, 60, 1, 100], 3).q).toEqual([0, 48, 5, 64, 0, 7]); // 60 is nearer 64 than 48
    expect(() => enc([1, 2, 3], 2)).toThrow(UserError);
  });

  it("ovpActivations divides by the scale first", () => {
    const { aInt } = ovpActivations(t2(1, 4, [2, 26, -3, 1]), 2);
    // v = [1, 13, -1.5, 0.5]: 13 -> 12 victimizes 1; -1.5 ties to -1, 0.5 ties to 0.
    expect([...aInt]).toEqual([0, 12, -1, 0]);
  });
});

describe("uniform per-tensor quantizers", () => {
  it("int4 max/7: largest magnitude maps to 7, round half to even, codes saturate at [-8, 7]", () => {
    const x = t2(1, 4, [7, -3.5, 2.5, 1]);
    const w = t2(4, 1, [1, 1, 1, 1]);
    const r = int4PerTensor(prepareLayer(x, w), "max");
    expect(r.actScale).toBe(1);
    expect([...r.aInt]).toEqual([7, -4, 2, 1]);
    expect(r.bits).toBe(4);
  });

  it("MSE clip search never loses to max/7 on activation error; int8 beats both", () => {
    const g = generateLayer({ type: "down", m: 16, k: 256, n: 16, seed: 3 });
    const p = prepareLayer(g.x, g.w, "down");
    const actErr = (aInt: Float64Array, s: number) => {
      const xq = fakeQuantActivations(aInt, s);
      let e = 0;
      for (let i = 0; i < xq.length; i++) e += (g.x.data[i] - xq[i]) ** 2;
      return e;
    };
    const mx = int4PerTensor(p, "max");
    const ms = int4PerTensor(p, "mse");
    const i8 = int8PerTensor(p);
    expect(actErr(ms.aInt, ms.actScale)).toBeLessThanOrEqual(actErr(mx.aInt, mx.actScale));
    expect(actErr(i8.aInt, i8.actScale)).toBeLessThan(actErr(ms.aInt, ms.actScale));
    for (const r of [mx, ms, i8, ovp(p)]) {
      expect(Number.isFinite(r.error.sqnrDb)).toBe(true);
      expect(r.error.overflow).toBe(false);
    }
  });
});

describe("framework", () => {
  const d = elaborate(resolveConfig({}, "16x16"));
  const g = generateLayer({ type: "o_proj", m: 12, k: 200, n: 40, seed: 5 });
  const p = prepareLayer(g.x, g.w, "o_proj");

  it("weights are quantized exactly as the quantizer does", () => {
    const q = quantizeLayer(d, { name: "L", x: g.x, w: g.w, plan: { salientType: "none" } });
    const { wq, ws } = quantizeWeightsInt4(g.w);
    expect([...ws]).toEqual([...q.weightScales]);
    for (let i = 0; i < q.geometry.paddedK; i++) {
      const c = q.perm[i];
      if (c < 0) continue;
      for (let j = 0; j < q.n; j++) {
        const code = q.wgtCodes[i * q.n + j];
        expect(code >= 8 ? code - 16 : code).toBe(wq[c * q.n + j]);
      }
    }
  });

  const plans: LayerPlan[] = [
    { salientType: "none" },
    { salientType: "fp8", threshold: 4 },
    { salientType: "fp12", ratio: 0.05 },
    { salientType: "fp8", ratio: 0.3 }, // more salient channels than the flexible lines: extra tiles
  ];
  it.each(plans)("TOBE fast path = quantizeLayer codes and golden error figures (%o)", (plan) => {
    const fast = tobeQuantize(d, p, plan);
    const q = quantizeLayer(d, { name: "L", x: g.x, w: g.w, plan });
    expect(fast.actScale).toBe(q.actScale);
    expect(fast.geometry).toEqual(q.geometry);
    expect(fast.salientSet).toEqual(q.salientSet);
    const K = q.geometry.paddedK;
    const a = new Int32Array(q.m * K);
    for (let r = 0; r < q.m; r++) {
      for (let i = 0; i < K; i++) {
        a[r * K + i] = actValue(q, r, i);
        const c = q.perm[i];
        if (c >= 0) expect(fast.aInt[r * p.k + c]).toBe(a[r * K + i]);
      }
    }
    const w = new Int8Array(K * q.n);
    for (let i = 0; i < K * q.n; i++) w[i] = q.wgtCodes[i] >= 8 ? q.wgtCodes[i] - 16 : q.wgtCodes[i];
    const y = matmulMod32(a, w, q.m, K, q.n);
    const exact = quantError(g.x.data, g.w.data, q.m, q.k, q.n, y, q.n, q.actScale, q.weightScales);
    const mine = outputError(p, fast.aInt, fast.actScale);
    expect(mine.mse).toBe(exact.mse);
    expect(mine.sqnrDb).toBe(exact.sqnrDb);
    expect(mine.overflow).toBe(false);
    // The dequantized output is Y * s_a * s_w[n].
    const deq = dequantizedOutput(p, fast.aInt, fast.actScale);
    expect(deq[7]).toBe(y[7] * q.actScale * q.weightScales[7]);
  });

  it("activation-only error isolates the activation format (no error for exact activations)", () => {
    const x = t2(2, 2, [1, 2, 3, 4]);
    const w = t2(2, 2, [0.5, 0.25, -1, 2]);
    const pl = prepareLayer(x, w);
    expect(activationOnlyError(pl, Float64Array.from([1, 2, 3, 4]), 1).mse).toBe(0);
    expect(activationOnlyError(pl, Float64Array.from([1, 2, 3, 4]), 1).sqnrDb).toBe(Infinity);
    expect(activationOnlyError(pl, Float64Array.from([2, 4, 6, 8]), 0.5).mse).toBe(0);
  });

  it("bits count promoted slots: (slots*b + (K-slots)*4)/K, information and storage", () => {
    const d64 = elaborate(resolveConfig({ flexLines: 2, salientTypes: ["fp8", "fp12"] }, "oltron64"));
    // K=1024 on 64 rows: 16 tiles; 10 fp8 channels still fill one slot per tile = 16 slots.
    const g8 = tileGeometry(d64, 1024, 10, "fp8");
    expect(tobeBits(g8, 1024)).toEqual({ bits: (16 * 8 + 1008 * 4) / 1024, storageBits: (16 * 8 + 1008 * 4) / 1024, slots: 16 });
    expect(tobeBits(g8, 1024).bits).toBe(4.0625);
    // fp12 takes two lanes: 64 channels + 1 extra lane exceed 64 rows, so 17 tiles of 61 channels.
    const g12 = tileGeometry(d64, 1024, 16, "fp12");
    expect([g12.tiles, g12.tileChannels, g12.s]).toEqual([17, 61, 1]);
    expect(tobeBits(g12, 1024)).toEqual({ bits: (17 * 12 + 1007 * 4) / 1024, storageBits: (17 * 16 + 1007 * 4) / 1024, slots: 17 });
    expect(tobeBits(tileGeometry(d64, 1024, 0, "none"), 1024)).toEqual({ bits: 4, storageBits: 4, slots: 0 });
  });

  it("cycle estimate: tiles x N-tiles x max(chunk tokens, rows) per token chunk", () => {
    const d64 = elaborate(resolveConfig({}, "oltron64")); // 64x64, bufferTokens 256
    const g16 = tileGeometry(d64, 1024, 16, "fp8");
    expect(estimateCycles(d64, g16, 64, 256)).toBe(16 * 4 * 64);
    expect(estimateCycles(d64, g16, 10, 256)).toBe(16 * 4 * 64); // short tiles wait for the preload
    expect(estimateCycles(d64, g16, 300, 256)).toBe(16 * 4 * (256 + 64));
    const g32 = tileGeometry(d64, 1024, 32, "fp8"); // one flexible line: 32 fp8 channels need 32 tiles
    expect(g32.tiles).toBe(32);
    expect(estimateCycles(d64, g32, 64, 256)).toBe(2 * estimateCycles(d64, g16, 64, 256));
  });

  it("fixed-threshold TOBE reports its bits, tiles and cycles; unsupported types are an error", () => {
    const r = tobeFixed(d, p, "fp8", 4);
    expect(r.bits).toBeGreaterThan(4);
    expect(r.detail.tiles).toBeGreaterThanOrEqual(r.detail.minTiles as number);
    const d8 = elaborate(resolveConfig({}, "oltron64"));
    expect(() => tobeFixed(d8, p, "fp12", 4)).toThrow(/fp12 is not supported/);
  });

  it("rejects malformed layers with specific messages", () => {
    expect(() => prepareLayer(t2(2, 3, [1, 2, 3, 4, 5, 6]), t2(2, 2, [1, 2, 3, 4]))).toThrow(/K = 3 channels but weights have K = 2/);
    expect(() => prepareLayer(t2(1, 2, [1, NaN]), t2(2, 1, [1, 2]))).toThrow(/activations contain NaN/);
    expect(() => prepareLayer({ shape: [4], data: new Float32Array(4) }, t2(2, 1, [1, 2]))).toThrow(/must be 2-D/);
  });
});
