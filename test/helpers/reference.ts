/**
 * Independent reference implementations for the unit tests. Nothing here imports the code
 * under test's arithmetic: decoders follow SPEC.md section 2 literally (BigInt), the encoder
 * is a brute-force nearest search over the decode table, tile geometry is a brute-force
 * search, and the image readers follow docs/formats.md (hex text -> BigInt words).
 */
import { getFloat16 } from "@petamoriken/float16";

export type RefType = "int4" | "fp8" | "fp12";

/** Mantissa bits of the minifloats (SPEC: fp8 = E5M2, fp12 = E5M6). */
export function refManBits(t: "fp8" | "fp12"): number {
  return t === "fp8" ? 2 : 6;
}

export function refCodeBits(t: RefType): number {
  return t === "int4" ? 4 : t === "fp8" ? 8 : 12;
}

/** SPEC section 2 table, literally, in BigInt. */
export function refDecodeBig(t: RefType, code: number): bigint {
  if (t === "int4") {
    const q = BigInt(code & 0xf);
    return q >= 8n ? q - 16n : q;
  }
  const mb = refManBits(t);
  const bits = mb + 6;
  const c = code & ((1 << bits) - 1);
  const s = (c >> (bits - 1)) & 1;
  const e = (c >> mb) & 31;
  const m = BigInt(c & ((1 << mb) - 1));
  const hidden = 1n << BigInt(mb); // 4 for fp8, 64 for fp12
  const mag = e === 0 ? m : (hidden + m) << BigInt(e - 1);
  return s ? -mag : mag;
}

export function refDecode(t: RefType, code: number): number {
  return Number(refDecodeBig(t, code));
}

/**
 * The third-party identity of SPEC section 2 through IEEE binary16 (via @petamoriken/float16):
 * fp8 c -> binary16(c << 8) * 2^16, fp12 c -> binary16(c << 4) * 2^20. Returns NaN/Infinity for
 * exponent-31 codes, exactly as binary16 does.
 */
export function viaBinary16(t: "fp8" | "fp12", code: number): number {
  const dv = new DataView(new ArrayBuffer(2));
  dv.setUint16(0, t === "fp8" ? code << 8 : code << 4);
  const h = getFloat16(dv, 0);
  return t === "fp8" ? h * 2 ** 16 : h * 2 ** 20;
}

/** Non-negative representable values the quantizer may emit (exponent < 31), ascending, with codes. */
export function refEmittable(t: "fp8" | "fp12"): { code: number; value: number }[] {
  const mb = refManBits(t);
  const out: { code: number; value: number }[] = [];
  for (let e = 0; e < 31; e++) {
    for (let m = 0; m < 1 << mb; m++) {
      const code = (e << mb) | m;
      out.push({ code, value: refDecode(t, code) });
    }
  }
  return out;
}

const emittableCache = new Map<string, { code: number; value: number }[]>();

/**
 * Brute force: the emittable code nearest to x; ties go to the even code (even mantissa LSB).
 * Returns the magnitude code with the sign bit set for negative x (a zero result is returned as
 * code 0; callers compare zero by value).
 *
 * Distances are compared exactly: v is nearer to a than b iff a lies on v's side of the
 * midpoint (v + b) / 2, and a tie iff a equals it. Midpoints of integers below 2^37 are exact
 * doubles and double comparison is exact, so no rounding enters the choice.
 */
export function refEncodeFloat(t: "fp8" | "fp12", x: number): number {
  let table = emittableCache.get(t);
  if (!table) {
    table = refEmittable(t);
    emittableCache.set(t, table);
  }
  const a = Math.abs(x);
  let best = table[0];
  for (const row of table) {
    if (row.value === best.value) continue;
    const mid = (row.value + best.value) / 2;
    const nearer = row.value > best.value ? a > mid : a < mid;
    const tie = a === mid;
    if (nearer || (tie && (row.code & 1) === 0 && (best.code & 1) === 1)) best = row;
  }
  if (best.value === 0) return 0;
  const signBit = 1 << (refCodeBits(t) - 1);
  return x < 0 ? best.code | signBit : best.code;
}

/** Brute force over the 16 int4 codes: nearest, ties to the even integer. Returns the 4-bit code. */
export function refEncodeInt4(x: number): number {
  let best = -8;
  let bestD = Math.abs(x - best);
  for (let q = -7; q <= 7; q++) {
    const d = Math.abs(x - q);
    if (d < bestD || (d === bestD && q % 2 === 0)) {
      best = q;
      bestD = d;
    }
  }
  return best & 0xf;
}

