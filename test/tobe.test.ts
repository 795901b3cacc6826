/**
 * TOBE layout: tile geometry invariants and minimality against a brute-force search, and the
 * channel permutation's structure, over seeded random sweeps of designs and layers.
 */
import { describe, expect, it } from "vitest";
import { elaborate, resolveConfig, type ElaboratedDesign } from "../src/hw/design.js";
import { UserError } from "../src/core/errors.js";
import type { SalientType } from "../src/core/formats.js";
import { Rng } from "../src/core/rng.js";
import { tileGeometry, tobePermutation, type TileGeometry } from "../src/quant/tobe.js";
import { type SalientKind } from "../src/core/formats.js";
import { refFits, refGeometry } from "./helpers/reference.js";

const LANES: Record<SalientType, number> = { fp8: 1, fp12: 2 };

function randomDesign(rng: Rng): ElaboratedDesign {
  const rows = rng.int(2, 64);
  const flexLines = rng.int(0, rows);
  const salientTypes: SalientType[] =
    flexLines === 0 ? [] : flexLines === 1 ? ["fp8"] : rng.pick<SalientType[]>([["fp8"], ["fp12"], ["fp8", "fp12"]]);
  return elaborate(resolveConfig({ rows, cols: 4, flexLines, salientTypes, memWordBits: 256, psumBits: 32 }));
}

interface Case {
  d: ElaboratedDesign;
  k: number;
  p: number;
  type: SalientKind;
  tag: string;
}

function randomCase(rng: Rng, seed: number, i: number): Case {
  const d = randomDesign(rng);
  const types = d.config.salientTypes;
  const r = rng.next();
  // K: mostly small (where rounding matters), sometimes up to 5000.
  const k = r < 0.5 ? rng.int(1, 3 * d.rows) : rng.int(1, 5000);
  let type: SalientKind = types.length === 0 || rng.next() < 0.1 ? "none" : rng.pick(types);
  let p = type === "none" ? 0 : rng.pick([0, 1, rng.int(0, k), rng.int(0, Math.min(k, 4 * d.flexLines)), k]);
  if (p === 0 && type !== "none" && rng.next() < 0.5) type = "none";
  const tag = `seed ${seed} #${i}: rows ${d.rows} F ${d.flexLines} types [${types}] K ${k} P ${p} ${type}`;
  return { d, k, p, type, tag };
}

function checkGeometry(c: Case, g: TileGeometry): void {
  const { d, k, p, type, tag } = c;
  const lanes = type === "none" ? 1 : LANES[type];
  expect(Number.isInteger(g.tiles) && g.tiles >= 1, tag).toBe(true);
  expect(g.tiles * g.tileChannels, tag).toBeGreaterThanOrEqual(k);
  expect(g.paddedK, tag).toBe(g.tiles * g.tileChannels);
  expect(g.s * lanes, tag).toBeLessThanOrEqual(d.flexLines);
  expect(g.tileChannels + g.s * (lanes - 1), tag).toBeLessThanOrEqual(d.rows);
  expect(g.s * g.tiles, tag).toBeGreaterThanOrEqual(p);
  expect(g.s, tag).toBeLessThanOrEqual(g.tileChannels);
  expect(g.salientLanes, tag).toBe(g.s * (type === "none" ? 0 : lanes));
  expect(g.minTiles, tag).toBe(Math.ceil(k / d.rows));
  // The fixed tile size is as small as the tile count allows (docs: ceil(K / tiles)).
  expect(g.tileChannels, tag).toBe(Math.ceil(k / g.tiles));
  if (p === 0) {
    expect(g.s, tag).toBe(0);
    expect(g.tiles, tag).toBe(g.minTiles);
  } else {
    expect(g.salientType, tag).toBe(type);
    expect(g.s, tag).toBe(Math.ceil(p / g.tiles));
  }
  // Minimal: one tile fewer fits no constraint set (brute force), and the brute-force answer agrees.
  if (g.tiles > 1) expect(refFits(d.rows, d.flexLines, lanes, k, p, g.tiles - 1), `${tag}: ${g.tiles - 1} tiles would fit`).toBe(false);
  const ref = refGeometry(d.rows, type === "none" ? d.rows : d.flexLines, lanes, k, p);
  expect({ tiles: g.tiles, tileChannels: g.tileChannels, s: g.s }, tag).toEqual(ref);
}

