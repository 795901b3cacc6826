/**
 * Activation formats of the architectures other than Oltron's TOBE (docs/formats.md,
 * "Activation formats"): int8 for W4A8 and OliVe's 4-bit outlier-victim pairs (OVP). Like
 * SPEC section 2, every decoded value is an integer in units of the activation scale and
 * every bit pattern has one defined result, so the golden model and the RTL agree on any
 * image, not only on what the quantizer writes.
 */
import { UserError } from "./errors.js";
import { roundHalfEven, type Pair } from "./formats.js";

// ---------------------------------------------------------------- int8 (W4A8)

export function decodeInt8(code: number): number {
  const c = code & 0xff;
  return c >= 128 ? c - 256 : c;
}

/** Round to nearest, ties to even, saturating symmetrically to [-127, 127] (-128 is never emitted). */
export function encodeInt8(x: number): number {
  if (Number.isNaN(x)) throw new UserError("cannot encode NaN as int8");
  return Math.min(127, Math.max(-127, roundHalfEven(x))) & 0xff;
}

// ---------------------------------------------------------------- OVP (OliVe)

/**
 * The normal type of an OVP layer, chosen per layer by calibration as OliVe does: int, 4-bit
 * two's complement -7..7 (the code of -8 is the victim marker), or flint, sign and a 3-bit
 * first-one magnitude code (ANT's flint4) whose -0 is the marker.
 */
export type OvpType = "int" | "flint";
export const OVP_TYPES: readonly OvpType[] = ["int", "flint"];

/** The victim's code: -8 of int, -0 of flint, which no normal value uses. */
export const OVP_VICTIM = 0b1000;

/**
 * Flint magnitude of each 3-bit magnitude code, in integer units (grid / 2): ANT's first-one
 * encoding (0, 0.25, 0.5, 0.75, 4, 2, 1, 1.5 of the normal range's quarter), not monotonic.
 */
export const FLINT_MAGNITUDES = [0, 1, 2, 3, 16, 8, 4, 6] as const;

/**
 * Integer unit of the type on OliVe's common grid (docs/quantization.md, section 4): int
 * normals are 0, 4, ..., 28, flint normals 0, 2, 4, 6, 8, 12, 16, 32, outliers 48..384.
 */
export function ovpUnit(t: OvpType): number {
  return t === "int" ? 4 : 2;
}

/**
 * Outlier (abfloat, sign + E2M1) exponent base: magnitude = (2 + m) << (e + base), so that
 * the codes land on OliVe's outliers 48, 64, ..., 384 (code e=0, m=0 is 32 on the grid, which
 * the quantizer never emits but the decoder decodes all the same).
 */
export function ovpOutlierBase(t: OvpType): number {
  return t === "int" ? 2 : 3;
}

/** (shift, integer) of a normal code: the integer fits 4 signed bits (|int| <= 7). */
function normalPair(t: OvpType, code: number): Pair {
  if (t === "int") return { shift: 0, int: code >= 8 ? code - 16 : code };
  const neg = (code & 8) !== 0;
  const mag = FLINT_MAGNITUDES[code & 7];
  // Odd part and power of two: 6 = 3 << 1, 8 = 1 << 3, 16 = 1 << 4.
  const shift = mag === 0 ? 0 : Math.log2(mag & -mag);
  const int = mag >> shift;
  return { shift, int: neg && int !== 0 ? -int : int };
}

function outlierPair(t: OvpType, code: number): Pair {
  const neg = (code & 8) !== 0;
  const e = (code >> 1) & 3;
  const m = code & 1;
  const int = 2 + m;
  return { shift: e + ovpOutlierBase(t), int: neg ? -int : int };
}

/**
 * Decodes one pair of codes (even lane c0, odd lane c1) into two (shift, integer) pairs.
 * The victim marker makes the other code an outlier; the marked code itself is 0. When both
 * codes are the marker, the odd one is the victim (OliVe's keep-even rule), so the even one
 * decodes as the outlier code 1000.
 */
export function decodeOvpPair(t: OvpType, c0: number, c1: number): [Pair, Pair] {
  const a = c0 & 15;
  const b = c1 & 15;
  if (b === OVP_VICTIM) return [outlierPair(t, a), { shift: 0, int: 0 }];
  if (a === OVP_VICTIM) return [{ shift: 0, int: 0 }, outlierPair(t, b)];
  return [normalPair(t, a), normalPair(t, b)];
}

const value = (p: Pair) => p.int * 2 ** p.shift;

/** Decoded integers of a pair of codes. */
export function decodeOvpValues(t: OvpType, c0: number, c1: number): [number, number] {
  const [p, q] = decodeOvpPair(t, c0, c1);
  return [value(p), value(q)];
}

/**
 * Codes of one pair of values already on the type's integer grid (grid value / unit), as
 * OliVe's encoder leaves them: at most one outlier, its partner zeroed (the victim). A normal
 * value must be one of the type's magnitudes, an outlier one of the abfloat magnitudes.
 */
export function encodeOvpPair(t: OvpType, v0: number, v1: number): [number, number] {
  const o0 = isOutlier(t, v0);
  const o1 = isOutlier(t, v1);
  if (o0 || o1) {
    if ((o0 && v1 !== 0) || (o1 && v0 !== 0) || (o0 && o1)) {
      throw new Error(`OVP pair (${v0}, ${v1}) has an outlier whose victim is not zero`);
    }
    return o0 ? [outlierCode(t, v0), OVP_VICTIM] : [OVP_VICTIM, outlierCode(t, v1)];
  }
  return [normalCode(t, v0), normalCode(t, v1)];
}

/** The largest normal magnitude of the type, in its integer units. */
export function ovpNormalMax(t: OvpType): number {
  return t === "int" ? 7 : 16;
}

function isOutlier(t: OvpType, v: number): boolean {
  return Math.abs(v) > ovpNormalMax(t);
}

function normalCode(t: OvpType, v: number): number {
  if (t === "int") {
    if (!Number.isInteger(v) || v < -7 || v > 7) throw new Error(`${v} is not an OVP int normal value`);
    return v & 15;
  }
  const idx = FLINT_MAGNITUDES.indexOf(Math.abs(v) as 0);
  if (idx < 0) throw new Error(`${v} is not an OVP flint normal value`);
  return v < 0 ? 8 | idx : idx;
}

function outlierCode(t: OvpType, v: number): number {
  const mag = Math.abs(v);
  for (let e = 0; e < 4; e++) {
    for (let m = 0; m < 2; m++) {
      if ((2 + m) * 2 ** (e + ovpOutlierBase(t)) === mag) return (v < 0 ? 8 : 0) | (e << 1) | m;
    }
  }
  throw new Error(`${v} is not an OVP ${t} outlier value`);
}

/** Largest decoded magnitude of any OVP code pair: an outlier (3 << (3 + base)). */
export function ovpMaxMagnitude(t: OvpType): number {
  return 3 * 2 ** (3 + ovpOutlierBase(t));
}

/** Decoded OVP integers [M x K] of a code array: pairs (2i, 2i+1) along each row. */
export function decodeOvpRows(t: OvpType, codes: ArrayLike<number>, m: number, K: number): Int32Array {
  const a = new Int32Array(m * K);
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < K; i += 2) {
      const [v0, v1] = decodeOvpValues(t, codes[r * K + i], codes[r * K + i + 1]);
      a[r * K + i] = v0;
      a[r * K + i + 1] = v1;
    }
  }
  return a;
}
