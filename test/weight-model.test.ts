/**
 * The heavy-tailed weight model: what real checkpoints show (heavy tails, uneven row and
 * column scales) and what rotation repairs. Measured on the generated tensors, not assumed.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { generateLayer, generateWeights, HEAVY_WEIGHTS } from "../src/data/synthetic.js";
import { rotateLayer } from "../src/quant/rotation.js";
import type { Tensor } from "../src/core/tensor.js";

const ROOT = path.resolve(__dirname, "..");

/** Mean over output columns of the excess kurtosis of the column's entries (each column's own scale divided out). */
function columnKurtosis(w: Tensor): number {
  const [k, n] = w.shape;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    let m2 = 0, m4 = 0, mean = 0;
    for (let i = 0; i < k; i++) mean += w.data[i * n + j];
    mean /= k;
    for (let i = 0; i < k; i++) {
      const d = w.data[i * n + j] - mean;
      m2 += d * d;
      m4 += d * d * d * d;
    }
    m2 /= k;
    m4 /= k;
    sum += m4 / (m2 * m2) - 3;
  }
  return sum / n;
}

/** SQNR (dB) of int4 round-to-nearest weights at max/7 per output column. */
function rtnSqnr(w: Tensor): number {
  const [k, n] = w.shape;
  let sig = 0, err = 0;
  for (let j = 0; j < n; j++) {
    let mx = 0;
    for (let i = 0; i < k; i++) mx = Math.max(mx, Math.abs(w.data[i * n + j]));
    const s = mx / 7 || 1;
    for (let i = 0; i < k; i++) {
      const v = w.data[i * n + j];
      const q = Math.max(-8, Math.min(7, Math.round(v / s))) * s;
      sig += v * v;
      err += (v - q) ** 2;
    }
  }
  return 10 * Math.log10(sig / err);
}

describe("weight models", () => {
  it("gaussian is the default and unchanged; heavy is deterministic per seed", () => {
    const a = generateLayer({ type: "qkv", m: 8, k: 256, n: 32, seed: 4 });
    const b = generateLayer({ type: "qkv", m: 8, k: 256, n: 32, seed: 4, weights: "gaussian" });
    expect(b.w.data).toEqual(a.w.data);
    const h1 = generateWeights(256, 32, 9, "heavy");
    const h2 = generateWeights(256, 32, 9, "heavy");
    expect(h1.data).toEqual(h2.data);
    expect(h1.data).not.toEqual(generateWeights(256, 32, 9).data);
    // The activations do not depend on the weight model.
    expect(generateLayer({ type: "qkv", m: 8, k: 256, n: 32, seed: 4, weights: "heavy" }).x.data).toEqual(a.x.data);
  });

  it("heavy weights have heavy tails that a randomised Hadamard rotation removes, and round-to-nearest suffers from them", () => {
    const k = 1024, n = 128;
    const gauss = generateWeights(k, n, 3);
    const heavy = generateWeights(k, n, 3, "heavy");
    // Student-t(6) alone has excess kurtosis 6 / (6 - 4) = 3; the row spread adds to it.
    expect(HEAVY_WEIGHTS.dof).toBe(6);
    expect(columnKurtosis(gauss)).toBeLessThan(0.5);
    expect(columnKurtosis(heavy)).toBeGreaterThan(3);
    const x: Tensor = { shape: [1, k], data: new Float32Array(k).fill(1) };
    const rotated = rotateLayer(x, heavy, 1).w;
    expect(columnKurtosis(rotated)).toBeLessThan(0.5);
    // Max/7 int4 loses more on heavy tails, and rotation wins most of it back.
    expect(rtnSqnr(heavy)).toBeLessThan(rtnSqnr(gauss) - 1);
    expect(rtnSqnr(rotated)).toBeGreaterThan(rtnSqnr(heavy) + 1);
  });

  it("verify --weight-model heavy co-simulates bit-exact; a weight model with file weights is refused", async () => {
    const oltron = (...a: string[]) => execa("node", [path.join(ROOT, "bin", "oltron.js"), ...a], { reject: false, all: true, cwd: ROOT });
    const r = await oltron("verify", "--preset", "tiny", "--layer", "down:8x32x8:fp12:r0.1", "--weight-model", "heavy", "--json");
    expect(r.exitCode, r.all).toBe(0);
    expect(JSON.parse(r.stdout).pass).toBe(true);
    const bad = await oltron("verify", "--preset", "tiny", "--block", "tiny-llama", "--weight-model", "heavy");
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain("--weight-model heavy applies to synthetic layers");
  });
});
