/**
 * Power per module (hw/power.ts) and the energy model (flows/energy.ts): the netlist surgery
 * and report parsing on fixed texts, the model's arithmetic on a hand-built report, and the
 * whole path on a co-simulated run of a small design (its silicon is cached by the silicon tests).
 */
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { parsePower, stripInstances } from "../src/hw/power.js";
import { DRAM_PJ_PER_BIT, ENERGY_PARTS, layerEnergy, type LayerCost } from "../src/flows/energy.js";
import { siliconReport, type SiliconReport } from "../src/hw/silicon.js";
import { ramShapes } from "../src/hw/generate.js";
import { Rng } from "../src/core/rng.js";
import { cosim, design, randomCodeLayer } from "./helpers/cosim.js";

describe("power per module", () => {
  it("strips submodule and RAM instances, keeps standard cells", () => {
    const net = [
      "module a(clk, x);",
      "  DFFPOSX1 _1_ (",
      "    .CLK(clk)",
      "  );",
      "  p_pe_eff \\g_row[0].u_pe  (",
      "    .clk(clk)",
      "  );",
      "  p_ram_32x64 u_ram (",
      "    .clk(clk)",
      "  );",
      "  INVX1 _2_ (",
      "    .A(x)",
      "  );",
      "endmodule",
    ].join("\n") + "\n";
    const out = stripInstances(net, new Set(["p_pe_eff", "p_ram_32x64"]));
    expect(out).toContain("DFFPOSX1 _1_");
    expect(out).toContain("INVX1 _2_");
    expect(out).not.toContain("p_pe_eff");
    expect(out).not.toContain("p_ram_32x64");
  });

  it("turns report_power totals into pJ per 10 ns cycle and pJ per unit activity", () => {
    const row = (i: number, s: number, l: number) => `Total  ${i.toExponential(6)} ${s.toExponential(6)} ${l.toExponential(6)} ${(i + s + l).toExponential(6)} 100.0%`;
    const text = ["=== m_pe_eff idle", row(4e-4, 0, 2e-8), "=== m_pe_eff operand", row(1e-3, 2e-4, 2e-8), "=== m_pe_eff psum", row(6e-4, 0, 2e-8)].join("\n");
    const p = parsePower(text).get("m_pe_eff")!;
    expect(p.idlePj).toBeCloseTo(4, 9); // 0.4 mW x 10 ns
    expect(p.perActivityPj.operand).toBeCloseTo((12 - 4) / 0.5, 9);
    expect(p.perActivityPj.psum).toBeCloseTo((6 - 4) / 0.5, 9);
    expect(p.leakageW).toBe(2e-8);
    expect(() => parsePower("=== m idle\nnothing\n")).toThrow(/no power total for m \(idle\)/);
  });
});