/** The adjacent doubles. */
export function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const b = dv.getBigUint64(0);
  dv.setBigUint64(0, x > 0 ? b + 1n : b - 1n);
  return dv.getFloat64(0);
}

export function nextDown(x: number): number {
  return -nextUp(-x);
}

// ------------------------------------------------------------------ tile geometry

export interface RefGeometry {
  tiles: number;
  tileChannels: number;
  s: number;
}

/** Does a tile count fit (smallest tile and salient count for that many tiles)? */
export function refFits(rows: number, flexLines: number, lanes: number, k: number, p: number, tiles: number): boolean {
  const tc = Math.ceil(k / tiles);
  const s = Math.ceil(p / tiles);
  return tc <= rows && s <= tc && s * lanes <= flexLines && tc + s * (lanes - 1) <= rows;
}

/** Brute force: the first tile count from 1 that fits. */
export function refGeometry(rows: number, flexLines: number, lanes: number, k: number, p: number): RefGeometry {
  for (let t = 1; t <= k; t++) {
    if (refFits(rows, flexLines, lanes, k, p, t)) return { tiles: t, tileChannels: Math.ceil(k / t), s: Math.ceil(p / t) };
  }
  throw new Error(`reference: nothing fits rows=${rows} F=${flexLines} lanes=${lanes} K=${k} P=${p}`);
}

// ------------------------------------------------------------------ images (docs/formats.md)

/** Parses a $readmemh image into W-bit words (BigInt), checking the documented line format. */
export function refParseHex(text: string, wordBits: number): bigint[] {
  if (text.length === 0) return [];
  if (!text.endsWith("\n")) throw new Error("reference: image does not end with a newline");
  const lines = text.slice(0, -1).split("\n");
  return lines.map((line, i) => {
    if (line.length !== wordBits / 4 || !/^[0-9a-f]+$/.test(line)) {
      throw new Error(`reference: line ${i + 1} is not ${wordBits / 4} lowercase hex digits: '${line.slice(0, 40)}'`);
    }
    return BigInt("0x" + line);
  });
}

/** A region as one little-endian bit stream: bit b is bit b mod W of word floor(b / W). */
export class RefRegion {
  constructor(
    readonly words: bigint[],
    readonly wordBits: number,
  ) {}

  static fromHex(text: string, wordBits: number): RefRegion {
    return new RefRegion(refParseHex(text, wordBits), wordBits);
  }

  /** Unsigned field of `width` bits at bit offset `bit` (may span words). */
  bits(bit: number, width: number): bigint {
    let v = 0n;
    for (let i = 0; i < width; i++) {
      const b = bit + i;
      const w = this.words[Math.floor(b / this.wordBits)];
      if (w === undefined) throw new Error(`reference: bit ${b} beyond the region`);
      v |= ((w >> BigInt(b % this.wordBits)) & 1n) << BigInt(i);
    }
    return v;
  }
}

export interface RefLayerShape {
  m: number;
  tiles: number;
  tileChannels: number;
  s: number;
  salientType: "fp8" | "fp12" | "none";
  paddedK: number;
  nTiles: number;
  paddedN: number;
  cols: number;
  actTileStride: number;
  wgtBlockStride: number;
  outTileStride: number;
  actStrideBits: number;
  wgtStrideBits: number;
  outStrideBits: number;
  /** Tokens per chunk (docs section 2: every chunk of a block starts on a word boundary). */
  bufferTokens: number;
}

/** Bit of token r's row in a token block (docs section 2). */
function tokenRowBit(r: number, stride: number, T: number, W: number): number {
  const c = Math.floor(r / T);
  return c * Math.ceil((T * stride) / W) * W + (r - c * T) * stride;
}

/** Activation codes [m x paddedK] read from an activation image (docs section 3). */
export function refReadActCodes(region: RefRegion, L: RefLayerShape): number[] {
  const W = region.wordBits;
  const salBits = L.salientType === "fp12" ? 16 : L.salientType === "fp8" ? 8 : 0;
  const out = new Array<number>(L.m * L.paddedK).fill(0);
  for (let t = 0; t < L.tiles; t++) {
    for (let r = 0; r < L.m; r++) {
      const rowBit = t * L.actTileStride * W + tokenRowBit(r, L.actStrideBits, L.bufferTokens, W);
      for (let j = 0; j < L.tileChannels; j++) {
        const at = j < L.s ? rowBit + salBits * j : rowBit + salBits * L.s + 4 * (j - L.s);
        const width = j < L.s ? salBits : 4;
        out[r * L.paddedK + t * L.tileChannels + j] = Number(region.bits(at, width));
      }
    }
  }
  return out;
}

