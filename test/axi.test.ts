/**
 * The accelerator in a real system: bit-exact at any memory timing the AXI protocol allows
 * (latency, stalls on every channel, out-of-order and interleaved read data, a bandwidth
 * cap), a clean stop with a named error code for every error response and for every
 * descriptor field the hardware cannot honour, and an abort from the host.
 *
 * The memory model lives in the generated testbench and is driven by plusargs, so one build
 * per design serves every timing below.
 */
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { sha256, writeFiles } from "../src/core/files.js";
import { Rng } from "../src/core/rng.js";
import { DRAIN_CYCLES, generateRtl } from "../src/hw/generate.js";
import { ERROR_CODES, REG_MAGIC } from "../src/hw/registers.js";
import type { ElaboratedDesign } from "../src/hw/design.js";
import { buildImageSet } from "../src/image/build.js";
import { descriptorBlock } from "../src/image/layout.js";
import { DESC_FLAG_LAST, type Descriptor } from "../src/hw/descriptor.js";
import type { QuantizedLayer } from "../src/quant/quantizer.js";
import { IDEAL_MEMORY, MEMORY_FAULTS, memAddrBitsFor, runSim, VERILATOR_MEMORY_BYTES, type MemoryModel, type RawRun } from "../src/sim/driver.js";
import { buildSim, type Simulator } from "../src/sim/build.js";
import type { SimResult } from "../src/flows/simulate.js";
import { cosim, design, explain, formatCodeLayer, randomCodeLayer, tmpDir } from "./helpers/cosim.js";

const SEED = Number(process.env.OLTRON_SWEEP_SEED ?? 9301);

function memory(seed: number, lat: [number, number], bp: number, reorder: boolean, bandwidth?: number): MemoryModel {
  return {
    seed, readLatency: lat, writeLatency: lat, backpressure: { ar: bp, r: bp, aw: bp, w: bp, b: bp }, reorder,
    ...(bandwidth !== undefined ? { bandwidth } : {}),
  };
}

const LATENCIES: [number, number][] = [[1, 1], [2, 2], [7, 7], [64, 64], [1, 200]];
const BACKPRESSURE = [0, 0.1, 0.5];

// Odd shapes (narrow words, rows per word > 1, a row over several words), all-flexible,
// int4-only; oltron64 below on a subset.
const DESIGNS: { what: string; d: ElaboratedDesign; type: "fp8" | "fp12" | "none" | "int8" | "ovp-int" | "ovp-flint" }[] = [
  { what: "odd 6x5, 32-bit words", d: design({ rows: 6, cols: 5, flexLines: 2, memWordBits: 32, bufferTokens: 16, axiMaxBurst: 5, axiMaxReads: 3 }), type: "fp12" },
  { what: "all-flexible 4x4", d: design({ rows: 4, cols: 4, flexLines: 4, memWordBits: 64, bufferTokens: 8, axiMaxBurst: 256 }), type: "fp8" },
  { what: "int4-only 8x3", d: design({ rows: 8, cols: 3, flexLines: 0, salientTypes: [], memWordBits: 128, bufferTokens: 32, axiIdBits: 2, axiMaxReads: 4 }), type: "none" },
  { what: "olive 6x5, 32-bit words", d: design({ arch: "olive", rows: 6, cols: 5, memWordBits: 32, bufferTokens: 16, axiMaxBurst: 5, axiMaxReads: 3 }), type: "ovp-flint" },
  { what: "w4a8 4x7, 64-bit words", d: design({ arch: "w4a8", rows: 4, cols: 7, memWordBits: 64, bufferTokens: 8, axiMaxBurst: 256 }), type: "int8" },
];

