/**
 * The proof: the generated RTL, simulated by Verilator (and Icarus), computes exactly what
 * the golden model computes, for every code that can reach the datapath, at the extremes,
 * and over a seeded random sweep of designs, shapes and data. Builds are cached by source
 * hash, so each distinct design compiles once across the whole suite.
 */
import { describe, expect, it } from "vitest";
import { decode, floatFormat } from "../src/core/formats.js";
import { Rng } from "../src/core/rng.js";
import { codeLayer, cosim, design, explain, randomCodeLayer } from "./helpers/cosim.js";

const TINY = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });

describe("directed: every salient code through the datapath", () => {
  it("all 256 fp8 codes, against every int4 weight", async () => {
    // One fp8 salient slot per tile (S = 2 fits F = 2 too; use S = 1 to keep the code pattern simple).
    const T = 64;
    const layer = codeLayer(TINY, {
      m: 4, k: 4 * T, n: 16, type: "fp8", salient: T,
      act: (r, i, sal) => (sal ? (r * T + Math.floor(i / 4)) & 0xff : (i * 7 + r) & 0xf),
      wgt: (i, j) => (i + j) & 0xf,
    });
    // Every fp8 code appears among the salient slots.
    const seen = new Set<number>();
    const K = layer.geometry.paddedK;
    for (let r = 0; r < layer.m; r++) {
      for (let i = 0; i < K; i++) if (i % layer.geometry.tileChannels < layer.geometry.s) seen.add(layer.actCodes[r * K + i]);
    }
    expect(seen.size).toBe(256);
    const r = await cosim(TINY, [layer], "verilator", "fp8");
    expect(r.status).toBe("done");
    expect(r.mismatches, explain(r, "fp8 directed")).toBe(0);
    expect(r.pass).toBe(true);
  });

  it("all 4096 fp12 codes (both pairs of every code, shifts beyond 31 included)", async () => {
    const T = 128; // fp12 on F = 2: S = 1 per tile, 3 channels per tile
    const layer = codeLayer(TINY, {
      m: 32, k: 3 * T, n: 8, type: "fp12", salient: T,
      act: (r, i, sal) => (sal ? (r * T + Math.floor(i / 3)) & 0xfff : (i + 3 * r) & 0xf),
      wgt: (i, j) => (3 * i + j + 1) & 0xf,
    });
    expect(layer.geometry.s).toBe(1);
    expect(layer.geometry.tileChannels).toBe(3);
    // The codes include the reserved exponent and values far beyond int32 (wrap-around).
    const maxVal = Math.max(...Array.from({ length: 4096 }, (_, c) => Math.abs(decode("fp12", c))));
    expect(maxVal).toBeGreaterThan(2 ** 32);
    const r = await cosim(TINY, [layer], "verilator", "fp12");
    expect(r.mismatches, explain(r, "fp12 directed")).toBe(0);
    expect(r.pass).toBe(true);
  });
});

describe("extremes", () => {
  it("largest magnitudes everywhere wrap the 32-bit accumulators exactly", async () => {
    const f = floatFormat("fp12");
    const maxCode = (0b11111 << f.manBits) | ((1 << f.manBits) - 1); // exponent 31, full mantissa
    const layer = codeLayer(TINY, {
      m: 3, k: 30, n: 5, type: "fp12",
      act: (r, i, sal) => (sal ? maxCode | ((r & 1) << 11) : 0x8), // int4 -8
      wgt: () => 0x8, // -8
    });
    const r = await cosim(TINY, [layer], "verilator", "max");
    expect(r.mismatches, explain(r, "max magnitude")).toBe(0);
  });

  it("all-zero tiles, an S = 0 layer and S at the flexible capacity, back to back in one run", async () => {
    const rng = new Rng(5);
    const zero = codeLayer(TINY, { name: "zero", m: 5, k: 9, n: 6, type: "fp8", act: () => 0, wgt: () => rng.u32() });
    const s0 = randomCodeLayer(TINY, rng, { name: "s0", m: 7, k: 13, n: 7, type: "none" });
    const full8 = randomCodeLayer(TINY, rng, { name: "full8", m: 6, k: 16, n: 4, type: "fp8", salient: 8 });
    const full12 = randomCodeLayer(TINY, rng, { name: "full12", m: 6, k: 12, n: 4, type: "fp12", salient: 4 });
    expect(s0.geometry.s).toBe(0);
    expect(full8.geometry.s).toBe(2); // F = 2 fp8 lanes, all used
    expect(full12.geometry.s).toBe(1); // one fp12 operand fills both flexible lanes
    const r = await cosim(TINY, [zero, s0, full8, full12], "verilator", "extremes");
    expect(r.layers.map((l) => l.mismatches)).toEqual([0, 0, 0, 0]);
    expect(r.pass).toBe(true);
  });

  it("M = 1, K not a multiple of the tile, N not a multiple of the columns, M beyond the buffer (chunked)", async () => {
    const rng = new Rng(6);
    const layers = [
      randomCodeLayer(TINY, rng, { name: "m1", m: 1, k: 37, n: 9, type: "fp8" }),
      randomCodeLayer(TINY, rng, { name: "chunked", m: 150, k: 11, n: 3, type: "fp12" }),
    ];
    const r = await cosim(TINY, layers, "verilator", "shapes");
    expect(r.layers.map((l) => l.mismatches), explain(r, "shapes")).toEqual([0, 0]);
  });
});

