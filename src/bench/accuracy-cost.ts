/**
 * What each method of the accuracy benchmark costs in hardware of the benchmarked design's
 * size, so that every row can be compared at equal information bits, equal image bits and
 * equal cycles (docs/quantization.md section 2, "bits and cost").
 *
 * - Methods with 4-bit lanes only (int4, tuned OVP, OliVe, QuaRot) run on an array of the
 *   design's rows x cols whose every lane is 4 bits (OliVe's decoder sits in the lane): one
 *   K-tile per `rows` channels, image rows of 4 x rows bits, no flexible lanes. QuaRot works
 *   on K padded to its Hadamard size, so its image and cycles grow with the padding.
 * - int8 runs on 8-bit lanes of the same array: twice the image, the same cycles (a larger
 *   array; it is the accuracy reference, not a design point).
 * - The Oltron authors' quantizer and fixed TOBE run on the hybrid design itself: their
 *   salient channels are laid out by tileGeometry as the quantizer lays them out, extra tiles
 *   included; the authors' fp12 rows need fp12 lanes, which a design may lack.
 *
 * Cycles are a ratio: compute cycles over the hybrid design's fewest (the plan without salient
 * channels), from the same steady-state model as estimateCycles (cycles are proportional to
 * K-tiles for a fixed M and N).
 */
import type { ElaboratedDesign } from "../hw/design.js";
import { tileGeometry } from "../quant/tobe.js";

export interface MethodCost {
  /** Bits per activation in the memory image; null when the design cannot run the method. */
  imageBits: number | null;
  /** Compute cycles over the hybrid design's fewest; null when the design cannot run it. */
  cycleRatio: number | null;
  /** The hardware the figures assume. */
  hardware: string;
}

/** The fields of a benchmark row the cost depends on. */
export interface CostedMethod {
  method: string;
  detail: Record<string, number | string | boolean>;
}

function lanesOnly(d: ElaboratedDesign, k: number, laneBits: number, channels = k): { imageBits: number; tiles: number } {
  const tiles = Math.ceil(channels / d.rows);
  return { imageBits: (tiles * d.rows * laneBits) / k, tiles };
}

/** The cost of one benchmark method on hardware of design d's size, for a layer of K channels. */
export function methodCost(d: ElaboratedDesign, k: number, m: CostedMethod): MethodCost {
  const minTiles = tileGeometry(d, k, 0, "none").tiles;
  const array = `${d.rows}x${d.cols}`;
  const int4Array = (channels: number, hardware: string): MethodCost => {
    const { imageBits, tiles } = lanesOnly(d, k, 4, channels);
    return { imageBits, cycleRatio: tiles / minTiles, hardware };
  };
  const name = m.method;
  if (name === "int8") {
    const { imageBits, tiles } = lanesOnly(d, k, 8);
    return { imageBits, cycleRatio: tiles / minTiles, hardware: `${array} array of int8 lanes` };
  }
  if (name.startsWith("quarot")) {
    const size = Number(m.detail.rotationSize ?? k);
    return int4Array(size, `${array} array of int4 lanes, K padded to ${size}`);
  }
  if (name === "olive") return int4Array(k, `${array} array of int4 lanes with OliVe's pair decoders`);
  if (name.startsWith("int4") || name.startsWith("ovp")) return int4Array(k, `${array} array of int4 lanes`);
  const authors = /^oltron_authors_(fp8|fp12)/.exec(name);
  if (authors) {
    const t = authors[1] as "fp8" | "fp12";
    if (!((d.maxSalientPerTile[t] ?? 0) > 0)) return { imageBits: null, cycleRatio: null, hardware: `needs ${t} lanes, which ${d.name} lacks` };
    const g = tileGeometry(d, k, Number(m.detail.salientChannels), t);
    return { imageBits: (g.tiles * d.act.strideBits) / k, cycleRatio: g.tiles / minTiles, hardware: `the hybrid design ${d.name}` };
  }
  if (name.startsWith("tobe_")) {
    const tiles = Number(m.detail.tiles);
    return { imageBits: (tiles * d.act.strideBits) / k, cycleRatio: tiles / minTiles, hardware: `the hybrid design ${d.name}` };
  }
  throw new Error(`internal: no cost model for benchmark method '${name}'`);
}