function layersFor(d: ElaboratedDesign, type: (typeof DESIGNS)[number]["type"], rng: Rng): QuantizedLayer[] {
  if (type === "int8" || type === "ovp-int" || type === "ovp-flint") {
    const other = type === "ovp-flint" ? "ovp-int" : type;
    return [
      formatCodeLayer(d, { name: "A", m: d.config.bufferTokens + 3, k: 3 * d.rows + 1, n: 2 * d.cols + 1, format: type, act: () => rng.u32(), wgt: () => rng.u32() }),
      formatCodeLayer(d, { name: "B", m: 5, k: d.rows - 1, n: d.cols, format: other, act: () => rng.u32(), wgt: () => rng.u32() }),
    ];
  }
  // Two layers, one longer than the buffer (several descriptors), K and N not multiples of the array.
  return [
    randomCodeLayer(d, rng, { name: "A", m: d.config.bufferTokens + 3, k: 3 * d.rows + 1, n: 2 * d.cols + 1, type }),
    randomCodeLayer(d, rng, { name: "B", m: 5, k: d.rows - 1, n: d.cols, type: "none" }),
  ];
}

/**
 * Per-layer cycles (per-descriptor statistics): every layer's busy cycles are its token rows
 * times its tiles times its N-tiles, and the layers plus the drain add up to the run.
 */
function checkLayerCycles(d: ElaboratedDesign, r: SimResult, tag: string): void {
  let sum = 0;
  for (const l of r.layers) {
    expect(l.cycles, `${tag}: ${l.name} has per-layer cycles`).toBeDefined();
    expect(l.cycles!.busy, `${tag}: ${l.name} busy`).toBe(l.m * l.tiles * Math.ceil(l.n / d.cols));
    expect(l.cycles!.stall, `${tag}: ${l.name} stall`).toBe(l.cycles!.total - l.cycles!.busy);
    sum += l.cycles!.total;
  }
  expect(r.drainCycles, `${tag}: drain`).toBeGreaterThan(0);
  expect(sum + r.drainCycles!, `${tag}: layers + drain = run`).toBe(r.cycles.total);
}

