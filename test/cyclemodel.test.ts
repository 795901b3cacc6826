/**
 * The cycle model (image/cycles.ts) against co-simulated cycle counts: every case below runs
 * on the generated RTL (Verilator); the model must land within 1% of its cycles_total and of
 * every layer's last issued token (per-descriptor statistics), and never below the planner's
 * lower bound (estimateCycles). Expected values all come from co-simulation.
 *
 * Exact regime, the 1% claim (fixed read and write latency, no stalls, no reordering, no
 * bandwidth cap): 33 cases on 8 designs (oltron 8x8 and 16x16; 8x8 with 512-bit and 4x4 with
 * 1024-bit words, several output rows per word; int4, olive and w4a8 4x4 with two load slots;
 * a 6x5 array with 32-bit words, 5-beat bursts, 3 reads in flight and bursts cut at 4 KiB), at
 * read/write latencies 1/1 (the testbench default), 20/4 and 3/64. Worst error observed: 0
 * cycles, every case exact.
 *
 * Estimated regime, excluded from the 1% claim (random read latency 1..200 and 10..30,
 * backpressure 10% and 50% on every channel, a bandwidth cap of 0.5, reordering): the model
 * prices these with expected values, so it misses by what one seed's draws add or save.
 * 18 cases, held to 15%. Worst error observed: 8.2% (bandwidth cap 0.5 on int4 4x4, where
 * reads and writes contend for the cap).
 *
 * Runtime: one build per design, the same designs other test files build (cycles, cosim,
 * golden, archs, axi), so with their builds cached this file runs in about 1.5 minutes.
 */
import { afterAll, describe, expect, it } from "vitest";
import { buildImageSet } from "../src/image/build.js";
import { manifestCycles, predictCycles, type CycleLayer, type MemoryTiming } from "../src/image/cycles.js";
import { estimateCycles } from "../src/quant/baselines.js";
import type { QuantizedLayer } from "../src/quant/quantizer.js";
import { IDEAL_MEMORY, type MemoryModel } from "../src/sim/driver.js";
import type { ElaboratedDesign } from "../src/hw/design.js";
import { Rng } from "../src/core/rng.js";
import { cosim, design, explain, formatCodeLayer, randomCodeLayer } from "./helpers/cosim.js";

type Spec = { m: number; k: number; n: number } & (
  | { type: "none" | "fp8" | "fp12"; salient?: number }
  | { format: "int8" | "ovp-int" | "ovp-flint" }
);

function layersOf(d: ElaboratedDesign, specs: Spec[], seed: number): QuantizedLayer[] {
  const rng = new Rng(seed);
  return specs.map((s, i) =>
    "format" in s
      ? formatCodeLayer(d, { name: `L${i}`, m: s.m, k: s.k, n: s.n, format: s.format, act: () => rng.u32(), wgt: () => rng.u32() })
      : randomCodeLayer(d, rng, { name: `L${i}`, m: s.m, k: s.k, n: s.n, type: s.type, ...(s.salient !== undefined ? { salient: s.salient } : {}) }));
}

const shapes = (layers: QuantizedLayer[], d: ElaboratedDesign): CycleLayer[] =>
  layers.map((q) => ({ name: q.name, m: q.m, tiles: q.geometry.tiles, nTiles: Math.ceil(q.n / d.cols), tileChannels: q.geometry.tileChannels }));

const fixed = (rd: number, wr: number): MemoryModel => ({ ...IDEAL_MEMORY, readLatency: [rd, rd], writeLatency: [wr, wr] });
const EXACT_MEMORIES = [IDEAL_MEMORY, fixed(20, 4), fixed(3, 64)];
const stalls = (p: number, seed: number): MemoryModel => ({ ...IDEAL_MEMORY, seed, backpressure: { ar: p, r: p, aw: p, w: p, b: p } });
const ESTIMATED_MEMORIES: MemoryModel[] = [
  { ...IDEAL_MEMORY, seed: 5, readLatency: [1, 200], writeLatency: [1, 200] },
  { ...IDEAL_MEMORY, seed: 9, readLatency: [10, 30], writeLatency: [10, 30] },
  stalls(0.1, 3),
  stalls(0.5, 4),
  { ...IDEAL_MEMORY, seed: 2, bandwidth: 0.5 },
  { ...IDEAL_MEMORY, seed: 7, readLatency: [30, 30], writeLatency: [30, 30], reorder: true },
];

