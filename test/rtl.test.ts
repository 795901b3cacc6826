/**
 * Generated RTL: deterministic, self-describing, lint-clean (with its testbench) under `verilator --lint-only -Wall`
 * across a sweep of configurations, and synthesisable by Yosys. (Correctness is the
 * co-simulation suite's job; nothing here compares against golden files.)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { areaReport } from "../src/hw/area.js";
import { GENERATOR_VERSION, type ArchConfig } from "../src/hw/design.js";
import { generateRtl, ramShapes } from "../src/hw/generate.js";
import { design, tmpDir } from "./helpers/cosim.js";

const SWEEP: Partial<ArchConfig>[] = [
  { rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 },
  { rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 },
  { rows: 16, cols: 16, flexLines: 2 },
  { rows: 32, cols: 32, flexLines: 4, memWordBits: 512 },
  { rows: 64, cols: 64, flexLines: 1, salientTypes: ["fp8"], memWordBits: 1024 },
  { rows: 8, cols: 32, flexLines: 4, memWordBits: 128 },
  { rows: 32, cols: 8, flexLines: 0, salientTypes: [], memWordBits: 64 },
  { rows: 12, cols: 6, flexLines: 1, salientTypes: ["fp8"], memWordBits: 32, bufferTokens: 16 },
  { rows: 16, cols: 16, flexLines: 4, salientTypes: ["fp8"], psumBits: 12 },
  { rows: 6, cols: 5, flexLines: 6, salientTypes: ["fp12"], memWordBits: 1024, bufferTokens: 512 },
  { rows: 8, cols: 32, flexLines: 4, memWordBits: 128, axiIdBits: 6, axiMaxReads: 3, axiMaxBurst: 256 },
  { rows: 5, cols: 7, flexLines: 1, salientTypes: ["fp8"], memWordBits: 32, bufferTokens: 4, axiIdBits: 1, axiMaxReads: 1, axiMaxBurst: 1 },
  // The other architectures: small odd shapes and the 64x64 presets.
  { arch: "olive", rows: 6, cols: 5, memWordBits: 32, bufferTokens: 16 },
  { arch: "w4a8", rows: 5, cols: 7, memWordBits: 32, bufferTokens: 4 },
  { arch: "int4", rows: 16, cols: 16 },
  { arch: "olive", rows: 64, cols: 64, memWordBits: 1024 },
  { arch: "w4a8", rows: 64, cols: 64, memWordBits: 1024 },
];

describe("generation", () => {
  it("is byte-identical for the same configuration and names modules after it", () => {
    const a = generateRtl(design({ rows: 8, cols: 8 }));
    const b = generateRtl(design({ rows: 8, cols: 8 }));
    expect(a).toEqual(b);
    const c = generateRtl(design({ rows: 8, cols: 8, psumBits: 20 }));
    const modules = (r: typeof a) => Object.values(r.sources).flatMap((s) => [...s.matchAll(/^module (\w+)/gm)].map((m) => m[1]));
    const shared = modules(a).filter((m) => modules(c).includes(m));
    expect(shared).toEqual([]); // two configurations never collide in one simulation
    for (const m of modules(a)) expect(m).toMatch(/^oltron_r8c8f2_[0-9a-f]{6}_/);
  });

  it("writes a header with the generator version and every parameter", () => {
    const d = design({ rows: 8, cols: 4, flexLines: 2, psumBits: 14, memWordBits: 128, bufferTokens: 32 });
    for (const text of Object.values(generateRtl(d).sources)) {
      expect(text).toContain(`oltron-gen ${GENERATOR_VERSION}`);
      expect(text).toContain("rows=8 cols=4 flexLines=2 salientTypes=fp8,fp12");
      expect(text).toContain("psumBits=14 memWordBits=128 bufferTokens=32");
      expect(text).toContain(`Configuration hash: ${d.hash}`);
    }
  });

  it("omits PE kinds a design does not have", () => {
    expect(Object.keys(generateRtl(design({ rows: 8, cols: 4, flexLines: 0, salientTypes: [] })).sources).some((f) => f.includes("pe_flex"))).toBe(false);
    expect(Object.keys(generateRtl(design({ rows: 4, cols: 4, flexLines: 4 })).sources).some((f) => f.includes("pe_eff"))).toBe(false);
  });
});

describe("verilator --lint-only -Wall", () => {
  for (const cfg of SWEEP) {
    it(`is clean for ${JSON.stringify(cfg)}`, async () => {
      const d = design(cfg);
      const rtl = generateRtl(d);
      const dir = tmpDir("lint");
      try {
        const write = (files: Record<string, string>) => Object.entries(files).map(([n, t]) => {
          fs.writeFileSync(path.join(dir, n), t);
          return path.join(dir, n);
        });
        const rtlFiles = write(rtl.sources);
        const tbFiles = write(rtl.testbench);
        // The synthesisable RTL alone, then RTL and testbench together (one timescale).
        const r = await execa("verilator", ["--lint-only", "-Wall", "--top-module", rtl.top, ...rtlFiles], { reject: false, all: true });
        expect(r.all ?? "", `lint output for ${d.name}`).toBe("");
        expect(r.exitCode).toBe(0);
        const tb = await execa("verilator", ["--lint-only", "-Wall", "--timing", "--top-module", rtl.tbTop, ...rtlFiles, ...tbFiles], { reject: false, all: true });
        expect(tb.all ?? "", `lint output for ${d.name} with its testbench`).toBe("");
        expect(tb.exitCode).toBe(0);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

/** Writes each RAM module of a design to its own file and hands it to `check`. */
async function forEachRam(d: ReturnType<typeof design>, check: (ram: ReturnType<typeof ramShapes>["ibuf"], file: string) => Promise<void>) {
  const rtl = generateRtl(d);
  const dir = tmpDir("ram");
  try {
    for (const ram of Object.values(ramShapes(d))) {
      const file = path.join(dir, `${ram.name}.v`);
      fs.writeFileSync(file, rtl.sources[`${ram.name}.v`]);
      await check(ram, file);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("yosys", () => {
  it("maps every buffer and accumulator RAM of the default design to block RAM (synth_xilinx)", async () => {
    await forEachRam(design({}), async (ram, file) => {
      const r = await execa("yosys", ["-p", `read_verilog ${file}; synth_xilinx -top ${ram.name}; stat`], { reject: false, all: true });
      expect(r.exitCode, r.all).toBe(0);
      const stat = (r.all ?? "").slice((r.all ?? "").lastIndexOf("Printing statistics"));
      expect(stat, `${ram.name}: ${ram.uses}`).toMatch(/RAMB(18|36)E1\s+\d+/);
      // No flip-flop or LUT RAM holds the data: the block RAM does, read register included.
      expect(stat, ram.name).not.toMatch(/\b(FDRE|FDSE|FDCE|FDPE|RAM32M|RAM64M|RAM64X1D|RAM128X1D)\b/);
    });
  });

  it("a generic flow keeps each RAM a memory with a synchronous read port (no second port, no flops)", async () => {
    await forEachRam(design({ rows: 8, cols: 8, flexLines: 2, memWordBits: 128, bufferTokens: 128 }), async (ram, file) => {
      const script = `read_verilog ${file}; hierarchy -top ${ram.name}; proc; opt; memory -nomap; ` +
        "select -assert-count 1 t:$mem_v2; select -assert-none t:$dff t:$dffe t:$sdff t:$sdffe t:$adff";
      const r = await execa("yosys", ["-q", "-p", script], { reject: false, all: true });
      expect(r.exitCode, `${ram.name}: ${r.all}`).toBe(0);
    });
  });

  it("reports the whole accelerator: grid, decoder, buffers, control, pipeline; the hybrid grid is smaller", async () => {
    const d = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64 });
    const a = await areaReport(d);
    const count = (part: string) => a.hybrid.modules.find((m) => m.module === `${d.prefix}_${part}`)?.instances;
    expect(count("pe_eff")).toBe(8);
    expect(count("pe_flex")).toBe(8);
    expect(count("top")).toBe(1);
    // Hand-derived memory bits (4 tile slots by default). Activation rows are 24 bits, packed:
    // 64 tokens = 1536 bits = 24 entries of 64 bits, rounded up to 32 (a power of two, read as
    // an even and an odd bank) x 4 slots x 64 bits = 8192. Weight rows 16 bits, four per entry:
    // 4 rows = 1 entry x 4 slots x 64 = 256. Accumulators 4 columns x 64 x 32 = 8192. Output
    // buffers 4 columns x 128 x 32 = 16384. Per-descriptor statistics 64 entries x 64 bits = 4096.
    expect(a.hybrid.byRole.buffers.memoryBits).toBe(8192 + 256 + 8192 + 16384 + 4096);
    expect(a.hybrid.memoryBits).toBe(37120);
    for (const role of ["pe grid", "decoder", "control", "pipeline and AXI"] as const) expect(a.hybrid.byRole[role].cells, role).toBeGreaterThan(0);
    expect(a.hybrid.cells).toBe(Object.values(a.hybrid.byRole).reduce((s, r) => s + r.cells, 0));
    expect(a.hybrid.byRole["pe grid"].cells).toBeLessThan(a.allFlexible.byRole["pe grid"].cells);
    expect(a.hybrid.cells).toBeLessThan(a.allFlexible.cells);
    expect(a.saving.whole).toBeGreaterThan(0);
    expect(a.saving.whole).toBeLessThan(a.saving.peGrid);
    expect(a.flexOverEff).toBeGreaterThan(1);
    // A second report comes from the cache, identical.
    const again = await areaReport(d);
    expect(again.cached).toEqual({ hybrid: true, allFlexible: true });
    expect(again.hybrid).toEqual(a.hybrid);
  });
});