describe("bit-exact at every memory timing (seeded sweep)", () => {
  for (const { what, d, type } of DESIGNS) {
    it(`${what}: latency {1, 2, 7, 64, 1..200} x backpressure {0, 10%, 50%} (seed ${SEED})`, async () => {
      const rng = new Rng(SEED);
      const layers = layersFor(d, type, rng);
      const ideal = await cosim(d, layers, "verilator", "axi", { memory: IDEAL_MEMORY });
      expect(ideal.pass, explain(ideal, `${what} ideal memory`)).toBe(true);
      for (const lat of LATENCIES) {
        for (const bp of BACKPRESSURE) {
          const reorder = rng.int(0, 1) === 1;
          const m = memory(rng.int(1, 1 << 30), lat, bp, reorder);
          const r = await cosim(d, layers, "verilator", "axi", { memory: m });
          const tag = `${what}, memory ${JSON.stringify(m)}`;
          expect(r.status, explain(r, tag)).toBe("done");
          expect(r.mismatches, explain(r, tag)).toBe(0);
          expect(r.pass).toBe(true);
          // The traffic does not depend on timing: the same bursts, in whatever order.
          expect(r.words, tag).toEqual(ideal.words);
          expect(r.axi.readBeats, tag).toBe(ideal.axi.readBeats);
          checkLayerCycles(d, r, tag);
          if (lat[0] >= 64 && bp === 0) expect(r.cycles.total, tag).toBeGreaterThan(ideal.cycles.total);
        }
      }
    });
  }

  it("per-layer cycles: only the first statsDepth descriptors are recorded, the rest are reported as absent", async () => {
    const small = design({ ...DESIGNS[0].d.config, statsDepth: 2 });
    // Layer A needs two descriptors (more tokens than a buffer bank), so B's is the third.
    const layers = layersFor(small, "fp12", new Rng(SEED + 5));
    const r = await cosim(small, layers, "verilator", "axi", { memory: IDEAL_MEMORY });
    expect(r.pass, explain(r, "statsDepth 2")).toBe(true);
    expect(r.layers[0].cycles?.busy).toBe(layers[0].m * r.layers[0].tiles * Math.ceil(layers[0].n / small.cols));
    expect(r.layers[1].cycles).toBeUndefined();
    expect(r.drainCycles).toBeUndefined();
  });

  it("reads really overlap: the master keeps several bursts in flight at 100-cycle latency", async () => {
    const d = DESIGNS[0].d;
    const r = await cosim(d, layersFor(d, "fp12", new Rng(SEED + 1)), "verilator", "axi", { memory: memory(3, [100, 100], 0, true) });
    expect(r.pass, explain(r, "latency 100")).toBe(true);
    expect(r.axi.maxReadsInFlight).toBe(d.config.axiMaxReads);
  });

  it("a bandwidth cap slows the run and keeps it exact", async () => {
    const d = DESIGNS[2].d;
    const layers = layersFor(d, "none", new Rng(SEED + 2));
    const full = await cosim(d, layers, "verilator", "axi", { memory: memory(4, [3, 3], 0, false) });
    const capped = await cosim(d, layers, "verilator", "axi", { memory: memory(4, [3, 3], 0, false, 0.25) });
    expect(capped.pass, explain(capped, "bandwidth 0.25")).toBe(true);
    expect(capped.cycles.total).toBeGreaterThan(full.cycles.total);
    // 4 cycles per beat at least: the capped run cannot be faster than its traffic allows.
    expect(capped.cycles.total).toBeGreaterThanOrEqual(4 * (capped.words.read + capped.words.written) - 16);
  });

  it("oltron64 (1024-bit words): exact at latency 64 and at 1..200 with 50% backpressure", async () => {
    const d = design({ rows: 64, cols: 64, flexLines: 1, salientTypes: ["fp8"], memWordBits: 1024 });
    const rng = new Rng(SEED + 3);
    const layers = [randomCodeLayer(d, rng, { name: "A", m: 70, k: 130, n: 65, type: "fp8" })];
    for (const m of [memory(5, [64, 64], 0, true), memory(6, [1, 200], 0.5, true)]) {
      const r = await cosim(d, layers, "verilator", "axi64", { memory: m });
      expect(r.pass, explain(r, `oltron64 ${JSON.stringify(m)}`)).toBe(true);
    }
  });
});

describe("Verilator and Icarus agree on outputs and cycles for the same memory seed", () => {
  const d = DESIGNS[1].d;
  for (const m of [memory(11, [1, 40], 0.3, true), memory(12, [7, 7], 0.1, false, 0.5)]) {
    it(`memory ${JSON.stringify(m)}`, async () => {
      const layers = [randomCodeLayer(d, new Rng(SEED + 4), { name: "A", m: 11, k: 9, n: 5, type: "fp8" })];
      const v = await cosim(d, layers, "verilator", "agree", { memory: m });
      const i = await cosim(d, layers, "icarus", "agree", { memory: m });
      expect(v.pass, explain(v, "verilator")).toBe(true);
      expect(i.pass, explain(i, "icarus")).toBe(true);
      expect(i.cycles).toEqual(v.cycles);
      expect(i.layers.map((l) => l.cycles)).toEqual(v.layers.map((l) => l.cycles));
      expect(i.drainCycles).toBe(v.drainCycles);
      expect(i.words).toEqual(v.words);
      expect(i.axi).toEqual(v.axi);
    });
  }
});

// ------------------------------------------------------------------ error paths