const worst = { exact: { err: 0, cases: 0, what: "" }, estimated: { err: 0, cases: 0, what: "" } };
afterAll(() => {
  for (const [regime, w] of Object.entries(worst)) {
    if (w.cases) console.log(`cycle model, ${regime} regime: ${w.cases} cases, worst error ${(100 * w.err).toFixed(2)}%${w.what ? ` (${w.what})` : ""}`);
  }
});

/** Co-simulates the layers at each memory timing; the model must be within `bound` of every count. */
async function check(d: ElaboratedDesign, specs: Spec[], memories: MemoryModel[], regime: "exact" | "estimated", bound: number, seed = 1): Promise<void> {
  const layers = layersOf(d, specs, seed);
  const man = buildImageSet(d, layers, { allowOverflow: true }).manifest;
  const estimate = layers.reduce((a, q) => a + estimateCycles(d, q.geometry, q.m, q.n), 0);
  for (const mem of memories) {
    const r = await cosim(d, layers, "verilator", "cyclemodel", { memory: mem });
    const tag = `${d.name} ${JSON.stringify(specs)} memory ${JSON.stringify(mem)}`;
    expect(r.pass, explain(r, tag)).toBe(true);
    const timing: Partial<MemoryTiming> = mem;
    const model = manifestCycles(man, { design: d, timing });
    // The layout the model assumes from shapes alone is the one the image builder writes.
    expect(predictCycles(d, shapes(layers, d), timing), tag).toEqual(model);
    const rtl = r.cycles.total;
    const err = Math.abs(model.total - rtl) / rtl;
    const w = worst[regime];
    w.cases++;
    if (err > w.err) Object.assign(w, { err, what: `${tag}: model ${model.total}, RTL ${rtl}` });
    expect(Math.abs(model.total - rtl), `${tag}: model ${model.total}, RTL ${rtl}`).toBeLessThanOrEqual(bound * rtl);
    expect(model.busy).toBe(r.cycles.busy);
    expect(model.total, tag).toBeGreaterThanOrEqual(estimate);
    expect(model.stages.fill + model.busy + model.stages.wait.load + model.stages.wait.preload + model.stages.wait.outputBank + model.stages.drain).toBe(model.total);
    // Each layer's last issued token, as the per-descriptor statistics record it.
    let rtlEnd = 0;
    let modelEnd = 0;
    r.layers.forEach((l, i) => {
      rtlEnd += l.cycles!.total;
      modelEnd += model.layers[i].total;
      expect(Math.abs(modelEnd - rtlEnd), `${tag}: layer ${l.name} ends at ${modelEnd}, RTL ${rtlEnd}`).toBeLessThanOrEqual(bound * rtlEnd);
    });
  }
}

const SMALL8 = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 });
const D16 = design({ rows: 16, cols: 16, flexLines: 2 });
const TINY_IO = { rows: 4, cols: 4, memWordBits: 64, bufferTokens: 64, loadSlots: 2 } as const;

