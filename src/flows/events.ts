/**
 * Event counts of a run: what the energy model prices. Two sources meet here and check each
 * other:
 * - the testbench's monitors on the accelerator's own signals (templates/tb_events.hbs): token
 *   rows issued per descriptor, the salient lanes and decoder mode they were issued in, the OVP
 *   outlier pairs and bit toggles of the rows entering the array, RAM port accesses and stage
 *   cycles over the whole run;
 * - the counts the manifest implies (tokens x tiles x N-tiles, buffer words, ...), which are
 *   data-independent: per layer they give the RAM accesses and DRAM bytes, and their sums must
 *   equal what the monitors counted (a mismatch is a bug in one of them, and throws).
 * MACs are PE operations, padding included (a tile's unused lanes still clock their PEs).
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { ramShapes } from "../hw/generate.js";
import type { ArrayCounts } from "../image/activity.js";
import type { Manifest, ManifestLayer } from "../image/manifest.js";
import { layerTraffic } from "../image/traffic.js";
import type { RawEvents, RawRun } from "../sim/driver.js";

export const RAM_ROLES = ["ibuf", "wbuf", "acc", "out", "stats"] as const;
export type RamRole = (typeof RAM_ROLES)[number];
export type RamAccesses = Record<RamRole, { writes: number; reads: number }>;

export interface LayerEvents {
  /** Token rows issued into the array (RTL monitor). */
  tokens: number;
  /** PE operations per "PE kind/mode" (e.g. "eff/int4", "flex/fp8", "ovp/outlier", "w4a8/int8"). */
  macs: Record<string, number>;
  /** Token rows through the decoder per mode (tobe: fp8 / fp12 tile configuration; ovp: int / flint). */
  decoder: Record<string, number>;
  /** Bits of the array's activation row that toggled, over the row width x tokens. */
  activity: number;
  toggles: number;
  /** Toggles of column 0's partial sum leaving the array, over its psumBits x tokens. */
  psumActivity: number;
  psumToggles: number;
  /** RAM port accesses (from the manifest; their run sums equal the RTL monitors). */
  ram: RamAccesses;
  /** External memory traffic in bytes (from the manifest; run sums equal the AXI beats counted). */
  dram: { readBytes: number; writtenBytes: number };
  /** Where the array counts came from: the testbench monitors, or the images read in TypeScript (image/activity.ts). */
  source: "rtl monitors + manifest" | "images + manifest";
}

export interface RunEvents {
  ram: RamAccesses;
  /** Cycles per stage: busy (doing its work), stall (holding work it cannot pass on), idle. */
  stages: Record<"read" | "preload" | "issue" | "write", { busy: number; stall: number; idle: number }>;
  cycles: number;
}

/** RAM accesses a layer implies, from its manifest entry. */
export function layerRamAccesses(d: ElaboratedDesign, man: Manifest, l: ManifestLayer): RamAccesses {
  const t = layerTraffic(man, l);
  const cap = d.config.bufferTokens;
  let tokens = 0;
  let firstTokens = 0;
  for (let m0 = 0; m0 < l.m; m0 += cap) {
    const m = Math.min(cap, l.m - m0);
    tokens += m * l.tiles * l.nTiles;
    firstTokens += m * l.nTiles;
  }
  const C = d.cols;
  const chunks = Math.ceil(l.m / cap);
  return {
    ibuf: { writes: t.activations, reads: 2 * tokens },
    wbuf: { writes: t.weights, reads: d.rows * l.tiles * l.nTiles * chunks },
    acc: { writes: (tokens - firstTokens) * C, reads: (tokens - firstTokens) * C },
    out: { writes: firstTokens * C, reads: firstTokens * C },
    stats: { writes: 0, reads: 0 },
  };
}

function flexMacs(d: ElaboratedDesign, l: ManifestLayer, tokens: number, salientLanes: number): Record<string, number> {
  const C = d.cols;
  const mode = l.salientType === "fp12" ? "flex/fp12" : "flex/fp8";
  const out: Record<string, number> = {};
  if (d.effRows > 0) out["eff/int4"] = tokens * d.effRows * C;
  if (d.flexLines > 0) {
    out["flex/int4"] = (tokens * d.flexLines - salientLanes) * C;
    out[mode] = salientLanes * C;
  }
  return out;
}

function layerMacs(d: ElaboratedDesign, l: ManifestLayer, ev: { tokens: number; salientLanes: number; outlierPairs: number }): Record<string, number> {
  const C = d.cols;
  const all = ev.tokens * d.rows * C;
  switch (d.arch) {
    case "oltron":
      return flexMacs(d, l, ev.tokens, ev.salientLanes);
    case "int4":
      return { "eff/int4": all };
    case "olive":
      // An outlier pair spends both PEs: the outlier's shifted product and the victim's zero.
      return { "ovp/normal": all - 2 * ev.outlierPairs * C, "ovp/outlier": 2 * ev.outlierPairs * C };
    case "w4a8":
      return { "w4a8/int8": all };
  }
}