describe("tileGeometry", () => {
  it("invariants and minimality over a seeded random sweep (seed 5101)", () => {
    const rng = new Rng(5101);
    for (let i = 0; i < 3000; i++) {
      const c = randomCase(rng, 5101, i);
      checkGeometry(c, tileGeometry(c.d, c.k, c.p, c.type));
    }
  });

  it("hand-derived cases", () => {
    const d16 = elaborate(resolveConfig({ rows: 16, flexLines: 2 })); // fp8 max 2 per tile, fp12 max 1
    // 64 channels, 8 fp8 salient: 4 tiles of 16 would need s = 2 <= 2: fits.
    expect(tileGeometry(d16, 64, 8, "fp8")).toMatchObject({ tiles: 4, tileChannels: 16, s: 2, salientLanes: 2, minTiles: 4 });
    // 9 fp8 salient: s = ceil(9/4) = 3 > 2; 5 tiles: s = 2, tc = 13.
    expect(tileGeometry(d16, 64, 9, "fp8")).toMatchObject({ tiles: 5, tileChannels: 13, s: 2, paddedK: 65, minTiles: 4 });
    // fp12: 4 tiles, s = 1, tc 16 + 1 extra lane = 17 > 16; 5 tiles: tc 13, 13 + 1 <= 16.
    expect(tileGeometry(d16, 64, 4, "fp12")).toMatchObject({ tiles: 5, tileChannels: 13, s: 1, salientLanes: 2 });
    // No salient channels: the least tiles, balanced size.
    expect(tileGeometry(d16, 33, 0, "none")).toMatchObject({ tiles: 3, tileChannels: 11, s: 0, paddedK: 33 });
    // Every channel salient on F = 2 fp8: 2 per tile.
    expect(tileGeometry(d16, 10, 10, "fp8")).toMatchObject({ tiles: 5, tileChannels: 2, s: 2 });
  });

  it("refuses bad K, P and unsupported types with a UserError", () => {
    const d = elaborate(resolveConfig({ rows: 16, flexLines: 1, salientTypes: ["fp8"] }));
    expect(() => tileGeometry(d, 0, 0, "none")).toThrow(UserError);
    expect(() => tileGeometry(d, 2.5, 0, "none")).toThrow(UserError);
    expect(() => tileGeometry(d, 10, 11, "fp8")).toThrow(UserError);
    expect(() => tileGeometry(d, 10, -1, "fp8")).toThrow(UserError);
    expect(() => tileGeometry(d, 10, 3, "none")).toThrow(UserError);
    expect(() => tileGeometry(d, 10, 3, "fp12")).toThrow(/fp12/);
  });
});