describe("cycle model vs co-simulation, fixed latency: within 1% (observed exact)", () => {
  it("oltron 8x8, 128-bit words: short tiles, m = rows, overflow tiles, three chunks, many N-tiles, m = 1", async () => {
    const sets: Spec[][] = [
      [{ m: 4, k: 128, n: 16, type: "fp8", salient: 8 }], // tiles shorter than the preload
      [{ m: 8, k: 64, n: 24, type: "fp12" }],
      [{ m: 64, k: 256, n: 32, type: "fp8", salient: 90 }], // salient overflow: more tiles than K needs
      [{ m: 300, k: 40, n: 20, type: "none" }], // three token chunks
      [{ m: 9, k: 40, n: 70, type: "fp12", salient: 10 }, { m: 130, k: 17, n: 9, type: "fp8", salient: 3 }, { m: 1, k: 8, n: 8, type: "none" }],
    ];
    expect(layersOf(SMALL8, sets[2], 1)[0].geometry.tiles).toBeGreaterThan(layersOf(SMALL8, sets[2], 1)[0].geometry.minTiles);
    for (const s of sets) await check(SMALL8, s, EXACT_MEMORIES, "exact", 0.01);
  });

  it("oltron 16x16, 256-bit words: two chunks, overflow tiles", async () => {
    await check(D16, [{ m: 300, k: 70, n: 40, type: "fp12" }, { m: 3, k: 16, n: 16, type: "fp8" }], EXACT_MEMORIES.slice(0, 2), "exact", 0.01);
    await check(D16, [{ m: 20, k: 100, n: 60, type: "fp8", salient: 40 }], EXACT_MEMORIES.slice(1), "exact", 0.01);
  });

  it("oltron 8x8, 512-bit words: two output rows per word", async () => {
    const d = design({ rows: 8, cols: 8, flexLines: 1, salientTypes: ["fp8"], memWordBits: 512, bufferTokens: 128 });
    expect(d.out.rowsPerWord).toBe(2);
    await check(d, [{ m: 131, k: 50, n: 20, type: "fp8" }, { m: 5, k: 8, n: 8, type: "none" }], EXACT_MEMORIES, "exact", 0.01);
  });

  it("oltron 4x4, 1024-bit words: eight output rows per word, one-word descriptors", async () => {
    const d = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 1024, bufferTokens: 64 });
    expect(d.out.rowsPerWord).toBe(8);
    await check(d, [{ m: 70, k: 13, n: 9, type: "fp12" }, { m: 3, k: 5, n: 5, type: "fp8" }], EXACT_MEMORIES.slice(0, 2), "exact", 0.01);
  });

  for (const [arch, specs] of [
    ["int4", [{ m: 70, k: 13, n: 9, type: "none" }, { m: 5, k: 33, n: 4, type: "none" }]],
    ["olive", [{ m: 70, k: 13, n: 9, format: "ovp-flint" }, { m: 5, k: 33, n: 4, format: "ovp-int" }]],
    ["w4a8", [{ m: 70, k: 13, n: 9, format: "int8" }, { m: 5, k: 33, n: 4, format: "int8" }]],
  ] as const) {
    it(`${arch} 4x4, 64-bit words, two load slots`, async () => {
      await check(design({ arch, ...TINY_IO }), [...specs], EXACT_MEMORIES.slice(0, 2), "exact", 0.01);
    });
  }

  it("oltron 6x5, 32-bit words, 5-beat bursts, 3 reads in flight: bursts cut at 4 KiB", async () => {
    const d = design({ rows: 6, cols: 5, flexLines: 2, memWordBits: 32, bufferTokens: 16, axiMaxBurst: 5, axiMaxReads: 3 });
    const specs: Spec[] = [{ m: 40, k: 60, n: 30, type: "fp12" }, { m: 5, k: 5, n: 5, type: "fp12" }];
    // The images span several 4 KiB pages, so some blocks straddle a boundary.
    expect(buildImageSet(d, layersOf(d, specs, 1), { allowOverflow: true }).manifest.memoryWords).toBeGreaterThan(2 * 1024);
    await check(d, specs, EXACT_MEMORIES, "exact", 0.01);
  });
});

describe("cycle model vs co-simulation, random memory timing: an estimate, within 15%", () => {
  it("oltron 8x8: latency ranges, stalls on every channel, a bandwidth cap, reordering", async () => {
    await check(SMALL8, [{ m: 4, k: 128, n: 16, type: "fp8", salient: 8 }], ESTIMATED_MEMORIES, "estimated", 0.15);
    await check(SMALL8, [{ m: 200, k: 128, n: 16, type: "none" }], ESTIMATED_MEMORIES, "estimated", 0.15);
  });

  it("int4 4x4, two load slots: the same timings", async () => {
    await check(design({ arch: "int4", ...TINY_IO }), [{ m: 70, k: 13, n: 9, type: "none" }, { m: 5, k: 33, n: 4, type: "none" }], ESTIMATED_MEMORIES, "estimated", 0.15);
  });
});

