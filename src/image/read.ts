/**
 * Reading the images back: operands decoded from the activation and weight images, and
 * output images to and from Y [M x paddedN]. The inverse of image/build.ts, through the
 * same layout (image/layout.ts).
 */
import { decode, decodeInt4, type ElemType } from "../core/formats.js";
import { decodeInt8, decodeOvpRows } from "../core/actformats.js";
import type { TileGeometry } from "../quant/tobe.js";
import { Block, readImage } from "./block.js";
import { actSlot, rowNibble } from "./layout.js";
import type { Manifest, ManifestLayer } from "./manifest.js";

/** Decoded value reduced modulo 2^32 to int32: exact products via Math.imul. */
function toInt32(v: number): number {
  return Number(BigInt.asIntN(32, BigInt(v)));
}

function geometryOf(l: ManifestLayer): TileGeometry {
  return {
    tiles: l.tiles, tileChannels: l.tileChannels, s: l.s, salientType: l.salientType,
    salientLanes: l.salientLanes, paddedK: l.paddedK, minTiles: l.minTiles, ...(l.actFormat ? { format: l.actFormat } : {}),
  };
}

export interface LayerOperands {
  /** Decoded activations [M x paddedK], int32 modulo 2^32. */
  a: Int32Array;
  /** int4 weights [paddedK x paddedN]. */
  w: Int8Array;
}

/** Decodes a layer's activation and weight images. */
export function readOperands(dir: string, man: Manifest, l: ManifestLayer): LayerOperands {
  return { a: readActivations(dir, man, l, "int32") as Int32Array, w: readWeights(dir, man, l) };
}

/**
 * A layer's decoded activations [M x paddedK] in TOBE order: reduced modulo 2^32 to int32 (what
 * the datapath multiplies), or exact (fp12 magnitudes reach 2^37) for dequantization.
 */
export function readActivations(dir: string, man: Manifest, l: ManifestLayer, as: "int32" | "exact"): Int32Array | Float64Array {
  const W = man.memWordBits;
  const g = geometryOf(l);
  const K = l.paddedK;
  const act = readImage(dir, l.act.file, l.act.sha256, W, l.act.words);
  const actStride = man.design.actStrideBits;
  // Decode tables: one lookup per code instead of field arithmetic per element.
  const tables: Record<string, Int32Array | Float64Array> = {};
  for (const t of ["int4", "fp8", "fp12"] as ElemType[]) {
    const n = t === "int4" ? 16 : t === "fp8" ? 256 : 65536;
    const tab = as === "int32" ? new Int32Array(n) : new Float64Array(n);
    // fp12 is stored in 16 bits; the top 4 bits are ignored by the decoder (SPEC: stored with them zero).
    for (let c = 0; c < n; c++) {
      const v = decode(t, t === "fp12" ? c & 0xfff : c);
      tab[c] = as === "int32" ? toInt32(v) : v;
    }
    tables[t] = tab;
  }
  const a = as === "int32" ? new Int32Array(l.m * K) : new Float64Array(l.m * K);
  if (g.format && g.format !== "tobe") {
    // int8 and OVP values are small integers: int32 and exact are the same numbers.
    const codes = new Uint16Array(l.m * K);
    eachSlot(man, l, g, act, (r, i, code) => (codes[r * K + i] = code));
    if (g.format === "int8") codes.forEach((c, i) => (a[i] = decodeInt8(c)));
    else a.set(decodeOvpRows(g.format === "ovp-int" ? "int" : "flint", codes, l.m, K));
    return a;
  }
  for (let t = 0; t < l.tiles; t++) {
    const blockNib = (t * l.act.tileStride * W) / 4;
    for (let r = 0; r < l.m; r++) {
      const rowBase = blockNib + rowNibble(actStride, r, W, man.design.bufferTokens);
      for (let slot = 0; slot < l.tileChannels; slot++) {
        const { at, nibbles } = actSlot(g, slot);
        const type: ElemType = slot < l.s ? (l.salientType as ElemType) : "int4";
        a[r * K + t * l.tileChannels + slot] = tables[type][act.get(rowBase + at, nibbles)];
      }
    }
  }
  return a;
}

/** Calls `f` with every activation code of a layer: token r, padded position i. */
function eachSlot(man: Manifest, l: ManifestLayer, g: TileGeometry, act: Block, f: (r: number, i: number, code: number) => void): void {
  const W = man.memWordBits;
  for (let t = 0; t < l.tiles; t++) {
    const blockNib = (t * l.act.tileStride * W) / 4;
    for (let r = 0; r < l.m; r++) {
      const rowBase = blockNib + rowNibble(man.design.actStrideBits, r, W, man.design.bufferTokens);
      for (let slot = 0; slot < l.tileChannels; slot++) {
        const { at, nibbles } = actSlot(g, slot);
        f(r, t * l.tileChannels + slot, act.get(rowBase + at, nibbles));
      }
    }
  }
}

/** A layer's int4 weights [paddedK x paddedN] in TOBE row order. */
export function readWeights(dir: string, man: Manifest, l: ManifestLayer): Int8Array {
  const W = man.memWordBits;
  const K = l.paddedK;
  const wgt = readImage(dir, l.wgt.file, l.wgt.sha256, W, l.wgt.words);
  const wgtStride = man.design.wgtStrideBits;
  const C = man.design.cols;
  const N = l.paddedN;
  const w = new Int8Array(K * N);
  for (let j = 0; j < l.nTiles; j++) {
    for (let t = 0; t < l.tiles; t++) {
      const blockNib = (((j * l.tiles + t) * l.wgt.blockStride) * W) / 4;
      for (let slot = 0; slot < l.tileChannels; slot++) {
        const rowBase = blockNib + (slot * wgtStride) / 4;
        const i = t * l.tileChannels + slot;
        for (let c = 0; c < C; c++) w[i * N + j * C + c] = decodeInt4(wgt.nib[rowBase + c]);
      }
    }
  }
  return w;
}

/** Renders Y [M x paddedN] in the layer's output image format. */
export function outputBlock(man: Manifest, l: ManifestLayer, y: Int32Array): Block {
  const W = man.memWordBits;
  const C = man.design.cols;
  const b = new Block(W, l.out.words);
  const stride = man.design.outStrideBits;
  for (let j = 0; j < l.nTiles; j++) {
    const blockNib = (j * l.out.tileStride * W) / 4;
    for (let r = 0; r < l.m; r++) {
      const rowBase = blockNib + rowNibble(stride, r, W, man.design.bufferTokens);
      for (let c = 0; c < C; c++) b.put(rowBase + 8 * c, 8, y[r * l.paddedN + j * C + c] >>> 0);
    }
  }
  return b;
}

/** Reads Y [M x paddedN] back out of an output image. */
export function readOutputBlock(man: Manifest, l: ManifestLayer, b: Block): Int32Array {
  const W = man.memWordBits;
  const C = man.design.cols;
  const y = new Int32Array(l.m * l.paddedN);
  const stride = man.design.outStrideBits;
  for (let j = 0; j < l.nTiles; j++) {
    const blockNib = (j * l.out.tileStride * W) / 4;
    for (let r = 0; r < l.m; r++) {
      const rowBase = blockNib + rowNibble(stride, r, W, man.design.bufferTokens);
      for (let c = 0; c < C; c++) y[r * l.paddedN + j * C + c] = b.get(rowBase + 8 * c, 8) | 0;
    }
  }
  return y;
}