/** Runs one layer whose first (or `index`-th) descriptor was altered after the images were made. */
async function runAltered(
  d: ElaboratedDesign, layer: QuantizedLayer, alter: (desc: Descriptor) => void,
  opts: { index?: number; memory?: MemoryModel; abortAt?: number; descBaseBytes?: number; simulator?: Simulator; descLimit?: number } = {},
): Promise<RawRun> {
  const set = buildImageSet(d, [layer], { allowOverflow: true });
  alter(set.descriptors[opts.index ?? 0]);
  const text = descriptorBlock(d, set.descriptors).toHex();
  set.files["descriptors.hex"] = text;
  set.manifest.descriptorTable.sha256 = sha256(text);
  const dir = tmpDir("desc");
  try {
    writeFiles(dir, set.files);
    const build = await buildSim(generateRtl(d), { simulator: opts.simulator ?? "verilator", memAddrBits: memAddrBitsFor(set.manifest, opts.simulator ?? "verilator"), log: () => {} });
    return await runSim(build, dir, set.manifest, { maxCycles: 200_000, log: () => {}, ...opts });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const code = (name: string) => ERROR_CODES.find((e) => e.name === name)!.code;

describe("errors stop the run cleanly with a named code, never with wrong data", () => {
  const d = design({ rows: 4, cols: 4, flexLines: 2, salientTypes: ["fp8"], memWordBits: 64, bufferTokens: 8 });
  const layer = randomCodeLayer(d, new Rng(SEED + 5), { name: "A", m: 20, k: 10, n: 6, type: "fp8" });
  // A word address past the testbench memory (the largest, Verilator's), inside 32-bit space.
  const BEYOND = (2 * VERILATOR_MEMORY_BYTES) / (d.config.memWordBits / 8);

  const cases: { what: string; alter: (x: Descriptor) => void; error: string; index?: number }[] = [
    { what: "m = 0", alter: (x) => (x.m = 0), error: "DESC_TOKENS" },
    { what: "m beyond the buffer", alter: (x) => (x.m = 9), error: "DESC_TOKENS" },
    { what: "m beyond the token counter", alter: (x) => (x.m = 2 ** 31), error: "DESC_TOKENS" },
    { what: "zero K-tiles", alter: (x) => (x.kTiles = 0), error: "DESC_KTILES" },
    { what: "zero N-tiles", alter: (x) => (x.nTiles = 0), error: "DESC_NTILES" },
    { what: "zero tile channels", alter: (x) => (x.tileChannels = 0), error: "DESC_CHANNELS" },
    { what: "tile channels beyond the rows", alter: (x) => (x.tileChannels = 5), error: "DESC_CHANNELS" },
    { what: "a salient type the design lacks (fp12)", alter: (x) => (x.salientType = 2), error: "DESC_TYPE" },
    { what: "an unknown salient type", alter: (x) => (x.salientType = 7), error: "DESC_TYPE" },
    { what: "S beyond the flexible lines", alter: (x) => (x.s = 3), error: "DESC_SALIENT" },
    { what: "S with type none", alter: (x) => ((x.salientType = 0), (x.s = 1)), error: "DESC_SALIENT" },
    { what: "S beyond the tile's channels", alter: (x) => ((x.tileChannels = 1), (x.s = 2)), error: "DESC_SALIENT" },
    { what: "an activation block beyond the 32-bit address space", alter: (x) => (x.actBase = 0xfffffff0), error: "DESC_ADDRESS" },
    { what: "an output block beyond the 32-bit address space", alter: (x) => (x.outBase = 0x1fffffff), error: "DESC_ADDRESS" },
    { what: "weights beyond the memory (DECERR)", alter: (x) => (x.wgtBase = BEYOND), error: "READ_DECERR" },
    { what: "outputs beyond the memory (DECERR on write)", alter: (x) => (x.outBase = BEYOND), error: "WRITE_DECERR" },
    { what: "the third descriptor broken", alter: (x) => (x.kTiles = 0), error: "DESC_KTILES", index: 2 },
  ];
  for (const c of cases) {
    it(`${c.what} -> ${c.error}`, async () => {
      const r = await runAltered(d, layer, c.alter, { index: c.index });
      expect(r.status, JSON.stringify(r)).toBe("error");
      expect(r.errorName).toBe(c.error);
      expect(r.errorCode).toBe(code(c.error));
      expect(r.outputs).toBeUndefined();
      if (c.index !== undefined) expect(r.errorDescriptor).toBe(c.index);
    });
  }

  it("ERROR_INFO names the descriptor whose read or write failed, the last one included, on both simulators", async () => {
    // Three descriptors (20 tokens, 8 per descriptor). The loader is on descriptor i + 1 (or
    // done) when a late read or a write of descriptor i fails: the burst's own descriptor counts.
    for (const simulator of ["verilator", "icarus"] as const) {
      for (const index of [0, 1, 2]) {
        const rd = await runAltered(d, layer, (x) => (x.wgtBase = BEYOND), { index, simulator });
        expect(rd.errorName, `${simulator}: weights of descriptor ${index}`).toBe("READ_DECERR");
        expect(rd.errorDescriptor, `${simulator}: weights of descriptor ${index}`).toBe(index);
        const wr = await runAltered(d, layer, (x) => (x.outBase = BEYOND), { index, simulator });
        expect(wr.errorName, `${simulator}: outputs of descriptor ${index}`).toBe("WRITE_DECERR");
        expect(wr.errorDescriptor, `${simulator}: outputs of descriptor ${index}`).toBe(index);
      }
    }
  });

  it("DESC_LIMIT bounds table parsing: a table missing its last flag stops at the limit instead of being read on", async () => {
    for (const simulator of ["verilator", "icarus"] as const) {
      // Three descriptors, the last flagged: a limit of 3 (or none) runs them all; 2 stops before the third.
      for (const limit of [0, 3]) {
        const r = await runAltered(d, layer, () => {}, { simulator, descLimit: limit });
        expect(r.status, `${simulator}: limit ${limit}`).toBe("done");
      }
      const short = await runAltered(d, layer, () => {}, { simulator, descLimit: 2 });
      expect(short.errorName, simulator).toBe("DESC_LIMIT");
      expect(short.errorDescriptor, simulator).toBe(2);
      // The last flag removed: what follows the table is never parsed as a descriptor.
      const unflagged = await runAltered(d, layer, (x) => (x.flags &= ~DESC_FLAG_LAST), { simulator, index: 2, descLimit: 3 });
      expect(unflagged.errorName, simulator).toBe("DESC_LIMIT");
      expect(unflagged.errorDescriptor, simulator).toBe(3);
      expect(unflagged.statsCount, simulator).toBe(3);
    }
  });

  it("a SLVERR read response -> READ_SLVERR", async () => {
    const r = await runAltered(d, layer, () => {}, { memory: { ...IDEAL_MEMORY, slverrAt: 4 } });
    expect(r.status).toBe("error");
    expect(r.errorName).toBe("READ_SLVERR");
  });

  it("a faulty memory never wedges a run: unknown RID, missing or early RLAST, unexpected BID end in AXI_PROTOCOL on both simulators; abort ends it at once", async () => {
    for (const simulator of ["verilator", "icarus"] as const) {
      for (const kind of MEMORY_FAULTS) {
        for (const at of [1, 4]) {
          const r = await runAltered(d, layer, () => {}, { simulator, memory: { ...IDEAL_MEMORY, fault: { kind, at } } });
          const what = `${simulator}: ${kind} on burst/response ${at}`;
          expect(r.status, what).toBe("error");
          expect(r.errorName, what).toBe("AXI_PROTOCOL");
          // Ended by abandoning what the faulty memory left outstanding, far before the watchdog.
          expect(r.cyclesTotal, what).toBeLessThan(2 * DRAIN_CYCLES);
          expect(r.outputs, what).toBeUndefined();
        }
      }
      // A stopped run the host aborts abandons what is outstanding at once; the first error stays.
      const a = await runAltered(d, layer, () => {}, { simulator, abortAt: 300, memory: { ...IDEAL_MEMORY, fault: { kind: "rid", at: 1 } } });
      expect(a.status).toBe("error");
      expect(a.errorName).toBe("AXI_PROTOCOL");
      expect(a.cyclesTotal).toBeLessThan(400);
    }
  });

  it("a misaligned DESC_BASE -> DESC_ALIGN before any read", async () => {
    const r = await runAltered(d, layer, () => {}, { descBaseBytes: 4 });
    expect(r.status).toBe("error");
    expect(r.errorName).toBe("DESC_ALIGN");
    expect(r.wordsRead).toBe(0);
  });

  it("CTRL.abort stops a run in flight with ABORTED, under stalls too", async () => {
    for (const m of [IDEAL_MEMORY, memory(8, [1, 30], 0.3, true)]) {
      const r = await runAltered(d, layer, () => {}, { abortAt: 60, memory: m });
      expect(r.status).toBe("error");
      expect(r.errorName).toBe("ABORTED");
      expect(r.wordsRead).toBeGreaterThan(0);
    }
  });

  it("stops cleanly, never breaking the protocol, whenever an error strikes under heavy stalls (seeded sweep)", async () => {
    // An abort or an error response can land while a write beat waits for WREADY: that beat
    // must stay on the bus unchanged, and the bursts already announced must still complete.
    const rng = new Rng(SEED + 7);
    let broken = -1;
    for (let i = 0; i < 12; i++) {
      const m = memory(rng.int(1, 1 << 30), [1, rng.int(1, 60)], rng.pick([0.3, 0.5, 0.7]), rng.int(0, 1) === 1);
      const which = i % 3;
      const r = which === 0
        ? await runAltered(d, layer, () => {}, { abortAt: rng.int(20, 400), memory: m })
        : which === 1
          ? await runAltered(d, layer, (x) => (x.outBase = BEYOND), { memory: m, index: (broken = rng.int(0, 2)) })
          : await runAltered(d, layer, () => {}, { memory: { ...m, slverrAt: rng.int(1, 10) } });
      const tag = `case ${i} (${["abort", "write DECERR", "read SLVERR"][which]}) under ${JSON.stringify(m)}`;
      expect(["error", "done"], tag).toContain(r.status);
      if (which !== 0) expect(r.status, tag).toBe("error");
      if (r.status === "error") expect(r.errorName, tag).toBe(["ABORTED", "WRITE_DECERR", "READ_SLVERR"][which]);
      // Under any timing, a write error names the descriptor whose outputs failed.
      if (which === 1) expect(r.errorDescriptor, tag).toBe(broken);
    }
  });

  it("the unaltered images run to done on the same build (the errors above are the alterations')", async () => {
    const r = await runAltered(d, layer, () => {});
    expect(r.status).toBe("done");
    expect(r.errorCode).toBe(0);
    expect(r.registerId).toBe(REG_MAGIC); // read back over AXI4-Lite by the testbench's host
  });
});

describe("traffic per layer", () => {
  it("matches a hand count and the hardware's own counters, at any timing", async () => {
    // 4x4 array, 64-bit words: activation rows 24 bits, packed (a 64-token chunk is 1536 bits =
    // 24 words, a 6-token chunk 144 bits = 3 words), weight rows 16 bits (4 per word), output
    // rows 128 bits (2 words), descriptors 512 bits (8 words).
    // A 70x10x6 int4 layer: 3 K-tiles of 4 channels, 2 N-tiles, chunks of 64 and 6 tokens.
    //   reads:  descriptors 2 x 8 = 16; activations 2 x 3 x (24 + 3) = 162; weights 2 chunks x 2 x 3 x 1 = 12
    //   writes: 2 x (64 x 2 + 6 x 2) = 280
    const d = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });
    const layer = randomCodeLayer(d, new Rng(SEED + 6), { name: "A", m: 70, k: 10, n: 6, type: "none" });
    for (const m of [IDEAL_MEMORY, memory(21, [1, 150], 0.5, true, 0.7)]) {
      const r = await cosim(d, [layer], "verilator", "traffic", { memory: m });
      expect(r.pass, explain(r, "traffic")).toBe(true);
      expect(r.layers[0].traffic).toEqual({ name: "A", read: 190, written: 280, descriptors: 16, activations: 162, weights: 12 });
      expect(r.words).toEqual({ read: 190, written: 280 });
    }
  });
});
