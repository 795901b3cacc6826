/**
 * Number formats of the hardware contract (SPEC section 2): int4, fp8 (E5M2) and fp12 (E5M6).
 *
 * Every decoded value is an integer in units of the layer's activation scale; the minifloat
 * bias is chosen so the subnormal step is exactly one int4 step. Decoding is total: every
 * bit pattern (including the reserved exponent 31) has one defined result.
 */
import { UserError } from "./errors.js";

export type SalientType = "fp8" | "fp12";
export type ElemType = "int4" | SalientType;
/** What a layer's salient slots hold: a salient type, or none (an int4-only layer). */
export type SalientKind = SalientType | "none";

export const ELEM_TYPES: readonly ElemType[] = ["int4", "fp8", "fp12"];
export const SALIENT_TYPES: readonly SalientType[] = ["fp8", "fp12"];

export interface FloatFormat {
  readonly name: SalientType;
  /** Code width in bits (fp12 is stored in 16 bits with the top 4 zero). */
  readonly bits: number;
  readonly expBits: 5;
  readonly manBits: number;
  /** Bits one code occupies in a memory image. */
  readonly storageBits: number;
  /** Flexible lanes one operand occupies (fp12 splits into two (shift, integer) pairs). */
  readonly lanes: number;
}

export const FP8: FloatFormat = { name: "fp8", bits: 8, expBits: 5, manBits: 2, storageBits: 8, lanes: 1 };
export const FP12: FloatFormat = { name: "fp12", bits: 12, expBits: 5, manBits: 6, storageBits: 16, lanes: 2 };

export function floatFormat(t: SalientType): FloatFormat {
  return t === "fp8" ? FP8 : FP12;
}

/** Largest exponent field the quantizer may emit; 31 is reserved. */
export const MAX_EMITTED_EXP = 30;

/** A decoded operand as the datapath sees it: value = int << shift. */
export interface Pair {
  shift: number;
  int: number;
}

export interface Fields {
  sign: number;
  exp: number;
  man: number;
}

// ---------------------------------------------------------------- int4

export function decodeInt4(code: number): number {
  const c = code & 0xf;
  return c >= 8 ? c - 16 : c;
}

/** Round to nearest, ties to even, saturating to [-8, 7]. */
export function encodeInt4(x: number): number {
  if (Number.isNaN(x)) throw new UserError("cannot encode NaN as int4");
  const q = Math.min(7, Math.max(-8, roundHalfEven(x)));
  return q & 0xf;
}

// ---------------------------------------------------------------- minifloats

export function floatFields(f: FloatFormat, code: number): Fields {
  const c = code & ((1 << f.bits) - 1);
  return {
    sign: (c >> (f.bits - 1)) & 1,
    exp: (c >> f.manBits) & 0x1f,
    man: c & ((1 << f.manBits) - 1),
  };
}

/** Integer significand J and shift of a code: magnitude = J << shift. */
function significand(f: FloatFormat, exp: number, man: number): { j: number; sh: number } {
  return exp === 0 ? { j: man, sh: 0 } : { j: (1 << f.manBits) + man, sh: exp - 1 };
}

/** Decoded signed integer of a minifloat code (exact: at most 127 * 2^30 < 2^53). */
export function decodeFloat(f: FloatFormat, code: number): number {
  const { sign, exp, man } = floatFields(f, code);
  const { j, sh } = significand(f, exp, man);
  const mag = j * 2 ** sh;
  return sign && mag !== 0 ? -mag : mag;
}

export function decode(t: ElemType, code: number): number {
  return t === "int4" ? decodeInt4(code) : decodeFloat(floatFormat(t), code);
}

/**
 * (shift, integer) pairs of SPEC section 2. fp12 gives two pairs: (sh+4, +-(J>>4)) and
 * (sh, +-(J&15)). The shift of the high pair can reach 34; hardware with a 5-bit shift
 * field emits (0, 0) for it instead, which is the same product modulo 2^32.
 */
export function decodePairs(t: ElemType, code: number): Pair[] {
  if (t === "int4") return [{ shift: 0, int: decodeInt4(code) }];
  const f = floatFormat(t);
  const { sign, exp, man } = floatFields(f, code);
  const { j, sh } = significand(f, exp, man);
  const sgn = (v: number) => (sign && v !== 0 ? -v : v);
  if (t === "fp8") return [{ shift: sh, int: sgn(j) }];
  return [
    { shift: sh + 4, int: sgn(j >> 4) },
    { shift: sh, int: sgn(j & 15) },
  ];
}

