/**
 * Where a layer's cycles went, from its measured cycles and its tile counts: useful MACs,
 * padding (K and N rounded up to the array's tiles), extra tiles (salient channels beyond what
 * one tile's flexible lines hold) and stalls (cycles no token row was issued: memory waits
 * and pipeline fill). The four add up to the layer's measured cycles exactly. A part above
 * 10% is a warning naming its cause and the option that would cut it.
 */
import type { ElaboratedDesign } from "../hw/design.js";
import type { SimResult } from "./simulate.js";

export interface UtilizationSplit {
  /** Cycles, adding up to `total`. */
  useful: number;
  padding: number;
  extraTiles: number;
  stall: number;
  total: number;
}

/** A share of the cycles worth a warning. */
export const LOSS_WARNING = 0.1;

type ResultLayer = SimResult["layers"][number];

export function layerSplit(d: { rows: number; cols: number }, l: ResultLayer): UtilizationSplit | undefined {
  if (!l.cycles) return undefined;
  const nTiles = Math.ceil(l.n / d.cols);
  const useful = (l.m * l.k * l.n) / (d.rows * d.cols);
  const atMinimum = l.m * l.minTiles * nTiles;
  return { useful, padding: atMinimum - useful, extraTiles: l.m * (l.tiles - l.minTiles) * nTiles, stall: l.cycles.total - l.cycles.busy, total: l.cycles.total };
}

const pct = (x: number, total: number) => `${((100 * x) / total).toFixed(1)}%`;

/** Warnings for the layers of a finished run that lose more than 10% of their cycles to one cause. */
export function utilizationWarnings(d: ElaboratedDesign, r: SimResult): string[] {
  const out: string[] = [];
  for (const l of r.layers) {
    const s = layerSplit(d, l);
    if (!s || s.total <= 0) continue;
    const causes: string[] = [];
    if (s.extraTiles / s.total > LOSS_WARNING) {
      const { why, remedy } = extraTilesCause(d, l);
      causes.push(`${pct(s.extraTiles, s.total)} go to extra tiles (${l.tiles} tiles against ${l.minTiles} without salient channels: ${why}); ${remedy} cut them`);
    }
    if (s.stall / s.total > LOSS_WARNING) {
      const perBusy = (l.traffic.read + l.traffic.written) / Math.max(1, l.cycles!.busy);
      causes.push(`${pct(s.stall, s.total)} the array waits (memory stalls and pipeline fill: ${perBusy.toFixed(2)} memory words per issued row, ` +
        `memory read latency ${fmtLatency(r)}); wider memory words (--mem-word-bits ${d.config.memWordBits * 2}), more reads in flight (--axi-max-reads, now ${d.config.axiMaxReads}), ` +
        `more tiles loaded ahead (--load-slots, now ${d.config.loadSlots})${l.m < 4 * d.rows ? `, or more tokens (${l.m} barely cover the pipeline's fill)` : ""} cut them`);
    }
    if (s.padding / s.total > LOSS_WARNING) {
      const kPad = l.minTiles * d.rows;
      const nPad = Math.ceil(l.n / d.cols) * d.cols;
      causes.push(`${pct(s.padding, s.total)} multiply padding (K = ${l.k} fills ${l.minTiles} tile(s) of ${d.rows} rows = ${kPad}, N = ${l.n} fills ${nPad / d.cols} pass(es) of ${d.cols} columns = ${nPad}); ` +
        `an array whose rows divide K and whose columns divide N (--rows, --cols) avoids it`);
    }
    if (causes.length) out.push(`warning: layer ${l.name} (${l.m}x${l.k}x${l.n}) spends ${pct(s.useful, s.total)} of its ${s.total} cycles on useful MACs: ${causes.join("; and ")}`);
  }
  return out;
}

/**
 * Why a layer has more tiles than its K needs, from the tile rule (quant/tobe.ts): either
 * its salient channels outnumber the flexible lanes of the plain tile count, or (fp12) every
 * salient channel takes a second lane, so a tile carrying S of them holds S fewer channels.
 */
function extraTilesCause(d: ElaboratedDesign, l: ResultLayer): { why: string; remedy: string } {
  const perTile = d.maxSalientPerTile[l.salientType as "fp8" | "fp12"] ?? 0;
  const lanes = l.salientType === "fp12" ? 2 : 1;
  const forCount = perTile > 0 ? Math.ceil(l.salientChannels / perTile) : 0;
  if (lanes === 1 || forCount >= l.tiles) {
    return {
      why: `its ${l.salientChannels} ${l.salientType} salient channels, at most ${perTile} per tile (${d.flexLines} flexible lane(s), ${lanes} per channel), need ${forCount} tiles`,
      remedy: `fewer salient channels (--ratio or --threshold), a budget that weighs tiles (--budget), ${l.salientType === "fp12" ? "fp8 instead of fp12 or " : ""}more flexible lines (--flex-lines)`,
    };
  }
  return {
    why: `its ${l.salientChannels} ${l.salientType} salient channels fit ${l.s} per tile, but each takes a second lane, so a tile holds ${d.rows - l.s * (lanes - 1)} channels instead of ${d.rows} and K = ${l.k} needs ${l.tiles}`,
    remedy: "fp8 instead of fp12, or a budget that weighs tiles (--budget),",
  };
}

function fmtLatency(r: SimResult): string {
  const [lo, hi] = r.memory.readLatency;
  const bw = r.memory.bandwidth !== undefined ? `, bandwidth cap ${r.memory.bandwidth} beats/cycle` : "";
  return `${lo === hi ? lo : `${lo}..${hi}`} cycles${bw}`;
}
