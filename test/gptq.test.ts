/**
 * GPTQ int4 weights against an independent reference: the original optimal-brain-quantizer
 * recursion (quantize one row, correct the rest with the explicit inverse Hessian, remove the
 * row from the inverse), which GPTQ's Cholesky formulation reorganises without changing the
 * arithmetic; and against the property GPTQ exists for (less calibration output error than
 * round-to-nearest); and the blocked, packed implementation against the plain loops it replaced
 * (kept here as the reference) and against numpy running the same algorithm.
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import type { Tensor } from "../src/core/tensor.js";
import { gptqInt4, hessian, int4ColumnScales, inverseUpperFactor, rtnInt4 } from "../src/quant/gptq.js";
import * as fs from "node:fs";
import { generateLayer } from "../src/data/synthetic.js";
import { runGolden } from "../src/flows/golden.js";
import { quantizeToDir } from "../src/flows/quantize.js";
import { simulateDesign } from "../src/flows/simulate.js";
import { generateRtl } from "../src/hw/generate.js";
import { loadManifest } from "../src/image/manifest.js";
import { design, explain, tmpDir } from "./helpers/cosim.js";
import { gptqAgainstNumpy } from "../src/bench/gptq-speed.js";

function randTensor(rows: number, cols: number, rng: Rng, f: (r: number, c: number, g: number) => number = (_r, _c, g) => g): Tensor {
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[r * cols + c] = f(r, c, rng.normal());
  return { shape: [rows, cols], data };
}

/** Correlated activations: a few shared factors plus noise, and two loud channels. */
function correlated(m: number, k: number, rng: Rng): Tensor {
  const factors = randTensor(m, 3, rng);
  const load = randTensor(3, k, rng);
  return randTensor(m, k, rng, (r, c, g) => {
    let v = 0.3 * g;
    for (let f = 0; f < 3; f++) v += factors.data[r * 3 + f] * load.data[f * k + c];
    return c === 1 || c === 7 ? 20 * v : v;
  });
}

/** Gauss-Jordan inverse of a symmetric positive definite matrix. */
function inverse(a: Float64Array, k: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(k * k);
  for (let i = 0; i < k; i++) inv[i * k + i] = 1;
  for (let c = 0; c < k; c++) {
    const p = m[c * k + c];
    for (let j = 0; j < k; j++) {
      m[c * k + j] /= p;
      inv[c * k + j] /= p;
    }
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const f = m[r * k + c];
      if (f === 0) continue;
      for (let j = 0; j < k; j++) {
        m[r * k + j] -= f * m[c * k + j];
        inv[r * k + j] -= f * inv[c * k + j];
      }
    }
  }
  return inv;
}

/** The OBQ recursion in natural row order, damping 1% of the mean diagonal as GPTQ. */
function obqReference(x: Tensor, w: Tensor): Float64Array {
  const [k, n] = w.shape;
  const h = hessian(x);
  let mean = 0;
  for (let i = 0; i < k; i++) mean += h[i * k + i];
  for (let i = 0; i < k; i++) h[i * k + i] += (0.01 * mean) / k;
  let hinv = inverse(h, k);
  const ws = int4ColumnScales(w);
  const W = Float64Array.from(w.data);
  const wq = new Float64Array(k * n);
  for (let r = 0; r < k; r++) {
    const d = hinv[r * k + r];
    for (let j = 0; j < n; j++) {
      const q = Math.min(7, Math.max(-8, roundHalfEven(W[r * n + j] / ws[j])));
      wq[r * n + j] = q;
      const e = (W[r * n + j] - q * ws[j]) / d;
      for (let t = r + 1; t < k; t++) W[t * n + j] -= e * hinv[r * k + t];
    }
    // Remove row/column r from the inverse (the OBS update).
    const next = new Float64Array(k * k);
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) next[a * k + b] = hinv[a * k + b] - (hinv[a * k + r] * hinv[r * k + b]) / d;
    hinv = next;
  }
  return wq;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

