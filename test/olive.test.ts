/**
 * OliVe as released (ant-int-flint): the grids, the rounding and pairing rules and the per-tensor
 * type choice, checked against values read off the released code (clevercool/ANT-Quantization,
 * olive_quantization/antquant/quant_modules.py and quant/quant_kernel.cu).
 */
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import type { Tensor } from "../src/core/tensor.js";
import { prepareLayer } from "../src/quant/baselines.js";
import { olive, oliveEncode, oliveGrid, oliveRound, oliveSearch } from "../src/quant/olive.js";

function tensor(rows: number, cols: number, f: (i: number) => number): Tensor {
  return { shape: [rows, cols], data: Float32Array.from({ length: rows * cols }, (_, i) => f(i)) };
}

describe("OliVe as released", () => {
  it("has the released 4-bit grids (signed and unsigned) on the common grid with outlier threshold 32", () => {
    expect(oliveGrid("int", true)).toEqual({ normals: [0, 4, 8, 12, 16, 20, 24, 28], outliers: [48, 64, 96, 128, 192, 256, 384], unit: 4 });
    expect(oliveGrid("flint", true)).toEqual({ normals: [0, 2, 4, 6, 8, 12, 16, 32], outliers: [48, 64, 96, 128, 192, 256, 384], unit: 2 });
    expect(oliveGrid("int", false).normals).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);
    expect(oliveGrid("flint", false).normals).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 12, 16, 32]);
    expect(oliveGrid("flint", false).outliers).toEqual([40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448]);
  });

  it("rounds to the nearest grid point, a tie to the later point of the kernel's list", () => {
    // Inside the normal grid: toward +inf. At the normal/outlier border: to the outlier, both signs.
    expect([2, -2, 6, -6, 38, -38, 37.9, 500, -500].map((v) => oliveRound(v, "int"))).toEqual([4, 0, 8, -4, 48, -48, 28, 384, -384]);
    expect([1, 24, 40, -40].map((v) => oliveRound(v, "flint"))).toEqual([2, 32, 48, -48]);
    expect(oliveRound(-3, "int", false)).toBe(0); // an unsigned grid has no negative point
  });

  it("pairs (even, odd): an outlier even value always keeps its slot, even against a larger odd outlier", () => {
    const out = new Float64Array(8);
    const stats = oliveEncode([50, 300, 3, 100, 100, 3, 1, 2], "int", out);
    expect(Array.from(out)).toEqual([48, 0, 0, 96, 96, 0, 0, 4]);
    expect(stats).toEqual({ outliers: 3, victims: 3 });
  });

  it("chooses int or flint per tensor by the least calibration MSE over the released alpha grid", () => {
    const rng = new Rng(7);
    const uniform = tensor(64, 32, () => 2 * rng.next() - 1);
    const laplace = tensor(64, 32, () => (rng.next() < 0.5 ? -1 : 1) * -Math.log(1 - rng.next()));
    const w = tensor(32, 4, () => rng.normal());
    const types = new Set<string>();
    for (const x of [uniform, laplace]) {
      const ref = { int: slowSearch(x, INT), flint: slowSearch(x, FLINT) };
      const r = olive(prepareLayer(x, w));
      const want = ref.flint.mse < ref.int.mse ? "flint" : "int";
      types.add(want);
      expect(r.detail.type).toBe(want);
      expect(r.detail.alpha).toBeCloseTo(ref[want].alpha, 12);
      expect(Number(r.detail.intMse)).toBeCloseTo(ref.int.mse, 12);
      expect(Number(r.detail.flintMse)).toBeCloseTo(ref.flint.mse, 12);
      expect(r.bits).toBe(4);
      for (const a of r.aInt) expect(Number.isInteger(a)).toBe(true);
    }
    // The two tensors do not choose alike: the choice is real.
    expect(types.size).toBe(2);
  });
});

// An independent, literal transcription of the released search: the grid list as the kernel
// scans it (normal values ascending, then outliers ascending, a tie to the later entry), pairs
// along the flattened tensor keeping the even element, alpha = x3s * i / 100 for i = 75, 77, ... 249.
const INT = { normals: [-28, -24, -20, -16, -12, -8, -4, 0, 4, 8, 12, 16, 20, 24, 28], top: 28 };
const FLINT = { normals: [-32, -16, -12, -8, -6, -4, -2, 0, 2, 4, 6, 8, 12, 16, 32], top: 32 };
const OUTLIERS = [-384, -256, -192, -128, -96, -64, -48, 48, 64, 96, 128, 192, 256, 384];

function slowSearch(x: Tensor, g: { normals: number[]; top: number }): { alpha: number; mse: number } {
  const d = Array.from(x.data);
  const mean = d.reduce((a, b) => a + b, 0) / d.length;
  const std = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / (d.length - 1));
  const x3s = Math.max(Math.abs(mean + 3 * std), Math.abs(mean - 3 * std));
  const list = [...g.normals, ...OUTLIERS];
  let best = { alpha: 0, mse: Infinity };
  for (let i = 75; i < 250; i += 2) {
    const alpha = x3s * (i * 0.01);
    const scale = alpha / g.top;
    const q = d.map((v) => {
      let bestD = Infinity;
      let z = 0;
      for (const p of list) {
        if (Math.abs(v / scale - p) <= bestD) {
          bestD = Math.abs(v / scale - p);
          z = p;
        }
      }
      return z;
    });
    for (let j = 0; j + 1 < q.length; j += 2) {
      if (Math.abs(q[j]) > 32) q[j + 1] = 0;
      else if (Math.abs(q[j + 1]) > 32) q[j] = 0;
    }
    const mse = q.reduce((a, v, j) => a + (v * scale - d[j]) ** 2, 0) / d.length;
    if (mse < best.mse) best = { alpha, mse };
  }
  return best;
}
