/**
 * The generalisation rule of the adaptive search (AdaptiveOptions.preferSimpler,
 * --prefer-simpler): a chosen plan gives way to the simplest plan whose loss against it is
 * inside the noise of the two token halves. Hand-made candidates fix the rule's arithmetic;
 * a real layer checks the halves' scores and that the budget stays met.
 */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import {
  chooseModelPlan, evaluatePlan, layerCandidates, pickCandidate, simplerWithinNoise, type PlanCandidate,
} from "../src/quant/adaptive.js";
import { prepareLayer } from "../src/quant/baselines.js";
import { elaborate, resolveConfig } from "../src/hw/design.js";
import { generateLayer } from "../src/data/synthetic.js";

const ROOT = path.resolve(__dirname, "..");

function cand(bits: number, tiles: number, sqnrDb: number, halves: [number, number]): PlanCandidate {
  return {
    plan: { salientType: bits > 4 ? "fp8" : "none" }, salientType: bits > 4 ? "fp8" : "none", salientChannels: 0, salientSlots: 0, bits, storageBits: bits,
    tiles, minTiles: 4, tileChannels: 8, s: 0, estCycles: tiles, imageBits: bits, actScale: 1, mse: 10 ** (-sqnrDb / 10), sqnrDb, nsr: 10 ** (-sqnrDb / 10),
    overflow: false, halfSqnrDb: halves,
  };
}

describe("simplerWithinNoise", () => {
  const chosen = cand(4.5, 4, 20, [21, 19]);

  it("gives way to the simplest plan whose loss is inside the halves' spread", () => {
    // Against int4 (4 bits): losses 2 and -0.5, mean 0.75 <= |2.5| / sqrt 2 = 1.77: inside the noise.
    const int4 = cand(4, 4, 19.2, [19, 19.5]);
    // fp8 x fewer (4.25 bits): losses 0.5 and 0.4, mean 0.45 > 0.07: a real loss.
    const mid = cand(4.25, 4, 19.5, [20.5, 18.6]);
    expect(simplerWithinNoise([int4, mid, chosen], chosen)).toBe(int4);
    // Losses 3 and 2.8 against int4: mean 2.9 > 0.14, so the mid plan (losses 0.5 and 0.4) is not inside either.
    const worse = cand(4, 4, 16, [18, 16.2]);
    expect(simplerWithinNoise([worse, mid, chosen], chosen)).toBe(chosen);
  });

  it("never picks a plan that spends more bits or tiles, nor an infeasible one", () => {
    const moreTiles = cand(4.25, 5, 20, [21, 19]);
    const moreBits = cand(4.75, 4, 20, [21, 19]);
    const overflow = { ...cand(4, 4, 20, [21, 19]), overflow: true };
    expect(simplerWithinNoise([moreTiles, moreBits, overflow, chosen], chosen)).toBe(chosen);
    // Without the halves (too few tokens), nothing changes.
    expect(simplerWithinNoise([cand(4, 4, 20, [21, 19])], { ...chosen, halfSqnrDb: undefined }).bits).toBe(4.5);
  });
});

describe("the search with preferSimpler", () => {
  const d = elaborate(resolveConfig({}, "16x16"));
  const g = generateLayer({ type: "o_proj", m: 96, k: 128, n: 16, seed: 4, variation: true, activations: "mechanistic" });
  const p = prepareLayer(g.x, g.w, "o_proj");

  it("scores every candidate on both halves of the tokens, with the layer's own calibration and weights", () => {
    const cands = layerCandidates(d, p, { preferSimpler: true, scalings: ["tensor", "token"] });
    const half = (r0: number, r1: number) => prepareLayer({ shape: [r1 - r0, 128], data: g.x.data.slice(r0 * 128, r1 * 128) }, g.w, "o_proj", { calib: g.x });
    const [h0, h1] = [half(0, 48), half(48, 96)];
    for (const c of cands) {
      expect(c.halfSqnrDb![0]).toBe(evaluatePlan(d, h0, c.plan).sqnrDb);
      expect(c.halfSqnrDb![1]).toBe(evaluatePlan(d, h1, c.plan).sqnrDb);
    }
    // Without the option, no halves are computed.
    expect(layerCandidates(d, p, {}).every((c) => c.halfSqnrDb === undefined)).toBe(true);
    for (const budget of [4.25, 4.5, 5]) {
      const plain = pickCandidate(cands, budget);
      const simple = pickCandidate(cands, budget, { preferSimpler: true });
      expect(simple.bits).toBeLessThanOrEqual(plain.bits + 1e-12);
      expect(simple).toBe(simplerWithinNoise(cands, plain));
    }
  });

  it("keeps the model-wide budget met", () => {
    const l2 = generateLayer({ type: "down", m: 96, k: 128, n: 16, seed: 5, variation: true, activations: "mechanistic" });
    const layers = [{ name: "o", x: g.x, w: g.w }, { name: "d", x: l2.x, w: l2.w }];
    const plain = chooseModelPlan(d, layers, 4.5);
    const simple = chooseModelPlan(d, layers, 4.5, { preferSimpler: true });
    expect(simple.avgBits).toBeLessThanOrEqual(4.5 + 1e-12);
    expect(simple.avgBits).toBeLessThanOrEqual(plain.avgBits + 1e-12);
    simple.layers.forEach((l, i) => expect(l.bits).toBeLessThanOrEqual(plain.layers[i].bits + 1e-12));
  });

  it("--prefer-simpler goes with --budget on the command line", async () => {
    const run = (...a: string[]) => execa("node", [path.join(ROOT, "bin", "oltron.js"), ...a], { reject: false, all: true });
    const alone = await run("verify", "--preset", "tiny", "--prefer-simpler");
    expect(alone.exitCode).toBe(1);
    expect(alone.stderr).toContain("--prefer-simpler steer the adaptive plan: give --budget too");
    const ok = await run("verify", "--preset", "tiny", "--layer", "down:64x64x4:fp8", "--budget", "4.5", "--prefer-simpler", "--json");
    expect(ok.exitCode, ok.all).toBe(0);
    expect(JSON.parse(ok.stdout).pass).toBe(true);
    expect(ok.stderr).toContain("the simplest plan inside the noise");
  });
});