describe("seeded random sweep over designs, shapes, salient types and data", () => {
  const designs = [
    { rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 },
    { rows: 8, cols: 4, flexLines: 0, salientTypes: [], memWordBits: 32, bufferTokens: 32 },
    { rows: 4, cols: 8, flexLines: 4, memWordBits: 32, bufferTokens: 16 },
    { rows: 5, cols: 3, flexLines: 3, salientTypes: ["fp12"], memWordBits: 32, bufferTokens: 8 },
    { rows: 8, cols: 8, flexLines: 1, salientTypes: ["fp8"], memWordBits: 512, bufferTokens: 128 },
    { rows: 16, cols: 16, flexLines: 2, memWordBits: 256, bufferTokens: 256 },
    // Activation rows wider than a word (two words per row) and multi-word output rows.
    { rows: 8, cols: 4, flexLines: 2, memWordBits: 32, bufferTokens: 16 },
    // Words wider than a descriptor, many rows per word on every stream.
    { rows: 4, cols: 4, flexLines: 2, memWordBits: 1024, bufferTokens: 64 },
  ] as const;
  // OLTRON_SWEEP_SEED moves the whole sweep to new data: `OLTRON_SWEEP_SEED=7 npx vitest run test/cosim.test.ts`.
  const base = Number(process.env.OLTRON_SWEEP_SEED ?? 1000);
  for (const [di, cfg] of designs.entries()) {
    const seed = base + di;
    it(`design ${JSON.stringify(cfg)} (seed ${seed})`, async () => {
      const d = design({ ...cfg, salientTypes: "salientTypes" in cfg ? [...cfg.salientTypes] : undefined });
      const rng = new Rng(seed);
      const types = ["none", ...d.config.salientTypes] as const;
      const layers = Array.from({ length: 3 }, (_, li) => {
        const type = rng.pick(types);
        const k = rng.int(1, 6 * d.rows);
        const maxS = type === "none" ? 0 : (d.maxSalientPerTile[type] ?? 0);
        return randomCodeLayer(d, rng, {
          name: `L${li}`, m: rng.int(1, 2 * d.config.bufferTokens), k, n: rng.int(1, 3 * d.cols), type,
          salient: type === "none" ? 0 : rng.int(0, Math.min(k, maxS * Math.ceil(k / d.rows) + 3)),
        });
      });
      const r = await cosim(d, layers, "verilator", `sweep${di}`);
      expect(r.status, `seed ${seed}`).toBe("done");
      expect(r.mismatches, explain(r, `seed ${seed}`)).toBe(0);
    });
  }
});

describe("the large presets", () => {
  // oltron64 is shaped like the published design: 64x64, one line of 64 flexible PEs.
  for (const preset of [
    { rows: 32, cols: 32, flexLines: 4, memWordBits: 512 },
    { rows: 64, cols: 64, flexLines: 1, salientTypes: ["fp8" as const], memWordBits: 1024 },
  ]) {
    it(`${preset.rows}x${preset.cols} with ${preset.flexLines} flexible line(s) runs several layers bit-exact`, async () => {
      const d = design(preset);
      const rng = new Rng(preset.rows);
      const layers = [
        randomCodeLayer(d, rng, { name: "a", m: 9, k: 3 * d.rows + 5, n: d.cols + 3, type: "fp8" }),
        randomCodeLayer(d, rng, { name: "b", m: 40, k: d.rows - 1, n: 7, type: d.config.salientTypes.includes("fp12") ? "fp12" : "none" }),
      ];
      const r = await cosim(d, layers, "verilator", `big${preset.rows}`);
      expect(r.layers.map((l) => l.mismatches), explain(r, d.name)).toEqual([0, 0]);
      expect(r.pass).toBe(true);
    });
  }
});

describe("two independent simulators", () => {
  it("Verilator and Icarus agree on outputs and cycle counts", async () => {
    const rng = new Rng(77);
    const layers = [
      randomCodeLayer(TINY, rng, { name: "a", m: 9, k: 14, n: 6, type: "fp12" }),
      randomCodeLayer(TINY, rng, { name: "b", m: 4, k: 8, n: 5, type: "fp8" }),
    ];
    const v = await cosim(TINY, layers, "verilator", "v");
    const i = await cosim(TINY, layers, "icarus", "i");
    expect(v.pass, explain(v, "verilator")).toBe(true);
    expect(i.pass, explain(i, "icarus")).toBe(true);
    expect(i.cycles).toEqual(v.cycles);
    expect(i.words).toEqual(v.words);
  });
});