describe("the energy model", () => {
  const d = design({ arch: "int4", rows: 4, cols: 4, memWordBits: 64, bufferTokens: 64, loadSlots: 2 });
  const shapes = ramShapes(d);
  const mod = (part: string, role: string, instances: number, idlePj: number, per: Record<string, number>, leakageW: number) =>
    ({ module: `${d.prefix}_${part}`, role, instances, areaUm2: 0, cells: 0, flipFlops: 0, power: { idlePj, perActivityPj: per, leakageW } });
  const si = {
    timing: { fmaxMHz: 100, minPeriodNs: 10, from: "", to: "" }, totalAreaUm2: 2e6,
    modules: [mod("pe_eff", "pe grid", 16, 2, { operand: 10, psum: 4 }, 1e-6), mod("loader", "pipeline and AXI", 1, 50, { inputs: 100 }, 0)],
    rams: [{ name: shapes.ibuf.name, instances: 2, readPj: 3, writePj: 5, leakageNw: 1000 }],
  } as unknown as SiliconReport;
  const ram = { ibuf: { writes: 10, reads: 40 }, wbuf: { writes: 0, reads: 0 }, acc: { writes: 0, reads: 0 }, out: { writes: 0, reads: 0 }, stats: { writes: 0, reads: 0 } };
  const cost: LayerCost = {
    m: 5, k: 4, n: 4, cycles: 100,
    events: { tokens: 20, macs: { "eff/int4": 320 }, decoder: {}, activity: 0.25, toggles: 80, psumActivity: 0.5, psumToggles: 0, ram, dram: { readBytes: 100, writtenBytes: 28 }, source: "rtl monitors + manifest" },
  };

  it("adds each part as docs/ppa.md states, by hand", () => {
    const e = layerEnergy(d, si, cost);
    // 16 PEs x 100 cycles x 2 pJ + 320 operations x (10 x 0.25 + 4 x 0.5).
    expect(e.parts["pe grid"]).toBeCloseTo(3200 + 320 * (10 * 0.25 + 4 * 0.5), 9);
    // 100 cycles x (50 + 100 x 0.1).
    expect(e.parts["pipeline and control"]).toBeCloseTo(100 * 60, 9);
    // 40 reads x 3 + 10 one-lane writes x 5 / lanes, plus 2 x 1000 nW x 1 us.
    expect(e.parts.buffers).toBeCloseTo(120 + (10 * 5) / shapes.ibuf.lanes + 2e-6 * 1e-6 * 1e12, 9);
    expect(e.parts.dram).toBe(128 * 8 * DRAM_PJ_PER_BIT);
    expect(e.parts.leakage).toBeCloseTo(16e-6 * 1e-6 * 1e12, 9);
    expect(e.totalPj).toBeCloseTo(ENERGY_PARTS.reduce((a, p) => a + e.parts[p], 0), 9);
    expect(e.perTokenPj).toBeCloseTo(e.totalPj / 5, 9);
    expect(e.topsPerW).toBeCloseTo((2 * 80) / (e.totalPj * 1e-12) / 1e12, 9);
    expect(e.topsPerMm2).toBeCloseTo((2 * 80) / 1e-6 / 1e12 / 2, 9);
  });

  it("scales each cost source alone", () => {
    const base = layerEnergy(d, si, cost);
    const dram2 = layerEnergy(d, si, cost, { ram: 1, dram: 2, activity: 1, library: 1 });
    expect(dram2.parts.dram).toBe(2 * base.parts.dram);
    expect(dram2.parts["pe grid"]).toBe(base.parts["pe grid"]);
    const act2 = layerEnergy(d, si, cost, { ram: 1, dram: 1, activity: 2, library: 1 });
    expect(act2.parts["pe grid"]).toBeCloseTo(3200 + 320 * (10 * 0.5 + 4 * 1), 9);
  });
});

describe("a co-simulated run, priced", () => {
  it("every part is positive, from OpenSTA power of every logic module", async () => {
    const d = design({ rows: 4, cols: 4, flexLines: 2, memWordBits: 64, bufferTokens: 64, loadSlots: 2 });
    const layer = randomCodeLayer(d, new Rng(5), { name: "L0", m: 20, k: 12, n: 8, type: "fp8", salient: 2 });
    const r = await cosim(d, [layer], "verilator", "energy");
    expect(r.pass).toBe(true);
    const si = await siliconReport(d);
    for (const m of si.modules) if (!m.module.endsWith("_top")) expect(m.power, m.module).toBeDefined();
    const l = r.layers[0];
    const e = layerEnergy(d, si, { m: l.m, k: l.k, n: l.n, cycles: l.cycles!.total, events: l.events! });
    for (const p of ["pe grid", "decoder", "pipeline and control", "buffers", "dram", "leakage"] as const) expect(e.parts[p], p).toBeGreaterThan(0);
    expect(e.fmaxMHz).toBe(si.timing.fmaxMHz);
  });

  it("refuses a folder that is not a run, naming what it expected", async () => {
    const r = await execa("node", ["bin/oltron.js", "report", "energy", "/nonexistent-run"], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not a run folder \(expected design\/ and images\/sim-result.json/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