export function maxFinite(f: FloatFormat): number {
  return ((1 << (f.manBits + 1)) - 1) * 2 ** (MAX_EMITTED_EXP - 1);
}

/**
 * Round to nearest representable value, ties to even mantissa, saturating at the largest
 * finite value (exponent 30), never emitting exponent 31. Zero (of either sign, or a
 * value that rounds to zero) encodes as the canonical +0 code, so all-zero data gives
 * all-zero image words.
 */
export function encodeFloat(f: FloatFormat, x: number): number {
  if (Number.isNaN(x)) throw new UserError(`cannot encode NaN as ${f.name}`);
  const sign = x < 0 ? 1 : 0;
  const a = Math.abs(x);
  const mb = f.manBits;
  const hidden = 1 << mb;
  if (a === Infinity) return (sign << (f.bits - 1)) | (MAX_EMITTED_EXP << mb) | (hidden - 1); // saturate
  let exp: number;
  let q: number; // integer significand after rounding
  if (a < 2 * hidden) {
    // Subnormals and exponent 1 share step 1.
    const n = roundHalfEven(a);
    if (n === 0) return 0;
    if (n < hidden) {
      exp = 0;
      q = n;
    } else {
      exp = n === 2 * hidden ? 2 : 1;
      q = n === 2 * hidden ? hidden : n;
    }
  } else {
    exp = Math.floor(Math.log2(a)) - mb + 1;
    // log2 can be off by one ulp near powers of two: fix the bracket exactly.
    while (a >= 2 * hidden * 2 ** (exp - 1)) exp++;
    while (a < hidden * 2 ** (exp - 1)) exp--;
    q = roundHalfEven(a / 2 ** (exp - 1));
    if (q === 2 * hidden) {
      exp++;
      q = hidden;
    }
  }
  if (exp > MAX_EMITTED_EXP) {
    exp = MAX_EMITTED_EXP;
    q = 2 * hidden - 1;
  }
  const man = exp === 0 ? q : q - hidden;
  return (sign << (f.bits - 1)) | (exp << mb) | man;
}

export function encode(t: ElemType, x: number): number {
  return t === "int4" ? encodeInt4(x) : encodeFloat(floatFormat(t), x);
}

export function codeCount(t: ElemType): number {
  return t === "int4" ? 16 : 1 << floatFormat(t).bits;
}

/** Largest magnitude the quantizer can emit for the type. */
export function maxMagnitude(t: ElemType): number {
  return t === "int4" ? 8 : maxFinite(floatFormat(t));
}

export function roundHalfEven(v: number): number {
  const fl = Math.floor(v);
  const d = v - fl;
  if (d > 0.5) return fl + 1;
  if (d < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

export interface TableRow {
  code: number;
  hex: string;
  fields: Fields | { value: number };
  value: number;
  pairs: Pair[];
  reserved: boolean;
}

/** The full decode table of a type, as `oltron formats` prints it. */
export function decodeTable(t: ElemType): TableRow[] {
  const rows: TableRow[] = [];
  const n = codeCount(t);
  const digits = t === "int4" ? 1 : t === "fp8" ? 2 : 3;
  for (let code = 0; code < n; code++) {
    const fields = t === "int4" ? { value: decodeInt4(code) } : floatFields(floatFormat(t), code);
    rows.push({
      code,
      hex: code.toString(16).padStart(digits, "0"),
      fields,
      value: decode(t, code),
      pairs: decodePairs(t, code),
      reserved: t !== "int4" && (fields as Fields).exp === 31,
    });
  }
  return rows;
}

export function parseElemType(s: string, what = "type"): ElemType {
  if ((ELEM_TYPES as readonly string[]).includes(s)) return s as ElemType;
  throw new UserError(`unknown ${what} '${s}': expected one of ${ELEM_TYPES.join(", ")}`);
}

export function parseSalientType(s: string, what = "salient type"): SalientType {
  if ((SALIENT_TYPES as readonly string[]).includes(s)) return s as SalientType;
  throw new UserError(`unknown ${what} '${s}': expected one of ${SALIENT_TYPES.join(", ")}`);
}