/** || X W - X (wq * ws) ||^2 over the calibration tokens. */
function outputError(x: Tensor, w: Tensor, wq: Float64Array, ws: Float64Array): number {
  const [m, k] = x.shape;
  const n = w.shape[1];
  let err = 0;
  for (let r = 0; r < m; r++) {
    for (let j = 0; j < n; j++) {
      let a = 0;
      let b = 0;
      for (let c = 0; c < k; c++) {
        a += x.data[r * k + c] * w.data[c * n + j];
        b += x.data[r * k + c] * wq[c * n + j] * ws[j];
      }
      err += (a - b) ** 2;
    }
  }
  return err;
}

/**
 * The unblocked implementation the blocked one replaced, kept as the reference: X^T X one token
 * at a time, the Cholesky factor of the index-reversed H by dot products, U by back
 * substitution column by column, and each row's error pushed onto every later row at once.
 */
function unblockedGptq(x: Tensor, w: Tensor, actOrder = false): { wq: Float64Array; ws: Float64Array; h: Float64Array; hd: Float64Array; U: Float64Array; dead: number } {
  const [m, k] = x.shape;
  const n = w.shape[1];
  const h = new Float64Array(k * k);
  for (let r = 0; r < m; r++) for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) h[a * k + b] += x.data[r * k + a] * x.data[r * k + b];
  const hRaw = Float64Array.from(h);
  const ws = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let mx = 0;
    for (let c = 0; c < k; c++) mx = Math.max(mx, Math.abs(w.data[c * n + j]));
    ws[j] = mx > 0 ? mx / 7 : 1;
  }
  const W = Float64Array.from(w.data);
  let dead = 0;
  for (let a = 0; a < k; a++) {
    if (h[a * k + a] === 0) {
      h[a * k + a] = 1;
      W.fill(0, a * n, a * n + n);
      dead++;
    }
  }
  const order = Array.from({ length: k }, (_, i) => i);
  if (actOrder) order.sort((a, b) => h[b * k + b] - h[a * k + a] || a - b);
  const hp = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) hp[i * k + j] = h[order[i] * k + order[j]];
  let mean = 0;
  for (let i = 0; i < k; i++) mean += hp[i * k + i];
  mean /= k;
  for (let i = 0; i < k; i++) hp[i * k + i] += 0.01 * mean;
  const L = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = hp[(k - 1 - i) * k + (k - 1 - j)];
      for (let p = 0; p < j; p++) s -= L[i * k + p] * L[j * k + p];
      L[i * k + j] = i === j ? Math.sqrt(s) : s / L[j * k + j];
    }
  }
  const R = (a: number, b: number) => L[(k - 1 - a) * k + (k - 1 - b)];
  const U = new Float64Array(k * k);
  for (let col = 0; col < k; col++) {
    for (let a = col; a >= 0; a--) {
      let s = a === col ? 1 : 0;
      for (let p = a + 1; p <= col; p++) s -= R(a, p) * U[p * k + col];
      U[a * k + col] = s / R(a, a);
    }
  }
  const wq = new Float64Array(k * n);
  const err = new Float64Array(n);
  for (let i = 0; i < k; i++) {
    const r = order[i];
    for (let j = 0; j < n; j++) {
      const v = W[r * n + j];
      const q = Math.min(7, Math.max(-8, roundHalfEven(v / ws[j])));
      wq[r * n + j] = q;
      err[j] = (v - q * ws[j]) / U[i * k + i];
    }
    for (let t = i + 1; t < k; t++) for (let j = 0; j < n; j++) W[order[t] * n + j] -= U[i * k + t] * err[j];
  }
  return { wq, ws, h: hRaw, hd: hp, U, dead };
}

/**
 * A layer with what real calibration sets have: correlated channels, a few channels 20-50x
 * louder than the rest, and one channel never active.
 */