function shuffle(rng: Rng, n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe("tobePermutation", () => {
  it("structure over a seeded random sweep (seed 5201)", () => {
    const rng = new Rng(5201);
    const cover = { fp8: 0, fp12: 0, promoted: 0, zeroSalient: 0, padded: 0 };
    for (let it = 0; it < 1500; it++) {
      const c = randomCase(rng, 5201, it);
      if (c.k > 600) c.k = rng.int(1, 600); // keep the sweep quick; geometry itself is swept above
      if (c.p > c.k) c.p = c.k;
      const g = tileGeometry(c.d, c.k, c.p, c.type);
      const { k, p, tag } = c;
      const order = shuffle(rng, k); // "decreasing magnitude" order of all channels
      const salient = shuffle(rng, k).slice(0, p);
      const { perm, salientSet } = tobePermutation(g, k, salient, order);
      const T = g.tiles;
      const TC = g.tileChannels;
      const S = g.s;
      expect(perm.length, tag).toBe(g.paddedK);

      // Every original channel exactly once; -1 only as padding.
      const seen = new Int32Array(k);
      let pads = 0;
      for (const v of perm) {
        if (v === -1) pads++;
        else {
          expect(v >= 0 && v < k, `${tag}: entry ${v}`).toBe(true);
          seen[v]++;
        }
      }
      expect(Array.from(seen).every((n) => n === 1), `${tag}: channels missing or repeated`).toBe(true);
      expect(pads, tag).toBe(g.paddedK - k);

      // Salient slots hold exactly the salient set.
      const inSalientSlot = new Set<number>();
      let salientPads = 0;
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < S; j++) {
          const v = perm[t * TC + j];
          if (v === -1) salientPads++;
          else inSalientSlot.add(v);
        }
      }
      expect(new Set(salientSet), tag).toEqual(inSalientSlot);
      expect(salientSet.length, tag).toBe(Math.min(T * S, k));
      // A zero channel in a salient slot only when no normal channel was left to promote.
      if (salientPads > 0) expect(inSalientSlot.size, `${tag}: zero salient slot while normal channels remain`).toBe(k);
      // True salient channels first, in the given order; then promotions in promote order.
      expect(salientSet.slice(0, p), tag).toEqual(salient);
      const trueSet = new Set(salient);
      const promoted = order.filter((ch) => !trueSet.has(ch)).slice(0, Math.min(T * S, k) - p);
      expect(salientSet.slice(p), tag).toEqual(promoted);
      for (const ch of salient) expect(inSalientSlot.has(ch), `${tag}: salient channel ${ch} not in a salient slot`).toBe(true);

      // Spread: per-tile counts of true salient channels differ by at most 1.
      const perTile = Array.from({ length: T }, (_, t) => {
        let n = 0;
        for (let j = 0; j < S; j++) if (trueSet.has(perm[t * TC + j])) n++;
        return n;
      });
      expect(Math.max(...perTile) - Math.min(...perTile), `${tag}: per-tile salient counts ${perTile}`).toBeLessThanOrEqual(1);
      expect(perTile.reduce((a, b) => a + b, 0), tag).toBe(p);

      // Documented placement: salient channel i -> tile i mod T, slot floor(i / T).
      salientSet.forEach((ch, i) => expect(perm[(i % T) * TC + Math.floor(i / T)], tag).toBe(ch));
      // Normal slots: the remaining channels in ascending order, tile by tile.
      if (p > 0 && c.type !== "none") cover[c.type]++;
      if (salientSet.length > p) cover.promoted++;
      if (salientPads > 0) cover.zeroSalient++;
      if (pads > 0) cover.padded++;
      const normals: number[] = [];
      for (let t = 0; t < T; t++) for (let j = S; j < TC; j++) if (perm[t * TC + j] !== -1) normals.push(perm[t * TC + j]);
      const inSet = new Set(salientSet);
      expect(normals, tag).toEqual(Array.from({ length: k }, (_, ch) => ch).filter((ch) => !inSet.has(ch)));
    }
    // The sweep reaches every branch of the balancing rule.
    for (const [what, n] of Object.entries(cover)) expect(n, `seed 5201 coverage of ${what}: ${JSON.stringify(cover)}`).toBeGreaterThan(20);
  });

  it("refuses repeated or out-of-range salient channels", () => {
    const d = elaborate(resolveConfig({ rows: 16, flexLines: 2 }));
    const g = tileGeometry(d, 20, 2, "fp8");
    const order = Array.from({ length: 20 }, (_, i) => i);
    expect(() => tobePermutation(g, 20, [3, 3], order)).toThrow(UserError);
    expect(() => tobePermutation(g, 20, [3, 20], order)).toThrow(UserError);
    expect(() => tobePermutation(g, 20, [-1, 2], order)).toThrow(UserError);
  });
});