function layerDecoder(d: ElaboratedDesign, l: ManifestLayer, tokens: number, second: number): Record<string, number> {
  if (d.decoder === "none") return {};
  if (d.decoder === "ovp") return { int: tokens - second, flint: second };
  if (l.salientType === "fp12") return { fp12: second, fp8: tokens - second };
  return { fp8: tokens - second, fp12: second };
}

function sumRam(a: RamAccesses, b: RamAccesses): RamAccesses {
  const out = {} as RamAccesses;
  for (const r of RAM_ROLES) out[r] = { writes: a[r].writes + b[r].writes, reads: a[r].reads + b[r].reads };
  return out;
}

const zeroRam = (): RamAccesses => Object.fromEntries(RAM_ROLES.map((r) => [r, { writes: 0, reads: 0 }])) as RamAccesses;

/**
 * Per-layer and whole-run events of a finished run. Throws when the monitors and the manifest
 * disagree (tokens per layer, RAM accesses, memory beats): the two are independent, so a
 * difference is a defect, never a rounding.
 */
export function runEvents(d: ElaboratedDesign, man: Manifest, run: RawRun): { layers: (LayerEvents | undefined)[]; run: RunEvents } | undefined {
  const ev: RawEvents | undefined = run.events;
  if (!ev || run.status !== "done") return undefined;
  const layers: (LayerEvents | undefined)[] = [];
  let ram = zeroRam();
  for (const l of man.layers) {
    const lr = layerRamAccesses(d, man, l);
    ram = sumRam(ram, lr);
    const descs = ev.descriptors.slice(l.descriptors.first, l.descriptors.first + l.descriptors.count);
    if (descs.length < l.descriptors.count || descs.some((x) => x === undefined)) {
      layers.push(undefined); // beyond the statsDepth descriptors the monitors keep
      continue;
    }
    const s = descs.reduce((a, x) => ({
      tokens: a.tokens + x.tokens, salientLanes: a.salientLanes + x.salientLanes, secondMode: a.secondMode + x.secondMode,
      outlierPairs: a.outlierPairs + x.outlierPairs, toggles: a.toggles + x.toggles, psumToggles: a.psumToggles + x.psumToggles,
    }), { tokens: 0, salientLanes: 0, secondMode: 0, outlierPairs: 0, toggles: 0, psumToggles: 0 });
    const expectTokens = lr.ibuf.reads / 2;
    if (s.tokens !== expectTokens) {
      throw new Error(`layer ${l.name}: the monitors counted ${s.tokens} token rows issued, its manifest implies ${expectTokens}`);
    }
    layers.push(layerEvents(d, man, l, s, "rtl monitors + manifest"));
  }
  ram.stats.writes = Math.min(man.descriptorTable.count, d.config.statsDepth);
  for (const r of RAM_ROLES) {
    const got = ev.ram[r];
    if (!got || got.writes !== ram[r].writes || got.reads !== ram[r].reads) {
      throw new Error(`RAM ${r}: the monitors counted ${JSON.stringify(got)} accesses, the manifest implies ${JSON.stringify(ram[r])}`);
    }
  }
  const cycles = ev.stages.run?.busy ?? 0;
  const stage = (k: string) => {
    const x = ev.stages[k] ?? { busy: 0, stall: 0 };
    return { busy: x.busy, stall: x.stall, idle: cycles - x.busy - x.stall };
  };
  if (stage("read").busy !== run.axi.readBeats) {
    throw new Error(`the monitors counted ${stage("read").busy} read beats, the memory model ${run.axi.readBeats}`);
  }
  return { layers, run: { ram, cycles, stages: { read: stage("read"), preload: stage("preload"), issue: stage("issue"), write: stage("write") } } };
}

/** A layer's events from its array counts and its manifest entry. */
export function layerEvents(d: ElaboratedDesign, man: Manifest, l: ManifestLayer, s: ArrayCounts, source: LayerEvents["source"]): LayerEvents {
  const t = layerTraffic(man, l);
  const wordBytes = man.memWordBits / 8;
  return {
    tokens: s.tokens,
    macs: layerMacs(d, l, s),
    decoder: layerDecoder(d, l, s.tokens, s.secondMode),
    toggles: s.toggles,
    activity: s.tokens > 0 ? s.toggles / (s.tokens * d.act.rowBits) : 0,
    psumToggles: s.psumToggles,
    psumActivity: s.tokens > 0 ? Math.min(1, s.psumToggles / (s.tokens * d.config.psumBits)) : 0,
    ram: layerRamAccesses(d, man, l),
    dram: { readBytes: t.read * wordBytes, writtenBytes: t.written * wordBytes },
    source,
  };
}

/** Bits per access of each RAM role (a masked write moves one lane). */
export function ramAccessBits(d: ElaboratedDesign): Record<RamRole, { write: number; read: number }> {
  const s = ramShapes(d);
  return Object.fromEntries(RAM_ROLES.map((r) => [r, { write: s[r].width / s[r].lanes, read: s[r].width }])) as Record<RamRole, { write: number; read: number }>;
}
