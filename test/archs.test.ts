/**
 * Architectures as parts: elaboration of oltron, int4, olive and w4a8 designs, the int8 and
 * OVP formats against tables written from their sources (not from the code under test), and
 * the RTL of each architecture co-simulated bit-exact: every code, seeded random layers,
 * hostile memory timing, and two simulators.
 */
import { describe, expect, it } from "vitest";
import { decodeInt8, decodeOvpPair, decodeOvpValues, encodeInt8, encodeOvpPair, type OvpType } from "../src/core/actformats.js";
import { Rng } from "../src/core/rng.js";
import { generateLayer } from "../src/data/synthetic.js";
import { elaborate, PRESETS, resolveConfig } from "../src/hw/design.js";
import { ARCH_NAMES } from "../src/hw/parts.js";
import { identityPerm, ovpEncode } from "../src/quant/actquant.js";
import { oliveEncode, oliveGrid, oliveSearch } from "../src/quant/olive-grid.js";
import { quantizeLayer } from "../src/quant/quantizer.js";
import type { MemoryModel } from "../src/sim/driver.js";
import { cosim, design, explain, formatCodeLayer } from "./helpers/cosim.js";

describe("elaboration", () => {
  it("keeps the Oltron designs' names (the default design was r16c16f2_9a13ce before architectures existed)", () => {
    expect(design({}).name).toBe("r16c16f2_9a13ce");
    expect(design({ arch: "oltron" }).name).toBe("r16c16f2_9a13ce");
    expect(elaborate(resolveConfig({}, "oltron-16x16")).name).toBe("r16c16f2_9a13ce");
  });

  it("has a preset per architecture and size, each named for its architecture", () => {
    for (const arch of ARCH_NAMES) {
      for (const size of ["16x16", "32x32", "64x64"]) {
        const d = elaborate(resolveConfig({}, `${arch}-${size}`));
        expect(d.arch).toBe(arch);
        expect(`${d.rows}x${d.cols}`).toBe(size);
        expect(d.prefix.startsWith(arch === "oltron" ? "oltron_r" : `oltron_${arch}_r`)).toBe(true);
      }
    }
    expect(Object.keys(PRESETS)).toContain("olive-64x64");
  });

  it("derives the partial-sum width from the PE kind when none is chosen", () => {
    // int8 x int4 products in [-1016, 1024]: 64 rows sum to 65536, which needs 18 signed bits.
    expect(elaborate(resolveConfig({}, "w4a8-64x64")).config.psumBits).toBe(18);
    // OVP pairs in [-1536, 1536]: 32 pairs sum to 49152, 17 bits.
    expect(elaborate(resolveConfig({}, "olive-64x64")).config.psumBits).toBe(17);
    // At 16 rows both fit the paper's 16 bits.
    expect(elaborate(resolveConfig({}, "w4a8-16x16")).config.psumBits).toBe(16);
    expect(() => design({ arch: "w4a8", psumBits: 15 })).toThrow(/psumBits \(--psum-bits\) = 15.*w4a8 rows sum to -16256\.\.16384, which needs 16 bits/);
  });

  it("takes an architecture onto any preset, dropping the preset's salient lanes", () => {
    const d = elaborate(resolveConfig({ arch: "olive" }, "32x32"));
    expect(d.flexLines).toBe(0);
    expect(d.config.salientTypes).toEqual([]);
    expect(d.decoder).toBe("ovp");
    expect(d.grid).toEqual([{ pe: "ovp", rows: 32 }]);
    expect(d.act.rowBits).toBe(4 * 32);
    expect(design({ arch: "w4a8" }).act.rowBits).toBe(8 * 16);
  });

  it("rejects combinations an architecture cannot build, naming the value and the rule", () => {
    expect(() => design({ arch: "olive", rows: 5 })).toThrow(/rows \(--rows\) = 5 for arch olive: must be an even number/);
    expect(() => design({ arch: "w4a8", flexLines: 2 })).toThrow(/arch w4a8 has no flexible lines or salient types, got flexLines \(--flex-lines\) = 2/);
    expect(() => design({ arch: "int4", salientTypes: ["fp8"] })).toThrow(/arch int4 has no flexible lines/);
    expect(() => design({ arch: "gpu" as never })).toThrow(/invalid arch \(--arch\) = "gpu": expected one of oltron, int4, olive, w4a8/);
  });

  it("hashes the architecture: two architectures of one size never share module names", () => {
    const names = ARCH_NAMES.map((a) => design({ arch: a }).prefix);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("int8 (W4A8)", () => {
  it("decodes every code as two's complement and encodes symmetrically, ties to even", () => {
    for (let c = 0; c < 256; c++) expect(decodeInt8(c)).toBe(c < 128 ? c : c - 256);
    expect(encodeInt8(127.5)).toBe(127);
    expect(encodeInt8(-1000)).toBe(0x81); // -127: -128 is never emitted
    expect(encodeInt8(2.5)).toBe(2);
    expect(encodeInt8(3.5)).toBe(4);
    expect(encodeInt8(-2.5)).toBe(0xfe);
  });
});

/**
 * OVP values written from OliVe's released grids (olive_quantization/antquant/quant_modules.py)
 * and ANT's flint4 code table, in integer units of the type (grid / 4 for int, grid / 2 for flint).
 */
const FLINT_RAW = [0, 0.25, 0.5, 0.75, 4, 2, 1, 1.5]; // ANT flint4 magnitude codes 000..111
function refNormal(t: OvpType, c: number): number {
  if (t === "int") return c >= 8 ? c - 16 : c;
  const v = (FLINT_RAW[c & 7] * 8) / 2; // flint grid: raw x 8 (largest 4 -> 32), unit 2
  return c & 8 ? -v : v;
}
function refOutlier(t: OvpType, c: number): number {
  const e = (c >> 1) & 3;
  const m = c & 1;
  const grid = 2 ** (e + 5) * (1 + m / 2); // 32 (left out by the quantizer), 48, 64, ..., 384
  const v = grid / (t === "int" ? 4 : 2);
  return c & 8 ? -v : v;
}

describe("OVP (OliVe)", () => {
  for (const t of ["int", "flint"] as const) {
    it(`decodes all 256 ${t} pair codes as the release's grids say`, () => {
      for (let c0 = 0; c0 < 16; c0++) {
        for (let c1 = 0; c1 < 16; c1++) {
          const want = c1 === 8 ? [refOutlier(t, c0), 0] : c0 === 8 ? [0, refOutlier(t, c1)] : [refNormal(t, c0), refNormal(t, c1)];
          expect(decodeOvpValues(t, c0, c1), `${t} pair (${c0}, ${c1})`).toEqual(want);
          // The datapath's fields: 4-bit signed integer, 3-bit exponent.
          for (const p of decodeOvpPair(t, c0, c1)) {
            expect(p.int).toBeGreaterThanOrEqual(-7);
            expect(p.int).toBeLessThanOrEqual(7);
            expect(p.shift).toBeGreaterThanOrEqual(0);
            expect(p.shift).toBeLessThanOrEqual(7);
          }
        }
      }
    });

    it(`encodes every ${t} grid pair the quantizer can produce and decodes it back`, () => {
      const g = oliveGrid(t, true);
      const unit = t === "int" ? 4 : 2;
      const normals = [...new Set(g.normals.flatMap((v) => [v, -v]))].map((v) => v / unit);
      const outliers = g.outliers.flatMap((v) => [v, -v]).map((v) => v / unit);
      const pairs: [number, number][] = [
        ...normals.flatMap((a) => normals.map((b) => [a, b] as [number, number])),
        ...outliers.flatMap((o) => [[o, 0], [0, o]] as [number, number][]),
      ];
      for (const [a, b] of pairs) {
        const [c0, c1] = encodeOvpPair(t, a, b);
        expect(decodeOvpValues(t, c0, c1)).toEqual([a, b]);
      }
      // Every code pair except the unused outlier code 000 appears: the whole code space is used.
      expect(pairs.length).toBe(15 * 15 + 2 * 14);
    });
  }

  it("encodes a layer as OliVe as released does (flattened pairs, keep-even rule), K even", () => {
    const { x } = generateLayer({ type: "down", m: 24, k: 96, n: 8, seed: 5 });
    const enc = ovpEncode(x, x, identityPerm(96, 96));
    const t = enc.type;
    const grid = oliveGrid(t, true);
    const scale = oliveSearch(x, t, true).alpha / grid.normals[grid.normals.length - 1];
    const v = x.data.map((a) => a / scale);
    const q = new Float64Array(v.length);
    oliveEncode(Float64Array.from(v), t, q, true);
    for (let i = 0; i < q.length; i += 2) {
      const [a, b] = decodeOvpValues(t, enc.codes[i], enc.codes[i + 1]);
      expect([a * enc.actScale, b * enc.actScale]).toEqual([q[i] * scale, q[i + 1] * scale]);
    }
    expect(enc.outliers).toBeGreaterThan(0);
  });
});

const TINY_IO = { rows: 4, cols: 4, memWordBits: 64, bufferTokens: 64, loadSlots: 2 } as const;
const OLIVE = design({ arch: "olive", ...TINY_IO });
const W4A8 = design({ arch: "w4a8", ...TINY_IO });
const INT4 = design({ arch: "int4", ...TINY_IO });

describe("directed: every code through the datapath", () => {
  it("OVP: all 256 pair codes of both types against every int4 weight", async () => {
    // 16 tokens x 32 channels: token r, pair p holds codes (p, r) -> all 256 pairs per layer.
    const layers = (["ovp-int", "ovp-flint"] as const).map((format) => formatCodeLayer(OLIVE, {
      name: format, m: 16, k: 32, n: 16, format,
      act: (r, i) => (i % 2 === 0 ? (i >> 1) & 15 : r),
      wgt: (i, j) => (i + j) & 15,
    }));
    const r = await cosim(OLIVE, layers, "verilator", "ovp-all");
    expect(r.layers.map((l) => l.mismatches), explain(r, "ovp directed")).toEqual([0, 0]);
    expect(r.pass).toBe(true);
  });

  it("W4A8: all 256 int8 codes against every int4 weight, and the extremes", async () => {
    const all = formatCodeLayer(W4A8, { name: "all", m: 16, k: 16, n: 16, format: "int8", act: (r, i) => r * 16 + i, wgt: (i, j) => (i + j) & 15 });
    // -128 x -8 in every lane of every tile: the largest positive column sums.
    const ext = formatCodeLayer(W4A8, { name: "ext", m: 3, k: 40, n: 5, format: "int8", act: () => 0x80, wgt: () => 8 });
    const r = await cosim(W4A8, [all, ext], "verilator", "w4a8-all");
    expect(r.layers.map((l) => l.mismatches), explain(r, "w4a8 directed")).toEqual([0, 0]);
    expect(r.pass).toBe(true);
  });
});

describe("seeded random layers, hostile memory, two simulators", () => {
  const hostile: MemoryModel = {
    seed: 3, readLatency: [1, 60], writeLatency: [1, 40], backpressure: { ar: 0.3, r: 0.3, aw: 0.3, w: 0.3, b: 0.3 }, reorder: true,
  };
  for (const [name, d, format] of [["olive", OLIVE, "ovp-flint"], ["w4a8", W4A8, "int8"]] as const) {
    it(`${name}: odd K, N past the columns, M past the buffer, under random memory timing; Icarus agrees`, async () => {
      const rng = new Rng(name === "olive" ? 41 : 42);
      const layers = [
        formatCodeLayer(d, { name: "a", m: 70, k: 13, n: 9, format, act: () => rng.u32(), wgt: () => rng.u32() }),
        formatCodeLayer(d, { name: "b", m: 5, k: 33, n: 4, format: format === "int8" ? "int8" : "ovp-int", act: () => rng.u32(), wgt: () => rng.u32() }),
      ];
      const v = await cosim(d, layers, "verilator", `${name}-rand`, { memory: hostile });
      expect(v.layers.map((l) => l.mismatches), explain(v, `${name} verilator`)).toEqual([0, 0]);
      const i = await cosim(d, layers, "icarus", `${name}-icarus`);
      expect(i.pass, explain(i, `${name} icarus`)).toBe(true);
      const ideal = await cosim(d, layers, "verilator", `${name}-ideal`);
      expect(i.cycles).toEqual(ideal.cycles);
    });
  }
});

describe("quantized layers on every architecture", () => {
  it("the same layer quantizes and co-simulates bit-exact on int4, olive and w4a8", async () => {
    const { x, w } = generateLayer({ type: "qkv", m: 12, k: 40, n: 6, seed: 9 });
    for (const d of [INT4, OLIVE, W4A8]) {
      const q = quantizeLayer(d, { name: "qkv", x, w });
      expect(q.geometry.format ?? "tobe").toBe(d.arch === "olive" ? q.geometry.format : d.arch === "w4a8" ? "int8" : "tobe");
      // int4 and W4A8 scale per token by default; OliVe per tensor, by its own search.
      expect(q.actScales !== undefined).toBe(d.arch !== "olive");
      const r = await cosim(d, [q], "verilator", `q-${d.arch}`);
      expect(r.pass, explain(r, d.name)).toBe(true);
    }
  });

  it("refuses a salient plan on an architecture without salient lanes", () => {
    const { x, w } = generateLayer({ type: "qkv", m: 4, k: 16, n: 4, seed: 1 });
    expect(() => quantizeLayer(OLIVE, { name: "L", x, w, plan: { salientType: "fp8", threshold: 4 } }))
      .toThrow(/layer L: salient type fp8 needs salient lanes, which arch olive does not have/);
    expect(() => quantizeLayer(OLIVE, { name: "L", x, w, plan: { salientType: "none", scaling: "token" } }))
      .toThrow(/arch olive scales activations per tensor/);
  });
});
