/**
 * Token-to-token variation of the synthetic data (docs/data.md): what makes calibration on
 * some tokens and evaluation on others a real test.
 */
import { describe, expect, it } from "vitest";
import { generateLayer, TOKEN_VARIATION } from "../src/data/synthetic.js";
import type { Tensor } from "../src/core/tensor.js";

function channelRms(x: Tensor, t0: number, t1: number): Float64Array {
  const k = x.shape[1];
  const out = new Float64Array(k);
  for (let t = t0; t < t1; t++) for (let c = 0; c < k; c++) out[c] += x.data[t * k + c] ** 2;
  return out.map((v) => Math.sqrt(v / (t1 - t0)));
}

function medianAbsLogRatio(a: Float64Array, b: Float64Array): number {
  const r = Array.from(a, (v, i) => Math.abs(Math.log(v / b[i]))).sort((x, y) => x - y);
  return r[r.length >> 1];
}

describe("synthetic token variation", () => {
  it("channel magnitudes drift: an early window differs from a later one, unlike i.i.d. tokens", () => {
    const v = generateLayer({ type: "qkv", m: 2560, k: 256, n: 8, seed: 3, variation: true }).x;
    const iid = generateLayer({ type: "qkv", m: 2560, k: 256, n: 8, seed: 3 }).x;
    const drift = medianAbsLogRatio(channelRms(v, 0, 512), channelRms(v, 2048, 2560));
    const still = medianAbsLogRatio(channelRms(iid, 0, 512), channelRms(iid, 2048, 2560));
    expect(drift).toBeGreaterThan(0.15);
    expect(still).toBeLessThan(0.05);
  });

  it("some salient channels are two-sided, and massive activations recur at every sequence start", () => {
    const g = generateLayer({ type: "down", m: 2048, k: 512, n: 8, seed: 5, variation: true });
    const k = 512;
    let twoSided = 0;
    for (const c of g.salientChannels) {
      let neg = 0;
      for (let t = 0; t < 2048; t++) if (g.x.data[t * k + c] < 0) neg++;
      if (neg > 0.3 * 2048 && neg < 0.7 * 2048) twoSided++;
    }
    const share = twoSided / g.salientChannels.length;
    expect(share).toBeGreaterThan(TOKEN_VARIATION.twoSided.down - 0.2);
    expect(share).toBeLessThan(TOKEN_VARIATION.twoSided.down + 0.2);
    for (const s0 of [0, 512, 1024, 1536]) expect(g.massiveTokens).toContain(s0);
    expect(g.massiveTokens.length).toBe(8);
  });
});