function outlierLayer(m: number, k: number, n: number, seed: number): { x: Tensor; w: Tensor; dead: number } {
  const rng = new Rng(seed);
  const x = correlated(m, k, rng);
  const dead = 3 + (seed % 5);
  for (let r = 0; r < m; r++) {
    x.data[r * k + dead] = 0;
    x.data[r * k + k - 2] *= 50;
    x.data[r * k + 130] *= 30;
  }
  const w = randTensor(k, n, rng, (_r, _c, g) => 0.05 * g);
  w.data[17 * n + 5] = 1.5;
  return { x, w, dead };
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describe("GPTQ int4 weights", () => {
  it("the inverse factor U satisfies U^T U = H^-1", () => {
    const rng = new Rng(3);
    const x = correlated(40, 12, rng);
    const h = hessian(x);
    const U = inverseUpperFactor(h, 12)!;
    const inv = inverse(h, 12);
    for (let a = 0; a < 12; a++) {
      for (let b = 0; b < 12; b++) {
        if (a > b) expect(U[a * 12 + b]).toBe(0);
        let s = 0;
        for (let p = 0; p < 12; p++) s += U[p * 12 + a] * U[p * 12 + b];
        expect(s).toBeCloseTo(inv[a * 12 + b], 8);
      }
    }
  });

  it("equals the optimal-brain-quantizer recursion it reorganises, code for code", () => {
    for (const seed of [1, 2, 3]) {
      const rng = new Rng(seed);
      const x = correlated(64, 24, rng);
      const w = randTensor(24, 5, rng, (_r, _c, g) => 0.1 * g);
      const got = gptqInt4(x, w);
      expect(got.percDamp).toBe(0.01);
      expect(Array.from(got.wq)).toEqual(Array.from(obqReference(x, w)));
    }
  });

  it("is round-to-nearest when the calibration channels are uncorrelated (diagonal Hessian)", () => {
    const rng = new Rng(4);
    // Each token activates one channel: X^T X is diagonal, so no error is worth moving.
    const x = randTensor(32, 16, rng, (r, c, g) => (r % 16 === c ? 1 + Math.abs(g) : 0));
    const w = randTensor(16, 6, rng);
    const got = gptqInt4(x, w);
    expect(Array.from(got.wq)).toEqual(Array.from(rtnInt4(w, int4ColumnScales(w))));
  });

  it("lowers the calibration output error well below round-to-nearest, with or without act-order", () => {
    const rng = new Rng(5);
    const x = correlated(256, 48, rng);
    const w = randTensor(48, 16, rng, (_r, _c, g) => 0.05 * g);
    const ws = int4ColumnScales(w);
    const rtn = outputError(x, w, rtnInt4(w, ws), ws);
    for (const actOrder of [false, true]) {
      const g = gptqInt4(x, w, { actOrder });
      expect(Array.from(g.ws)).toEqual(Array.from(ws));
      for (const q of g.wq) expect(Number.isInteger(q) && q >= -8 && q <= 7).toBe(true);
      expect(outputError(x, w, g.wq, g.ws)).toBeLessThan(0.7 * rtn);
    }
  });

  it("zeroes the weights of channels never active in calibration, and survives a singular Hessian", () => {
    const rng = new Rng(6);
    // Channel 3 is always 0; channels 0 and 1 are identical (rank-deficient H before damping).
    const x = randTensor(20, 8, rng, (r, c, g) => (c === 3 ? 0 : g));
    for (let r = 0; r < 20; r++) x.data[r * 8 + 1] = x.data[r * 8];
    const w = randTensor(8, 4, rng);
    const g = gptqInt4(x, w);
    expect(g.deadChannels).toBe(1);
    for (let j = 0; j < 4; j++) expect(g.wq[3 * 4 + j]).toBe(0);
    expect(g.wq.every((v) => Number.isFinite(v))).toBe(true);
  });
});

describe("GPTQ int4 weights, blocked", () => {
  it("X^T X and U equal the plain loops' across several 128-wide blocks, and U^T U H = I", () => {
    const k = 300;
    const { x } = outlierLayer(256, k, 8, 1);
    const ref = unblockedGptq(x, randTensor(k, 2, new Rng(9)));
    const h = hessian(x);
    expect(maxAbs(h.map((v, i) => v - ref.h[i]))).toBeLessThanOrEqual(1e-13 * maxAbs(ref.h));
    const U = inverseUpperFactor(ref.hd, k)!;
    expect(maxAbs(U.map((v, i) => v - ref.U[i]))).toBeLessThanOrEqual(1e-10 * maxAbs(ref.U));
    expect(U.filter((v, i) => Math.floor(i / k) > i % k && v !== 0).length, "nonzeros below the diagonal").toBe(0);
    // U^T (U (H e_col)) = e_col, on columns at and around the block edges (all of U^T U H is K^3).
    for (const col of [0, 127, 128, 200, 299]) {
      const uv = new Float64Array(k);
      for (let a = 0; a < k; a++) for (let b = a; b < k; b++) uv[a] += U[a * k + b] * ref.hd[b * k + col];
      for (let b = 0; b < k; b++) {
        let s = 0;
        for (let a = 0; a <= b; a++) s += U[a * k + b] * uv[a];
        expect(s, `column ${col}, row ${b}`).toBeCloseTo(b === col ? 1 : 0, 8);
      }
    }
  });

  it("rounds like the unblocked loop it replaced: codes and layer-output error", () => {
    const cases = [
      { k: 200, n: 40, seed: 1, actOrder: false },
      { k: 257, n: 70, seed: 2, actOrder: false },
      { k: 300, n: 53, seed: 3, actOrder: false },
      { k: 300, n: 61, seed: 4, actOrder: true },
    ];
    for (const c of cases) {
      const { x, w, dead } = outlierLayer(256, c.k, c.n, c.seed);
      const ref = unblockedGptq(x, w, c.actOrder);
      const got = gptqInt4(x, w, { actOrder: c.actOrder });
      expect(got.deadChannels).toBe(1);
      expect(ref.dead).toBe(1);
      expect(Array.from(got.wq.subarray(dead * c.n, (dead + 1) * c.n))).toEqual(new Array(c.n).fill(0));
      expect(got.percDamp).toBe(0.01);
      expect(Array.from(got.ws)).toEqual(Array.from(ref.ws));
      let equal = 0;
      for (let i = 0; i < got.wq.length; i++) if (got.wq[i] === ref.wq[i]) equal++;
      expect(equal / got.wq.length, `K=${c.k} N=${c.n}`).toBeGreaterThanOrEqual(0.999);
      const eGot = outputError(x, w, got.wq, got.ws);
      const eRef = outputError(x, w, ref.wq, ref.ws);
      expect(Math.abs(eGot - eRef) / eRef, `K=${c.k} N=${c.n}`).toBeLessThanOrEqual(1e-9);
      // And GPTQ still earns its keep on this layer.
      expect(eGot).toBeLessThan(0.7 * outputError(x, w, rtnInt4(w, got.ws), got.ws));
    }
  });

  it("raises the damping by 0.0015 until the Cholesky factor exists", () => {
    const rng = new Rng(12);
    // Rank 4 in 16 channels: undamped, the factor breaks down.
    const x = randTensor(4, 16, rng);
    const w = randTensor(16, 6, rng);
    const g = gptqInt4(x, w, { percDamp: 0 });
    expect(g.percDamp).toBe(0.0015);
    expect(Array.from(g.wq)).toEqual(Array.from(gptqInt4(x, w, { percDamp: 0.0015 }).wq));
  });

  it("agrees with numpy running the same algorithm (src/bench/ref/gptq_numpy.py)", async () => {
    const { x, w } = outlierLayer(256, 300, 48, 5);
    const r = await gptqAgainstNumpy(x, w, tmpDir("gptq-numpy"));
    expect(r.deadChannels).toEqual({ oltron: 1, numpy: 1 });
    expect(r.percDamp).toEqual({ oltron: 0.01, numpy: 0.01 });
    expect(r.codesEqual).toBeGreaterThanOrEqual(0.999);
    expect(r.numpyVersion).toMatch(/^\d+\.\d+/);
  });
});

describe("GPTQ weights in the images", () => {
  it("are recorded in the plan, lower the golden model's error, and co-simulate bit-exact", async () => {
    const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 32 });
    const g = generateLayer({ type: "qkv", m: 96, k: 64, n: 16, seed: 8 });
    const dir = tmpDir("gptq-images");
    quantizeToDir(d, [
      { name: "rtn", x: g.x, w: g.w, plan: { salientType: "fp8", threshold: 4 } },
      { name: "gptq", x: g.x, w: g.w, plan: { salientType: "fp8", threshold: 4, weights: "gptq" } },
    ], dir);
    const man = loadManifest(dir);
    expect(man.layers[1].plan.weights).toBe("gptq");
    const [rtn, gptq] = runGolden(dir, man);
    expect(gptq.error!.sqnrDb).toBeGreaterThan(rtn.error!.sqnrDb + 1);
    const r = await simulateDesign(d, generateRtl(d), dir, { log: () => {} });
    expect(r.pass, explain(r, "gptq images")).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
