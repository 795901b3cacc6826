/**
 * Energy of a layer from its events (flows/events.ts) and the design's silicon
 * (hw/silicon.ts): every term names its source.
 * - PE grid: per PE kind, OpenSTA's quiet-cycle energy x PEs x cycles (the clock into every
 *   flip-flop, every cycle), plus per PE operation the operand and partial-sum energy at the
 *   switching activities measured in co-simulation (toggles of the array's activation row, and
 *   of column 0's partial sum as it leaves the array, standing for every PE's).
 * - Decoder: per token row, OpenSTA's row energy at the measured activity.
 * - Pipeline, AXI and control logic: OpenSTA's quiet-cycle energy x cycles, plus its inputs at
 *   a control activity (CONTROL_ACTIVITY, an assumption the sensitivity study varies).
 * - Buffers: RAM accesses x the RAM table's pJ per access (a masked write moves one lane and
 *   costs its share), RAM leakage x time.
 * - DRAM: bytes x 8 x pJ/bit (DRAM_PJ_PER_BIT, with its source).
 * - Leakage of the logic: liberty leakage of every instance x time at Fmax.
 */
import { ramShapes } from "../hw/generate.js";
import type { ElaboratedDesign } from "../hw/design.js";
import type { SiliconReport } from "../hw/silicon.js";
import { RAM_ROLES, type LayerEvents } from "./events.js";

/** External memory energy: off-chip DRAM access, 640 pJ per 32-bit word = 20 pJ/bit (Han et al., NIPS 2015, Fig. 1, from Horowitz, ISSCC 2014, 45 nm). */
export const DRAM_PJ_PER_BIT = 20;
export const DRAM_SOURCE = "Horowitz, ISSCC 2014 (via Han et al., NIPS 2015, Fig. 1): 640 pJ per 32-bit DRAM access";
/** Toggles per input bit per cycle assumed for the pipeline, AXI and control logic (not measured). */
export const CONTROL_ACTIVITY = 0.1;

export const ENERGY_PARTS = ["pe grid", "decoder", "pipeline and control", "buffers", "dram", "leakage"] as const;
export type EnergyPart = (typeof ENERGY_PARTS)[number];

/** Multipliers on each cost source (sensitivity study: each varied x0.5..x2 alone). */
export interface CostScales {
  ram: number;
  dram: number;
  activity: number;
  library: number;
}
export const UNIT_SCALES: CostScales = { ram: 1, dram: 1, activity: 1, library: 1 };

export interface LayerEnergy {
  /** pJ per part. */
  parts: Record<EnergyPart, number>;
  totalPj: number;
  perTokenPj: number;
  /** Useful operations (2 x M x K x N) per joule, in TOPS/W. */
  topsPerW: number;
  /** Useful throughput at Fmax per mm^2 of the whole accelerator (TOPS/mm^2). */
  topsPerMm2: number;
  fmaxMHz: number;
  seconds: number;
  sources: Record<EnergyPart, string>;
}

export interface LayerCost {
  m: number;
  k: number;
  n: number;
  cycles: number;
  events: LayerEvents;
}

const PE_MODULE: Record<string, string> = { eff: "pe_eff", flex: "pe_flex", ovp: "pe_ovp", w4a8: "pe_w4a8" };