describe("the model's own properties (no simulation)", () => {
  const pickOf = (rng: Rng) => <T>(a: readonly T[]): T => a[rng.int(0, a.length - 1)];

  it("never below the planner's lower bound estimateCycles, over random designs and shapes", () => {
    const rng = new Rng(77);
    const pick = pickOf(rng);
    for (let i = 0; i < 200; i++) {
      const rows = pick([4, 8, 16]);
      const d = design({ rows, cols: pick([4, 8, 16]), flexLines: 2, memWordBits: pick([64, 128, 256, 512]), bufferTokens: pick([16, 64, 128]), loadSlots: pick([2, 4, 8]) });
      const layers = Array.from({ length: rng.int(1, 3) }, (_, li) =>
        randomCodeLayer(d, rng, { name: `L${li}`, m: rng.int(1, 300), k: rng.int(1, 8 * rows), n: rng.int(1, 40), type: pick(["none", "fp8", "fp12"] as const) }));
      const timing = { readLatency: pick([1, 5, 50]), writeLatency: pick([1, 5, 50]) };
      const p = predictCycles(d, shapes(layers, d), timing);
      const est = layers.reduce((a, q) => a + estimateCycles(d, q.geometry, q.m, q.n), 0);
      expect(p.total, `${d.name} ${JSON.stringify(shapes(layers, d))}`).toBeGreaterThanOrEqual(est);
    }
  });

  it("skipping periodic stretches changes nothing: the same prediction as walking every tile", () => {
    const rng = new Rng(78);
    const pick = pickOf(rng);
    for (let i = 0; i < 150; i++) {
      const d = design({ rows: pick([4, 8]), cols: pick([4, 8]), flexLines: 2, memWordBits: pick([32, 64, 256, 1024]), bufferTokens: pick([16, 64]), loadSlots: pick([2, 4]), axiMaxBurst: pick([3, 16]), axiMaxReads: pick([2, 8]) });
      const layers: CycleLayer[] = Array.from({ length: rng.int(1, 2) }, () => ({ m: rng.int(1, 150), tiles: rng.int(1, 5), nTiles: rng.int(1, 60), tileChannels: rng.int(1, d.rows) }));
      const timing = { readLatency: pick([1, 7, 60]), writeLatency: pick([1, 40]) };
      const { walked: skipping, ...fast } = predictCycles(d, layers, timing);
      const { walked: all, ...slow } = predictCycles(d, layers, timing, { exhaustive: true });
      expect(fast, JSON.stringify({ cfg: d.config, layers, timing })).toEqual(slow);
      expect(skipping).toBeLessThanOrEqual(all);
    }
  });

  it("a LLaMA-7B decoder block (7 layers, 2048 tokens, 64x64 array) is priced by walking few of its tiles", () => {
    const d = design({ rows: 64, cols: 64, flexLines: 1, salientTypes: ["fp8"], memWordBits: 1024 });
    const block: [string, number, number][] = [["q", 4096, 4096], ["k", 4096, 4096], ["v", 4096, 4096], ["o", 4096, 4096], ["gate", 4096, 11008], ["up", 4096, 11008], ["down", 11008, 4096]];
    const layers: CycleLayer[] = block.map(([name, k, n]) => ({ name, m: 2048, tiles: Math.ceil(k / 63), nTiles: Math.ceil(n / 64), tileChannels: 64 }));
    const p = predictCycles(d, layers);
    const tiles = layers.reduce((a, l) => a + Math.ceil(l.m / d.config.bufferTokens) * l.tiles * l.nTiles, 0);
    // Cheap by construction: the periodic shortcut leaves a few N-tiles per descriptor to walk.
    expect(p.walked).toBeLessThan(tiles / 10);
    expect(p.busy).toBe(layers.reduce((a, l) => a + l.m * l.tiles * l.nTiles, 0));
    // Compute-bound: nothing but the pipeline's fill and drain beyond the issue cycles.
    expect(p.total - p.busy).toBeLessThan(2000);
  });

  it("a manifest of another design is refused", () => {
    const man = buildImageSet(SMALL8, layersOf(SMALL8, [{ m: 4, k: 8, n: 8, type: "none" }], 1), { allowOverflow: true }).manifest;
    expect(() => manifestCycles(man, { design: D16 })).toThrow(/made for design/);
  });

  it("a manifest alone predicts its run: it records the design's timing parameters; an older one without them needs the design", () => {
    const d = design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128, loadSlots: 2, axiMaxBurst: 5, axiMaxReads: 3 });
    const man = buildImageSet(d, layersOf(d, [{ m: 40, k: 64, n: 24, type: "fp8" }], 2), { allowOverflow: true }).manifest;
    expect([man.design.loadSlots, man.design.axiMaxBurst, man.design.axiMaxReads]).toEqual([2, 5, 3]);
    expect(manifestCycles(man).total).toBe(manifestCycles(man, { design: d }).total);
    const { loadSlots: _a, axiMaxBurst: _b, axiMaxReads: _c, ...older } = man.design;
    const old = { ...man, design: older };
    expect(() => manifestCycles(old)).toThrow(/does not record loadSlots \(an older manifest\): give the design/);
    expect(manifestCycles(old, { design: d }).total).toBe(manifestCycles(man).total);
  });
});
