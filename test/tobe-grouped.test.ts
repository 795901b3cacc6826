/** Head-aware (grouped) TOBE: channels never leave their group, tiles never straddle groups. */
import { describe, expect, it } from "vitest";
import { Rng } from "../src/core/rng.js";
import { floatFormat } from "../src/core/formats.js";
import { layerLayout } from "../src/quant/tobe.js";
import { design } from "./helpers/cosim.js";

describe("grouped TOBE layout", () => {
  it("keeps every channel in its group with equal S per tile, over a seeded sweep (seed 4401)", () => {
    const rng = new Rng(4401);
    for (let trial = 0; trial < 400; trial++) {
      const rows = rng.int(2, 32);
      const flex = rng.int(1, rows);
      const types = flex >= 2 ? (["fp8", "fp12"] as const) : (["fp8"] as const);
      const d = design({ rows, cols: 4, flexLines: flex, salientTypes: [...types], memWordBits: 64, bufferTokens: 64 });
      const type = rng.pick(types);
      const groups = rng.int(2, 8);
      const k = groups * rng.int(1, 40);
      const order = Array.from({ length: k }, (_, i) => i).sort(() => rng.next() - 0.5);
      const salient = order.slice(0, rng.int(0, Math.floor(k / 3)));
      const what = `trial ${trial}: rows ${rows} flex ${flex} ${type} K ${k} groups ${groups} P ${salient.length}`;
      const { geometry: g, perm } = layerLayout(d, k, salient, order, type, groups);
      const hd = k / groups;
      const tg = g.tiles / groups;
      expect(Number.isInteger(tg), what).toBe(true);
      const lanes = g.salientType === "none" ? 1 : floatFormat(g.salientType).lanes;
      expect(g.s * lanes, what).toBeLessThanOrEqual(flex);
      expect(g.tileChannels + g.s * (lanes - 1), what).toBeLessThanOrEqual(rows);
      expect(perm.length).toBe(g.paddedK);
      const seen = new Set<number>();
      perm.forEach((c, i) => {
        if (c < 0) return;
        seen.add(c);
        const tile = Math.floor(i / g.tileChannels);
        expect(Math.floor(c / hd), `${what}: channel ${c} in tile ${tile}`).toBe(Math.floor(tile / tg));
      });
      expect(seen.size, what).toBe(k);
      // Every true salient channel sits in a salient slot.
      const slotOf = new Map<number, number>();
      perm.forEach((c, i) => c >= 0 && slotOf.set(c, i % g.tileChannels));
      for (const c of salient) expect(slotOf.get(c)!, `${what}: salient ${c}`).toBeLessThan(g.s);
    }
  });
});