export function layerEnergy(d: ElaboratedDesign, si: SiliconReport, c: LayerCost, s: CostScales = UNIT_SCALES): LayerEnergy {
  const fmaxMHz = si.timing.fmaxMHz;
  const seconds = c.cycles / (fmaxMHz * 1e6);
  const act = Math.min(1, c.events.activity * s.activity);
  const psum = Math.min(1, c.events.psumActivity * s.activity);
  const ctl = Math.min(1, CONTROL_ACTIVITY * s.activity);
  const parts = Object.fromEntries(ENERGY_PARTS.map((p) => [p, 0])) as Record<EnergyPart, number>;
  const opsPerKind = new Map<string, number>();
  for (const [kindMode, ops] of Object.entries(c.events.macs)) {
    const kind = kindMode.split("/")[0];
    opsPerKind.set(kind, (opsPerKind.get(kind) ?? 0) + ops);
  }
  let leakW = 0;
  for (const m of si.modules) {
    if (!m.power || m.instances === 0) continue;
    leakW += m.power.leakageW * m.instances;
    const part = m.module.slice(d.prefix.length + 1);
    const pw = m.power;
    if (m.role === "pe grid" && part.startsWith("pe_")) {
      const kind = Object.keys(PE_MODULE).find((k) => PE_MODULE[k] === part);
      const ops = kind ? opsPerKind.get(kind) ?? 0 : 0;
      parts["pe grid"] += m.instances * c.cycles * pw.idlePj + ops * ((pw.perActivityPj.operand ?? 0) * act + (pw.perActivityPj.psum ?? 0) * psum);
    } else if (m.role === "decoder") {
      parts.decoder += c.events.tokens * (pw.perActivityPj.row ?? 0) * act + m.instances * c.cycles * pw.idlePj;
    } else if (m.role === "pe grid") {
      // The array's own cells: the weight-load wavefront and row registers.
      parts["pe grid"] += m.instances * c.cycles * (pw.idlePj + (pw.perActivityPj.inputs ?? 0) * ctl);
    } else {
      parts["pipeline and control"] += m.instances * c.cycles * (pw.idlePj + (pw.perActivityPj.inputs ?? 0) * ctl);
    }
  }
  const shapes = ramShapes(d);
  let ramLeakW = 0;
  for (const r of RAM_ROLES) {
    const shape = shapes[r];
    const cost = si.rams.find((x) => x.name === shape.name);
    if (!cost) continue;
    const a = c.events.ram[r];
    parts.buffers += (a.reads * cost.readPj + a.writes * cost.writePj / shape.lanes) * s.ram;
    ramLeakW += cost.leakageNw * 1e-9 * cost.instances;
  }
  parts.buffers += ramLeakW * seconds * 1e12 * s.ram;
  parts.dram = (c.events.dram.readBytes + c.events.dram.writtenBytes) * 8 * DRAM_PJ_PER_BIT * s.dram;
  parts.leakage = leakW * seconds * 1e12;
  for (const p of ["pe grid", "decoder", "pipeline and control", "leakage"] as const) parts[p] *= s.library;
  const totalPj = ENERGY_PARTS.reduce((a, p) => a + parts[p], 0);
  const ops = 2 * c.m * c.k * c.n;
  return {
    parts, totalPj, perTokenPj: totalPj / c.m,
    topsPerW: ops / (totalPj * 1e-12) / 1e12,
    topsPerMm2: ops / seconds / 1e12 / (si.totalAreaUm2 / 1e6),
    fmaxMHz, seconds,
    sources: {
      "pe grid": "OpenSTA report_power per PE kind (quiet cycle + operand and psum at the co-simulated activities)",
      decoder: "OpenSTA report_power of the decoder at the co-simulated activity",
      "pipeline and control": `OpenSTA report_power per module (quiet cycle + inputs at activity ${CONTROL_ACTIVITY}, assumed)`,
      buffers: "RAM table (CACTI 7, 180 nm) per access and leakage",
      dram: `${DRAM_PJ_PER_BIT} pJ/bit: ${DRAM_SOURCE}`,
      leakage: "liberty leakage of every logic instance x time at Fmax (OpenSTA)",
    },
  };
}

/** A markdown table of a run's energy per layer. */
export function formatEnergy(design: string, si: SiliconReport, layers: { name: string; cycles: number; energy: LayerEnergy }[]): string {
  const nj = (pj: number) => (pj / 1e3).toFixed(1);
  const first = layers[0]?.energy;
  const lines = [
    `Energy of ${design} at Fmax ${si.timing.fmaxMHz.toFixed(0)} MHz, area ${(si.totalAreaUm2 / 1e6).toFixed(3)} mm^2 (${si.library.name}); event counts from the RTL co-simulation`,
    "",
    `| layer | cycles | ${ENERGY_PARTS.map((p) => `${p} nJ`).join(" | ")} | total nJ | nJ/token | TOPS/W | TOPS/mm^2 |`,
    `|---|---|${ENERGY_PARTS.map(() => "---").join("|")}|---|---|---|---|`,
    ...layers.map((l) => `| ${l.name} | ${l.cycles} | ${ENERGY_PARTS.map((p) => nj(l.energy.parts[p])).join(" | ")} | ${nj(l.energy.totalPj)} | ${nj(l.energy.perTokenPj)} | ${l.energy.topsPerW.toFixed(3)} | ${l.energy.topsPerMm2.toFixed(4)} |`),
  ];
  if (first) lines.push("", "Sources:", ...ENERGY_PARTS.map((p) => `- ${p}: ${first.sources[p]}`));
  return lines.join("\n");
}
