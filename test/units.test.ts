/**
 * Unit benches of the AXI4 read master (axi_rd) and the write-back with its AXI4 write master
 * (writeback), each module alone against a model of its neighbours and of the memory, under
 * random stalls, latencies and reordered, interleaved read data (templates/unit_tb.v.hbs). The
 * bench checks the protocol on every handshake: no burst across 4 KiB, burst lengths within
 * the limit, no read ID reused while in flight, every beat routed to its buffer word, W beats
 * per burst = AWLEN + 1 with WLAST on the last, every output word written once and right.
 * Three configurations share one Verilator build; each run below drives all three.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { execa } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { generateUnitBench } from "../src/hw/generate.js";
import { design, tmpDir } from "./helpers/cosim.js";

const DESIGNS = [
  // 32-bit words: an output row over 8 words, bursts of at most 5 beats, 3 reads in flight.
  design({ rows: 6, cols: 5, flexLines: 2, memWordBits: 32, bufferTokens: 16, axiMaxBurst: 5, axiMaxReads: 3 }),
  // 1024-bit words: 4 output rows per word, 4 KiB = 32 words, 8 reads in flight.
  design({ rows: 6, cols: 5, flexLines: 6, salientTypes: ["fp12"], memWordBits: 1024, bufferTokens: 32, axiMaxReads: 8 }),
  // 128-bit words, one row per word, 256-beat bursts (4 KiB exactly), 6-bit IDs.
  design({ rows: 8, cols: 3, flexLines: 0, salientTypes: [], memWordBits: 128, bufferTokens: 256, axiIdBits: 6, axiMaxReads: 3, axiMaxBurst: 256 }),
];

// Memory timings: ideal; slow and stalling with reordering; heavy stalls over many transfers; long latency.
const RUNS: string[][] = [
  ["+seed=1"],
  ["+seed=2", "+bp=300", "+lat=30", "+reorder=1"],
  ["+seed=3", "+bp=600", "+lat=5", "+reorder=1", "+xfers=64", "+tiles=16"],
  ["+seed=4", "+bp=50", "+lat=120", "+reorder=1", "+xfers=40", "+tiles=10"],
  ["+seed=5", "+bp=200", "+lat=8", "+reorder=0"],
];

describe("unit benches: axi_rd and writeback alone", () => {
  let binary = "";
  beforeAll(async () => {
    const { sources, top } = generateUnitBench(DESIGNS);
    const dir = tmpDir("units");
    const files = Object.entries(sources).map(([n, t]) => {
      fs.writeFileSync(path.join(dir, n), t);
      return path.join(dir, n);
    });
    // The benches run a few thousand cycles: the C++ is compiled without optimisation.
    const b = await execa("verilator", [
      "--binary", "--timing", "-j", "2", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
      "--top-module", top, "--Mdir", path.join(dir, "obj"), "-o", "Vunit", ...files,
    ], { reject: false, all: true });
    expect(b.exitCode, b.all).toBe(0);
    binary = path.join(dir, "obj", "Vunit");
  });

  for (const args of RUNS) {
    it(`passes every check with ${args.join(" ")}`, async () => {
      const r = await execa(binary, args, { reject: false, all: true });
      const lines = (r.all ?? "").split("\n").filter((l) => l.startsWith("unit:"));
      for (const d of DESIGNS) {
        expect(lines, (r.all ?? "").slice(0, 4000)).toContain(`unit: ${d.prefix} PASS`);
        // Both modules finished their work (the bench prints their traffic).
        expect(lines.some((l) => l.startsWith(`unit: ${d.prefix} axi_rd`) && / bursts, /.test(l))).toBe(true);
        expect(lines.some((l) => l.startsWith(`unit: ${d.prefix} writeback`) && / bursts, /.test(l))).toBe(true);
      }
      expect(lines.filter((l) => /FAIL/.test(l))).toEqual([]);
    });
  }
});
