/**
 * The golden model: reads the images through the manifest (the same bytes the RTL reads)
 * and computes Y = sum_k A[m][k] * W[k][n] mod 2^32 (SPEC section 3), exact for every bit
 * pattern. It renders Y in the output image format, so expected and simulated outputs
 * compare word for word.
 */
import * as path from "node:path";
import { UserError } from "./core/errors.js";
import { decode, decodeInt4, type ElemType } from "./core/formats.js";
import { Block, readImage, writeFileAtomic } from "./image/block.js";
import { actSlot } from "./image/layout.js";
import type { Manifest, ManifestLayer } from "./image/manifest.js";
import { matmulF64 } from "./core/tensor.js";
import type { TileGeometry } from "./quant/tobe.js";
import { readTensorFile } from "./data/tensorio.js";

/** Decoded value reduced modulo 2^32 to int32: exact products via Math.imul. */
function toInt32(v: number): number {
  return Number(BigInt.asIntN(32, BigInt(v)));
}

function geometryOf(l: ManifestLayer): TileGeometry {
  return {
    tiles: l.tiles, tileChannels: l.tileChannels, s: l.s, salientType: l.salientType,
    salientLanes: l.salientLanes, paddedK: l.paddedK, minTiles: l.minTiles,
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
  const W = man.memWordBits;
  const g = geometryOf(l);
  const K = l.paddedK;
  const act = readImage(dir, l.act.file, l.act.sha256, W, l.act.words);
  const wgt = readImage(dir, l.wgt.file, l.wgt.sha256, W, l.wgt.words);
  const actStride = man.design.actStrideBits;
  const wgtStride = man.design.wgtStrideBits;
  // Decode tables: one lookup per code instead of field arithmetic per element.
  const tables: Record<string, Int32Array> = {};
  for (const t of ["int4", "fp8", "fp12"] as ElemType[]) {
    const n = t === "int4" ? 16 : t === "fp8" ? 256 : 65536;
    const tab = new Int32Array(n);
    // fp12 is stored in 16 bits; the top 4 bits are ignored by the decoder (SPEC: stored with them zero).
    for (let c = 0; c < n; c++) tab[c] = toInt32(decode(t, t === "fp12" ? c & 0xfff : c));
    tables[t] = tab;
  }
  const a = new Int32Array(l.m * K);
  for (let t = 0; t < l.tiles; t++) {
    const blockNib = (t * l.act.tileStride * W) / 4;
    for (let r = 0; r < l.m; r++) {
      const rowBase = blockNib + (r * actStride) / 4;
      for (let slot = 0; slot < l.tileChannels; slot++) {
        const { at, nibbles } = actSlot(g, slot);
        const type: ElemType = slot < l.s ? (l.salientType as ElemType) : "int4";
        a[r * K + t * l.tileChannels + slot] = tables[type][act.get(rowBase + at, nibbles)];
      }
    }
  }
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
  return { a, w };
}

/** Y = A x W modulo 2^32, [M x paddedN]. */
export function matmulMod32(a: Int32Array, w: Int8Array, m: number, k: number, n: number): Int32Array {
  const y = new Int32Array(m * n);
  for (let r = 0; r < m; r++) {
    const yo = r * n;
    for (let i = 0; i < k; i++) {
      const av = a[r * k + i];
      if (av === 0) continue;
      const wo = i * n;
      for (let c = 0; c < n; c++) y[yo + c] = (y[yo + c] + Math.imul(av, w[wo + c])) | 0;
    }
  }
  return y;
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
      const rowBase = blockNib + (r * stride) / 4;
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
      const rowBase = blockNib + (r * stride) / 4;
      for (let c = 0; c < C; c++) y[r * l.paddedN + j * C + c] = b.get(rowBase + 8 * c, 8) | 0;
    }
  }
  return y;
}

export interface ErrorFigures {
  mse: number;
  sqnrDb: number;
  refPower: number;
}

/** Float reference X x W against the dequantized Y = Yint * s_a * s_w[n]. */
export function quantError(
  x: Float32Array, wf: Float32Array, m: number, k: number, n: number,
  y: Int32Array, paddedN: number, actScale: number, weightScales: ArrayLike<number>,
): ErrorFigures {
  const ref = matmulF64(x, wf, m, k, n);
  let err = 0;
  let pow = 0;
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      const deq = y[r * paddedN + c] * actScale * weightScales[c];
      const d = ref[r * n + c] - deq;
      err += d * d;
      pow += ref[r * n + c] ** 2;
    }
  }
  // An exact result has no noise: +Infinity dB (JSON writes it as null).
  const sqnrDb = err === 0 ? Infinity : 10 * Math.log10(pow / err);
  return { mse: err / (m * n), sqnrDb, refPower: pow / (m * n) };
}

export interface GoldenLayerResult {
  name: string;
  m: number;
  k: number;
  n: number;
  macs: number;
  expectedFile: string;
  error?: ErrorFigures;
  seconds: number;
}

/** Runs the golden model over every layer of an image folder; writes <layer>.expected.hex. */
export function runGolden(dir: string, man: Manifest, opts: { write?: boolean; error?: boolean } = {}): GoldenLayerResult[] {
  const results: GoldenLayerResult[] = [];
  for (const l of man.layers) {
    const t0 = performance.now();
    const { a, w } = readOperands(dir, man, l);
    const y = matmulMod32(a, w, l.m, l.paddedK, l.paddedN);
    const block = outputBlock(man, l, y);
    const expectedFile = `${l.name}.expected.hex`;
    if (opts.write !== false) writeFileAtomic(path.join(dir, expectedFile), block.toHex());
    const seconds = (performance.now() - t0) / 1000;
    let error: ErrorFigures | undefined;
    if (opts.error !== false && l.reference) {
      const x = readTensorFile(path.join(dir, l.reference.x));
      const wf = readTensorFile(path.join(dir, l.reference.w));
      if (x.shape[0] !== l.m || x.shape[1] !== l.k || wf.shape[0] !== l.k || wf.shape[1] !== l.n) {
        throw new UserError(`${dir}: reference tensors of layer ${l.name} do not have the manifest's shapes`);
      }
      error = quantError(x.data, wf.data, l.m, l.k, l.n, y, l.paddedN, l.actScale, l.weightScales);
    }
    results.push({ name: l.name, m: l.m, k: l.k, n: l.n, macs: l.m * l.k * l.n, expectedFile, error, seconds });
  }
  return results;
}

export interface Mismatch {
  layer: string;
  token: number;
  channel: number;
  expected: number;
  actual: number;
}

/** Compares two output images of a layer element by element; returns up to `limit` mismatches and the total count. */
export function compareOutputs(man: Manifest, l: ManifestLayer, expected: Block, actual: Block, limit = 10): { count: number; first: Mismatch[] } {
  const e = readOutputBlock(man, l, expected);
  const a = readOutputBlock(man, l, actual);
  let count = 0;
  const first: Mismatch[] = [];
  for (let r = 0; r < l.m; r++) {
    for (let c = 0; c < l.n; c++) {
      const i = r * l.paddedN + c;
      if (e[i] !== a[i]) {
        count++;
        if (first.length < limit) first.push({ layer: l.name, token: r, channel: c, expected: e[i], actual: a[i] });
      }
    }
  }
  return { count, first };
}

