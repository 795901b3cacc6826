/**
 * Where things live in the unified off-chip memory and in each row: the one place that
 * knows the image layout. The image writer and reader go through it; the RTL templates use
 * the same constants from the elaborated design and the descriptor fields of hw/descriptor.ts.
 * docs/formats.md is the prose version of this file.
 */
import type { ElaboratedDesign } from "../hw/design.js";
import type { TileGeometry } from "../quant/tobe.js";
import { DESC_FIELDS, SALIENT_CODE, type Descriptor } from "../hw/descriptor.js";
import { Block } from "./block.js";
import { FORMAT_CODE } from "../hw/parts.js";

/*
 * A block holds the rows of one tile (activations, outputs) or of one weight tile. Tokens come
 * in chunks of `chunk` rows (the buffer capacity, one descriptor each); every chunk starts on
 * a word boundary and packs its rows at strideBits from there. For power-of-two strides this
 * is the same as packing all rows, because a chunk then fills whole words.
 */

/** Words one chunk of `rows` rows occupies. */
export function chunkWords(strideBits: number, rows: number, wordBits: number): number {
  return Math.ceil((rows * strideBits) / wordBits);
}

/** Words a block of `rows` rows occupies, chunks of `chunk` rows each starting on a word. */
export function blockWords(strideBits: number, rows: number, wordBits: number, chunk = rows): number {
  const full = Math.floor(rows / chunk);
  return full * chunkWords(strideBits, chunk, wordBits) + chunkWords(strideBits, rows - full * chunk, wordBits);
}

/** Word offset, inside a block, of the chunk that starts at row m0 (a multiple of chunk). */
export function chunkWordOffset(strideBits: number, m0: number, wordBits: number, chunk: number): number {
  return (m0 / chunk) * chunkWords(strideBits, chunk, wordBits);
}

/** Nibble offset of row `r` inside a block. */
export function rowNibble(strideBits: number, r: number, wordBits: number, chunk: number): number {
  const c = Math.floor(r / chunk);
  return (chunkWordOffset(strideBits, c * chunk, wordBits, chunk) * wordBits + (r - c * chunk) * strideBits) / 4;
}

/** Nibble offset, inside an activation row, of tile slot `slot` and its width in nibbles. */
export function actSlot(g: TileGeometry, slot: number): { at: number; nibbles: number } {
  if (g.format === "int8") return { at: 2 * slot, nibbles: 2 };
  if (slot < g.s) {
    return g.salientType === "fp12" ? { at: 4 * slot, nibbles: 4 } : { at: 2 * slot, nibbles: 2 };
  }
  const salientNibbles = g.salientType === "fp12" ? 4 * g.s : 2 * g.s;
  return { at: salientNibbles + (slot - g.s), nibbles: 1 };
}

export interface LayerMap {
  m: number;
  nTiles: number;
  paddedN: number;
  actOffset: number;
  actTileStride: number;
  actWords: number;
  wgtOffset: number;
  wgtBlockStride: number;
  wgtWords: number;
  outOffset: number;
  outTileStride: number;
  outWords: number;
  /** Token chunks, one descriptor each (M split at the buffer capacity). */
  chunks: { m0: number; m: number }[];
}

/**
 * Lays out one layer's input regions (activations, then weights) from word `base`; the
 * output region is placed later by `placeOutput`, so all outputs of a run are contiguous.
 */
export function mapLayer(d: ElaboratedDesign, g: TileGeometry, m: number, n: number, base: number): { map: LayerMap; next: number } {
  const W = d.config.memWordBits;
  const nTiles = Math.ceil(n / d.cols);
  const T = d.config.bufferTokens;
  const actTileStride = blockWords(d.act.strideBits, m, W, T);
  const wgtBlockStride = blockWords(d.wgt.strideBits, g.tileChannels, W);
  const outTileStride = blockWords(d.out.strideBits, m, W, T);
  const actWords = g.tiles * actTileStride;
  const wgtWords = nTiles * g.tiles * wgtBlockStride;
  const outWords = nTiles * outTileStride;
  const chunks: { m0: number; m: number }[] = [];
  const cap = d.config.bufferTokens;
  for (let m0 = 0; m0 < m; m0 += cap) chunks.push({ m0, m: Math.min(cap, m - m0) });
  const map: LayerMap = {
    m, nTiles, paddedN: nTiles * d.cols,
    actOffset: base, actTileStride, actWords,
    wgtOffset: base + actWords, wgtBlockStride, wgtWords,
    outOffset: -1, outTileStride, outWords,
    chunks,
  };
  return { map, next: base + actWords + wgtWords };
}

export function placeOutput(map: LayerMap, base: number): number {
  map.outOffset = base;
  return base + map.outWords;
}

export function descriptorsFor(d: ElaboratedDesign, g: TileGeometry, map: LayerMap): Descriptor[] {
  const W = d.config.memWordBits;
  return map.chunks.map(({ m0, m }) => ({
    m,
    kTiles: g.tiles,
    nTiles: map.nTiles,
    tileChannels: g.tileChannels,
    s: g.s,
    salientType: g.format && g.format !== "tobe" ? FORMAT_CODE[g.format] : SALIENT_CODE[g.salientType],
    actBase: map.actOffset + chunkWordOffset(d.act.strideBits, m0, W, d.config.bufferTokens),
    actTileStride: map.actTileStride,
    wgtBase: map.wgtOffset,
    wgtBlockStride: map.wgtBlockStride,
    outBase: map.outOffset + chunkWordOffset(d.out.strideBits, m0, W, d.config.bufferTokens),
    outTileStride: map.outTileStride,
    flags: 0,
  }));
}

/** The descriptor table: each descriptor is 16 little-endian 32-bit fields, word-aligned. */
export function descriptorBlock(d: ElaboratedDesign, descs: Descriptor[]): Block {
  const W = d.config.memWordBits;
  const b = new Block(W, descs.length * d.descriptorWords);
  descs.forEach((desc, i) => {
    const base = (i * d.descriptorWords * W) / 4;
    DESC_FIELDS.forEach((f, fi) => {
      const v = desc[f];
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`descriptor field ${f} = ${v} out of 32-bit range`);
      b.put(base + 8 * fi, 8, v);
    });
  });
  return b;
}