/** int4 weight codes [paddedK x paddedN] read from a weight image (docs section 4). */
export function refReadWgtCodes(region: RefRegion, L: RefLayerShape): number[] {
  const W = region.wordBits;
  const out = new Array<number>(L.paddedK * L.paddedN).fill(0);
  for (let j = 0; j < L.nTiles; j++) {
    for (let t = 0; t < L.tiles; t++) {
      const blockBit = (j * L.tiles + t) * L.wgtBlockStride * W;
      for (let c = 0; c < L.tileChannels; c++) {
        for (let q = 0; q < L.cols; q++) {
          out[(t * L.tileChannels + c) * L.paddedN + j * L.cols + q] = Number(region.bits(blockBit + c * L.wgtStrideBits + 4 * q, 4));
        }
      }
    }
  }
  return out;
}

/** Y [m x paddedN] as int32 read from an output image (docs section 5). */
export function refReadOutput(region: RefRegion, L: RefLayerShape): number[] {
  const W = region.wordBits;
  const out = new Array<number>(L.m * L.paddedN).fill(0);
  for (let j = 0; j < L.nTiles; j++) {
    for (let r = 0; r < L.m; r++) {
      const rowBit = j * L.outTileStride * W + tokenRowBit(r, L.outStrideBits, L.bufferTokens, W);
      for (let q = 0; q < L.cols; q++) {
        out[r * L.paddedN + j * L.cols + q] = Number(BigInt.asIntN(32, region.bits(rowBit + 32 * q, 32)));
      }
    }
  }
  return out;
}

/**
 * SPEC section 3 in BigInt: Y[r][j] = (sum_i A[r][i] * W[i][j]) mod 2^32 as int32, with A decoded
 * by slot type (first s slots of each tile salient) and W int4. Columns >= n are 0.
 * Also returns the exact (unreduced) sums for columns < n.
 */
export function refMatmul(
  actCodes: ArrayLike<number>, wgtCodes: ArrayLike<number>,
  m: number, paddedK: number, n: number, paddedN: number,
  tileChannels: number, s: number, salientType: "fp8" | "fp12" | "none",
): { y: number[]; exact: bigint[] } {
  const y = new Array<number>(m * paddedN).fill(0);
  const exact: bigint[] = [];
  const a = new Array<bigint>(paddedK);
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < paddedK; i++) {
      const slot = i % tileChannels;
      const t: RefType = slot < s && salientType !== "none" ? salientType : "int4";
      a[i] = refDecodeBig(t, actCodes[r * paddedK + i]);
    }
    for (let j = 0; j < n; j++) {
      let sum = 0n;
      for (let i = 0; i < paddedK; i++) sum += a[i] * refDecodeBig("int4", wgtCodes[i * n + j]);
      exact.push(sum);
      y[r * paddedN + j] = Number(BigInt.asIntN(32, sum));
    }
  }
  return { y, exact };
}

// ------------------------------------------------------------------ hand-built layers

/**
 * A QuantizedLayer-shaped object built directly from codes (bypassing the quantizer), so any
 * bit pattern reaches the images. The caller supplies the tile geometry; perm is the identity
 * (-1 beyond k), scales are 1.
 */
export function handLayer<G extends { tiles: number; tileChannels: number; s: number; salientType: "fp8" | "fp12" | "none"; paddedK: number }>(o: {
  name: string;
  m: number;
  k: number;
  n: number;
  geometry: G;
  /** Activation code at (token, padded position, salient slot?). */
  act: (r: number, i: number, salient: boolean) => number;
  /** int4 weight code at (padded row, column). */
  wgt: (i: number, j: number) => number;
}) {
  const g = o.geometry;
  const K = g.paddedK;
  const actCodes = new Uint16Array(o.m * K);
  const wgtCodes = new Uint8Array(K * o.n);
  for (let r = 0; r < o.m; r++) {
    for (let i = 0; i < K; i++) {
      const sal = i % g.tileChannels < g.s;
      actCodes[r * K + i] = o.act(r, i, sal);
    }
  }
  for (let i = 0; i < K; i++) for (let j = 0; j < o.n; j++) wgtCodes[i * o.n + j] = o.wgt(i, j);
  return {
    name: o.name, m: o.m, k: o.k, n: o.n, plan: { salientType: g.salientType }, geometry: g,
    actScale: 1, weightScales: new Float64Array(o.n).fill(1),
    perm: Int32Array.from({ length: K }, (_, i) => (i < o.k ? i : -1)),
    salientSet: [] as number[], actCodes, wgtCodes, trueSalient: g.s * g.tiles,
  };
}
